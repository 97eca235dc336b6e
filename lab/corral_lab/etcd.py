"""An etcd cluster inside the namespace lab: one member per host, on the host's lab address.

    etcd = LabEtcd(lab, ["h1", "h2", "h3"])
    etcd.start()                      # every member, waits until the cluster answers
    url = etcd.url("h2")              # etcd://10.203.0.2:2379,10.203.0.1:2379,10.203.0.3:2379
    etcd.leader()                     # "h1": the host whose member leads
    lab.crash("h2"); lab.restart("h2"); etcd.start_member("h2")   # rejoins from its data dir
    etcd.stop()                       # kills the members, removes the data dirs

Each member runs /usr/bin/etcd in its host's namespaces (spawned through the
lab, so a crash of the host kills it), listening only on the host's lab
address; its data directory is a temporary directory in the root filesystem,
so it survives a crash of its host, and a restarted member rejoins with its
old identity. A partition cuts the store too: the side with two of three
members keeps quorum, a lone member refuses lease renewals and linearizable
reads (safety rule 2 then makes its agent stop what it runs).

Raft timing is fast (heartbeat 25 ms, election timeout 250 ms) so a lease TTL
of 1 s is allowed (etcd's minimum is 1.5 x the election timeout, rounded up to
whole seconds) while three members on a loaded machine do not keep electing.
The member command line and the bounded health wait are shared with the
loopback etcd of the tests (lab/corral_lab/etcd_testing.py); what is specific
here is running inside namespaces (health asked from inside the host).

Leader crash trial (`leader_crash_trial`, used by benchmarks/etcd_failover_bench.py
and tests/lab/test_etcd_lab_failover.py): lease probes (`python -m corral_lab.etcd
probe`, below) on the two surviving hosts renew a lease like an agent's
Membership, while the leader's host is crashed; each probe's record says how
long its lease went unrenewed and whether an agent would have self-fenced.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from corral_lab.etcd_testing import (
    ETCD,
    EtcdStartError,
    etcd_available,
    log_tail,
    member_argv,
    wait_healthy,
)
from corral_lab.hosts import Lab, LabError

__all__ = ["ETCD", "CLIENT_PORT", "PEER_PORT", "LabEtcd", "ProbeReport", "analyze_probe",
           "etcd_available", "leader_crash_trial"]

CLIENT_PORT = 2379
PEER_PORT = 2380
HEARTBEAT_MS = 25
ELECTION_MS = 250

_HEALTH = ("import socket,sys\n"
           "s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=1.0)\n"
           "s.sendall(b'GET /health HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n')\n"
           "b=b''\n"
           "while True:\n"
           "    d=s.recv(4096)\n"
           "    if not d: break\n"
           "    b+=d\n"
           "sys.exit(0 if b'\"true\"' in b else 1)\n")

# Asks every member for its id and the leader it follows; prints {address: [member_id, leader_id]}.
_STATUS = ("import json,sys,urllib.request\n"
           "out={}\n"
           "for a in sys.argv[1:]:\n"
           "    try:\n"
           "        r=urllib.request.urlopen(urllib.request.Request('http://'+a+'/v3/maintenance/status',"
           "data=b'{}',headers={'Content-Type':'application/json'}),timeout=1.0)\n"
           "        d=json.loads(r.read())\n"
           "        out[a]=[d['header']['member_id'],d.get('leader')]\n"
           "    except Exception as e:\n"
           "        out[a]=None\n"
           "print(json.dumps(out))\n")


class LabEtcd:
    """One etcd member per lab host; bounded waits; stop() never raises."""

    def __init__(self, lab: Lab, hosts: Sequence[str], *, data_root: str | None = None,
                 heartbeat_ms: int = HEARTBEAT_MS, election_ms: int = ELECTION_MS) -> None:
        if not hosts:
            raise ValueError("an etcd cluster needs at least one host")
        self.lab, self.hosts = lab, list(hosts)
        self.heartbeat_ms, self.election_ms = heartbeat_ms, election_ms
        self._data_root_arg = data_root
        self.data_root = ""
        self.token = f"corral-{lab.prefix}"
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    def member_url(self, host: str, port: int) -> str:
        return f"http://{self.lab.address(host)}:{port}"

    def endpoint(self, host: str) -> str:
        return f"{self.lab.address(host)}:{CLIENT_PORT}"

    def endpoints(self, first: str | None = None) -> list[str]:
        """host:port of every member; `first`'s own member first (an agent talks to its local one)."""
        order = sorted(self.hosts, key=lambda h: h != first)
        return [self.endpoint(h) for h in order]

    def url(self, first: str | None = None, timeout_s: float | None = None,
            order: Sequence[str] | None = None) -> str:
        """The store URL; `order` lists hosts whose members come first, in that order."""
        if order is not None:
            eps = [self.endpoint(h) for h in [*order, *(h for h in self.hosts if h not in order)]]
        else:
            eps = self.endpoints(first)
        q = f"?timeout={timeout_s:g}" if timeout_s is not None else ""
        return "etcd://" + ",".join(eps) + q

    def log_path(self, host: str) -> str:
        return os.path.join(self.data_root, f"{host}.log")

    def start(self, ready_s: float = 30.0) -> None:
        if (why := etcd_available()) is not None:
            raise LabError(why)
        self.data_root = self._data_root_arg or tempfile.mkdtemp(prefix="corral-lab-etcd-")
        os.makedirs(self.data_root, exist_ok=True)
        for h in self.hosts:
            self.start_member(h, wait=False)
        self.wait_healthy(self.hosts, ready_s)

    def start_member(self, host: str, *, wait: bool = True, ready_s: float = 20.0) -> None:
        """(Re)start host's member, e.g. after lab.restart(host); with its old data dir it rejoins."""
        self._kill(host)
        initial = ",".join(f"{h}={self.member_url(h, PEER_PORT)}" for h in self.hosts)
        argv = member_argv(host, os.path.join(self.data_root, host), self.member_url(host, CLIENT_PORT),
                           self.member_url(host, PEER_PORT), initial, token=self.token,
                           heartbeat_ms=self.heartbeat_ms, election_ms=self.election_ms, log_level="warn")
        with open(self.log_path(host), "ab") as log:
            self._procs[host] = self.lab.spawn(host, argv, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_healthy([host], ready_s)

    def healthy(self, host: str) -> bool:
        """Whether host's member answers /health with true (it has a leader), asked from inside host."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            r = self.lab.run(host, [sys.executable, "-S", "-c", _HEALTH, self.lab.address(host), str(CLIENT_PORT)],
                             timeout=5)
            return r.returncode == 0
        return False

    def wait_healthy(self, hosts: Sequence[str], bound_s: float = 30.0) -> None:
        missing = [h for h in hosts if h not in self._procs]
        if missing:
            raise LabError(f"etcd is not running on {', '.join(missing)}")
        try:
            wait_healthy({h: self._procs[h] for h in hosts}, self.healthy, self.log_tail, bound_s, poll_s=0.1)
        except EtcdStartError as e:
            raise LabError(str(e)) from None

    def log_tail(self, host: str, limit: int = 1500) -> str:
        return log_tail(self.log_path(host), limit)

    def leader(self, via: str | None = None) -> str | None:
        """The host whose member leads, as the running members report it (asked from inside `via`,
        default the first running member's host); None while they do not agree on one."""
        running = [h for h in self.hosts if self.running(h)]
        if not running:
            return None
        try:
            r = self.lab.run(via or running[0], [sys.executable, "-S", "-c", _STATUS,
                                                 *(self.endpoint(h) for h in running)], timeout=10)
            status = json.loads(r.stdout or "{}")
        except (subprocess.TimeoutExpired, ValueError):
            return None
        ids = {h: status.get(self.endpoint(h)) for h in running}
        leaders = {v[1] for v in ids.values() if v}
        if len(leaders) != 1:
            return None
        lead = leaders.pop()
        return next((h for h, v in ids.items() if v and v[0] == lead), None)

    def wait_leader(self, bound_s: float = 20.0) -> str:
        deadline = time.monotonic() + bound_s
        while True:
            if (lead := self.leader()) is not None:
                return lead
            if time.monotonic() > deadline:
                raise LabError(f"etcd members agree on no leader within {bound_s:g}s")
            time.sleep(0.2)

    def kill_member(self, host: str) -> None:
        """SIGKILL host's member only (a lost store member; the host and its agent stay up)."""
        self._kill(host)

    def running(self, host: str) -> bool:
        p = self._procs.get(host)
        return p is not None and p.poll() is None

    def _kill(self, host: str) -> None:
        p = self._procs.pop(host, None)
        if p is None:
            return
        if p.poll() is None:
            with contextlib.suppress(OSError):
                p.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=5.0)

    def stop(self) -> None:
        for h in list(self._procs):
            self._kill(h)
        if self.data_root and not self._data_root_arg:
            shutil.rmtree(self.data_root, ignore_errors=True)
        self.data_root = ""


# -- lease probe: an agent's lease renewal, recorded ----------------------------------------------------------
#
# Runs in a lab host (python -m corral_lab.etcd probe --url ... --out FILE --stop FILE). Like
# corral.agent.membership it grants a lease, then waits `renew`, renews, and (as agents do) rewrites
# a lease-bound heartbeat key after each renewal; meanwhile it puts a key every 50 ms and watches
# it, to see how soon a watch resumes elsewhere. Every outcome is one JSON line, written as it
# happens, so a killed probe still leaves its record. Times are CLOCK_MONOTONIC, shared by every
# process of the machine, so the runner can place the crash on the same axis.

PUT_EVERY_S = 0.05


def run_probe(url: str, out: str, stop_file: str, *, ttl: float, renew: float, name: str,
              max_s: float = 120.0, heartbeat: bool = True, impl: str | None = None) -> None:
    """impl: a file defining another EtcdStore (e.g. an older corral/store/etcd.py) to measure instead."""
    from corral.store import LeaseExpired, Put, StoreError, open_store

    if impl is not None:
        import importlib.util

        import corral.store.etcd

        spec = importlib.util.spec_from_file_location("corral_probe_etcd_impl", impl)
        if spec is None or spec.loader is None:
            raise SystemExit(f"cannot load {impl}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        corral.store.etcd.EtcdStore = module.EtcdStore  # type: ignore[misc]  # open_store looks it up per call
    store = open_store(url)
    stop = threading.Event()
    lock = threading.Lock()
    f = open(out, "w", buffering=1)  # line-buffered: a killed probe leaves whole lines; closed in finally

    def emit(**rec: object) -> None:
        with lock:
            f.write(json.dumps(rec) + "\n")

    def putter() -> None:
        seq = 0
        while not stop.wait(PUT_EVERY_S):
            seq += 1
            try:
                store.put(f"/probe/{name}/w", str(seq))
                emit(put=seq, t=time.monotonic())
            except StoreError:
                pass  # an unknown outcome: its event may still come

    def watcher(start: int) -> None:
        cursor = start
        while not stop.is_set():
            try:
                for ev in store.watch_prefix(f"/probe/{name}/", start_revision=cursor):
                    emit(seen=int(ev.value or 0), t=time.monotonic())
                    cursor = ev.mod_revision + 1
            except StoreError as e:
                emit(watch_error=str(e)[:300], t=time.monotonic())
                stop.wait(0.05)

    threads: list[threading.Thread] = []
    try:
        emit(config={"url": url, "ttl": ttl, "renew": renew, "timeout": store.timeout})
        lease = store.lease_grant(ttl)
        start = store.put(f"/probe/{name}/w", "0")
        threads = [threading.Thread(target=putter, daemon=True),
                   threading.Thread(target=watcher, args=(start,), daemon=True)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + max_s
        beat = 0
        while not stop.wait(renew):
            if os.path.exists(stop_file) or time.monotonic() > deadline:
                break
            sent = time.monotonic()
            try:
                store.lease_keepalive(lease)
                outcome = "ok"
            except LeaseExpired:
                outcome = "expired"
            except StoreError as e:
                outcome = f"failed: {str(e)[:300]}"
            emit(keepalive=outcome, sent=sent, t=time.monotonic())
            if outcome == "ok" and heartbeat:
                beat += 1
                with contextlib.suppress(StoreError):
                    store.txn([], [Put(f"/probe-beat/{name}", str(beat), lease)])
        sent = time.monotonic()
        try:
            store.lease_keepalive(lease)
            emit(final="ok", sent=sent, t=time.monotonic())
        except StoreError as e:
            emit(final=f"{type(e).__name__}: {str(e)[:300]}", sent=sent, t=time.monotonic())
    finally:
        stop.set()
        store.close()
        for t in threads:
            t.join(timeout=5)
        f.close()


@dataclass
class ProbeReport:
    """What one probe's record says about the time around a crash."""
    name: str = ""
    host: str = ""
    order: str = ""                     # "leader-first" or "local-first" endpoint order
    limit_s: float = 0.0                # renew + 2 x store timeout: an agent self-fences past it
    max_gap_s: float | None = None      # longest (send of a good renewal -> return of the next good one)
    recovered_s: float | None = None    # crash -> first good renewal sent after it returned
    longest_call_s: float | None = None  # the slowest keepalive call (the store timeout bounds it)
    expired: bool = False               # etcd said the lease was gone
    final_ok: bool = False              # a last renewal at the end succeeded
    watch_lag_s: float | None = None    # longest put (returned) -> its watch event
    watch_unseen: int = 0               # puts whose event never came (then watch_lag_s is a lower bound)
    watch_errors: int = 0
    renewals: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def lease_lost(self) -> bool:
        """An agent with this record would have self-fenced, or its lease expired at etcd."""
        return (self.expired or not self.final_ok or self.max_gap_s is None
                or self.max_gap_s > self.limit_s)


def analyze_probe(lines: Sequence[dict], crash_at: float, end_at: float) -> ProbeReport:
    """A ProbeReport from a probe's JSON records (crash_at, end_at on the same monotonic clock)."""
    rep = ProbeReport()
    config = next((r["config"] for r in lines if "config" in r), None)
    if config is None:
        rep.errors.append("no record")
        return rep
    rep.limit_s = config["renew"] + 2 * config["timeout"]
    kas = [r for r in lines if "keepalive" in r]
    rep.renewals = len(kas)
    if kas:
        rep.longest_call_s = max(r["t"] - r["sent"] for r in kas)
    oks = [r for r in kas if r["keepalive"] == "ok"]
    rep.expired = any(r["keepalive"] == "expired" for r in kas)
    rep.errors = sorted({r["keepalive"] for r in kas if r["keepalive"] not in ("ok", "expired")})[:5]
    final = next((r for r in lines if "final" in r), None)
    rep.final_ok = final is not None and final["final"] == "ok"
    if final is not None and final["final"] != "ok":
        rep.expired = rep.expired or final["final"].startswith("LeaseExpired")
    if rep.final_ok and final is not None:
        oks.append({"keepalive": "ok", "sent": final["sent"], "t": final["t"]})
    if oks:
        # What the agent's watchdog measures: from the send of a good renewal to the return of the next
        # (with no good one after it, to the end of the record).
        gaps = [b["t"] - a["sent"] for a, b in zip(oks, oks[1:], strict=False)]
        if not rep.final_ok:
            gaps.append(max(end_at, final["t"] if final else end_at) - oks[-1]["sent"])
        rep.max_gap_s = max(gaps) if gaps else None
        after = [r for r in oks if r["sent"] >= crash_at]
        if after:
            rep.recovered_s = after[0]["t"] - crash_at
    puts = {r["put"]: r["t"] for r in lines if "put" in r}
    seen: dict[int, float] = {}
    for r in lines:
        if "seen" in r:
            seen.setdefault(r["seen"], r["t"])
    # Puts made in the last half second may still be on their way when the probe stops.
    due = {seq: t for seq, t in puts.items() if t <= end_at - 0.5}
    lags = [seen.get(seq, end_at) - t for seq, t in due.items()]
    rep.watch_unseen = sum(1 for seq in due if seq not in seen)
    rep.watch_lag_s = max(0.0, *lags) if lags else None
    rep.watch_errors = sum(1 for r in lines if "watch_error" in r)
    return rep


def _read_lines(path: str) -> list[dict]:
    out = []
    with contextlib.suppress(OSError), open(path) as f:
        for line in f:
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
    return out


def leader_crash_trial(lab: Lab, etcd: LabEtcd, work: str, *, timeout: float, renew: float, ttl: float,
                       warm_s: float = 1.5, observe_s: float = 3.0, swap: bool = False,
                       ready_bound_s: float = 20.0, heartbeat: bool = True,
                       impl: str | None = None) -> tuple[str, list[ProbeReport]]:
    """Crash the etcd leader's host while lease probes renew on both surviving hosts.

    One probe lists the leader's member first (its calls are on the member that dies), the other
    its own member first (as agents do). `swap` exchanges which survivor runs which; `heartbeat`
    and `impl` are passed to run_probe. Returns the crashed host and the two reports; the crashed
    host stays down (restart it with lab.restart + etcd.start_member). The probes are killed
    before returning, whatever happens.
    """
    leader = etcd.wait_leader()
    survivors = [h for h in etcd.hosts if h != leader and etcd.running(h)]
    if len(survivors) < 2:
        raise LabError(f"a leader crash trial needs two surviving members, have {survivors}")
    if swap:
        survivors = survivors[::-1]
    specs = [("leader-first", survivors[0], [leader, survivors[0]]),
             ("local-first", survivors[1], [survivors[1]])]
    os.makedirs(work, exist_ok=True)
    stop_file = os.path.join(work, "stop")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(stop_file)
    procs: list[subprocess.Popen[bytes]] = []
    outs: list[str] = []
    try:
        for order, host, first in specs:
            out = os.path.join(work, f"{order}.jsonl")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(out)
            outs.append(out)
            argv = [sys.executable, "-m", "corral_lab.etcd", "probe", "--url", etcd.url(order=first, timeout_s=timeout),
                    "--out", out, "--stop", stop_file, "--ttl", f"{ttl:g}", "--renew", f"{renew:g}",
                    "--name", f"{order}-{host}", "--max-s", f"{warm_s + observe_s + ready_bound_s + 30:g}",
                    *([] if heartbeat else ["--no-heartbeat"]), *(["--impl", impl] if impl else [])]
            with open(os.path.join(work, f"{order}.log"), "ab") as log:
                procs.append(lab.spawn(host, argv, stdout=log, stderr=subprocess.STDOUT))
        # Warm: every probe renewing and its watch delivering, so its connections are pooled.
        deadline = time.monotonic() + ready_bound_s
        while True:
            recs = [_read_lines(o) for o in outs]
            if all(sum(1 for r in rs if r.get("keepalive") == "ok") >= 3 and sum(1 for r in rs if "seen" in r) >= 3
                   for rs in recs):
                break
            dead = [p for p in procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise LabError(f"lease probes not ready within {ready_bound_s:g}s (exited: {len(dead)}); "
                               f"see {work}")
            time.sleep(0.1)
        time.sleep(warm_s)
        crash_at = time.monotonic()
        lab.crash(leader)
        time.sleep(observe_s)
        end_at = time.monotonic()
        with open(stop_file, "w"):
            pass
        bound = time.monotonic() + 10 + 2 * timeout
        while any(p.poll() is None for p in procs) and time.monotonic() < bound:
            time.sleep(0.05)
    finally:
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(OSError):
                    p.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=5)
    reports = []
    for (order, host, _), out in zip(specs, outs, strict=True):
        rep = analyze_probe(_read_lines(out), crash_at, end_at)
        rep.name, rep.host, rep.order = f"{order}-{host}", host, order
        reports.append(rep)
    return leader, reports


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m corral_lab.etcd")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("probe", help="renew a lease like an agent and record every outcome (JSON lines)")
    p.add_argument("--url", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--stop", required=True, help="stop once this file exists")
    p.add_argument("--ttl", type=float, default=2.0)
    p.add_argument("--renew", type=float, default=0.2)
    p.add_argument("--name", default="probe")
    p.add_argument("--max-s", type=float, default=120.0)
    p.add_argument("--no-heartbeat", action="store_true", help="renew only (no heartbeat write after a renewal)")
    p.add_argument("--impl", help="measure the EtcdStore of this file instead of corral.store.etcd's")
    a = ap.parse_args(argv)
    run_probe(a.url, a.out, a.stop, ttl=a.ttl, renew=a.renew, name=a.name, max_s=a.max_s,
              heartbeat=not a.no_heartbeat, impl=a.impl)
    return 0


def report_dict(rep: ProbeReport) -> dict[str, object]:
    return {**asdict(rep), "lease_lost": rep.lease_lost}


if __name__ == "__main__":
    sys.exit(main())
