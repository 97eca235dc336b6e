"""Faults against the control-plane lab, each followed by the audits (docs/openstack.md).

Kinds: `crash-vip` (crash the VIP holder), `crash-writer` (crash HAProxy's database writer, the
first backend that is up), `crash-two` (two controllers: the survivor has no quorum and must stop
what it runs, no-quorum-policy=stop; both come back), `full-outage` (all three off, then on:
Galera must bootstrap from the most advanced node), `partition` (one controller cut off for 8 s),
`kill-mysqld`, `kill-haproxy`, `kill-keystone` (SIGKILL the daemon on one host: Corral's monitor
restarts it).

During the whole campaign the client runs the token loop and the Galera writer, and the harness
samples every controller's wsrep status each ~0.5 s. After each fault it waits until every service
is back (Galera Synced on all three, Keystone, HAProxy and memcached answering on every controller,
a token through the VIP), then checks: every acknowledged commit is on every node, never two
primary components, the survivor of `crash-two` held no VIP once fenced off.
"""
from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from corral_lab.controlplane import audits, services
from corral_lab.controlplane.cluster import ADMIN_PASSWORD, CLIENT, CONTROLLERS, SYS_PYTHON, VIP, ControlPlane
from corral_lab.hosts import LabError
from corral_lab.keepalived import eth0_state

KINDS = ("crash-vip", "crash-writer", "kill-mysqld", "kill-haproxy", "kill-keystone", "partition",
         "crash-two", "full-outage")
# crash-other: a controller that does not hold the VIP (the benchmark's "crash of any controller")
ALL_KINDS = (*KINDS, "crash-other")
_DAEMON = {"kill-mysqld": "mariadbd", "kill-haproxy": "haproxy", "kill-keystone": "keystone-wsgi-p"}


@dataclass
class FaultResult:
    kind: str
    victims: list[str]
    at: float
    token_outage_s: float | None = None
    all_back_s: float | None = None
    power_on_to_token_s: float | None = None
    lost_commits: int = 0
    acked_commits: int = 0
    violations: list[str] = field(default_factory=list)
    error: str = ""


class Sampler(threading.Thread):
    """Every controller's wsrep status every ~0.5 s; two primary components are a violation."""

    def __init__(self, cp: ControlPlane) -> None:
        super().__init__(daemon=True)
        self.cp, self.stop_flag, self.violations = cp, threading.Event(), []  # type: ignore[var-annotated]
        self.samples = 0

    def run(self) -> None:
        while not self.stop_flag.is_set():
            sample = {h: self.cp.wsrep(h) for h in CONTROLLERS}
            self.samples += 1
            pair = audits.two_primaries(sample, self.cp.addresses)
            if pair:
                self.violations.append(f"two Galera primary components at {time.monotonic():.1f}: {pair}")
            self.stop_flag.wait(0.5)


class Campaign:
    def __init__(self, kinds: list[str], cp: ControlPlane, log: Callable[[str], None] = print,
                 seed: int = 1, recover_bound_s: float = 180.0) -> None:
        bad = [k for k in kinds if k not in ALL_KINDS]
        if bad:
            raise ValueError(f"unknown fault kind(s) {', '.join(bad)} (kinds: {', '.join(ALL_KINDS)})")
        self.kinds, self.cp, self.log = kinds, cp, log
        self.rng = random.Random(seed)
        self.recover_bound_s = recover_bound_s
        self.results: list[FaultResult] = []
        self.token_file = os.path.join(cp.work, "tokens.jsonl")
        self.writer_file = os.path.join(cp.work, "writer.jsonl")
        self._loops: list[subprocess.Popen[bytes]] = []

    # -- loops -----------------------------------------------------------------------------------------
    def start_loops(self, duration_s: float) -> None:
        lab = self.cp.lab
        self._loops = [
            lab.spawn(CLIENT, [SYS_PYTHON, "-c", audits.TOKEN_LOOP, VIP, ADMIN_PASSWORD, self.token_file,
                               str(duration_s)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            lab.spawn(CLIENT, [SYS_PYTHON, "-c", audits.WRITER_LOOP, VIP, services.DB_PASSWORD, self.writer_file,
                               str(duration_s)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        ]

    def stop_loops(self) -> None:
        for p in self._loops:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()

    # -- observations ------------------------------------------------------------------------------------
    def vip_holder(self) -> str | None:
        holders = [h for h in CONTROLLERS if eth0_state(self.cp.lab, h, VIP) == (True, True)]
        return holders[0] if len(holders) == 1 else None

    def writer(self) -> str:
        """HAProxy's writer: the first backend whose Galera is Synced (the others are `backup`)."""
        return next((h for h in CONTROLLERS if self.cp.galera_synced(h)), CONTROLLERS[0])

    def _port(self, host: str, port: int) -> bool:
        return self.cp.lab.connect(CLIENT, host, port, timeout_s=1.0)

    def all_back(self) -> bool:
        for h in CONTROLLERS:
            if not self.cp.galera_synced(h):
                return False
        for h in CONTROLLERS:
            for port in (services.KEYSTONE_PORT, services.HAPROXY_MON_PORT, services.MEMCACHED_PORT):
                if not self._port(h, port):
                    return False
        return self.cp.token_ok()

    def powered_off(self, host: str) -> bool:
        return not self.cp.corral.agent_running(host) or os.path.exists(
            os.path.join(self.cp.lab.fence_state_dir, f"{self.cp.lab.host(host).netns}.off"))

    def boot(self, hosts: list[str], attempts: int = 3) -> None:
        """Power hosts on and start their etcd member and agent, all at once. A host that the
        controller fences while it boots (it still counted as lost and unclean) is powered on again,
        as a fenced server that reboots comes back."""
        errors: dict[str, str] = {}

        def one(h: str) -> None:
            for _ in range(attempts):
                self.cp.lab.restart(h)
                try:
                    self.cp.start_host(h)
                    errors.pop(h, None)
                    return
                except LabError as e:
                    errors[h] = str(e)[:300]
                    self.log(f"  {h} did not come up ({errors[h][:120]}); powering it on again")
        threads = [threading.Thread(target=one, args=(h,)) for h in hosts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise LabError(f"hosts did not boot: {errors}")

    # -- faults ------------------------------------------------------------------------------------------
    def inject(self, kind: str) -> FaultResult:
        lab = self.cp.lab
        if kind == "crash-vip":
            victims = [self.vip_holder() or CONTROLLERS[0]]
        elif kind == "crash-writer":
            victims = [self.writer()]
        elif kind == "crash-other":
            holder = self.vip_holder()
            victims = [self.rng.choice([h for h in CONTROLLERS if h != holder])]
        elif kind == "crash-two":
            victims = self.rng.sample(list(CONTROLLERS), 2)
        elif kind == "full-outage":
            victims = list(CONTROLLERS)
        else:
            victims = [self.rng.choice(list(CONTROLLERS))]
        res = FaultResult(kind, victims, time.monotonic())
        self.log(f"fault {kind} on {', '.join(victims)}")
        if kind in ("crash-vip", "crash-writer", "crash-other", "crash-two", "full-outage"):
            for v in victims:
                lab.crash(v)
            if kind == "crash-two":
                survivor = next(h for h in CONTROLLERS if h not in victims)
                # The policy: without quorum the survivor stops everything (its store is gone too).
                t0 = time.monotonic()
                while time.monotonic() - t0 < 30 and eth0_state(lab, survivor, VIP)[1]:
                    time.sleep(0.2)
                if eth0_state(lab, survivor, VIP)[1]:
                    res.violations.append(f"{survivor} kept the VIP 30 s after quorum was lost")
                time.sleep(3)
            if kind == "full-outage":
                time.sleep(2)
                on = time.monotonic()
                self.boot(victims)
                res.power_on_to_token_s = self._wait_token(on)
            else:
                if kind != "crash-two":  # with two of three down nothing may serve until they are back
                    self._wait_token(res.at)
                self.boot([v for v in victims if self.powered_off(v)])
        elif kind == "partition":
            lab.partition(victims, [h for h in lab.hosts if h not in victims])
            time.sleep(8)
            lab.heal()
            time.sleep(3)
            off = [h for h in CONTROLLERS if self.powered_off(h)]
            if off:
                self.boot(off)
        else:
            v = victims[0]
            comm = _DAEMON[kind]
            pids = [p for p in lab.pids(v) if _comm(p).startswith(comm)]
            if not pids:
                raise LabError(f"{kind}: no {comm} process on {v}")
            for p in pids:
                os.kill(p, signal.SIGKILL)
        t0 = time.monotonic()
        while not self.all_back():
            if time.monotonic() - t0 > self.recover_bound_s:
                res.violations.append(f"not every service back within {self.recover_bound_s:g}s of the repair")
                break
            time.sleep(0.5)
        else:
            res.all_back_s = time.monotonic() - res.at
        time.sleep(1.0)
        res.token_outage_s = audits.longest_gap(audits.read_records(self.token_file), res.at, time.monotonic())
        res.lost_commits = self.audit_commits(res)
        return res

    def _wait_token(self, since: float, bound_s: float = 120.0) -> float | None:
        while time.monotonic() - since < bound_s:
            if self.cp.token_ok():
                return time.monotonic() - since
            time.sleep(0.2)
        return None

    def audit_commits(self, res: FaultResult) -> int:
        acked = audits.acknowledged(audits.read_records(self.writer_file))
        res.acked_commits = len(acked)
        if not acked:
            res.violations.append("the writer has no acknowledged commit at all (the audit saw nothing)")
        lost = 0
        for h in CONTROLLERS:
            r = self.cp.sql(h, "SELECT n FROM audit.counter", timeout=30)
            if r.returncode != 0:
                res.violations.append(f"cannot read audit.counter on {h}: {r.stderr.strip()}")
                continue
            present = {int(x) for x in r.stdout.split()}
            # commits acknowledged after this read started cannot be there yet: only older ones count
            missing = [n for n in audits.missing_commits(acked, present) if n < max(present, default=0)]
            if missing:
                res.violations.append(f"{len(missing)} acknowledged commits missing on {h}: {missing[:10]}")
                lost = max(lost, len(missing))
        return lost

    def run(self, faults: int | None = None, duration_s: float = 3600) -> list[FaultResult]:
        sampler = Sampler(self.cp)
        sampler.start()
        self.start_loops(duration_s)
        try:
            time.sleep(3)
            order = list(self.kinds) if faults is None else [self.kinds[i % len(self.kinds)] for i in range(faults)]
            for kind in order:
                try:
                    r = self.inject(kind)
                except (LabError, OSError, subprocess.TimeoutExpired) as e:
                    r = FaultResult(kind, [], time.monotonic(), error=str(e))
                r.violations += sampler.violations
                sampler.violations.clear()
                self.results.append(r)
                self.log(f"  {kind}: token outage {_s(r.token_outage_s)}, all back {_s(r.all_back_s)}"
                         f"{', power-on to token ' + _s(r.power_on_to_token_s) if r.kind == 'full-outage' else ''}"
                         f", lost commits {r.lost_commits} of {r.acked_commits} acknowledged, violations {r.violations or 0}{' ERROR ' + r.error if r.error else ''}")
        finally:
            self.stop_loops()
            sampler.stop_flag.set()
            sampler.join(timeout=15)
        return self.results


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def _s(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f} s"


def summary(results: list[FaultResult]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for kind in dict.fromkeys(r.kind for r in results):
        rs = [r for r in results if r.kind == kind]
        gaps = [r.token_outage_s for r in rs if r.token_outage_s is not None]
        back = [r.all_back_s for r in rs if r.all_back_s is not None]
        pon = [r.power_on_to_token_s for r in rs if r.power_on_to_token_s is not None]
        out[kind] = {"runs": len(rs), "token_outage_median_s": statistics.median(gaps) if gaps else None,
                     "token_outage_worst_s": max(gaps, default=None), "all_back_median_s":
                     statistics.median(back) if back else None, "all_back_worst_s": max(back, default=None),
                     "power_on_to_token_median_s": statistics.median(pon) if pon else None,
                     "power_on_to_token_worst_s": max(pon, default=None),
                     "lost_commits": sum(r.lost_commits for r in rs),
                     "acked_commits": max((r.acked_commits for r in rs), default=0),
                     "violations": sum(len(r.violations) for r in rs), "errors": sum(bool(r.error) for r in rs)}
    return out


