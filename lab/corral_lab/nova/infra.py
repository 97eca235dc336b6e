"""MariaDB and RabbitMQ for the Nova lab: each with its own data in the work directory.

MariaDB gets a fresh data directory (`mariadb-install-db`), its socket in the work directory and
no option files (`--no-defaults`: the machine's /etc/mysql is not the lab's); durability is
traded for speed (no doublewrite, no flush per commit): the lab's database never outlives it.
RabbitMQ runs as the `rabbitmq` user with its Mnesia, logs and Erlang cookie in the work
directory; inside the namespace its epmd is the lab's own.
"""
from __future__ import annotations

import os
import pwd
import subprocess

from corral_lab.nova import procs
from corral_lab.nova.layout import DB_PASSWORD, DB_USER, RABBIT_PASSWORD, RABBIT_USER, Layout

DATABASES = ("keystone", "placement", "glance", "neutron", "nova_api", "nova", "nova_cell0")
RABBIT_BIN = "/usr/lib/rabbitmq/bin"


# --- MariaDB ---------------------------------------------------------------------------------
def mariadb_socket(layout: Layout) -> str:
    return layout.path("mysql", "mysqld.sock")


def start_mariadb(layout: Layout) -> subprocess.Popen[bytes]:
    data = layout.path("mysql", "data")
    os.makedirs(data, exist_ok=True)
    procs.run(layout, "mariadb-install-db", ["mariadb-install-db", "--no-defaults", f"--datadir={data}",
                                             "--user=root", "--auth-root-authentication-method=socket",
                                             "--skip-test-db"], timeout=120)
    return procs.spawn(layout, "mariadb", [
        "/usr/sbin/mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={mariadb_socket(layout)}",
        f"--pid-file={layout.path('mysql', 'mysqld.pid')}", f"--bind-address={layout.addr}",
        f"--port={layout.ports['mariadb']}", "--user=root", f"--log-error={layout.log('mariadb')}",
        "--skip-name-resolve", "--max-connections=1000", "--innodb-buffer-pool-size=128M",
        "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0", "--skip-log-bin"])


def sql(layout: Layout, statements: str, name: str = "mariadb-sql") -> str:
    return procs.run(layout, name, ["mariadb", "--no-defaults", "-S", mariadb_socket(layout), "-uroot", "-N"],
                     stdin=statements, timeout=60)


def mariadb_ready(layout: Layout) -> bool:
    try:
        sql(layout, "SELECT 1;", name="mariadb-ping")
        return True
    except procs.NovaLabError:
        return False


def create_databases(layout: Layout) -> None:
    stmts = [f"CREATE DATABASE IF NOT EXISTS {db};" for db in DATABASES]
    stmts += [f"CREATE USER IF NOT EXISTS '{DB_USER}'@'%' IDENTIFIED BY '{DB_PASSWORD}';",
              f"GRANT ALL PRIVILEGES ON *.* TO '{DB_USER}'@'%';", "FLUSH PRIVILEGES;"]
    sql(layout, "\n".join(stmts))


# --- RabbitMQ --------------------------------------------------------------------------------
def _rabbit_env(layout: Layout) -> dict[str, str]:
    r = layout.path("rabbit")
    dist = "-kernel inet_dist_use_interface {127,0,0,1}"
    return {"HOME": r, "RABBITMQ_MNESIA_BASE": f"{r}/mnesia", "RABBITMQ_LOG_BASE": f"{r}/log",
            "RABBITMQ_CONFIG_FILE": f"{r}/rabbitmq", "RABBITMQ_CONF_ENV_FILE": f"{r}/rabbitmq-env.conf",
            "RABBITMQ_ENABLED_PLUGINS_FILE": f"{r}/enabled_plugins", "RABBITMQ_PID_FILE": f"{r}/rabbit.pid",
            "RABBITMQ_NODENAME": "rabbit@localhost", "RABBITMQ_NODE_IP_ADDRESS": layout.addr,
            "RABBITMQ_NODE_PORT": str(layout.ports["rabbit"]), "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": dist, "RABBITMQ_CTL_ERL_ARGS": dist}


def start_rabbitmq(layout: Layout) -> subprocess.Popen[bytes]:
    r = layout.path("rabbit")
    for d in (r, f"{r}/mnesia", f"{r}/log"):
        os.makedirs(d, exist_ok=True)
    for name, text in (("enabled_plugins", "[].\n"), ("rabbitmq-env.conf", ""), ("rabbitmq.conf", "")):
        with open(f"{r}/{name}", "w") as f:
            f.write(text)
    user = pwd.getpwnam("rabbitmq")
    for dirpath, _dirs, files in os.walk(r):
        os.chown(dirpath, user.pw_uid, user.pw_gid)
        for name in files:
            os.chown(os.path.join(dirpath, name), user.pw_uid, user.pw_gid)
    return procs.spawn(layout, "rabbitmq", ["runuser", "-u", "rabbitmq", "--", f"{RABBIT_BIN}/rabbitmq-server"],
                       env=_rabbit_env(layout), cwd=r)


def rabbitmqctl(layout: Layout, *args: str, timeout: float = 120.0) -> str:
    return procs.run(layout, "rabbitmqctl", ["runuser", "-u", "rabbitmq", "--", f"{RABBIT_BIN}/rabbitmqctl",
                                             "-n", "rabbit@localhost", *args], env=_rabbit_env(layout),
                     timeout=timeout)


def configure_rabbitmq(layout: Layout) -> None:
    rabbitmqctl(layout, "await_startup", "--timeout", "120", timeout=150)
    rabbitmqctl(layout, "add_user", RABBIT_USER, RABBIT_PASSWORD)
    rabbitmqctl(layout, "set_permissions", RABBIT_USER, ".*", ".*", ".*")
