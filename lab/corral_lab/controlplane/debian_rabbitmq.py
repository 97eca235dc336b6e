"""Debian's own `ocf:heartbeat:rabbitmq-cluster` (resource-agents 4.12), unchanged, as an anonymous
clone under Corral on three namespace hosts: to document what it does to durable data next to
Corral's `ocf:corral:rabbitmq` (docs/openstack.md, "Control plane: RabbitMQ").

The agent has fixed paths (/var/lib/rabbitmq, /var/log/rabbitmq, /var/run/rabbitmq/rmq.pid) and
runs `rabbit@$(hostname)`: the control-plane lab's hosts give each host its own hostname and
private /var/lib/rabbitmq, /var/log/rabbitmq, /etc/rabbitmq; this rig adds a private /run/rabbitmq
(one pid file per host) and one Erlang cookie. It finds the nodes to join through Corral's
`cibadmin -Q --xpath "//node_state[@crmd='online']//nvpair[@name='rmq-node-attr-<rsc>']"` and
keeps `rmq-node-attr-last-known-<rsc>` with `crm_attribute -l forever`. The AMQP client is
corral_lab.rabbitmq's (pika on the client host: persistent messages, publisher confirms, a quorum
queue). Lab prefix "rdr".
"""
from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from typing import Any

from corral_lab.controlplane.hosts import ControllerLab
from corral_lab.corral_sut import AgentTiming, CorralCluster
from corral_lab.etcd import LabEtcd
from corral_lab.hosts import Host, LabError, new_prefix
from corral_lab.rabbitmq import PASSWORD, QUEUE, USER

SERVERS = ("rq1", "rq2", "rq3")
CLIENT = "rqc"
SUBNET = "10.68.0"
TAG = "rdr"
RESOURCE = "rabbitmq"
RUN_DIR = "/run/rabbitmq"
LAB_TIMING = AgentTiming(ttl=10.0, renew=1.0, store_timeout=3.0)

CONFIG = """# Debian's ocf:heartbeat:rabbitmq-cluster under Corral (corral_lab.controlplane.debian_rabbitmq)
cluster:
  stonith-enabled: false
nodes:
{nodes}
resources:
  - clone: rabbitmq-clone
    meta: {{notify: true, interleave: true, ordered: true}}
    of:
      id: {rsc}
      agent: ocf:heartbeat:rabbitmq-cluster
      ops:
        - {{name: monitor, interval: 5s, timeout: 40s}}
        - {{name: start, timeout: 200s}}
        - {{name: stop, timeout: 90s}}
        - {{name: notify, timeout: 30s}}
"""


class RabbitHosts(ControllerLab):
    """ControllerLab hosts with a private /run/rabbitmq too (a fresh one per boot)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._made_run_dir = not os.path.exists(RUN_DIR)  # the mount point; removed again at teardown

    def teardown(self) -> list[str]:
        out = super().teardown()
        if self._made_run_dir:
            with contextlib.suppress(OSError):
                os.rmdir(RUN_DIR)
        return out

    def _make_mount_ns(self, h: Host) -> None:
        super()._make_mount_ns(h)
        src = self.host_dir(h.name, RUN_DIR)
        shutil.rmtree(src, ignore_errors=True)
        os.makedirs(src)
        rmq = pwd.getpwnam("rabbitmq")
        os.chown(src, rmq.pw_uid, rmq.pw_gid)
        r = subprocess.run(["nsenter", f"--mount={h.mnt}", "sh", "-ec", f"mkdir -p {RUN_DIR} && "
                            f"mount --bind {src} {RUN_DIR}"], capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise LabError(f"{RUN_DIR} of {h.name}: {r.stderr.strip()}")


class DebianRabbit:
    def __init__(self, work_dir: str | None = None, log: Callable[[str], None] = lambda s: None) -> None:
        self._work_arg = work_dir
        self.work = work_dir or tempfile.mkdtemp(prefix="corral-lab-rdr-rmq-")
        os.makedirs(self.work, exist_ok=True)
        os.chmod(self.work, 0o755)
        self.log = log
        self.lab = RabbitHosts([*SERVERS, CLIENT], prefix=new_prefix(TAG), subnet=SUBNET,
                               state_root=os.path.join(self.work, "hosts"))
        self.corral = CorralCluster(self.lab, SERVERS, vip=f"{SUBNET}.100", port=5672, timing=LAB_TIMING,
                                    work_dir=os.path.join(self.work, "corral"))

    def __enter__(self) -> DebianRabbit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def up(self, bound_s: float = 240.0) -> float:
        t0 = time.monotonic()
        self.lab.start()
        rmq = pwd.getpwnam("rabbitmq")
        cookie = secrets.token_hex(16).upper()
        for h in SERVERS:
            home = self.lab.host_dir(h, "/var/lib/rabbitmq")
            path = os.path.join(home, ".erlang.cookie")
            with open(path, "w") as f:
                f.write(cookie)
            os.chmod(path, 0o400)
            os.chown(path, rmq.pw_uid, rmq.pw_gid)
        c = self.corral
        c.work = os.path.join(self.work, "corral")
        os.makedirs(os.path.join(c.work, "etcd"), exist_ok=True)
        c.etcd = LabEtcd(self.lab, SERVERS, data_root=os.path.join(c.work, "etcd"), heartbeat_ms=100,
                         election_ms=1000)
        c.etcd.start()
        config = os.path.join(self.work, "cluster.yaml")
        with open(config, "w") as f:
            f.write(CONFIG.format(nodes="\n".join(f"  - {{name: {h}}}" for h in SERVERS), rsc=RESOURCE))
        r = c.corral(SERVERS[0], "load", "--force", config, timeout=60)
        if r.returncode != 0:
            raise LabError(f"corral load failed ({r.returncode}): {r.stderr.strip()[-1500:]}")
        for h in SERVERS:
            c.start_agent(h)
        c.wait_members(list(SERVERS), 120)
        self.wait_cluster(bound_s)
        return time.monotonic() - t0

    # -- RabbitMQ ---------------------------------------------------------------------------------------
    def ctl(self, host: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        try:
            return self.lab.run(host, ["env", "LC_ALL=C.UTF-8", "/usr/sbin/rabbitmqctl", *args], timeout=timeout)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(list(args), 124, "", "timed out")

    def running_nodes(self, via: str) -> list[str]:
        r = self.ctl(via, "cluster_status", "--formatter", "json", timeout=30)
        if r.returncode != 0:
            return []
        try:
            return sorted(json.loads(r.stdout).get("running_nodes", []))
        except ValueError:
            return []

    def queue_members(self, via: str) -> tuple[list[str], list[str]] | None:
        r = self.ctl(via, "list_queues", "name", "members", "online", "--formatter", "json", timeout=30)
        if r.returncode != 0:
            return None
        with contextlib.suppress(ValueError):
            for row in json.loads(r.stdout):
                if row.get("name") == QUEUE:
                    return sorted(row.get("members") or []), sorted(row.get("online") or [])
        return None

    def has_user(self, via: str) -> bool:
        r = self.ctl(via, "list_users", "--formatter", "json", timeout=30)
        return r.returncode == 0 and f'"{USER}"' in r.stdout

    def wait_cluster(self, bound_s: float, via: str = SERVERS[0]) -> float:
        want = sorted(f"rabbit@{h}" for h in SERVERS)
        t0 = time.monotonic()
        while self.running_nodes(via) != want:
            if time.monotonic() - t0 > bound_s:
                raise LabError(f"RabbitMQ {want} not running within {bound_s:g}s: {self.running_nodes(via)}; "
                               f"{self.corral.agent_log_tail(via, 3000)}")
            time.sleep(2)
        return time.monotonic() - t0

    def add_user(self) -> None:
        for args in (("add_user", USER, PASSWORD), ("set_permissions", "-p", "/", USER, ".*", ".*", ".*")):
            r = self.ctl(SERVERS[0], *args)
            if r.returncode != 0 and "already exists" not in r.stderr + r.stdout:
                raise LabError(f"rabbitmqctl {args[0]}: {r.stderr.strip()}")

    def beam_pids(self, host: str) -> list[int]:
        pids = []
        for pid in self.lab.pids(host):
            with contextlib.suppress(OSError):
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().startswith("beam"):
                        pids.append(pid)
        return pids

    def kill_beam(self, hosts: Iterable[str]) -> int:
        n = 0
        for h in hosts:
            for pid in self.beam_pids(h):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                    n += 1
        return n

    def client(self, *args: str, timeout: float = 120.0) -> dict[str, Any]:
        hosts = ",".join(self.lab.address(h) for h in SERVERS)
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        r = self.lab.run(CLIENT, ["env", f"PYTHONPATH={repo}", sys.executable, "-m", "corral_lab.rabbitmq", *args,
                                  "--hosts", hosts], timeout=timeout, cwd="/")
        if r.returncode != 0:
            raise LabError(f"client {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()[-800:]}")
        out: dict[str, Any] = json.loads(r.stdout)
        return out

    def stop(self) -> None:
        try:
            self.corral.stop()
        finally:
            self.lab.teardown()
            if not self._work_arg:
                shutil.rmtree(self.work, ignore_errors=True)
