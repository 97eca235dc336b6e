"""A seeded, bounded, randomized fault campaign against Corral in the namespace lab (docs/lab.md).

Modelled on Pacemaker's CTS: each step picks a fault and a target with a
seeded RNG, injects it, repairs it, waits (bounded) until the cluster has
converged again, and audits (lab/corral_lab/audit.py):

| fault | CTS analogue | what happens |
| --- | --- | --- |
| crash | (power loss) | the host loses power (links down, SIGKILL all); restarted after failover |
| partition | SplitBrain | the host is cut off from the others (layer 2), held 3-5 s, healed |
| kill-agent | ComponentFail | SIGKILL the agent of a host that does not hold the VIP (its services keep running); restarted after its lease expired |
| resource-fail | ResourceRecover | the name service is killed behind Corral's back; the monitor notices, Corral restarts it |
| standby | Standby | `corral node standby H`, wait until nothing runs there, `corral node online H` |
| restart | Restart | SIGTERM the agent (clean leave: resources moved away), start it again |
| etcd-loss | (store member loss) | SIGKILL the host's etcd member only; its agent must carry on through the others; restarted |
| simul-stop-start | SimulStop + SimulStart | SIGTERM every agent at once: everything stops; start them all at once |
| stop-one-by-one | StopOnebyOne + StartOnebyOne | stop the agents cleanly one at a time (the rest take over), then start them one at a time |
| flip | Flip | 2-4 times: a host's agent is stopped if running, started if stopped; all started at the end |
| maintenance | MaintenanceMode | maintenance-mode on, one agent killed and started again; nothing may stop or start; off |
| reattach | Reattach | maintenance-mode on, every agent stopped cleanly and started again; nothing may stop or start; off |
| near-quorum | NearQuorumPoint | a minority of hosts shut down (agent, then etcd member): the store keeps quorum, the rest runs everything |
| etcd-majority-loss | (store quorum loss) | SIGKILL a majority of etcd members: every agent must self-fence (the VIP on no host within the TTL); restored |
| cold-start | (cluster cold start) | every agent stopped cleanly, the store wiped; all agents started at once and the configuration loaded at the same moment: nobody may be fenced (the join window), everything runs again (not in the default mix: `--kinds cold-start`) |
| crash-two | (power loss of a majority) | a majority of hosts lose power at once: the store loses quorum, the survivors must stop everything; then all are powered on at once (etcd member and agent started) and everything runs again, with no fence left pending (not in the default mix) |
| crash-controller | (power loss of the DC) | the host running the controller loses power: with fencing a candidate fences it and takes over; booted again (not in the default mix) |
| crash-while-fencing | (DC lost mid-fence) | a host's agent is killed (it must be fenced), and the controller's host loses power as it begins that fence: its successor must fence both and settle the fence it left pending; both booted again (not in the default mix) |

The VIP holder is the target of the single-host faults half the time (it is
the interesting case); kill-agent never targets it without fencing, because
then a dead agent's VIP keeps running untracked (Pacemaker needs fencing there
too; docs/architecture.md).

During each fault and its recovery, claims of the VIP and the hosts running the
promotable clone `db` promoted (Stateful's state file in each powered host's
private HA_RSCTMP) are sampled every 50 ms: two VIP holders, or two promoted
hosts, at one sample is a violation. After recovery: convergence within
`converge_s` (db promoted on exactly one host among them), and no resource
restarted on a host the fault did not touch;
the kinds add their own audits (everything stopped, nothing moved in
maintenance mode, self-fencing within the TTL). Every loop is bounded; the only
traffic is between the lab's namespaces.
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from corral_lab.audit import (
    ClaimSample,
    ClaimSampler,
    claims_after,
    claims_other_than,
    converged,
    dual_claim_violations,
    dual_promoted_violations,
    managed_mismatch,
    restarts,
    still_running,
)
from corral_lab.corral_sut import DB_ID, SERVICE_ID, VIP_ID, AgentTiming, CorralCluster, _env_prefix
from corral_lab.failover import DEFAULT_PORT, DEFAULT_VIP
from corral_lab.hosts import Lab, LabError, new_prefix

BASIC = ("crash", "partition", "kill-agent", "resource-fail", "standby", "restart", "etcd-loss")
CTS = ("simul-stop-start", "stop-one-by-one", "flip", "maintenance", "reattach", "near-quorum",
       "etcd-majority-loss")
STARTUP = ("cold-start",)
# Power losses around quorum and the controller (the control-plane lab's crash-two found a fence
# left pending after the victims rebooted and rejoined); not in the default mix either.
POWER = ("crash-two", "crash-controller", "crash-while-fencing")
FAULTS = BASIC + CTS + STARTUP + POWER
DEFAULT_KINDS = BASIC + CTS  # the default mix (seeded campaigns keep their draws)
# Faults on one host, aimed at the VIP holder half the time.
_SINGLE = ("crash", "partition", "standby", "restart", "resource-fail", "flip", "maintenance")
RSCTMP = "/run/resource-agents"

Check = Callable[[list[ClaimSample]], list[str]]


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
    dual_claims: int = 0                # samples with the VIP on two hosts or more
    db_before: str | None = None        # the host running db promoted (None: none, or several)
    db_after: str | None = None
    db_outage_s: float = 0.0            # longest sampled stretch with no host running db promoted
    max_promoted: int = 0               # most hosts running db promoted at one sample
    dual_promoted: int = 0              # samples with db promoted on two hosts or more
    watchdog_fired: int = 0             # agents' watchdogs firing (their hard action) during the step
    samples: int = 0
    violations: list[str] = field(default_factory=list)
    error: str = ""
    notes: list[str] = field(default_factory=list)  # what the kind measured on the way (self-fencing time...)
    logs: dict[str, str] = field(default_factory=dict)  # agents' log tails, when asked for on a violation


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
        per_kind: dict[str, dict[str, Any]] = {}
        for r in self.results:
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
        for kind in kinds:
            rs = [r for r in self.results if r.kind == kind]
            krec = [r.recovered_s for r in rs if r.recovered_s is not None]
            per_kind[kind] = {"faults": len(rs), "violations": sum(len(r.violations) for r in rs),
                              "errors": sum(1 for r in rs if r.error),
                              "recovered_median_s": statistics.median(krec) if krec else None,
                              "recovered_worst_s": max(krec) if krec else None,
                              "vip_outage_worst_s": max(r.vip_outage_s for r in rs),
                              "db_outage_worst_s": max(r.db_outage_s for r in rs)}
        db_out = [r.db_outage_s for r in self.results]
        return {"seed": self.seed, "faults": len(self.results), "by_kind": kinds, "per_kind": per_kind,
                "violations": len(self.violations), "errors": len(self.errors),
                "samples": sum(r.samples for r in self.results),
                "dual_vip_samples": sum(r.dual_claims for r in self.results),
                "dual_promoted_samples": sum(r.dual_promoted for r in self.results),
                "max_promoted": max((r.max_promoted for r in self.results), default=0),
                "watchdog_fired": sum(r.watchdog_fired for r in self.results),
                "db_outage_median_s": statistics.median(db_out) if db_out else None,
                "db_outage_worst_s": max(db_out) if db_out else None,
                "recovered_median_s": statistics.median(rec) if rec else None,
                "recovered_worst_s": max(rec) if rec else None,
                "vip_outage_median_s": statistics.median(out) if out else None,
                "vip_outage_worst_s": max(out) if out else None,
                "setup_s": self.setup_s, "total_s": self.total_s}


def _longest_empty(samples: Sequence[ClaimSample], promoted: bool = False) -> float:
    """The longest sampled stretch with no VIP holder (or, `promoted`, no host running db promoted)."""
    longest, start = 0.0, None
    for s in samples:
        if not (s.promoted if promoted else s.claimants):
            start = s.t if start is None else start
            longest = max(longest, s.t - start)
        else:
            start = None
    return longest


class Campaign:
    def __init__(self, *, faults: int, seed: int, hosts: int = 3, kinds: Sequence[str] = DEFAULT_KINDS,
                 timing: AgentTiming | None = None, work_dir: str | None = None, converge_s: float = 30.0,
                 log: Callable[[str], None] = print, order_kind: str = "Mandatory", stonith: bool = False,
                 each: bool = False, log_tail_chars: int = 0, heartbeat_timeout: str = "",
                 promotable: bool = True, lab_prefix: str = "crl") -> None:
        if hosts < 3:
            raise ValueError("a campaign needs at least 3 hosts (a majority must survive one fault)")
        bad = [k for k in kinds if k not in FAULTS]
        if bad or not kinds:
            raise ValueError(f"unknown fault kinds {bad}; choose from {', '.join(FAULTS)}")
        self.faults, self.seed, self.kinds = faults, seed, list(kinds)
        self.each = each
        self.log_tail_chars = log_tail_chars  # > 0: a step with a violation or error keeps the agents' log tails
        self.names = [f"h{i}" for i in range(1, hosts + 1)]
        self.rng = random.Random(seed)
        self.timing = timing or AgentTiming(2.0, 0.2, 0.4)
        self.work_arg = work_dir
        self.converge_s = converge_s
        self.log = log
        self.order_kind = order_kind
        self.stonith = stonith
        self.heartbeat_timeout = heartbeat_timeout  # with stonith: fence silent nodes after this
        self.promotable = promotable  # the Stateful promotable clone `db` and its promoted-instance audits
        self.lab_prefix = lab_prefix  # the lab's namespaces are named <prefix><4 hex>-<host>
        self.lab: Lab | None = None
        self.cluster: CorralCluster | None = None
        self.maintenance = False
        self._checks: list[Check] = []  # the current step's audits on its claim samples
        self._role_changes: list[str] = []  # resources whose role the current step may change (not restart)

    # -- running --------------------------------------------------------------------------------------------
    def sequence(self) -> Iterator[str]:
        """The kinds of the steps: a seeded draw per step (interleaved with the targets' draws, as
        before the `each` mode), or with `each` every kind in turn (a seeded shuffle)."""
        if not self.each:
            for _ in range(self.faults):
                yield self.rng.choice(self.kinds)
            return
        order = list(dict.fromkeys(self.kinds))
        self.rng.shuffle(order)
        for i in range(self.faults):
            yield order[i % len(order)]

    def run(self) -> CampaignReport:
        report = CampaignReport(self.seed, len(self.names))
        t0 = time.monotonic()
        work = self.work_arg or tempfile.mkdtemp(prefix="corral-campaign-")
        lab = Lab(self.names, prefix=new_prefix(self.lab_prefix))
        self.lab = lab
        try:
            lab.start()
            self.cluster = CorralCluster(lab, self.names, vip=DEFAULT_VIP, port=DEFAULT_PORT, timing=self.timing,
                                         work_dir=os.path.join(work, "cluster"), order_kind=self.order_kind,
                                         stonith=self.stonith, heartbeat_timeout=self.heartbeat_timeout,
                                         promotable=self.promotable)
            self.cluster.start()
            problems = self.wait_converged(self.names, self.converge_s)
            if problems:
                raise LabError(f"the cluster did not converge after start: {'; '.join(problems)}")
            report.setup_s = time.monotonic() - t0
            db = f", {DB_ID} promoted on {self.promoted_host()}" if self.promotable else ""
            self.log(f"campaign seed {self.seed}: {len(self.names)} hosts up, VIP on "
                     f"{self.holder()}{db} ({report.setup_s:.1f} s)")
            for step, kind in enumerate(self.sequence(), start=1):
                r = self.one(step, kind)
                report.results.append(r)
                self.log(self.describe(r))
                if r.error and not self.recover_all():
                    self.log("  could not bring the cluster back; campaign stopped")
                    break
            s = report.summary()
            if self.promotable:
                self.log(f"{DB_ID} promoted on two hosts at {s['dual_promoted_samples']} of {s['samples']} samples "
                         f"(most at once: {s['max_promoted']}); VIP on two hosts at {s['dual_vip_samples']}; "
                         f"no host ran {DB_ID} promoted for at most {s['db_outage_worst_s'] or 0:.2f} s; "
                         f"agents' watchdogs fired {s['watchdog_fired']} times")
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
        line = (f"  {r.step:3} {r.kind:<18} {r.target:<8} {'(VIP holder)' if r.held_vip else '            '} "
                f"VIP {r.vip_before} -> {r.vip_after}; no holder for {r.vip_outage_s:.2f} s; "
                f"converged {rec} after repair; max holders {r.max_claimants} ({r.samples} samples): {verdict}")
        if r.db_before or r.db_after or r.max_promoted:
            line += (f"\n        {DB_ID} promoted {r.db_before} -> {r.db_after}; none promoted for "
                     f"{r.db_outage_s:.2f} s; max promoted {r.max_promoted}")
        for n in r.notes:
            line += f"\n        {n}"
        for v in r.violations:
            line += f"\n        violation: {v}"
        if r.error:
            line += f"\n        error: {r.error}"
        for h, tail in r.logs.items():
            line += f"\n        --- {h}'s agent log, last lines ---\n" + tail.rstrip()
        return line

    def holder(self) -> str | None:
        assert self.cluster is not None
        c = self.cluster.claimants()
        return c[0] if len(c) == 1 else None

    def promoted_host(self) -> str | None:
        """The one host running db promoted (by Stateful's state file), None if none or several."""
        assert self.cluster is not None
        p = self.cluster.promoted()
        return p[0] if len(p) == 1 else None

    def controller(self) -> str | None:
        """The node holding the controller's seat, as the store says."""
        snap = self.snapshot()
        leader = snap.get("leader") if snap else None
        return leader if leader in self.names else None

    def pending_fences(self) -> list[str]:
        """Fences the store lists as pending (requested, never completed nor abandoned), as status shows them."""
        snap = self.snapshot()
        fencing = (snap or {}).get("fencing") or {}
        return [f"{e.get('action')} of {e.get('node')} by {e.get('origin')}" for e in fencing.get("pending") or []]

    def via(self, avoid: Sequence[str] = ()) -> str:
        return next(h for h in self.names if h not in avoid)

    def snapshot(self, avoid: Sequence[str] = ()) -> dict[str, Any] | None:
        assert self.cluster is not None
        for h in [h for h in self.names if h not in avoid]:
            snap = self.cluster.snapshot(h)
            if snap is not None:
                return snap
        return None

    def audit_snapshot(self, tries: int = 3) -> dict[str, Any] | None:
        """A snapshot for the restart audit: a read that times out on a loaded machine is retried."""
        for i in range(tries):
            snap = self.snapshot()
            if snap is not None or i == tries - 1:
                return snap
            time.sleep(0.5)
        return None

    def wait_converged(self, expected: Sequence[str], bound_s: float, avoid: Sequence[str] = ()) -> list[str]:
        assert self.cluster is not None
        deadline = time.monotonic() + bound_s
        while True:
            if self.stonith:
                self.boot_fenced()
            snap = self.snapshot(avoid)
            claimants, promoted = self.cluster.observe()
            problems = converged(snap, vip=VIP_ID, clone_base=SERVICE_ID, claimants=claimants,
                                 expected=expected, promotable=DB_ID if self.promotable else None,
                                 promoted=promoted)
            if not problems or time.monotonic() > deadline:
                return problems
            time.sleep(0.2)

    def wait_until(self, pred: Callable[[], bool], bound_s: float, what: str) -> None:
        deadline = time.monotonic() + bound_s
        while not pred():
            if time.monotonic() > deadline:
                raise LabError(f"no {what} within {bound_s:g}s")
            time.sleep(0.05)

    def targets(self, kind: str, holder: str | None) -> list[str]:
        """Who the fault hits, drawn from the campaign's RNG."""
        names = self.names
        if kind in ("simul-stop-start", "reattach", "cold-start"):
            return list(names)
        if kind == "stop-one-by-one":
            return self.rng.sample(names, len(names))  # the order of the stops
        if kind == "etcd-majority-loss":
            return sorted(self.rng.sample(names, len(names) // 2 + 1))
        if kind == "crash-two":  # a majority; the controller's host among them half the time
            ctl = self.controller()
            if ctl and self.rng.random() < 0.5:
                return sorted([ctl, *self.rng.sample([h for h in names if h != ctl], len(names) // 2)])
            return sorted(self.rng.sample(names, len(names) // 2 + 1))
        if kind == "crash-controller":
            return [self.controller() or self.rng.choice(names)]
        if kind == "crash-while-fencing":  # the victim first, then the controller that fences it
            ctl = self.controller() or self.rng.choice(names)
            return [self.rng.choice([h for h in names if h != ctl]), ctl]
        if kind == "near-quorum":  # as many as can go with the store keeping quorum
            m = (len(names) - 1) // 2
            if holder and self.rng.random() < 0.5:
                return sorted([holder, *self.rng.sample([h for h in names if h != holder], m - 1)])
            return sorted(self.rng.sample(names, m))
        if kind == "kill-agent" and not self.stonith:
            return [self.rng.choice([h for h in names if h != holder])]
        if (kind in _SINGLE or kind == "kill-agent") and holder and self.rng.random() < 0.5:
            return [holder]
        return [self.rng.choice(names)]

    def one(self, step: int, kind: str) -> FaultResult:
        assert self.cluster is not None and self.lab is not None
        holder = self.holder()
        targets = self.targets(kind, holder)
        label = "all" if len(targets) == len(self.names) and kind not in ("etcd-majority-loss", "crash-two") \
            else ",".join(targets)
        r = FaultResult(step, kind, label, held_vip=holder in targets, vip_before=holder,
                        db_before=self.promoted_host() if self.promotable else None)
        # Whom the fault may legitimately disturb; the fault may widen it (flip).
        if kind in ("etcd-loss", "maintenance", "reattach"):
            r.touched = []
        elif kind in ("etcd-majority-loss", "crash-two"):  # every agent loses the store and stops everything
            r.touched = list(self.names)
        else:
            r.touched = list(targets)
        before = self.audit_snapshot()
        fired = {h: len(self.watchdog_firings(h)) for h in self.names}
        self._checks, self._role_changes = [], []
        sampler = ClaimSampler(self.cluster.claimants, observe=self.cluster.observe if self.promotable else None)
        sampler.start()
        t_repair = time.monotonic()
        try:
            t_repair = getattr(self, "_fault_" + kind.replace("-", "_"))(r, targets)
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
        r.dual_claims = sum(1 for s in samples if len(s.claimants) > 1)
        r.vip_outage_s = _longest_empty(samples)
        dual = dual_claim_violations(samples)
        if self.promotable:
            r.max_promoted = max((len(s.promoted) for s in samples), default=0)
            r.dual_promoted = sum(1 for s in samples if len(s.promoted) > 1)
            r.db_outage_s = _longest_empty(samples, promoted=True)
            dual += dual_promoted_violations(samples, DB_ID)
        r.violations[:0] = dual
        if not r.error:
            for check in self._checks:
                r.violations += check(samples)
        for h in self.names:  # not a violation (a reset is safe), but a stop that failed or overran
            new = self.watchdog_firings(h)[fired[h]:]
            r.watchdog_fired += len(new)
            r.notes += [f"{h}'s watchdog fired ({why})" for why in new]
        r.vip_after = self.holder()
        r.db_after = self.promoted_host() if self.promotable else None
        after = self.audit_snapshot()
        movable = ([VIP_ID] if holder in r.touched else []) + (["fence-lab"] if self.stonith else [])
        # db's promotion may move only when its promoted host was touched (or there was none)
        promotable = [DB_ID] if self.promotable and (r.db_before is None or r.db_before in r.touched) else []
        if before is None or after is None:
            r.violations.append("could not read the store before or after the fault")
        elif not r.error:
            r.violations += restarts(before, after, touched=r.touched, movable=movable, promotable=promotable,
                                     role_changes=self._role_changes)
        if self.log_tail_chars > 0 and (r.violations or r.error):
            r.logs = {h: self.cluster.agent_log_tail(h, self.log_tail_chars) for h in self.names}
        return r

    def fence_marker(self, host: str) -> str:
        """The lab fence agent's "powered off" marker for host (lab.restart removes it)."""
        assert self.lab is not None
        return os.path.join(self.lab.fence_state_dir, f"{self.lab.host(host).netns}.off")

    def fenced_hosts(self) -> list[str]:
        return [h for h in self.names if os.path.exists(self.fence_marker(h))] if self.lab else []

    def wait_fenced(self, host: str, bound_s: float = 20.0) -> None:
        """Until the lab fence agent has powered host off: its marker written and no process left (its
        kill loop must be over before anything is started there again)."""
        assert self.lab is not None
        marker = self.fence_marker(host)
        self.wait_until(lambda: os.path.exists(marker) and not self.lab.pids(host),  # type: ignore[union-attr]
                        bound_s, f"fencing of {host}")
        time.sleep(0.3)
        self.wait_until(lambda: not self.lab.pids(host), 5, f"the end of {host}'s fencing")  # type: ignore[union-attr]

    def reboot_fenced(self, host: str, tries: int = 3) -> None:
        """Boot a fenced host again, as its power switch's "on" would after a real reboot. A controller
        whose record of the fence did not reach the store fences again (the safe choice), possibly the
        freshly booted host: then it is booted again (bounded)."""
        for attempt in range(1, tries + 1):
            self.wait_fenced(host)
            try:
                self.reboot(host)
                return
            except LabError:
                if attempt == tries or not os.path.exists(self.fence_marker(host)):
                    raise

    def boot_fenced(self) -> None:
        for h in self.fenced_hosts():
            self.reboot_fenced(h)

    def revive_fenced(self, bound_s: float = 15.0) -> None:
        """With stonith, after a fault: wait (bounded) until a fence the fault called for has been carried
        out, or the cluster looks settled without one; then boot every fenced host again (wait_converged
        boots hosts fenced later)."""
        assert self.cluster is not None
        deadline = time.monotonic() + bound_s
        while time.monotonic() < deadline and not self.fenced_hosts():
            if self.cluster.claimants() and not self.converging_fence():
                break
            time.sleep(0.2)
        self.boot_fenced()

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
                if h in self.fenced_hosts():
                    self.reboot_fenced(h)
                elif not self.cluster.agent_running(h) or not self.cluster.etcd.running(h):
                    self.reboot(h)
            if self.maintenance:
                self.set_maintenance(False)
            self.cluster.corral(self.names[0], "node", "online", "h1")
            return not self.wait_converged(self.names, self.converge_s)
        except (LabError, subprocess.SubprocessError, OSError):
            return False

    def reboot(self, host: str) -> None:
        """lab.restart (which forgets every address but the host's own, a stale VIP too) + its daemons."""
        assert self.cluster is not None and self.lab is not None
        self.lab.restart(host)
        self.cluster.start_host(host)

    # -- helpers of the faults ------------------------------------------------------------------------------
    def service_pids(self) -> dict[str, int | None]:
        return {h: self.service_pid(h) for h in self.names}

    def running_on(self, hosts: Sequence[str]) -> list[str]:
        """What still runs on hosts that should run nothing (the VIP, the name service, a db instance)."""
        assert self.cluster is not None
        db = {h: self.cluster.db_state(h) for h in hosts} if self.promotable else None
        return still_running(hosts, self.cluster.claimants(), {h: self.service_pid(h) is not None for h in hosts},
                             db, DB_ID)

    def settle(self, r: FaultResult, up: Sequence[str], when: str, avoid: Sequence[str] = ()) -> bool:
        """With only `up` running agents: they must converge (bounded), and the others run nothing."""
        down = [h for h in self.names if h not in up]
        if up:
            problems = self.wait_converged(up, self.converge_s, avoid=avoid)
            if problems:
                r.violations.append(f"{when}: not converged within {self.converge_s:g}s: {'; '.join(problems)}")
                return False
        left = self.running_on(down)
        if left:
            r.violations.append(f"{when}: still running on stopped hosts: {', '.join(left)}")
        return not left

    def set_maintenance(self, on: bool, bound_s: float = 20.0) -> None:
        """maintenance-mode on or off (`corral load` with the option: no CLI verb sets cluster options),
        then wait until the controller has planned with it (every resource (un)managed, controller idle)."""
        assert self.cluster is not None
        t = time.time()
        self.cluster.load_options({"maintenance-mode": True} if on else {})
        self.maintenance = on

        def applied() -> bool:
            snap = self.snapshot()
            if snap is None or managed_mismatch(snap, managed=not on):
                return False
            st = snap.get("controller_status") or {}
            return st.get("state") == "idle" and float(st.get("updated") or 0) > t

        self.wait_until(applied, bound_s, f"controller planning with maintenance-mode={str(on).lower()}")

    def untouched(self, r: FaultResult, pids: dict[str, int | None], holder: str | None, when: str,
                  db_role: bool = True) -> None:
        """Nothing was stopped, started or moved: same service pids, the VIP on its holder alone, db
        promoted on the same host alone (unless not `db_role`: then a change is only noted)."""
        assert self.cluster is not None
        now = self.service_pids()
        for h in self.names:
            if now[h] != pids[h]:
                r.violations.append(f"{when}: name service on {h} was {pids[h]}, now {now[h]}")
        claim, promoted = self.cluster.observe()
        if claim != ([holder] if holder else []):
            r.violations.append(f"{when}: VIP on {claim or 'no host'}, was on {holder}")
        if self.promotable and promoted != ([r.db_before] if r.db_before else []):
            (r.violations if db_role else r.notes).append(
                f"{when}: {DB_ID} promoted on {promoted or 'no host'}, was on {r.db_before}")

    def watchdog_firings(self, host: str) -> list[str]:
        """Why host's watchdog fired, every time it did (the log is appended to across restarts)."""
        assert self.cluster is not None
        try:
            with open(self.cluster.agent_log_path(host), errors="replace") as f:
                return [line.split("watchdog fired (", 1)[1].rsplit("): killed", 1)[0]
                        for line in f if "watchdog fired (" in line]
        except OSError:
            return []

    def agent_joins(self, host: str) -> int:
        """How often host's agent logged joining (the log is appended to across restarts)."""
        assert self.cluster is not None
        try:
            with open(self.cluster.agent_log_path(host), errors="replace") as f:
                return f.read().count(" joined the cluster")
        except OSError:
            return 0

    # -- the faults: each takes the result and the targets, returns the moment its repair began ---------------
    def _fault_crash(self, r: FaultResult, targets: list[str]) -> float:
        assert self.cluster is not None and self.lab is not None
        target = targets[0]
        self.lab.crash(target)
        if r.held_vip:
            self.wait_until(lambda: bool(set(self.cluster.claimants()) - {target}), 20, "failover of the VIP")  # type: ignore[union-attr]
        else:
            time.sleep(2.0)
        if self.stonith:
            self.wait_fenced(target)
        t = time.monotonic()
        if self.stonith:
            self.reboot_fenced(target)
        else:
            self.reboot(target)
        return t

    def _fault_crash_controller(self, r: FaultResult, targets: list[str]) -> float:
        """The controller's host loses power (targets() picked it): with fencing and heartbeat-timeout a
        candidate fences it and takes the seat over; then it is booted again."""
        r.notes.append(f"controller before: {targets[0]}")
        logs_at = {h: self._log_size(h) for h in targets}
        self._checks.append(self._no_fence_left_pending)
        self._checks.append(lambda _samples: self._no_fence_after_rejoin(targets, logs_at))
        return self._fault_crash(r, targets)

    def _fault_crash_while_fencing(self, r: FaultResult, targets: list[str]) -> float:
        """A host's agent is killed (its services keep running, its etcd member too: the store keeps
        quorum when the controller's host goes as well); as soon as the controller's log says that host
        must be fenced, the controller's host loses power (mid-fence: its fence request may be left
        pending). Its successor fences both and recovers; both are booted again."""
        assert self.cluster is not None and self.lab is not None
        victim, ctl = targets
        logs_at = {h: self._log_size(h) for h in targets}
        log_at = logs_at[ctl]
        self.cluster.kill_agent(victim)
        deadline = time.monotonic() + 20.0
        seen = False
        while time.monotonic() < deadline and not seen:
            with contextlib.suppress(OSError), open(self.cluster.agent_log_path(ctl), errors="replace") as f:
                f.seek(log_at)
                seen = f"{victim} must be fenced" in f.read()
            if not seen:
                time.sleep(0.01)
        self.lab.crash(ctl)
        r.notes.append(f"controller {ctl} crashed " + ("as it began fencing " if seen else
                                                       "(it never said it would fence ") + victim
                       + ("" if seen else ")"))
        self._checks.append(self._no_fence_left_pending)
        self._checks.append(lambda _samples: self._no_fence_after_rejoin(targets, logs_at))
        if self.stonith:
            for h in targets:
                self.wait_fenced(h, bound_s=30.0)
        t = time.monotonic()
        for h in targets:
            if self.stonith:
                self.reboot_fenced(h)
            else:
                self.reboot(h)
        return t

    def _fault_crash_two(self, r: FaultResult, targets: list[str]) -> float:
        """A majority loses power at once: the store loses quorum and the survivors must stop everything
        within the TTL. Then every victim is powered on at once (etcd members first: one alone has no
        quorum; then the agents), as after a power cut; everything must run again, no fence pending."""
        assert self.cluster is not None and self.lab is not None and self.cluster.etcd is not None
        ttl = self.cluster.timing.ttl
        survivors = [h for h in self.names if h not in targets]
        t_cut = time.monotonic()
        for h in targets:
            self.lab.crash(h)
        left: list[str] = []
        while time.monotonic() < t_cut + ttl + 5.0:
            left = self.running_on(survivors)
            if not left:
                r.notes.append(f"the survivors stopped everything {time.monotonic() - t_cut:.2f} s after the "
                               f"quorum loss (TTL {ttl:g} s)")
                break
            time.sleep(0.05)
        else:
            r.violations.append(f"{ttl + 5.0:g} s after the quorum loss still running: {', '.join(left)}")
        time.sleep(max(0.0, t_cut + ttl + 2.0 - time.monotonic()))  # the power stays off beyond the TTL
        t = time.monotonic()
        logs_at = {h: self._log_size(h) for h in targets}
        self.power_on(targets)
        self._checks.append(self._no_fence_left_pending)
        self._checks.append(lambda _samples: self._no_fence_after_rejoin(targets, logs_at))
        return t

    def power_on(self, hosts: Sequence[str], tries: int = 3) -> None:
        """Boot hosts all at once, each in a thread of its own (lab.restart, then its etcd member and its
        agent, waiting until it has joined), as the control-plane lab does. A host fenced as it boots
        (still counted as lost) is powered on again, as a fenced server that reboots comes back."""
        errors: dict[str, str] = {}

        def boot(h: str) -> None:
            for _ in range(tries):
                try:
                    self.reboot(h)
                    errors.pop(h, None)
                    return
                except (LabError, subprocess.SubprocessError, OSError) as e:
                    errors[h] = str(e)[:300]
                    self.log(f"  {h} did not come up ({errors[h][:120]}); powering it on again")

        threads = [threading.Thread(target=boot, args=(h,), name=f"boot-{h}") for h in hosts]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        if errors:
            raise LabError(f"hosts did not boot: {errors}")

    def _log_size(self, host: str) -> int:
        assert self.cluster is not None
        try:
            return os.path.getsize(self.cluster.agent_log_path(host))
        except OSError:
            return 0

    def _first_sign_of_life(self, host: str, offset: int) -> float | None:
        """Wall-clock time at which host's agent (its log read from offset) first showed its new
        incarnation to the store: took its dead predecessor's member key over, or joined."""
        assert self.cluster is not None
        try:
            with open(self.cluster.agent_log_path(host), errors="replace") as f:
                f.seek(offset)
                for line in f:
                    if "taking over its claim" in line or " joined the cluster" in line:
                        stamp, _, millis = line[:23].partition(",")
                        return time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(millis) / 1000
        except (OSError, ValueError):
            return None
        return None

    def _no_fence_after_rejoin(self, hosts: Sequence[str], offsets: dict[str, int]) -> list[str]:
        """A host whose new agent had already shown itself (rebooted, its old incarnation gone) must not
        be fenced for its old incarnation's loss: that fence powers the new one off."""
        snap = self.snapshot()
        events = ((snap or {}).get("fencing") or {}).get("history") or []
        out = []
        for h in hosts:
            alive_at = self._first_sign_of_life(h, offsets.get(h, 0))
            if alive_at is None:
                continue
            late = [e for e in events if e.get("node") == h and float(e.get("requested_at") or 0) > alive_at + 0.05]
            out += [f"{h} fenced ({e.get('action')} by {e.get('origin')}, {e.get('result')}) "
                    f"{float(e['requested_at']) - alive_at:.2f} s after its rebooted agent had claimed its name"
                    for e in late]
        return out

    def _no_fence_left_pending(self, _samples: list[ClaimSample]) -> list[str]:
        """After convergence no fence request may stay pending: one whose target rebooted and rejoined
        is settled, one its requester left behind is taken over or abandoned."""
        left = self.pending_fences()
        return [f"fence requests still pending after recovery: {'; '.join(left)}"] if left else []

    def _fault_partition(self, r: FaultResult, targets: list[str]) -> float:
        assert self.lab is not None
        target = targets[0]
        others = [h for h in self.names if h != target]
        self.lab.partition([target], others)
        time.sleep(self.rng.uniform(3.0, 5.0))
        t = time.monotonic()
        self.lab.heal()
        return t

    def _fault_kill_agent(self, r: FaultResult, targets: list[str]) -> float:
        assert self.cluster is not None
        target = targets[0]
        self.cluster.kill_agent(target)
        if self.stonith:  # the node is lost and fenced (powered off): boot it again
            self.wait_fenced(target)
            t = time.monotonic()
            self.reboot_fenced(target)
            return t
        time.sleep(self.cluster.timing.ttl + 1.5)  # the lease runs out: the node is lost
        t = time.monotonic()
        self.cluster.start_agent(target)
        return t

    def _fault_resource_fail(self, r: FaultResult, targets: list[str]) -> float:
        target = targets[0]
        pid = self.service_pid(target)
        if pid is None:
            raise LabError(f"no name service pid file on {target}")
        os.kill(pid, signal.SIGKILL)
        t = time.monotonic()
        # converged() cannot tell a failure the monitor has not seen yet: wait for the restart itself
        self.wait_until(lambda: self.service_pid(target) not in (None, pid), 20,
                        f"restart of the killed service on {target}")
        return t

    def _fault_standby(self, r: FaultResult, targets: list[str]) -> float:
        assert self.cluster is not None
        target = targets[0]
        out = self.cluster.corral(self.via([target]), "node", "standby", target)
        if out.returncode != 0:
            raise LabError(f"corral node standby {target}: {out.stderr.strip()[-500:]}")
        self.wait_until(lambda: not self.running_on([target]), 20, f"{target} emptied by standby")
        t = time.monotonic()
        out = self.cluster.corral(self.via([target]), "node", "online", target)
        if out.returncode != 0:
            raise LabError(f"corral node online {target}: {out.stderr.strip()[-500:]}")
        return t

    def _fault_restart(self, r: FaultResult, targets: list[str]) -> float:
        assert self.cluster is not None
        if not self.cluster.agent_running(targets[0]):
            raise LabError(f"no agent on {targets[0]}")
        self.cluster.stop_agents(targets, 20)
        t = time.monotonic()
        self.cluster.start_agent(targets[0])
        return t

    def _fault_etcd_loss(self, r: FaultResult, targets: list[str]) -> float:
        assert self.cluster is not None and self.cluster.etcd is not None
        self.cluster.etcd.kill_member(targets[0])
        time.sleep(3.0)
        t = time.monotonic()
        self.cluster.etcd.start_member(targets[0])
        return t

    def _fault_simul_stop_start(self, r: FaultResult, targets: list[str]) -> float:
        """SimulStop: every agent leaves at once; everything must stop. SimulStart: all start at once."""
        assert self.cluster is not None
        self.cluster.stop_agents(self.names)
        left = self.running_on(self.names)
        if left:
            r.violations.append(f"every agent stopped, but still running: {', '.join(left)}")
        t = time.monotonic()
        for h in self.names:
            self.cluster.start_agent(h)
        return t

    def _fault_cold_start(self, r: FaultResult, targets: list[str]) -> float:
        """A cold start as an operator does it: every agent stopped, the store wiped (no node has ever
        joined), then all agents started at once and the configuration loaded at the same moment
        (before or just after, drawn). The first controller must wait for the others to join
        (dc-deadtime's join window) instead of fencing them for never having been seen."""
        assert self.cluster is not None and self.lab is not None
        self.cluster.stop_agents(self.names)
        left = self.running_on(self.names)
        if left:
            r.violations.append(f"every agent stopped, but still running: {', '.join(left)}")
        via = self.names[0]
        wipe = [*_env_prefix(), self.cluster.python, "-c", "import sys; from corral.store import open_store; "
                "s = open_store(sys.argv[1]); s.delete('/corral/', prefix=True); s.close()",
                self.cluster.store_url(via)]
        done = self.lab.run(via, wipe, timeout=30, cwd="/")
        if done.returncode != 0:
            raise LabError(f"wiping the store failed: {done.stderr.strip()[-800:]}")
        fenced_before = set(self.fenced_hosts())
        config = os.path.join(self.cluster.work, "cluster.yaml")
        load_first = self.rng.random() < 0.5
        r.notes.append("configuration loaded " + ("before" if load_first else "right after") + " the agents start")
        t = time.monotonic()
        if load_first:
            self._load(via, config)
        for h in self.names:
            self.cluster.start_agent(h)
        if not load_first:
            self._load(via, config)
        self.cluster.wait_members(self.names, 30)

        def nobody_fenced(_samples: list[ClaimSample]) -> list[str]:
            fenced = sorted(set(self.fenced_hosts()) - fenced_before)
            return [f"cold start fenced {', '.join(fenced)}"] if fenced else []

        self._checks.append(nobody_fenced)
        return t

    def _load(self, via: str, config: str) -> None:
        assert self.cluster is not None
        done = self.cluster.corral(via, "load", config, timeout=30)
        if done.returncode != 0:
            raise LabError(f"corral load failed ({done.returncode}): {done.stderr.strip()[-800:]}")

    def _fault_stop_one_by_one(self, r: FaultResult, targets: list[str]) -> float:
        """Stop the agents cleanly in turn (the others take over each time), then start them in turn."""
        assert self.cluster is not None
        r.notes.append(f"order: {', '.join(targets)}")
        up = list(self.names)
        for h in targets:
            self.cluster.stop_agents([h])
            up.remove(h)
            self.settle(r, up, f"after stopping {h}")
        t = time.monotonic()
        for h in targets:
            self.cluster.start_agent(h)
            self.cluster.wait_members([h], 30, via=h)
        return t

    def _fault_flip(self, r: FaultResult, targets: list[str]) -> float:
        """2-4 flips of a host's agent (stopped if running, started if stopped), the cluster settling
        on the running ones after each; then every stopped agent is started (the repair)."""
        assert self.cluster is not None
        up = set(self.names)
        flips = []
        for i in range(self.rng.randint(2, 4)):
            h = targets[0] if i == 0 else self.rng.choice(self.names)
            if h in up:
                self.cluster.stop_agents([h])
                up.discard(h)
                flips.append(f"{h} off")
            else:
                self.cluster.start_agent(h)
                self.cluster.wait_members([h], 30, via=h)
                up.add(h)
                flips.append(f"{h} on")
            if not self.settle(r, sorted(up), f"after {', '.join(flips)}"):
                break
        r.notes.append(f"flips: {', '.join(flips)}")
        r.touched = sorted({f.split()[0] for f in flips})
        t = time.monotonic()
        for h in self.names:
            if h not in up:
                self.cluster.start_agent(h)
        return t

    def _fault_maintenance(self, r: FaultResult, targets: list[str]) -> float:
        """MaintenanceMode: with maintenance-mode on, one agent leaves cleanly and starts again (the
        operator's upgrade path); nothing may stop, start or move, during maintenance nor when it ends.
        (Not a SIGKILL of the agent: its watchdog then kills what it ran, by design, as SBD resets a
        node whose cluster stack died, maintenance mode or not.)"""
        assert self.cluster is not None
        host, holder, pids = targets[0], r.vip_before, self.service_pids()
        t0 = time.monotonic()
        self.set_maintenance(True)
        joins = self.agent_joins(host)
        self.cluster.stop_agents([host])
        self.untouched(r, pids, holder, f"{host}'s agent stopped in maintenance mode")
        self.cluster.start_agent(host)
        self.wait_until(lambda: self.agent_joins(host) > joins, 30, f"{host}'s agent joining again")
        self.cluster.wait_members(self.names, 30)
        self.untouched(r, pids, holder, f"{host}'s agent back in maintenance mode")
        return self._end_maintenance(r, pids, holder, t0)

    def _fault_reattach(self, r: FaultResult, targets: list[str]) -> float:
        """Reattach: with maintenance-mode on, every agent leaves cleanly and starts again; the
        resources keep running untouched throughout, and nothing restarts when maintenance ends."""
        assert self.cluster is not None
        holder, pids = r.vip_before, self.service_pids()
        t0 = time.monotonic()
        self.set_maintenance(True)
        self.cluster.stop_agents(self.names)
        self.untouched(r, pids, holder, "every agent stopped in maintenance mode")
        for h in self.names:
            self.cluster.start_agent(h)
        self.cluster.wait_members(self.names, 30)
        self.untouched(r, pids, holder, "every agent back in maintenance mode")
        return self._end_maintenance(r, pids, holder, t0)

    def _end_maintenance(self, r: FaultResult, pids: dict[str, int | None], holder: str | None,
                         t0: float) -> float:
        """maintenance-mode off; then nothing may have stopped, started or moved since t0. db's promoted
        instance may change role once maintenance is off (never restart, never be promoted twice): a
        rejoined node's transient attributes are cleared, and heartbeat's Stateful does not restore
        its promotion score on a probe (Pacemaker's own Stateful does), so the scheduler demotes it,
        as Pacemaker's does (docs/lab.md)."""
        t = time.monotonic()
        self.set_maintenance(False)
        if self.promotable:
            self._role_changes.append(DB_ID)

        def check(samples: list[ClaimSample]) -> list[str]:
            out = claims_other_than(samples, holder, since=t0)
            if self.promotable:
                out += claims_other_than(samples, r.db_before, since=t0, until=t, promoted=DB_ID)
                r.notes += [f"after maintenance-mode off (not a violation): {v}"
                            for v in claims_other_than(samples, r.db_before, since=t, promoted=DB_ID)]
            self.untouched(r, pids, holder, "after maintenance-mode off", db_role=False)
            return out

        self._checks.append(check)
        return t

    def stop_etcd_member(self, host: str, bound_s: float = 10.0) -> None:
        """SIGTERM host's etcd member, as a clean shutdown of the host does (a leader hands its
        leadership over before it exits), and wait until it has exited; SIGKILL past the bound."""
        assert self.cluster is not None and self.cluster.etcd is not None and self.lab is not None
        pids = [p for p in self.lab.pids(host) if _argv0(p).endswith("etcd")]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(LabError):
            self.wait_until(lambda: not any(_running(p) for p in pids), bound_s, f"etcd on {host} exiting")
        self.cluster.etcd.kill_member(host)  # reaps it (or kills it, if it is still there)

    def _fault_near_quorum(self, r: FaultResult, targets: list[str]) -> float:
        """NearQuorumPoint: shut a minority of hosts down cleanly (agent, then etcd member); the store
        keeps quorum and the rest must run everything; then bring them back."""
        assert self.cluster is not None and self.cluster.etcd is not None
        self.cluster.stop_agents(targets)
        for h in targets:
            self.stop_etcd_member(h)
        rest = [h for h in self.names if h not in targets]
        if self.settle(r, rest, f"with {', '.join(targets)} down", avoid=targets):
            time.sleep(2.0)  # and it keeps running at the quorum point
            self.settle(r, rest, f"with {', '.join(targets)} down 2 s later", avoid=targets)
        t = time.monotonic()
        for h in targets:
            self.cluster.etcd.start_member(h, wait=False)
        self.cluster.etcd.wait_healthy(targets)
        for h in targets:
            self.cluster.start_agent(h)
        return t

    def _fault_etcd_majority_loss(self, r: FaultResult, targets: list[str]) -> float:
        """The store loses quorum: every agent must self-fence (stop everything) before its lease could
        expire, so the VIP is on no host within the TTL; then the members come back."""
        assert self.cluster is not None and self.cluster.etcd is not None
        ttl = self.cluster.timing.ttl
        t_kill = time.monotonic()
        for h in targets:
            self.cluster.etcd.kill_member(h)
        late: list[str] = []
        left: list[str] = []
        while time.monotonic() < t_kill + ttl + 5.0:  # bounded: well past the TTL
            looked = time.monotonic()
            left = self.running_on(self.names)
            if not left:
                r.notes.append(f"everything stopped {looked - t_kill:.2f} s after the quorum loss (TTL {ttl:g} s)")
                break
            if looked > t_kill + ttl and not late:
                late = left
                r.violations.append(f"{looked - t_kill:.2f} s after the quorum loss (TTL {ttl:g} s) still "
                                    f"running: {', '.join(left)}")
            time.sleep(0.05)
        else:
            r.violations.append(f"{ttl + 5.0:g} s after the quorum loss still running: {', '.join(left)}")
        time.sleep(max(0.0, t_kill + ttl + 1.0 - time.monotonic()))  # hold the loss beyond the TTL
        t = time.monotonic()
        self._checks.append(lambda samples: claims_after(samples, t_kill + ttl, until=t))
        if self.promotable:
            self._checks.append(lambda samples: claims_after(samples, t_kill + ttl, until=t, promoted=DB_ID))
        for h in targets:
            self.cluster.etcd.start_member(h, wait=False)
        self.cluster.etcd.wait_healthy(targets)
        return t

    def service_pid(self, host: str) -> int | None:
        """The name service's pid on host, from corral:process's pid file in the host's HA_RSCTMP."""
        assert self.lab is not None
        with contextlib.suppress(subprocess.SubprocessError, OSError, ValueError):
            r = self.lab.run(host, ["sh", "-c", f"cat {RSCTMP}/corral-process-{SERVICE_ID}*.pid"], timeout=5)
            if r.returncode == 0 and r.stdout.strip():
                pid = int(json.loads(r.stdout.strip().splitlines()[0])["pid"])
                if pid in self.lab.pids(host):
                    return pid
        return None


def _argv0(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


def _running(pid: int) -> bool:
    """Alive and not a zombie (an exited child stays unreaped until kill_member waits for it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False
