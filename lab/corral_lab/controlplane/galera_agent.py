"""A minimal, lab-only OCF agent for MariaDB Galera as an anonymous clone (`ocf:corrallab:galera`).

Stand-in until Debian's `ocf:heartbeat:galera` runs under Corral (helper "readers"); not a product
agent. It keeps the one rule that matters for data: **bootstrap only from the most advanced node**.

- start: if a peer runs a Primary component (its `galera-primary` transient attribute is 1 and its
  group port 4567 answers), join it with the recovered position (IST). Otherwise recover the local
  position (`grastate.dat`, or `mariadbd --wsrep-recover` after a crash), publish it as the
  transient attribute `galera-last-committed`, and wait until every configured node has published
  one; the node with the highest seqno (ties: the first name) bootstraps a new cluster
  (`safe_to_bootstrap: 1`, `--wsrep-new-cluster`), the others join it. A node missing keeps the
  database down (as Debian's agent does; recovering with a node missing is not done here).
- monitor: 7 when mysqld is not running; 1 unless `wsrep_cluster_status` is Primary and
  `wsrep_local_state` is 4 (Synced) or 2 (Donor); 0 otherwise, with `galera-primary=1`.
- stop: SIGTERM (clean shutdown), SIGKILL after a grace; `galera-primary` removed.

Parameters: `nodes` (comma-separated node names, in the clone's order), `addresses` (their
addresses, same order). Paths are the lab hosts' private /etc/mysql, /var/lib/mysql, /run/mysqld.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

DATADIR = "/var/lib/mysql"
SOCKET = "/run/mysqld/mysqld.sock"
PIDFILE = "/run/mysqld/mysqld.pid"
CNF = "/etc/mysql/my.cnf"
LOG = "/var/lib/mysql/corral-lab-mysqld.log"
OCF_SUCCESS, OCF_ERR_GENERIC, OCF_ERR_CONFIGURED, OCF_NOT_RUNNING = 0, 1, 6, 7


def log(msg: str) -> None:
    print(f"galera[{os.environ.get('OCF_RESOURCE_INSTANCE', '?')}]: {msg}", file=sys.stderr, flush=True)


def node() -> str:
    return os.environ.get("OCF_RESKEY_CRM_meta_on_node") or socket.gethostname()


def attr(name: str, value: str | None = None, target: str | None = None, delete: bool = False) -> str | None:
    argv = ["crm_attribute", "-N", target or node(), "-l", "reboot", "-n", name]
    argv += ["-D"] if delete else (["-v", value] if value is not None else ["-G", "-q"])
    r = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    return r.stdout.strip() if r.returncode == 0 and value is None and not delete else None


def mysqld_pid() -> int | None:
    try:
        with open(PIDFILE) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
        with open(f"/proc/{pid}/comm") as f:
            return pid if f.read().strip() in ("mariadbd", "mysqld") else None
    except (OSError, ValueError):
        return None


def wsrep_status() -> dict[str, str] | None:
    r = subprocess.run(["mariadb", "--protocol=socket", "-S", SOCKET, "-uroot", "-N", "-B", "-e",
                        "SHOW GLOBAL STATUS LIKE 'wsrep_%'"], capture_output=True, text=True, timeout=10, check=False)
    if r.returncode != 0:
        return None
    return dict(line.split("\t", 1) for line in r.stdout.splitlines() if "\t" in line)


def healthy(st: dict[str, str] | None) -> bool:
    return bool(st) and st.get("wsrep_cluster_status") == "Primary" and st.get("wsrep_local_state") in ("4", "2")


def port_open(address: str, port: int = 4567) -> bool:
    try:
        socket.create_connection((address, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def grastate() -> tuple[str, int]:
    uuid, seqno = "00000000-0000-0000-0000-000000000000", -1
    try:
        with open(os.path.join(DATADIR, "grastate.dat")) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k.strip() == "uuid":
                    uuid = v.strip()
                elif k.strip() == "seqno":
                    seqno = int(v.strip())
    except (OSError, ValueError):
        pass
    return uuid, seqno


def set_safe_to_bootstrap() -> None:
    path = os.path.join(DATADIR, "grastate.dat")
    if not os.path.exists(path):
        return
    with open(path) as f:
        text = f.read()
    text = re.sub(r"safe_to_bootstrap:\s*\d", "safe_to_bootstrap: 1", text)
    with open(path, "w") as f:
        f.write(text)


INSTALLED = os.path.join(DATADIR, "corral-lab-installed")


def ensure_datadir() -> None:
    """A fresh data directory (system tables) unless one is there: a datadir Galera filled by SST, or
    one whose mariadb-install-db finished (a marker), is kept; a half-made one is made again."""
    if os.path.exists(INSTALLED) or os.path.exists(os.path.join(DATADIR, "grastate.dat")) and \
            os.path.exists(os.path.join(DATADIR, "mysql", "global_priv.frm")):
        return
    for attempt in (1, 2):
        for entry in os.listdir(DATADIR):
            path = os.path.join(DATADIR, entry)
            if entry.startswith("corral-lab-"):
                continue
            subprocess.run(["rm", "-rf", path], check=False)
        r = subprocess.run(["mariadb-install-db", f"--defaults-file={CNF}", "--user=mysql", "--skip-test-db",
                            "--auth-root-authentication-method=socket"], capture_output=True, text=True,
                           timeout=120, check=False)
        if r.returncode == 0:
            with open(INSTALLED, "w") as f:
                f.write("installed\n")
            return
        log(f"mariadb-install-db (attempt {attempt}) failed: {(r.stderr or r.stdout).strip()[-800:]}")
    raise RuntimeError("mariadb-install-db failed twice")


def recover_position() -> tuple[str, int]:
    uuid, seqno = grastate()
    if seqno >= 0 or not os.path.exists(os.path.join(DATADIR, "ibdata1")):
        return uuid, seqno
    r = subprocess.run(["mariadbd", f"--defaults-file={CNF}", "--user=mysql", "--wsrep-recover",
                        f"--log-error={DATADIR}/corral-lab-recover.log"],
                       capture_output=True, text=True, timeout=120, check=False)
    with open(os.path.join(DATADIR, "corral-lab-recover.log"), errors="replace") as f:
        text = f.read()
    found = re.findall(r"Recovered position:\s*([0-9a-f-]+):(-?\d+)", text)
    if found:
        return found[-1][0], int(found[-1][1])
    log(f"--wsrep-recover found no position (rc {r.returncode})")
    return uuid, seqno


def launch(extra: list[str]) -> None:
    os.makedirs("/run/mysqld", exist_ok=True)
    os.chown("/run/mysqld", *_mysql_ids())
    with open(LOG, "ab") as out:
        subprocess.Popen(["mariadbd", f"--defaults-file={CNF}", "--user=mysql", *extra],
                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _mysql_ids() -> tuple[int, int]:
    import pwd
    pw = pwd.getpwnam("mysql")
    return pw.pw_uid, pw.pw_gid


def wait_synced(deadline: float) -> bool:
    while time.monotonic() < deadline:
        if healthy(wsrep_status()):
            return True
        if mysqld_pid() is None and not os.path.exists(SOCKET):
            time.sleep(0.5)
            if mysqld_pid() is None:
                return False
        time.sleep(0.3)
    return False


def start(nodes: list[str], addresses: dict[str, str], deadline: float) -> int:
    if mysqld_pid() is not None and healthy(wsrep_status()):
        attr("galera-primary", "1")
        return OCF_SUCCESS
    if mysqld_pid() is not None:
        stop()
    ensure_datadir()
    uuid, seqno = recover_position()
    me = node()
    attr("galera-last-committed", f"{seqno}")
    log(f"recovered position {uuid}:{seqno}")
    peers = [n for n in nodes if n != me]
    while time.monotonic() < deadline:
        primary = [p for p in peers if attr("galera-primary", target=p) == "1" and port_open(addresses[p])]
        if primary:
            log(f"joining the primary component of {', '.join(primary)}")
            launch([f"--wsrep_start_position={uuid}:{seqno}"])
            return OCF_SUCCESS if _finish(deadline) else OCF_ERR_GENERIC
        reported: dict[str, int] = {}
        for n in nodes:
            v = attr("galera-last-committed", target=n)
            if v is not None and re.fullmatch(r"-?\d+", v):
                reported[n] = int(v)
        if len(reported) == len(nodes):
            best = max(nodes, key=lambda n: (reported[n], -nodes.index(n)))
            if best == me:
                log(f"most advanced node (seqno {seqno}; reported {reported}): bootstrapping")
                set_safe_to_bootstrap()
                launch(["--wsrep-new-cluster", f"--wsrep_start_position={uuid}:{seqno}"])
                return OCF_SUCCESS if _finish(deadline) else OCF_ERR_GENERIC
        time.sleep(0.5)
    log("no primary component to join and not every node reported its position")
    return OCF_ERR_GENERIC


def _finish(deadline: float) -> bool:
    if wait_synced(deadline):
        attr("galera-primary", "1")
        return True
    log("mysqld did not reach Synced")
    return False


def monitor() -> int:
    if mysqld_pid() is None:
        return OCF_NOT_RUNNING
    st = wsrep_status()
    if healthy(st):
        attr("galera-primary", "1")
        return OCF_SUCCESS
    attr("galera-primary", delete=True)
    log(f"not healthy: {st and {k: st.get(k) for k in ('wsrep_cluster_status', 'wsrep_local_state')}}")
    return OCF_ERR_GENERIC


def stop(grace_s: float = 10.0) -> int:
    attr("galera-primary", delete=True)
    pid = mysqld_pid()
    if pid is None:
        return OCF_SUCCESS
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + grace_s
    while time.monotonic() < end and mysqld_pid() is not None:
        time.sleep(0.2)
    if mysqld_pid() is not None:
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    return OCF_SUCCESS


META = """<?xml version="1.0"?>
<resource-agent name="galera" version="0.1">
<version>1.1</version>
<shortdesc lang="en">Lab-only MariaDB Galera (anonymous clone)</shortdesc>
<longdesc lang="en">Stand-in for ocf:heartbeat:galera in Corral's control-plane lab.</longdesc>
<parameters>
<parameter name="nodes" required="1"><shortdesc lang="en">node names</shortdesc><content type="string"/></parameter>
<parameter name="addresses" required="1"><shortdesc lang="en">their addresses</shortdesc><content type="string"/></parameter>
</parameters>
<actions>
<action name="start" timeout="180s"/><action name="stop" timeout="30s"/>
<action name="monitor" timeout="20s" interval="2s"/><action name="meta-data" timeout="5s"/>
<action name="validate-all" timeout="5s"/>
</actions>
</resource-agent>
"""


def main(argv: list[str]) -> int:
    action = argv[1] if len(argv) > 1 else ""
    if action == "meta-data":
        print(META)
        return OCF_SUCCESS
    nodes = [n for n in os.environ.get("OCF_RESKEY_nodes", "").split(",") if n]
    addrs = [a for a in os.environ.get("OCF_RESKEY_addresses", "").split(",") if a]
    if not nodes or len(nodes) != len(addrs):
        log("nodes and addresses must be lists of the same length")
        return OCF_ERR_CONFIGURED
    timeout_s = int(os.environ.get("OCF_RESKEY_CRM_meta_timeout", "180000")) / 1000
    deadline = time.monotonic() + timeout_s - 5
    if action == "start":
        try:
            return start(nodes, dict(zip(nodes, addrs, strict=True)), deadline)
        except (OSError, RuntimeError, subprocess.SubprocessError) as e:
            log(f"start failed: {e}")
            return OCF_ERR_GENERIC
    if action == "stop":
        return stop()
    if action == "monitor":
        return monitor()
    if action == "validate-all":
        return OCF_SUCCESS
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv))
