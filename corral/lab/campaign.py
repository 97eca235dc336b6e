"""A seeded, bounded, randomized fault campaign against Corral in the namespace lab (docs/lab.md).

Modelled on Pacemaker's CTS: each step picks a fault and a target with a
seeded RNG, injects it, repairs it, waits (bounded) until the cluster has
converged again, and audits (corral/lab/audit.py):

| fault | CTS analogue | what happens |
| --- | --- | --- |
| crash | StopOnebyOne / Flip (power) | the host loses power (links down, SIGKILL all); restarted after failover |
| partition | SplitBrain | the host is cut off from the others (layer 2), held 3-5 s, healed |
| kill-agent | ComponentFail | SIGKILL the agent of a host that does not hold the VIP (its services keep running); restarted after its lease expired |
| resource-fail | ResourceRecover | the name service is killed behind Corral's back; the monitor notices, Corral restarts it |
| standby | Standby | `corral node standby H`, wait until nothing runs there, `corral node online H` |
| restart | Restart | SIGTERM the agent (clean leave: resources moved away), start it again |
| etcd-loss | (store member loss) | SIGKILL the host's etcd member only; its agent must carry on through the others; restarted |

The VIP holder is the target of crash, partition, standby and restart half
the time (it is the interesting case); kill-agent never targets it, because
without fencing a dead agent's VIP keeps running untracked (Pacemaker needs
fencing there too; docs/architecture.md).

During each fault and its recovery, claims of the VIP are sampled every 50 ms:
two at one sample is a violation. After recovery: convergence within
`converge_s`, and no resource restarted on a host the fault did not touch.
Every loop is bounded; the only traffic is between the lab's namespaces.
"""
from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from corral.lab.audit import ClaimSampler, converged, dual_claim_violations, restarts
from corral.lab.corral_sut import SERVICE_ID, VIP_ID, AgentTiming, CorralCluster
from corral.lab.failover import DEFAULT_PORT, DEFAULT_VIP
from corral.lab.hosts import Lab, LabError
from corral.lab.keepalived import IFACE
from corral.lab.netns import ip

FAULTS = ("crash", "partition", "kill-agent", "resource-fail", "standby", "restart", "etcd-loss")
RSCTMP = "/run/resource-agents"


@dataclass
class FaultResult:
    step: int
    kind: str
    target: str
    held_vip: bool = False
    touched: list[str] = field(default_factory=list)
    vip_before: str | None = None
    vip_after: str | None = None
    vip_outage_s: float = 0.0           # longest sampled stretch with nobody holding the VIP
    recovered_s: float | None = None    # repair -> converged (snapshot-polled, ~0.5 s resolution)
    max_claimants: int = 0
    samples: int = 0
    violations: list[str] = field(default_factory=list)
    error: str = ""


@dataclass
class CampaignReport:
    seed: int
    hosts: int
    results: list[FaultResult] = field(default_factory=list)
    setup_s: float = 0.0
    total_s: float = 0.0

    @property
    def violations(self) -> list[str]:
        return [f"step {r.step} {r.kind} {r.target}: {v}" for r in self.results for v in r.violations]

    @property
    def errors(self) -> list[str]:
        return [f"step {r.step} {r.kind} {r.target}: {r.error}" for r in self.results if r.error]

    def summary(self) -> dict[str, Any]:
        rec = [r.recovered_s for r in self.results if r.recovered_s is not None]
        out = [r.vip_outage_s for r in self.results]
        kinds: dict[str, int] = {}
        for r in self.results:
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
        return {"seed": self.seed, "faults": len(self.results), "by_kind": kinds,
                "violations": len(self.violations), "errors": len(self.errors),
                "recovered_median_s": statistics.median(rec) if rec else None,
                "recovered_worst_s": max(rec) if rec else None,
                "vip_outage_median_s": statistics.median(out) if out else None,
                "vip_outage_worst_s": max(out) if out else None,
                "setup_s": self.setup_s, "total_s": self.total_s}


def _longest_empty(samples: Sequence[Any]) -> float:
    longest, start = 0.0, None
    for s in samples:
        if not s.claimants:
            start = s.t if start is None else start
            longest = max(longest, s.t - start)
        else:
            start = None
    return longest


class Campaign:
    def __init__(self, *, faults: int, seed: int, hosts: int = 3, kinds: Sequence[str] = FAULTS,
                 timing: AgentTiming | None = None, work_dir: str | None = None, converge_s: float = 30.0,
                 log: Callable[[str], None] = print, order_kind: str = "Mandatory", stonith: bool = False) -> None:
        if hosts < 3:
            raise ValueError("a campaign needs at least 3 hosts (a majority must survive one fault)")
        bad = [k for k in kinds if k not in FAULTS]
        if bad or not kinds:
            raise ValueError(f"unknown fault kinds {bad}; choose from {', '.join(FAULTS)}")
        self.faults, self.seed, self.kinds = faults, seed, list(kinds)
        self.names = [f"h{i}" for i in range(1, hosts + 1)]
        self.rng = random.Random(seed)
        self.timing = timing or AgentTiming(2.0, 0.2, 0.4)
        self.work_arg = work_dir
        self.converge_s = converge_s
        self.log = log
        self.order_kind = order_kind
        self.stonith = stonith
        self.lab: Lab | None = None
        self.cluster: CorralCluster | None = None

    # -- running --------------------------------------------------------------------------------------------
    def run(self) -> CampaignReport:
        report = CampaignReport(self.seed, len(self.names))
        t0 = time.monotonic()
        work = self.work_arg or tempfile.mkdtemp(prefix="corral-campaign-")
        lab = Lab(self.names)
        self.lab = lab
        try:
            lab.start()
            self.cluster = CorralCluster(lab, self.names, vip=DEFAULT_VIP, port=DEFAULT_PORT, timing=self.timing,
                                         work_dir=os.path.join(work, "cluster"), order_kind=self.order_kind,
                                         stonith=self.stonith)
            self.cluster.start()
            problems = self.wait_converged(self.names, self.converge_s)
            if problems:
                raise LabError(f"the cluster did not converge after start: {'; '.join(problems)}")
            report.setup_s = time.monotonic() - t0
            self.log(f"campaign seed {self.seed}: {len(self.names)} hosts up, VIP on "
                     f"{self.holder()} ({report.setup_s:.1f} s)")
            for step in range(1, self.faults + 1):
                kind = self.rng.choice(self.kinds)
                r = self.one(step, kind)
                report.results.append(r)
                self.log(self.describe(r))
                if r.error and not self.recover_all():
                    self.log("  could not bring the cluster back; campaign stopped")
                    break
        finally:
            report.total_s = time.monotonic() - t0
            if self.cluster is not None:
                self.cluster.stop()
            lab.teardown()
            if self.work_arg is None:
                shutil.rmtree(work, ignore_errors=True)
        return report

    @staticmethod
    def describe(r: FaultResult) -> str:
        rec = f"{r.recovered_s:.2f} s" if r.recovered_s is not None else "-"
        verdict = "ok" if not r.violations and not r.error else "VIOLATION" if r.violations else "ERROR"
        line = (f"  {r.step:3} {r.kind:<13} {r.target:<4} {'(VIP holder)' if r.held_vip else '            '} "
                f"VIP {r.vip_before} -> {r.vip_after}; no holder for {r.vip_outage_s:.2f} s; "
                f"converged {rec} after repair; max holders {r.max_claimants} ({r.samples} samples): {verdict}")
        for v in r.violations:
            line += f"\n        violation: {v}"
        if r.error:
            line += f"\n        error: {r.error}"
        return line

    def holder(self) -> str | None:
        assert self.cluster is not None
        c = self.cluster.claimants()
        return c[0] if len(c) == 1 else None

    def via(self, avoid: Sequence[str] = ()) -> str:
        return next(h for h in self.names if h not in avoid)

    def snapshot(self, avoid: Sequence[str] = ()) -> dict[str, Any] | None:
        assert self.cluster is not None
        for h in [h for h in self.names if h not in avoid]:
            snap = self.cluster.snapshot(h)
            if snap is not None:
                return snap
        return None

    def wait_converged(self, expected: Sequence[str], bound_s: float, avoid: Sequence[str] = ()) -> list[str]:
        assert self.cluster is not None
        deadline = time.monotonic() + bound_s
        while True:
            snap = self.snapshot(avoid)
            problems = converged(snap, vip=VIP_ID, clone_base=SERVICE_ID, claimants=self.cluster.claimants(),
                                 expected=expected)
            if not problems or time.monotonic() > deadline:
                return problems
            time.sleep(0.2)

    def wait_until(self, pred: Callable[[], bool], bound_s: float, what: str) -> None:
        deadline = time.monotonic() + bound_s
        while not pred():
            if time.monotonic() > deadline:
                raise LabError(f"no {what} within {bound_s:g}s")
            time.sleep(0.05)

    def one(self, step: int, kind: str) -> FaultResult:
        assert self.cluster is not None and self.lab is not None
        holder = self.holder()
        if kind == "kill-agent" and not self.stonith:
            target = self.rng.choice([h for h in self.names if h != holder])
        elif kind in ("crash", "partition", "standby", "restart", "resource-fail") and holder \
                and self.rng.random() < 0.5:
            target = holder
        else:
            target = self.rng.choice(self.names)
        r = FaultResult(step, kind, target, held_vip=target == holder, vip_before=holder)
        r.touched = [] if kind == "etcd-loss" else [target]
        movable = ([VIP_ID] if r.held_vip else []) + (["fence-lab"] if self.stonith else [])
        before = self.snapshot()
        sampler = ClaimSampler(self.cluster.claimants).start()
        t_repair = time.monotonic()
        try:
            t_repair = getattr(self, "_fault_" + kind.replace("-", "_"))(target, r.held_vip)
            if self.stonith:
                self.revive_fenced()
            problems = self.wait_converged(self.names, self.converge_s)
            if problems:
                r.violations.append(f"not converged {self.converge_s:g}s after repair: {'; '.join(problems)}")
            else:
                r.recovered_s = time.monotonic() - t_repair
        except (LabError, subprocess.SubprocessError, OSError) as e:
            r.error = str(e)
        finally:
            samples = sampler.stop()
        r.samples = len(samples)
        r.max_claimants = max((len(s.claimants) for s in samples), default=0)
        r.vip_outage_s = _longest_empty(samples)
        r.violations[:0] = dual_claim_violations(samples)
        r.vip_after = self.holder()
        after = self.snapshot()
        if before is None or after is None:
            r.violations.append("could not read the store before or after the fault")
        elif not r.error:
            r.violations += restarts(before, after, touched=r.touched, movable=movable)
        return r

    def wait_fenced(self, host: str, bound_s: float = 20.0) -> None:
        """Until the lab fence agent has powered host off: its marker written and no process left (its
        kill loop must be over before anything is started there again)."""
        assert self.lab is not None
        marker = os.path.join(self.lab.fence_state_dir, f"{self.lab.host(host).netns}.off")
        self.wait_until(lambda: os.path.exists(marker) and not self.lab.pids(host),  # type: ignore[union-attr]
                        bound_s, f"fencing of {host}")
        time.sleep(0.3)
        self.wait_until(lambda: not self.lab.pids(host), 5, f"the end of {host}'s fencing")  # type: ignore[union-attr]

    def revive_fenced(self, bound_s: float = 15.0) -> None:
        """With stonith: a host the controller fenced (its agent and etcd member killed by the lab fence
        agent) is booted again, as its power switch's "on" would after a real reboot."""
        assert self.cluster is not None and self.cluster.etcd is not None
        deadline = time.monotonic() + bound_s
        while time.monotonic() < deadline:
            dead = [h for h in self.names if not self.cluster.agent_running(h) or not self.cluster.etcd.running(h)]
            if dead:
                for h in dead:
                    self.wait_fenced(h)
                    self.reboot(h)
                return
            if self.cluster.claimants() and not self.converging_fence():
                return
            time.sleep(0.2)

    def converging_fence(self) -> bool:
        """Whether the store says a node is unclean (a fence pending)."""
        snap = self.snapshot()
        return snap is not None and any(n.get("state") == "unclean" for n in snap.get("nodes") or [])

    def recover_all(self) -> bool:
        """After an error: heal, restart every host whose agent or etcd member is gone, wait."""
        assert self.cluster is not None and self.lab is not None and self.cluster.etcd is not None
        try:
            self.lab.heal()
            for h in self.names:
                if not self.cluster.agent_running(h) or not self.cluster.etcd.running(h):
                    self.reboot(h)
            self.cluster.corral(self.names[0], "node", "online", "h1")
            return not self.wait_converged(self.names, self.converge_s)
        except (LabError, subprocess.SubprocessError, OSError):
            return False

    # -- the faults: each returns the moment its repair began -----------------------------------------------
    def _fault_crash(self, target: str, held: bool) -> float:
        assert self.cluster is not None and self.lab is not None
        self.lab.crash(target)
        if held:
            self.wait_until(lambda: bool(set(self.cluster.claimants()) - {target}), 20, "failover of the VIP")  # type: ignore[union-attr]
        else:
            time.sleep(2.0)
        if self.stonith:
            self.wait_fenced(target)
        t = time.monotonic()
        self.reboot(target)
        return t

    def reboot(self, host: str) -> None:
        """lab.restart + the host's daemons. A real reboot forgets addresses; the lab's restart brings the
        links up with the old ones, so the stale VIP is dropped while the links are still down."""
        assert self.cluster is not None and self.lab is not None
        ip("-n", self.lab.host(host).netns, "addr", "del", f"{DEFAULT_VIP}/24", "dev", IFACE, check=False)
        self.lab.restart(host)
        self.cluster.start_host(host)

    def _fault_partition(self, target: str, held: bool) -> float:
        assert self.lab is not None
        others = [h for h in self.names if h != target]
        self.lab.partition([target], others)
        time.sleep(self.rng.uniform(3.0, 5.0))
        t = time.monotonic()
        self.lab.heal()
        return t

    def _fault_kill_agent(self, target: str, held: bool) -> float:
        assert self.cluster is not None
        self.cluster.kill_agent(target)
        if self.stonith:  # the node is lost and fenced (powered off): boot it again
            self.wait_fenced(target)
            t = time.monotonic()
            self.reboot(target)
            return t
        time.sleep(self.cluster.timing.ttl + 1.5)  # the lease runs out: the node is lost
        t = time.monotonic()
        self.cluster.start_agent(target)
        return t

    def _fault_resource_fail(self, target: str, held: bool) -> float:
        assert self.lab is not None
        pid = self.service_pid(target)
        if pid is None:
            raise LabError(f"no name service pid file on {target}")
        os.kill(pid, signal.SIGKILL)
        t = time.monotonic()
        # converged() cannot tell a failure the monitor has not seen yet: wait for the restart itself
        self.wait_until(lambda: self.service_pid(target) not in (None, pid), 20,
                        f"restart of the killed service on {target}")
        return t

    def _fault_standby(self, target: str, held: bool) -> float:
        assert self.cluster is not None
        r = self.cluster.corral(self.via([target]), "node", "standby", target)
        if r.returncode != 0:
            raise LabError(f"corral node standby {target}: {r.stderr.strip()[-500:]}")
        self.wait_until(lambda: target not in self.cluster.claimants()  # type: ignore[union-attr]
                        and self.service_pid(target) is None, 20, f"{target} emptied by standby")
        t = time.monotonic()
        r = self.cluster.corral(self.via([target]), "node", "online", target)
        if r.returncode != 0:
            raise LabError(f"corral node online {target}: {r.stderr.strip()[-500:]}")
        return t

    def _fault_restart(self, target: str, held: bool) -> float:
        assert self.cluster is not None
        p = self.cluster.agents.get(target)
        if p is None:
            raise LabError(f"no agent on {target}")
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise LabError(f"the agent on {target} did not leave within 20 s of SIGTERM") from None
        t = time.monotonic()
        self.cluster.start_agent(target)
        return t

    def _fault_etcd_loss(self, target: str, held: bool) -> float:
        assert self.cluster is not None and self.cluster.etcd is not None
        self.cluster.etcd.kill_member(target)
        time.sleep(3.0)
        t = time.monotonic()
        self.cluster.etcd.start_member(target)
        return t

    def service_pid(self, host: str) -> int | None:
        """The name service's pid on host, from corral:process's pid file in the host's HA_RSCTMP."""
        assert self.lab is not None
        with contextlib.suppress(subprocess.SubprocessError, OSError, ValueError):
            r = self.lab.run(host, ["sh", "-c", f"cat {RSCTMP}/corral-process-{SERVICE_ID}*.pid"], timeout=5)
            if r.returncode == 0 and r.stdout.strip():
                import json
                pid = int(json.loads(r.stdout.strip().splitlines()[0])["pid"])
                if pid in self.lab.pids(host):
                    return pid
        return None
