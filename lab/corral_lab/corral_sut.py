"""Corral's live cluster inside the namespace lab (docs/lab.md).

`CorralCluster(lab, hosts)` runs, per server host and in that host's network
and mount namespaces:

- an etcd member on the host's lab address (lab/corral_lab/etcd.py);
- `corral agent --node hN --store etcd://<own member first>,...` with short
  lease timing (TTL 1 s, renew 0.1 s, store timeout 0.3 s by default) and
  HA_RSCTMP on the host's private /run/resource-agents.

It loads a configuration (stonith disabled: a lost node's agent has stopped
its resources before its lease expires, safety rule 2) with

- `name-clone`: a clone of `corral:process` running the keepalived rig's name
  service (answers VIP:PORT with the host's name) on every host;
- `vip`: `ocf:heartbeat:IPaddr2` (ip=VIP, cidr_netmask=24, nic=eth0,
  arp_count_refresh=1: every monitor re-announces the VIP, so a client that
  was partitioned with a fenced holder learns the new holder's MAC at once
  after the heal instead of when its ARP entry goes stale),
  colocated with and ordered after `name-clone` (order kind Mandatory by
  default; Optional avoids a scheduler divergence from Pacemaker that restarts
  the VIP whenever an instance of the clone starts or stops elsewhere: see
  docs/lab.md);
- with `promotable=True` (the campaign's default), `db-clone`: a promotable
  clone of `ocf:heartbeat:Stateful` with `promoted-max: 1`, independent of the
  other two (no constraint), whose promoted instance is the second singleton
  the campaign audits. Stateful keeps its role in a state file in HA_RSCTMP
  ("master" or "slave"); `promoted()` reads those files from outside.

Commands and store reads run inside a server host (the store exists only on
lab addresses); `snapshot()` uses `python -m corral_lab.audit snapshot`.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from corral_lab.etcd import LabEtcd
from corral_lab.hosts import Lab, LabError
from corral_lab.keepalived import IFACE, SERVICE, eth0_state, vip_claimants
from corral_lab.netns import ip

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VIP_ID = "vip"
CLONE_ID = "name-clone"
SERVICE_ID = "name"
DB_ID = "db"
DB_CLONE_ID = "db-clone"
DB_STATE = f"Stateful-{DB_ID}*.state"  # Stateful's state file: $HA_RSCTMP/Stateful-$OCF_RESOURCE_INSTANCE.state

CONFIG = """\
# written by corral_lab.corral_sut
cluster:
  stonith-enabled: {stonith}
{stonith_action}defaults:
  resource: {{resource-stickiness: 100}}
resources:
  - clone: {clone}
    of:
      id: {service}
      agent: corral:process
      params:
        command: "{python} -S {script} ${{node:#uname}} {port}"
        check_port: "{port}"
        stop_grace: "1"
      ops:
        - {{name: monitor, interval: {monitor}, timeout: 5s}}
        - {{name: start, timeout: 10s}}
        - {{name: stop, timeout: 5s}}
  - id: {vip_id}
    agent: ocf:heartbeat:IPaddr2
    params: {{ip: "{vip}", cidr_netmask: "24", nic: {iface}, arp_count_refresh: "1"}}
    ops:
      - {{name: monitor, interval: {monitor}, timeout: 5s}}
      - {{name: start, timeout: 10s}}
      - {{name: stop, timeout: 5s}}
{promotable}{fencing}constraints:
  - colocation: {{rsc: {vip_id}, with: {clone}, score: INFINITY}}
  - order: {{first: {clone}, then: {vip_id}, kind: {order_kind}}}
"""

# Short monitors, as in tests/live/test_live_promotable.py: a lost or doubled promotion is seen fast.
PROMOTABLE = """\
  - promotable: {db_clone}
    of:
      id: {db}
      agent: ocf:heartbeat:Stateful
      ops:
        - {{name: monitor, interval: 500ms, timeout: 10s}}
        - {{name: monitor, interval: 400ms, timeout: 10s, role: promoted}}
    meta: {{promoted-max: 1}}
"""


@dataclass(frozen=True)
class AgentTiming:
    """The agents' lease timing. The default (2 / 0.2 / 0.4 s) leaves 1 s for the self-fencing stops;
    FAST (1 / 0.1 / 0.3 s) leaves 0.3 s, which IPaddr2's stop overran on this loaded 2-core machine
    (docs/lab.md: split brain in 2 of 4 partitions)."""
    ttl: float = 2.0
    renew: float = 0.2
    store_timeout: float = 0.4

    def check(self) -> None:
        if not self.renew + 2 * self.store_timeout < self.ttl:
            raise ValueError(f"lease timing: renew {self.renew:g} + 2 x store timeout {self.store_timeout:g} "
                             f"must be below the TTL {self.ttl:g}")


FAST = AgentTiming(1.0, 0.1, 0.3)


def _env_prefix() -> list[str]:
    path = os.environ.get("PYTHONPATH", "")
    return ["env", f"PYTHONPATH={_REPO + (os.pathsep + path if path else '')}"]


class CorralCluster:
    """etcd + one Corral agent per server host + the VIP configuration; stop() never raises."""

    def __init__(self, lab: Lab, hosts: Sequence[str], *, vip: str, port: int,
                 timing: AgentTiming | None = None, work_dir: str | None = None, monitor: str = "1s",
                 log_level: str = "info", order_kind: str = "Mandatory", stonith: bool = False,
                 heartbeat_timeout: str = "", promotable: bool = False) -> None:
        if order_kind not in ("Mandatory", "Optional"):
            raise ValueError(f"order kind {order_kind!r}: Mandatory or Optional")
        self.order_kind = order_kind
        self.stonith = stonith
        self.heartbeat_timeout = heartbeat_timeout  # with stonith: fence a silent node after this long
        self.promotable = promotable  # the Stateful promotable clone too (off: the failover benchmark's config)
        self.lab, self.hosts = lab, list(hosts)
        self.vip, self.port = vip, port
        self.timing = timing or AgentTiming()
        self.timing.check()
        self.monitor = monitor
        self.log_level = log_level
        self._work_arg = work_dir
        self.work = ""
        self.etcd: LabEtcd | None = None
        self.agents: dict[str, subprocess.Popen[bytes]] = {}
        self.python = sys.executable

    # -- life cycle -------------------------------------------------------------------------------------
    def start(self, ready_s: float = 40.0) -> None:
        self.work = self._work_arg or tempfile.mkdtemp(prefix="corral-lab-corral-")
        os.makedirs(self.work, exist_ok=True)
        script = os.path.join(self.work, "name_service.py")
        with open(script, "w") as f:
            f.write(SERVICE)
        config = os.path.join(self.work, "cluster.yaml")
        with open(config, "w") as f:
            f.write(CONFIG.format(stonith="true" if self.stonith else "false", fencing=self.fencing_yaml(),
                                  stonith_action=self.fencing_options(),
                                  clone=CLONE_ID, service=SERVICE_ID, python=self.python,
                                  script=script, port=self.port, monitor=self.monitor, vip_id=VIP_ID,
                                  vip=self.vip, iface=IFACE, order_kind=self.order_kind,
                                  promotable=PROMOTABLE.format(db_clone=DB_CLONE_ID, db=DB_ID)
                                  if self.promotable else ""))
        os.makedirs(os.path.join(self.work, "etcd"), exist_ok=True)
        self.etcd = LabEtcd(self.lab, self.hosts, data_root=os.path.join(self.work, "etcd"))
        self.etcd.start()
        r = self.corral(self.hosts[0], "load", config, timeout=30)
        if r.returncode != 0:
            raise LabError(f"corral load failed ({r.returncode}): {r.stderr.strip()[-1500:]}")
        for h in self.hosts:
            self.start_agent(h)
        self.wait_members(self.hosts, ready_s)

    def fencing_options(self) -> str:
        """Cluster options that come with stonith: power off, and the heartbeat timeout if any."""
        if not self.stonith:
            return ""
        hb = f"  heartbeat-timeout: {self.heartbeat_timeout}\n" if self.heartbeat_timeout else ""
        return "  stonith-action: \"off\"\n" + hb

    def fencing_yaml(self) -> str:
        """With stonith: one fence_corral_netns device that powers any server host off (docs/fencing.md)."""
        if not self.stonith:
            return ""
        hostmap = ";".join(f"{h}:{self.lab.host(h).netns}" for h in self.hosts)
        return (f"  - id: fence-lab\n    agent: stonith:fence_corral_netns\n"
                f"    params: {{pcmk_host_map: \"{hostmap}\", state_dir: \"{self.lab.fence_state_dir}\"}}\n")

    def start_host(self, host: str, ready_s: float = 30.0) -> None:
        """After lab.restart(host): drop a stale VIP, start its etcd member and its agent; wait until
        the member is healthy and the node has rejoined."""
        assert self.etcd is not None
        self.kill_agent(host)
        ip("-n", self.lab.host(host).netns, "addr", "del", f"{self.vip}/24", "dev", IFACE, check=False)
        if not self.etcd.running(host):
            self.etcd.start_member(host, ready_s=ready_s)
        self.start_agent(host)
        self.wait_members([host], ready_s)

    def start_agent(self, host: str) -> None:
        self.kill_agent(host)
        assert self.etcd is not None
        t = self.timing
        argv = [*_env_prefix(), self.python, "-m", "corral.cli.main", "agent", "--node", host,
                "--store", self.etcd.url(host), "--ttl", f"{t.ttl:g}", "--renew", f"{t.renew:g}",
                "--store-timeout", f"{t.store_timeout:g}", "--rsctmp", "/run/resource-agents",
                "--shutdown-timeout", "5", "--log-level", self.log_level,
                "--self-fence-command", self.self_fence_command()]
        with open(self.agent_log_path(host), "ab") as log:
            self.agents[host] = self.lab.spawn(host, argv, cwd="/", stdout=log, stderr=subprocess.STDOUT)

    def self_fence_command(self) -> str:
        """A lab host has no watchdog device to reset it; the timer watchdog kills the agent's processes,
        and this drops what a reset would also lose and is not a process: the VIP, and Stateful's
        role, a file on the tmpfs HA_RSCTMP (its promoted "instance" is that file alone)."""
        cmd = f"ip addr del {self.vip}/24 dev {IFACE} 2>/dev/null"
        if self.promotable:
            cmd += f"; rm -f /run/resource-agents/{DB_STATE}"
        return cmd + "; true"

    def agent_log_path(self, host: str) -> str:
        return os.path.join(self.work, f"agent-{host}.log")

    def agent_running(self, host: str) -> bool:
        p = self.agents.get(host)
        return p is not None and p.poll() is None

    def kill_agent(self, host: str) -> None:
        """SIGKILL the agent only (its services keep running: ComponentFail)."""
        p = self.agents.pop(host, None)
        if p is None:
            return
        if p.poll() is None:
            with contextlib.suppress(OSError):
                p.send_signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=5.0)

    def stop(self) -> None:
        for h in list(self.agents):
            self.kill_agent(h)
        if self.etcd is not None:
            self.etcd.stop()
        # The services (corral:process daemons, orphaned inside the hosts) die with the lab's teardown.
        if self.work and not self._work_arg:
            shutil.rmtree(self.work, ignore_errors=True)

    # -- queries ------------------------------------------------------------------------------------------
    def store_url(self, host: str | None = None) -> str:
        assert self.etcd is not None
        return self.etcd.url(host, timeout_s=1.0)

    def corral(self, host: str, *args: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
        """`corral ARGS --store URL`, run inside host (whose etcd member is listed first)."""
        argv = [*_env_prefix(), self.python, "-m", "corral.cli.main", *args, "--store", self.store_url(host)]
        try:
            return self.lab.run(host, argv, timeout=timeout, cwd="/")
        except subprocess.TimeoutExpired as e:
            return subprocess.CompletedProcess(argv, 124, "", f"timed out after {e.timeout}s")

    def snapshot(self, host: str, timeout: float = 10.0) -> dict[str, Any] | None:
        """Members, nodes, resources and each node's operation history (audit.py), read inside host."""
        argv = [*_env_prefix(), self.python, "-m", "corral_lab.audit", "snapshot", self.store_url(host)]
        try:
            r = self.lab.run(host, argv, timeout=timeout, cwd="/")
        except subprocess.TimeoutExpired:
            return None
        if r.returncode != 0:
            return None
        try:
            out: dict[str, Any] = json.loads(r.stdout)
        except ValueError:
            return None
        return out

    def wait_members(self, hosts: Sequence[str], bound_s: float = 30.0, via: str | None = None) -> None:
        deadline = time.monotonic() + bound_s
        last: dict[str, Any] | None = None
        while True:
            for h in hosts:
                if h in self.agents and self.agents[h].poll() is not None:
                    raise LabError(f"the agent on {h} exited with {self.agents[h].returncode}: "
                                   f"{self.agent_log_tail(h)}")
            last = self.snapshot(via or hosts[0])
            if last is not None and set(hosts) <= set(last.get("members", [])):
                return
            if time.monotonic() > deadline:
                raise LabError(f"nodes {', '.join(hosts)} did not join within {bound_s:g}s "
                               f"(members: {last.get('members') if last else '?'}); "
                               f"{self.agent_log_tail(hosts[0])}")
            time.sleep(0.2)

    def agent_log_tail(self, host: str, limit: int = 1500) -> str:
        try:
            with open(self.agent_log_path(host), errors="replace") as f:
                return f.read()[-limit:]
        except OSError:
            return ""

    def claimants(self) -> list[str]:
        return vip_claimants(self.lab, self.hosts, self.vip)

    def observe(self) -> tuple[list[str], list[str]]:
        """(the VIP's claimants, the hosts running db promoted) in one pass, one `ip` call per host.
        Both count powered hosts only: a crashed or fenced host's address and state file are leftovers
        of a dead boot, not running instances (lab.restart discards both)."""
        claim, promoted = [], []
        for h in self.hosts:
            up, vip = eth0_state(self.lab, h, self.vip)
            if vip:
                claim.append(h)
            if up and self.promotable and "master" in self.db_state(h):
                promoted.append(h)
        return claim, promoted

    def promoted(self) -> list[str]:
        return self.observe()[1]

    def db_state(self, host: str) -> list[str]:
        """What Stateful recorded on host, whatever its power: "master" or "slave" per state file
        ([]: db not running there; ["?"]: unreadable now, e.g. mid-restart)."""
        files = self.lab.rsctmp_files(host, DB_STATE)
        return ["?"] if files is None else sorted(v.strip() for v in files.values())

    # -- campaign helpers (lab/corral_lab/campaign.py) ------------------------------------------------------
    def load_options(self, options: dict[str, str | bool], via: str | None = None) -> None:
        """`corral load` the configuration written by start() with these cluster options on top, e.g.
        {"maintenance-mode": True}; {} loads it as it was. There is no CLI verb for cluster options."""
        import yaml

        with open(os.path.join(self.work, "cluster.yaml")) as f:
            cfg = yaml.safe_load(f)
        cfg.setdefault("cluster", {}).update(options)
        path = os.path.join(self.work, "cluster-options.yaml")
        with open(path, "w") as f:
            yaml.safe_dump(cfg, f, sort_keys=False)
        # --force: the campaign means it, also when the options stop resources (load asks otherwise)
        r = self.corral(via or self.hosts[0], "load", "--force", path, timeout=30)
        if r.returncode != 0:
            raise LabError(f"corral load with {options} failed ({r.returncode}): {r.stderr.strip()[-1500:]}")

    def stop_agents(self, hosts: Sequence[str], bound_s: float = 30.0) -> None:
        """SIGTERM the hosts' agents all at once (a clean leave, like stopping the cluster service) and
        wait until every one has exited."""
        procs = {h: p for h in hosts if (p := self.agents.pop(h, None)) is not None}
        for p in procs.values():
            if p.poll() is None:
                with contextlib.suppress(OSError):
                    p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + bound_s
        stuck = []
        for h, p in procs.items():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.agents[h] = p  # still ours: kill_agent() or stop() gets rid of it
                stuck.append(h)
        if stuck:
            raise LabError(f"the agent on {', '.join(stuck)} did not leave within {bound_s:g}s of SIGTERM")
