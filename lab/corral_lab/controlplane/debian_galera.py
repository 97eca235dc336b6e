"""Debian's own `ocf:heartbeat:galera` (resource-agents 4.12), unchanged, as a promotable clone under
Corral on three namespace hosts with real MariaDB Galera (docs/openstack.md, "Control plane: Galera").

    with DebianGalera(log=print) as g:
        g.up()                   # cold bootstrap: the agent picks one node, the others join; all Primary
        g.kill_mysqld("ctl2")    # mysqld_safe and mysqld SIGKILLed: Corral's monitor sees it, restarts it
        g.full_outage(...)       # every host powered off, then on: bootstrap from the most advanced node

The agent reads the cluster through Corral's shims (HA_SBIN_DIR): `crm_attribute -N` for the other
nodes' last committed positions, `crm_attribute -p` for promotion scores, and
`CIB_file=<(cibadmin -Q) crm_mon -1 --output-as=xml` to see whether a promoted instance exists.
Lab prefix "rdr"; no fencing (a crashed host is simply offline), no VIP, no HAProxy: the writer
commits straight to the nodes' addresses, moving to the next node on an error.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable

from corral_lab.controlplane import services
from corral_lab.controlplane.hosts import ControllerLab
from corral_lab.corral_sut import AgentTiming, CorralCluster
from corral_lab.etcd import LabEtcd
from corral_lab.hosts import LabError, new_prefix

CONTROLLERS = ("ctl1", "ctl2", "ctl3")
CLIENT = "client"
SUBNET = "10.67.0"
TAG = "rdr"
RESOURCE = "galera"
SYS_PYTHON = "/usr/bin/python3"  # Debian's, with pymysql
LAB_TIMING = AgentTiming(ttl=10.0, renew=1.0, store_timeout=3.0)


def corral_yaml(nodes: Iterable[str]) -> str:
    """Galera as the agent's documentation configures it: a promotable clone, promoted on every node."""
    names = list(nodes)
    return f"""# Debian's ocf:heartbeat:galera under Corral (corral_lab.controlplane.debian_galera)
cluster:
  stonith-enabled: false
  no-quorum-policy: stop
nodes:
{chr(10).join(f"  - {{name: {n}}}" for n in names)}
resources:
  - promotable: galera-clone
    of:
      id: {RESOURCE}
      agent: ocf:heartbeat:galera
      params:
        wsrep_cluster_address: "gcomm://{",".join(names)}"
        enable_creation: "true"
        config: /etc/mysql/my.cnf
        datadir: /var/lib/mysql
        socket: /run/mysqld/mysqld.sock
        pid: /run/mysqld/mysqld.pid
        log: /var/lib/mysql/error.log
        user: mysql
        group: mysql
      ops:
        - {{name: start, timeout: 120s}}
        - {{name: stop, timeout: 120s}}
        - {{name: promote, timeout: 300s}}
        - {{name: demote, timeout: 120s}}
        - {{name: monitor, interval: 5s, timeout: 30s, role: Promoted}}
        - {{name: monitor, interval: 7s, timeout: 30s, role: Unpromoted}}
    meta: {{promoted-max: {len(names)}, interleave: true}}
"""


# Commits an increasing counter to the first node that answers, moving on after an error; one JSON
# line per attempt (audits.read_records / acknowledged read them). Stops when the stop file appears.
WRITER = '''\
import json, os, sys, time, pymysql
addrs, pw, out, stop = sys.argv[1].split(","), sys.argv[2], sys.argv[3], sys.argv[4]
n = int(sys.argv[5]) if len(sys.argv) > 5 else 1
i, conn = 0, None
with open(out, "a") as f:
    while not os.path.exists(stop):
        t = time.monotonic()
        try:
            if conn is None:
                conn = pymysql.connect(host=addrs[i % len(addrs)], user="audit", password=pw, database="audit",
                                       autocommit=True, connect_timeout=1, read_timeout=3, write_timeout=3)
            with conn.cursor() as c:
                c.execute("INSERT INTO counter (n) VALUES (%s)", (n,))
            f.write(json.dumps({"t": t, "n": n, "node": addrs[i % len(addrs)]}) + "\\n")
        except Exception as e:
            f.write(json.dumps({"t": t, "err": str(e)[:160], "n_try": n}) + "\\n")
            try:
                conn.close()
            except Exception:
                pass
            conn, i = None, i + 1
            time.sleep(0.1)
        f.flush()
        n += 1
        time.sleep(max(0.0, 0.02 - (time.monotonic() - t)))
'''


def wait_for(what: str, check: Callable[[], bool], bound_s: float, poll_s: float = 1.0) -> float:
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > bound_s:
            raise LabError(f"{what}: not within {bound_s:g}s")
        time.sleep(poll_s)
    return time.monotonic() - t0


class DebianGalera:
    """Three controllers and a client; etcd, Corral agents, and galera under Debian's agent."""

    def __init__(self, work_dir: str | None = None, log: Callable[[str], None] = lambda s: None) -> None:
        self._work_arg = work_dir
        self.work = work_dir or tempfile.mkdtemp(prefix="corral-lab-rdr-")
        os.makedirs(self.work, exist_ok=True)
        self.log = log
        self.lab = ControllerLab([*CONTROLLERS, CLIENT], prefix=new_prefix(TAG), subnet=SUBNET,
                                 state_root=os.path.join(self.work, "hosts"))
        self.addresses = {h: self.lab.address(h) for h in CONTROLLERS}
        self.corral = CorralCluster(self.lab, CONTROLLERS, vip=f"{SUBNET}.100", port=services.DB_PORT,
                                    timing=LAB_TIMING, work_dir=os.path.join(self.work, "corral"))
        self.writer: subprocess.Popen[bytes] | None = None
        self.writer_log = os.path.join(self.work, "writer.jsonl")
        self.stop_file = os.path.join(self.work, "writer.stop")

    def __enter__(self) -> DebianGalera:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- bring-up ---------------------------------------------------------------------------------------
    def up(self, bound_s: float = 240.0) -> float:
        """Hosts, etcd, agents, the configuration; seconds until galera is Primary and Synced on all
        three and promoted everywhere."""
        t0 = time.monotonic()
        self.lab.start()
        for h, a in self.addresses.items():
            with open(os.path.join(self.lab.host_dir(h, "/etc/mysql"), "my.cnf"), "w") as f:
                f.write(services.my_cnf(h, a, self.addresses))
        c = self.corral
        c.work = os.path.join(self.work, "corral")
        os.makedirs(os.path.join(c.work, "etcd"), exist_ok=True)
        c.etcd = LabEtcd(self.lab, CONTROLLERS, data_root=os.path.join(c.work, "etcd"), heartbeat_ms=100,
                         election_ms=1000)
        c.etcd.start()
        config = os.path.join(self.work, "cluster.yaml")
        with open(config, "w") as f:
            f.write(corral_yaml(CONTROLLERS))
        r = c.corral(CONTROLLERS[0], "load", "--force", config, timeout=60)
        if r.returncode != 0:
            raise LabError(f"corral load failed ({r.returncode}): {r.stderr.strip()[-1500:]}")
        for h in CONTROLLERS:
            c.start_agent(h)
        c.wait_members(list(CONTROLLERS), 120)
        self.wait_all_primary(bound_s)
        self.log(f"galera Primary, Synced and promoted on all three after {time.monotonic() - t0:.1f}s")
        return time.monotonic() - t0

    def setup_audit(self) -> None:
        pw = services.DB_PASSWORD
        r = self.sql(CONTROLLERS[0], "CREATE DATABASE IF NOT EXISTS audit; "
                     f"CREATE USER IF NOT EXISTS 'audit'@'%' IDENTIFIED BY '{pw}'; GRANT ALL ON audit.* TO 'audit'@'%'; "
                     "CREATE TABLE IF NOT EXISTS audit.counter (n BIGINT PRIMARY KEY) ENGINE=InnoDB;")
        if r.returncode != 0:
            raise LabError(f"audit database: {r.stderr.strip()}")

    # -- observations -------------------------------------------------------------------------------------
    def sql(self, host: str, statement: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
        return self.lab.run(host, ["mariadb", "-uroot", "-N", "-B", "-e", statement], timeout=timeout)

    def wsrep(self, host: str) -> dict[str, str] | None:
        try:
            r = self.sql(host, "SHOW GLOBAL STATUS LIKE 'wsrep_%'", timeout=5)
        except subprocess.TimeoutExpired:
            return None
        if r.returncode != 0:
            return None
        return dict(line.split("\t", 1) for line in r.stdout.splitlines() if "\t" in line)

    def synced(self, host: str) -> bool:
        st = self.wsrep(host)
        return bool(st) and st.get("wsrep_cluster_status") == "Primary" and st.get("wsrep_local_state") == "4"

    def status(self) -> dict | None:
        r = self.corral.corral(CONTROLLERS[0], "status", "--json", timeout=20)
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def promoted(self) -> list[str]:
        st = self.status() or {}
        return sorted(r["node"] for r in st.get("resources", [])
                      if r.get("base") == RESOURCE and r.get("role") == "Promoted" and r.get("node"))

    def all_primary(self) -> bool:
        return all(self.synced(h) for h in CONTROLLERS) and self.promoted() == sorted(CONTROLLERS)

    def wait_all_primary(self, bound_s: float) -> float:
        try:
            return wait_for("galera Synced and promoted on every controller", self.all_primary, bound_s, 2.0)
        except LabError as exc:
            raise LabError(f"{exc}; promoted: {self.promoted()}; "
                           f"{self.corral.agent_log_tail(CONTROLLERS[0], 3000)}") from None

    def committed(self, host: str) -> set[int]:
        r = self.sql(host, "SELECT n FROM audit.counter", timeout=30)
        if r.returncode != 0:
            raise LabError(f"reading the counter on {host}: {r.stderr.strip()}")
        return {int(x) for x in r.stdout.split()}

    def bootstrap_log(self) -> list[str]:
        """The agents' log lines where galera chose or ran a bootstrap (which node, from which seqno)."""
        out = []
        for h in CONTROLLERS:
            try:
                with open(self.corral.agent_log_path(h), errors="replace") as f:
                    out += [f"{h}: {line.strip()}" for line in f
                            if "bootstrap" in line.lower() and "galera" in line.lower()]
            except OSError:
                continue
        return out

    # -- the writer ----------------------------------------------------------------------------------------
    def start_writer(self, addresses: Iterable[str] | None = None) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.stop_file)
        script = os.path.join(self.work, "writer.py")
        with open(script, "w") as f:
            f.write(WRITER)
        addrs = ",".join(addresses or self.addresses.values())
        start = max([int(r.get("n", r.get("n_try", 0))) for r in self.records()] + [0]) + 1
        self.writer = self.lab.spawn(CLIENT, [SYS_PYTHON, script, addrs, services.DB_PASSWORD, self.writer_log,
                                              self.stop_file, str(start)], cwd="/")

    def stop_writer(self) -> None:
        if self.writer is None:
            return
        with open(self.stop_file, "w"):
            pass
        try:
            self.writer.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.writer.kill()
            self.writer.wait(timeout=5)
        self.writer = None

    def records(self) -> list[dict]:
        try:
            with open(self.writer_log) as f:
                return [json.loads(line) for line in f if line.strip()]
        except OSError:
            return []

    def acknowledged(self) -> set[int]:
        return {int(r["n"]) for r in self.records() if "n" in r and "err" not in r}

    # -- faults -------------------------------------------------------------------------------------------
    def mysqld_pids(self, host: str) -> list[int]:
        r = self.lab.run(host, ["sh", "-c", "for p in /proc/[0-9]*; do c=$(cat $p/comm 2>/dev/null); "
                                "case $c in mariadbd|mysqld|mysqld_safe) echo ${p#/proc/};; esac; done"],
                         timeout=10)
        pids = [int(x) for x in r.stdout.split()]
        host_pids = set(self.lab.pids(host))
        return [p for p in pids if p in host_pids]

    def kill_mysqld(self, host: str) -> list[int]:
        """SIGKILL mysqld_safe and mysqld on host (mysqld_safe would otherwise restart mysqld by itself)."""
        pids = self.mysqld_pids(host)
        for p in pids:
            with contextlib.suppress(OSError):
                os.kill(p, 9)
        return pids

    def crash(self, host: str) -> None:
        self.lab.crash(host)

    def power_on(self, hosts: Iterable[str], ready_s: float = 90.0) -> None:
        """Boot hosts after crash(): etcd members together (a lone member has no quorum), then agents."""
        c = self.corral
        assert c.etcd is not None
        hosts = list(hosts)
        for h in hosts:
            c.kill_agent(h)
            self.lab.restart(h)
        for h in hosts:
            c.etcd.start_member(h, wait=False)
        c.etcd.wait_healthy(hosts, ready_s)
        for h in hosts:
            c.start_agent(h)
        c.wait_members(hosts, ready_s, via=hosts[0])

    def stop(self) -> None:
        try:
            self.stop_writer()
        except Exception:  # noqa: BLE001 - stop() never raises
            pass
        try:
            self.corral.stop()
        finally:
            self.lab.teardown()
            if not self._work_arg:
                shutil.rmtree(self.work, ignore_errors=True)

