"""Failover scenarios in the namespace lab, measured from a client (docs/lab.md).

A lab of three server hosts (h1, h2, h3) and one client host (`client`) on one
bridge. A system under test keeps a VIP (10.203.0.100 by default) on one server
host, where a tiny service answers VIP:PORT with the host's name. The client
runs the prober (lab/corral_lab/probe.py) against VIP:PORT.

- crash scenario (`crash_runs`): wait until the VIP answers, start the prober,
  crash the host holding the VIP (`lab.crash`: links down, every process
  SIGKILLed), wait until another host answers, stop the prober and take the
  outage around the crash from its record; restart the crashed host, restart
  its daemons, and repeat.
- partition scenario (`partition_run`): cut the VIP holder off from the other
  server hosts and the client (a layer-2 split), hold it, heal it. Meanwhile
  each server host is asked ~10 times a second whether it holds the VIP (its
  eth0 is up and carries the address): two at once is a split brain, whether
  or not the client can see both. The prober records which hosts answered and
  ARP claims for the VIP (flaps: A, B, A within a second).

Every wait is bounded; the lab and the system under test are torn down in
`finally` blocks; the only traffic is between the lab's namespaces.
"""
from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from corral_lab.corral_sut import AgentTiming, CorralCluster
from corral_lab.hosts import DEFAULT_SUBNET, Lab, LabError
from corral_lab.keepalived import IFACE, vip_claimants
from corral_lab.netns import ip
from corral_lab.probe import (
    Flap,
    Outage,
    ProbeRecord,
    answer_flaps,
    arp_flaps,
    largest_gap_in,
    longest_outage,
    read_record,
    unanswered_since,
)

SERVERS = ("h1", "h2", "h3")
CLIENT = "client"
DEFAULT_VIP = f"{DEFAULT_SUBNET}.100"
DEFAULT_PORT = 8080
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@runtime_checkable
class SystemUnderTest(Protocol):
    """What the scenarios need from an HA system keeping a VIP in the lab.

    `start` brings it up on the server hosts (a service answering the host's
    name on 0.0.0.0:port included) and returns once every host's daemon runs;
    the VIP need not be up yet (the runner waits for it). `start_host` starts
    one host's daemons again after `lab.restart(host)`. `claimants` is every
    host that holds the VIP right now (ground truth, asked of each namespace),
    `vip_holder` the one holder or None. `stop` ends everything it started;
    bounded, never raises.
    """

    name: str
    vip: str
    port: int

    def start(self, lab: Lab, hosts: Sequence[str]) -> None: ...
    def start_host(self, lab: Lab, host: str) -> None: ...
    def vip_holder(self, lab: Lab) -> str | None: ...
    def claimants(self, lab: Lab) -> list[str]: ...
    def stop(self) -> None: ...


class Corral:
    """Corral's live agents keeping the VIP (lab/corral_lab/corral_sut.py; docs/lab.md).

    Per server host: an etcd member on the host's lab address (so a partition
    cuts the store too: two of three members keep quorum), and

        corral agent --node hN --store etcd://<own member>,<the others> --ttl 2 --renew 0.2 --store-timeout 0.4

    in the host's namespaces with a private /run/resource-agents. The loaded
    configuration (stonith disabled: agents self-fence by lease) has a clone of
    `corral:process` running the keepalived rig's name service on every host and
    an `ocf:heartbeat:IPaddr2` VIP (ip=VIP, cidr_netmask=24, nic=eth0) colocated
    with and ordered after it. The VIP is an address on eth0, so `claimants`
    works as for keepalived.

    `prepare(lab, hosts)`, if given, runs before the cluster starts (e.g. to
    set up extra devices); `timing` is the agents' lease timing; `stonith=True`
    enables fencing with the lab fence agent (fence_corral_netns) instead, and
    `heartbeat_timeout` (with stonith) fences a silent node after that long
    instead of waiting for its lease.
    """

    def __init__(self, vip: str = DEFAULT_VIP, port: int = DEFAULT_PORT, *, name: str = "corral",
                 prepare: Callable[[Lab, Sequence[str]], object] | None = None,
                 timing: AgentTiming | None = None, work_dir: str | None = None,
                 ready_timeout_s: float = 40.0, stonith: bool = False, heartbeat_timeout: str = "") -> None:
        self.stonith = stonith
        self.heartbeat_timeout = heartbeat_timeout
        self.name = name
        self.vip, self.port = vip, port
        self.prepare = prepare
        self.timing = timing or AgentTiming()
        self.work_dir = work_dir
        self.ready_timeout_s = ready_timeout_s
        self.hosts: list[str] = []
        self.cluster: CorralCluster | None = None
        self._lab: Lab | None = None

    def start(self, lab: Lab, hosts: Sequence[str]) -> None:
        self._lab, self.hosts = lab, list(hosts)
        if self.prepare is not None:
            self.prepare(lab, self.hosts)
        self.cluster = CorralCluster(lab, self.hosts, vip=self.vip, port=self.port, timing=self.timing,
                                     work_dir=self.work_dir, stonith=self.stonith,
                                     heartbeat_timeout=self.heartbeat_timeout)
        self.cluster.start(self.ready_timeout_s)

    def start_host(self, lab: Lab, host: str) -> None:
        if self.cluster is None:
            raise LabError("Corral.start_host before start")
        self.cluster.start_host(host)

    def vip_holder(self, lab: Lab) -> str | None:
        claim = self.claimants(lab)
        return claim[0] if len(claim) == 1 else None

    def claimants(self, lab: Lab) -> list[str]:
        return vip_claimants(lab, self.hosts, self.vip)

    def controller(self, lab: Lab) -> str | None:
        """The node running the controller, as the store says."""
        if self.cluster is None:
            return None
        for host in self.hosts:
            snap = self.cluster.snapshot(host)
            if snap is not None:
                leader = snap.get("leader")
                return str(leader) if leader else None
        return None

    def stop(self) -> None:
        if self.cluster is not None:
            try:
                self.cluster.stop()
            except Exception:  # noqa: BLE001 - stop never raises; the lab's teardown kills the rest
                pass


# -- the prober, in the client host ------------------------------------------------------------------------
def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": _REPO + (os.pathsep + path if path else "")}


def _terminate(p: subprocess.Popen[bytes], grace_s: float = 3.0) -> None:
    if p.poll() is None:
        with contextlib.suppress(OSError):
            p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            p.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=2.0)


class Prober:
    """`python -m corral_lab.probe` running in the client host, recording to a file."""

    def __init__(self, lab: Lab, client: str, vip: str, port: int, out: str, *, duration_s: float = 60.0,
                 interval: float = 0.02, timeout: float = 0.1, arp: bool = True) -> None:
        self.lab, self.out = lab, out
        self.argv = [sys.executable, "-m", "corral_lab.probe", vip, str(port), "--out", out,
                     "--duration", f"{duration_s:g}", "--count", str(int(duration_s / interval) + 10),
                     "--interval", f"{interval:g}", "--timeout", f"{timeout:g}"]
        if arp:
            self.argv += ["--arp", IFACE]
        self.client = client
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Prober:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.out)
        self.proc = self.lab.spawn(self.client, self.argv, env=_env(), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
        return self

    def record(self) -> ProbeRecord:
        return read_record(self.out)

    def stop(self) -> ProbeRecord:
        if self.proc is not None:
            _terminate(self.proc)
        return self.record()

    def wait_for(self, pred: Callable[[ProbeRecord], bool], bound_s: float, what: str) -> ProbeRecord:
        deadline = time.monotonic() + bound_s
        while True:
            rec = self.record()
            if pred(rec):
                return rec
            if self.proc is not None and self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise LabError(f"the prober exited ({self.proc.returncode}) before {what}: {err.strip()}")
            if time.monotonic() > deadline:
                raise LabError(f"no {what} within {bound_s:g}s")
            time.sleep(0.05)


def _steady(rec: ProbeRecord, n: int = 10) -> str | None:
    """The backend if the last n attempts all succeeded from the same one."""
    tail = sorted(rec.attempts, key=lambda a: a.t)[-n:]
    if len(tail) < n or not all(a.ok for a in tail) or len({a.backend for a in tail}) != 1:
        return None
    return tail[-1].backend


def wait_vip(lab: Lab, sut: SystemUnderTest, bound_s: float = 20.0) -> str:
    """Wait until exactly one host claims the VIP and the client gets its name; returns the holder."""
    deadline = time.monotonic() + bound_s
    while True:
        holder = sut.vip_holder(lab)
        if holder is not None and _answer(lab, sut) == holder:
            return holder
        if time.monotonic() > deadline:
            raise LabError(f"{sut.name}: the VIP did not answer from one holder within {bound_s:g}s "
                           f"(claimants: {sut.claimants(lab)})")
        time.sleep(0.1)


def _answer(lab: Lab, sut: SystemUnderTest) -> str | None:
    code = ("import socket\n"
            f"s=socket.create_connection(({sut.vip!r},{sut.port}),timeout=0.5)\n"
            "print(s.recv(64).decode().strip())\n")
    with contextlib.suppress(subprocess.TimeoutExpired):
        r = lab.run(CLIENT, [sys.executable, "-S", "-c", code], timeout=5)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
    return None


def host_macs(lab: Lab, hosts: Sequence[str]) -> dict[str, str]:
    """MAC address of each host's eth0 -> host name (to name ARP claimants)."""
    out: dict[str, str] = {}
    for h in hosts:
        fields = ip("-n", lab.host(h).netns, "-br", "link", "show", "dev", IFACE, check=False).stdout.split()
        if len(fields) >= 3:
            out[fields[2].lower()] = h
    return out


# -- crash scenario ----------------------------------------------------------------------------------------------
@dataclass
class CrashRun:
    run: int
    victim: str = ""
    new_holder: str = ""            # the first other host the client got an answer from
    outage: Outage | None = None    # the client's gap around the crash
    claimed_after_s: float | None = None   # crash -> the VIP configured (and up) on another host
    longest_gap_s: float | None = None     # the record's longest gap (should be the same outage)
    attempts: int = 0
    failures: int = 0
    flaps: list[Flap] = field(default_factory=list)
    victim_led: bool | None = None  # the crashed host ran the controller (None: no such thing)
    error: str = ""

    @property
    def outage_s(self) -> float | None:
        return self.outage.seconds if self.outage else None


@contextlib.contextmanager
def lab_with(sut: SystemUnderTest, servers: Sequence[str] = SERVERS,
             work_dir: str | None = None) -> Iterator[tuple[Lab, str]]:
    """A lab of servers + client with sut started; everything stopped and torn down on the way out."""
    tmp = work_dir or tempfile.mkdtemp(prefix="corral-failover-")
    lab = Lab([*servers, CLIENT])
    try:
        lab.start()
        sut.start(lab, servers)
        yield lab, tmp
    finally:
        try:
            sut.stop()
        finally:
            lab.teardown()
            if work_dir is None:
                for f in os.listdir(tmp):
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(tmp, f))
                with contextlib.suppress(OSError):
                    os.rmdir(tmp)


def crash_once(lab: Lab, sut: SystemUnderTest, work: str, run: int, *, ready_s: float = 20.0,
               failover_bound_s: float = 20.0, after_s: float = 0.5, restore: bool = True) -> CrashRun:
    """One crash of the VIP holder, measured from the client; the victim is restarted afterwards."""
    result = CrashRun(run)
    t_back = 0.0
    prober: Prober | None = None
    victim = ""
    crashed = False
    try:
        victim = wait_vip(lab, sut, ready_s)
        result.victim = victim
        prober = Prober(lab, CLIENT, sut.vip, sut.port, os.path.join(work, f"probe-{sut.name}-{run}.jsonl"),
                        duration_s=ready_s + failover_bound_s + after_s + 10).start()
        prober.wait_for(lambda r: _steady(r) == victim, ready_s, f"steady answers from {victim}")
        leader = getattr(sut, "controller", None)
        if callable(leader):
            result.victim_led = leader(lab) == victim
        t_crash = time.monotonic()
        crashed = True
        lab.crash(victim)
        deadline = t_crash + failover_bound_s
        while True:
            now = time.monotonic()
            if result.claimed_after_s is None and any(h != victim for h in sut.claimants(lab)):
                result.claimed_after_s = time.monotonic() - t_crash
            if not result.new_holder:
                back = [a for a in prober.record().attempts if a.ok and a.t > t_crash and a.backend != victim]
                if back:
                    first = min(back, key=lambda a: a.t)
                    result.new_holder, t_back = first.backend, first.t
            if result.new_holder and (result.claimed_after_s is not None or now > t_back + 2.0):
                break  # answered (and the claim seen, unless the system's claimants cannot see it)
            if now > deadline:
                raise LabError(f"no other host answered within {failover_bound_s:g}s of crashing {victim} "
                               f"(claimants: {sut.claimants(lab)})")
            time.sleep(0.01)
        time.sleep(after_s)
        rec = prober.stop()
        result.outage = largest_gap_in(rec.attempts, t_crash, t_back)
        longest = longest_outage(rec.attempts)
        result.longest_gap_s = longest.seconds if longest else None
        result.attempts = len(rec.attempts)
        result.failures = sum(1 for a in rec.attempts if not a.ok)
        result.flaps = answer_flaps(rec)
    except (LabError, subprocess.SubprocessError, OSError) as e:
        result.error = str(e)
    finally:
        if prober is not None:
            prober.stop()
        if restore and crashed:
            try:
                lab.restart(victim)
                sut.start_host(lab, victim)
            except (LabError, subprocess.SubprocessError, OSError) as e:
                result.error = (result.error + "; " if result.error else "") + f"restore {victim}: {e}"
    return result


def crash_runs(sut: SystemUnderTest, runs: int = 10, *, servers: Sequence[str] = SERVERS,
               on_run: Callable[[CrashRun], None] | None = None, ready_s: float = 20.0,
               failover_bound_s: float = 20.0, work_dir: str | None = None) -> list[CrashRun]:
    """`runs` crash runs in one lab (the crashed host is restored after each). The probe records go
    to work_dir (kept) if given, else to a temporary directory (removed)."""
    out: list[CrashRun] = []
    with lab_with(sut, servers, work_dir) as (lab, work):
        for i in range(1, runs + 1):
            r = crash_once(lab, sut, work, i, ready_s=ready_s, failover_bound_s=failover_bound_s)
            out.append(r)
            if on_run is not None:
                on_run(r)
    return out


def summarize(runs: Sequence[CrashRun]) -> dict[str, float | int | None]:
    vals = [r.outage_s for r in runs if r.outage_s is not None]
    return {"runs": len(runs), "measured": len(vals), "failed": sum(1 for r in runs if r.error),
            "median_s": statistics.median(vals) if vals else None, "worst_s": max(vals) if vals else None,
            "best_s": min(vals) if vals else None,
            "flaps": sum(len(r.flaps) for r in runs)}


# -- partition scenario --------------------------------------------------------------------------------------
@dataclass
class PartitionResult:
    isolated: str = ""
    client_side: str = "majority"          # the client is with the other hosts, or with the isolated one
    hold_s: float = 0.0
    max_claimants: int = 0                 # most hosts holding the VIP at one sample, while partitioned
    dual_claim_s: float = 0.0              # time with two or more claimants while partitioned (sampled)
    dual_claim_after_heal_s: float = 0.0   # ... and after healing, until one holder is left
    claimants_at_end: list[str] = field(default_factory=list)
    first_dual_claim_s: float | None = None  # partition -> the second claimant appeared
    client_outage: Outage | None = None    # the client's longest gap while partitioned
    client_gap_after_heal: Outage | None = None  # ... and after healing
    settled_after_heal_s: float | None = None  # heal -> one claimant, and the client steadily answered by it
    unanswered_at_end_s: float | None = None   # the client's record ended in failures: for this long
    answered_partitioned: list[str] = field(default_factory=list)  # hosts that answered the client
    answered_after_heal: list[str] = field(default_factory=list)
    answer_flaps: list[Flap] = field(default_factory=list)
    arp_claimants: list[str] = field(default_factory=list)     # hosts seen claiming the VIP by ARP
    arp_flaps: list[Flap] = field(default_factory=list)
    error: str = ""

    @property
    def split_brain(self) -> bool:
        return self.max_claimants > 1 or bool(self.answer_flaps) or bool(self.arp_flaps)


def partition_run(sut: SystemUnderTest, *, servers: Sequence[str] = SERVERS, hold_s: float = 8.0,
                  after_heal_s: float = 5.0, settle_s: float = 60.0, client_side: str = "majority",
                  ready_s: float = 20.0, sample_s: float = 0.1, work_dir: str | None = None) -> PartitionResult:
    """Isolate the VIP holder for hold_s, then heal. Claims are sampled every sample_s; after the heal
    for at least after_heal_s, and until one host holds the VIP and the client is steadily answered by
    it (settled_after_heal_s), but no longer than settle_s."""
    if client_side not in ("majority", "isolated"):
        raise ValueError("client_side: 'majority' or 'isolated'")
    res = PartitionResult(client_side=client_side, hold_s=hold_s)
    with lab_with(sut, servers, work_dir) as (lab, work):
        prober: Prober | None = None
        try:
            holder = wait_vip(lab, sut, ready_s)
            res.isolated = holder
            macs = host_macs(lab, servers)
            prober = Prober(lab, CLIENT, sut.vip, sut.port, os.path.join(work, f"partition-{sut.name}-{client_side}.jsonl"),
                            duration_s=ready_s + hold_s + max(after_heal_s, settle_s) + 10).start()
            prober.wait_for(lambda r: _steady(r) == holder, ready_s, f"steady answers from {holder}")
            others = [h for h in servers if h != holder]
            if client_side == "majority":
                groups = ([holder], [*others, CLIENT])
            else:
                groups = ([holder, CLIENT], others)
            t_part = time.monotonic()
            lab.partition(*groups)
            last = t_part
            while (now := time.monotonic()) < t_part + hold_s:
                claim = sut.claimants(lab)
                res.max_claimants = max(res.max_claimants, len(claim))
                if len(claim) > 1:
                    res.dual_claim_s += now - last
                    if res.first_dual_claim_s is None:
                        res.first_dual_claim_s = now - t_part
                last = now
                time.sleep(sample_s)
            t_heal = time.monotonic()
            lab.heal()
            last = t_heal
            while True:
                now = time.monotonic()
                claim = sut.claimants(lab)
                if len(claim) > 1:
                    res.dual_claim_after_heal_s += now - last
                last = now
                if res.settled_after_heal_s is None and len(claim) == 1 and _steady(prober.record()) == claim[0]:
                    res.settled_after_heal_s = now - t_heal
                if now >= t_heal + after_heal_s and (res.settled_after_heal_s is not None
                                                     or now >= t_heal + settle_s):
                    break
                time.sleep(sample_s)
            res.claimants_at_end = sut.claimants(lab)
            rec = prober.stop()
            t_end = time.monotonic()
            res.client_outage = largest_gap_in(rec.attempts, t_part, t_heal)
            res.client_gap_after_heal = largest_gap_in(rec.attempts, t_heal, t_end)
            since = unanswered_since(rec.attempts)
            if since is not None:
                res.unanswered_at_end_s = max(a.t for a in rec.attempts) - since
            res.answered_partitioned = sorted(rec.backends(t_part, t_heal))
            res.answered_after_heal = sorted(rec.backends(t_heal))
            res.answer_flaps = answer_flaps(rec)
            res.arp_claimants = sorted({macs.get(s.mac, s.mac) for s in rec.arp})
            res.arp_flaps = [Flap(macs.get(f.value, f.value), macs.get(f.other, f.other), f.first, f.again)
                             for f in arp_flaps(rec)]
        except (LabError, subprocess.SubprocessError, OSError) as e:
            res.error = str(e)
        finally:
            if prober is not None:
                prober.stop()
    return res
