"""The control plane in the lab: three controllers and a client, etcd + Corral agents with fencing,
the real services under Corral (docs/openstack.md, "Control-plane lab").

    with ControlPlane() as cp:      # builds the hosts, starts etcd and the agents, loads the config
        cp.up()                     # until Galera is Synced on all three and a token is issued
        ...

Bring-up happens in two loads: first everything but Keystone; once Galera is Primary everywhere the
lab creates the databases, runs `keystone-manage db_sync`, `fernet_setup`, `credential_setup` and
`bootstrap` once on ctl1 and copies the keys to every host (as an operator does once), then loads
the configuration with Keystone.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from corral_lab.controlplane import services
from corral_lab.controlplane.config import corral_yaml, haproxy_cfg
from corral_lab.controlplane.hosts import ControllerLab
from corral_lab.corral_sut import AgentTiming, CorralCluster
from corral_lab.etcd import LabEtcd
from corral_lab.hosts import LabError, new_prefix

CONTROLLERS = ("ctl1", "ctl2", "ctl3")
CLIENT = "client"
SUBNET = "10.64.0"
VIP = f"{SUBNET}.100"
TAG = "clp"  # namespaces, bridges and veths of this lab: clpXXXX-*
SYS_PYTHON = "/usr/bin/python3"  # Debian's, with python3-keystone, pymysql and keystoneauth1
ADMIN_PASSWORD = "corral-lab"  # noqa: S105 - lab only
# Leases tolerant of a loaded machine (mysqld recoveries, Keystone start-up); a crash is detected by
# the heartbeat timeout (with fencing), not by the lease.
LAB_TIMING = AgentTiming(ttl=10.0, renew=1.0, store_timeout=3.0)
_HERE = os.path.dirname(os.path.abspath(__file__))


def wait_for(what: str, check: Callable[[], bool], bound_s: float, poll_s: float = 0.5) -> float:
    """Poll check until true; seconds taken; LabError naming what after bound_s."""
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > bound_s:
            raise LabError(f"{what}: not within {bound_s:g}s")
        time.sleep(poll_s)
    return time.monotonic() - t0


class ControlPlane:
    """The lab, its Corral cluster and the services; stop() never raises."""

    def __init__(self, work_dir: str | None = None, log: Callable[[str], None] = lambda s: None,
                 timing: AgentTiming | None = None) -> None:
        self._work_arg = work_dir
        self.work = work_dir or tempfile.mkdtemp(prefix="corral-lab-cp-")
        os.makedirs(self.work, exist_ok=True)
        self.state_root = os.path.join(self.work, "hosts")
        self.ocf_dir = os.path.join(self.work, "ocf")
        self.log = log
        self.lab = ControllerLab([*CONTROLLERS, CLIENT], prefix=new_prefix(TAG), subnet=SUBNET,
                                 state_root=self.state_root, ocf_overlay=self.ocf_dir)
        self.addresses = {h: self.lab.address(h) for h in CONTROLLERS}
        self.corral = CorralCluster(self.lab, CONTROLLERS, vip=VIP, port=services.KEYSTONE_PORT,
                                    timing=timing or LAB_TIMING, work_dir=os.path.join(self.work, "corral"), stonith=True)
        self.config_path = os.path.join(self.work, "cluster.yaml")

    def __enter__(self) -> ControlPlane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- files ---------------------------------------------------------------------------------------
    def _write_provider(self) -> None:
        """ocf:corrallab:galera, overlaid on /usr/lib/ocf/resource.d inside the hosts only."""
        d = os.path.join(self.ocf_dir, "corrallab")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "galera")
        lab_root = os.path.dirname(os.path.dirname(_HERE))
        with open(path, "w") as f:
            f.write(f"#!/bin/sh\n# lab-only: corral_lab/controlplane/galera_agent.py\n"
                    f"PYTHONPATH={lab_root} exec {sys.executable} -m corral_lab.controlplane.galera_agent \"$@\"\n")
        os.chmod(path, 0o755)

    def _write_host_files(self) -> None:
        for h, a in self.addresses.items():
            with open(os.path.join(self.lab.host_dir(h, "/etc/mysql"), "my.cnf"), "w") as f:
                f.write(services.my_cnf(h, a, self.addresses))
            base = os.path.join(self.state_root, h)
            with open(os.path.join(base, "haproxy.cfg"), "w") as f:
                f.write(haproxy_cfg(vip=VIP, addresses=self.addresses, state_root=self.state_root))
            ks = os.path.join(base, "keystone")
            os.makedirs(ks, exist_ok=True)
            with open(os.path.join(ks, "keystone.conf"), "w") as f:
                f.write(services.keystone_conf(VIP, list(self.addresses.values()), ks))
        self.check_script = os.path.join(self.work, "galera_check.py")
        with open(self.check_script, "w") as f:
            f.write(services.GALERA_CHECK)

    def _write_config(self, keystone: bool) -> str:
        hostmap = ";".join(f"{h}:{self.lab.host(h).netns}" for h in CONTROLLERS)
        with open(self.config_path, "w") as f:
            f.write(corral_yaml(vip=VIP, addresses=self.addresses, state_root=self.state_root,
                                python3=SYS_PYTHON, check_script=self.check_script, fence_hostmap=hostmap,
                                fence_state_dir=self.lab.fence_state_dir, keystone=keystone))
        return self.config_path

    # -- bring-up ------------------------------------------------------------------------------------
    def up(self, bound_s: float = 240.0) -> float:
        """Build everything; seconds until the first token through the VIP."""
        t0 = time.monotonic()
        self._write_provider()
        self.lab.start()
        self._write_host_files()
        c = self.corral
        c.work = c._work_arg or ""
        os.makedirs(c.work, exist_ok=True)
        os.makedirs(os.path.join(c.work, "etcd"), exist_ok=True)
        # Slower Raft than the failover lab's: the real services load the shared 2 cores heavily.
        c.etcd = LabEtcd(self.lab, CONTROLLERS, data_root=os.path.join(c.work, "etcd"), heartbeat_ms=100,
                         election_ms=1000)
        c.etcd.start()
        self.load(self._write_config(keystone=False))
        for h in CONTROLLERS:
            c.start_agent(h)
        c.wait_members(list(CONTROLLERS), 120)
        self.log(f"agents up after {time.monotonic() - t0:.1f}s")
        wait_for("Galera Synced on every controller", lambda: all(self.galera_synced(h) for h in CONTROLLERS),
                 bound_s)
        self.log(f"galera synced after {time.monotonic() - t0:.1f}s")
        self._setup_databases()
        self._setup_keystone()
        self.load(self._write_config(keystone=True))
        wait_for("a Keystone token through the VIP", self.token_ok, bound_s)
        self.log(f"first token after {time.monotonic() - t0:.1f}s")
        return time.monotonic() - t0

    def load(self, path: str) -> None:
        r = self.corral.corral(CONTROLLERS[0], "load", "--force", path, timeout=60)
        if r.returncode != 0:
            raise LabError(f"corral load failed ({r.returncode}): {r.stderr.strip()[-1500:]}")

    def sql(self, host: str, statement: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
        return self.lab.run(host, ["mariadb", "-uroot", "-N", "-B", "-e", statement], timeout=timeout)

    def _setup_databases(self) -> None:
        pw = services.DB_PASSWORD
        stmts = ("CREATE DATABASE IF NOT EXISTS keystone; CREATE DATABASE IF NOT EXISTS audit; "
                 f"CREATE USER IF NOT EXISTS 'keystone'@'%' IDENTIFIED BY '{pw}'; "
                 "GRANT ALL ON keystone.* TO 'keystone'@'%'; "
                 f"CREATE USER IF NOT EXISTS 'audit'@'%' IDENTIFIED BY '{pw}'; "
                 "GRANT ALL ON audit.* TO 'audit'@'%'; "
                 "CREATE TABLE IF NOT EXISTS audit.counter (n BIGINT PRIMARY KEY) ENGINE=InnoDB;")
        r = self.sql(CONTROLLERS[0], stmts)
        if r.returncode != 0:
            raise LabError(f"database setup on {CONTROLLERS[0]}: {r.stderr.strip()}")

    def _keystone_manage(self, host: str, *args: str) -> None:
        conf = os.path.join(self.state_root, host, "keystone", "keystone.conf")
        r = self.lab.run(host, ["keystone-manage", "--config-file", conf, *args], timeout=300)
        if r.returncode != 0:
            raise LabError(f"keystone-manage {' '.join(args[:1])} on {host}: {r.stderr.strip()[-1500:]}")

    def _setup_keystone(self) -> None:
        first = CONTROLLERS[0]
        self._keystone_manage(first, "db_sync")
        self._keystone_manage(first, "fernet_setup", "--keystone-user", "root", "--keystone-group", "root")
        self._keystone_manage(first, "credential_setup", "--keystone-user", "root", "--keystone-group", "root")
        self._keystone_manage(first, "bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
                              "--bootstrap-public-url", f"http://{VIP}:{services.KEYSTONE_PORT}/v3",
                              "--bootstrap-region-id", "RegionOne")
        src = os.path.join(self.state_root, first, "keystone")
        for h in CONTROLLERS[1:]:
            dst = os.path.join(self.state_root, h, "keystone")
            for keys in ("fernet-keys", "credential-keys"):
                shutil.rmtree(os.path.join(dst, keys), ignore_errors=True)
                shutil.copytree(os.path.join(src, keys), os.path.join(dst, keys))
        self.log("keystone bootstrapped; keys copied to every controller")

    # -- observations ----------------------------------------------------------------------------------
    def wsrep(self, host: str) -> dict[str, str] | None:
        try:
            r = self.sql(host, "SHOW GLOBAL STATUS LIKE 'wsrep_%'", timeout=5)
        except subprocess.TimeoutExpired:
            return None
        if r.returncode != 0:
            return None
        return dict(line.split("\t", 1) for line in r.stdout.splitlines() if "\t" in line)

    def galera_synced(self, host: str) -> bool:
        st = self.wsrep(host)
        return bool(st) and st.get("wsrep_cluster_status") == "Primary" and st.get("wsrep_local_state") == "4"

    def token_ok(self) -> bool:
        from corral_lab.controlplane.audits import TOKEN_ONCE
        try:
            r = self.lab.run(CLIENT, [SYS_PYTHON, "-c", TOKEN_ONCE, VIP, ADMIN_PASSWORD], timeout=10)
        except subprocess.TimeoutExpired:
            return False
        return r.returncode == 0

    def start_host(self, host: str) -> None:
        """After lab.restart(host): etcd member and agent again (the agent starts the services)."""
        self.corral.start_host(host, ready_s=60)

    def stop(self) -> None:
        try:
            self.corral.stop()
        finally:
            self.lab.teardown()
            if not self._work_arg:
                shutil.rmtree(self.work, ignore_errors=True)
