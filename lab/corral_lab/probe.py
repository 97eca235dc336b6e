"""A client-side TCP prober for failover measurements (docs/lab.md).

Run inside the lab's client host (`python -m corral_lab.probe VIP PORT --out FILE ...`),
it starts a TCP connect to VIP:PORT every `interval` seconds (20 ms by default),
each with its own deadline (`timeout`, 100 ms by default). Attempts overlap when
one is still waiting, so the schedule is kept even during an outage: the end of
an outage is seen within about one interval of the service answering again.

An attempt succeeds when the connection is established *and* the service sends
its name (the lab's services answer with their host name and close); the name
tells which backend answered. Each attempt is written as one JSON line, as it
ends, so a killed prober still leaves its record:

    {"t": 12.345, "ok": true, "backend": "h2", "dt": 0.0012}
    {"t": 12.365, "ok": false, "error": "timeout", "dt": 0.1}

`t` is the attempt's start on CLOCK_MONOTONIC (shared by every process of the
machine, so the runner can place its own events, like a crash, on the same
axis). With `--arp IFACE` it also records every ARP packet seen on the client's
interface whose sender address is the VIP (who claims the VIP on the client's
segment), as `{"t": ..., "arp": "MAC", "op": 1|2}`.

What is computed from the record (pure functions, unit-tested):
- an outage is a gap between two consecutive successful attempts, measured
  from the start of the last success before it to the start of the first
  success after it; `longest_outage` is the largest one, `outage_at` the one
  around a given instant (a crash). With a 20 ms interval, a gap of ~20 ms is
  no outage at all; the figures are only as fine as the interval.
- split brain, as the client can see it: a *flap* is a backend (or an ARP
  sender's MAC) coming back within `window` seconds after another one answered
  (A, B, A). One clean handover (A ... B) is not a flap, however quick. Two
  hosts holding the VIP at once on the client's segment typically show up as
  flaps (the client's ARP entry and the answers alternate); a claimant on the
  other side of a partition cannot be seen from the client at all, so the
  runner also asks each host whether it holds the VIP (lab/corral_lab/failover.py).
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO

DEFAULT_INTERVAL = 0.02
DEFAULT_TIMEOUT = 0.1
MAX_ANSWER = 64
ETH_P_ARP = 0x0806


@dataclass(frozen=True)
class Attempt:
    t: float            # start of the attempt, time.monotonic()
    ok: bool
    backend: str = ""   # who answered (ok only)
    error: str = ""     # why not (failures only)
    dt: float = 0.0     # how long the attempt took


@dataclass(frozen=True)
class ArpSighting:
    t: float
    mac: str
    op: int             # 1 request (gratuitous ARP is a request), 2 reply


@dataclass(frozen=True)
class Outage:
    start: float        # the last success before the gap
    end: float          # the first success after it
    failures: int       # failed attempts inside the gap
    before: str         # backend that answered before
    after: str          # backend that answered after

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Flap:
    """value answered/claimed at `first`, another one after it, and value again at `again`."""
    value: str
    other: str
    first: float
    again: float


@dataclass
class ProbeRecord:
    attempts: list[Attempt] = field(default_factory=list)
    arp: list[ArpSighting] = field(default_factory=list)

    @property
    def successes(self) -> list[Attempt]:
        return [a for a in self.attempts if a.ok]

    def backends(self, since: float | None = None, until: float | None = None) -> set[str]:
        return {a.backend for a in self.attempts
                if a.ok and (since is None or a.t >= since) and (until is None or a.t <= until)}


# -- analysis (pure) ---------------------------------------------------------------------------------------
def gaps(attempts: Sequence[Attempt]) -> list[Outage]:
    """Every gap between consecutive successes, in time order (attempts may come in any order)."""
    ordered = sorted(attempts, key=lambda a: a.t)
    out: list[Outage] = []
    last: Attempt | None = None
    failures = 0
    for a in ordered:
        if not a.ok:
            failures += 1
            continue
        if last is not None:
            out.append(Outage(last.t, a.t, failures, last.backend, a.backend))
        last, failures = a, 0
    return out


def longest_outage(attempts: Sequence[Attempt]) -> Outage | None:
    """The largest gap between two successes (None with fewer than two successes)."""
    return max(gaps(attempts), key=lambda o: o.seconds, default=None)


def outage_at(attempts: Sequence[Attempt], t: float) -> Outage | None:
    """The gap that contains instant t (a crash): from the last success at or before t to the
    first success after it. None if nothing answered before t or nothing after it."""
    for g in gaps(attempts):
        if g.start <= t < g.end:
            return g
    return None


def largest_gap_in(attempts: Sequence[Attempt], t0: float, t1: float) -> Outage | None:
    """The largest gap between successes that overlaps the interval (t0, t1), e.g. from a fault to
    the first answer from the new holder. None if no gap does."""
    return max((g for g in gaps(attempts) if g.end > t0 and g.start < t1), key=lambda g: g.seconds,
               default=None)


def unanswered_since(attempts: Sequence[Attempt]) -> float | None:
    """Start of the final failed stretch (failures after the last success), if the record ends in one."""
    ordered = sorted(attempts, key=lambda a: a.t)
    if not ordered or ordered[-1].ok:
        return None
    last_ok = max((a.t for a in ordered if a.ok), default=None)
    return last_ok if last_ok is not None else ordered[0].t


def flaps(events: Iterable[tuple[float, str]], window: float = 1.0) -> list[Flap]:
    """Values coming back within `window` seconds after another one was seen (A, B, A).

    events are (time, value) pairs: the backends of successful attempts, or ARP senders' MACs.
    """
    seen: dict[str, float] = {}
    prev: str | None = None
    out: list[Flap] = []
    for t, v in sorted(events):
        if prev is not None and v != prev and v in seen and t - seen[v] <= window:
            out.append(Flap(v, prev, seen[v], t))
        seen[v] = t
        prev = v
    return out


def answer_flaps(record: ProbeRecord, window: float = 1.0) -> list[Flap]:
    return flaps(((a.t, a.backend) for a in record.attempts if a.ok), window)


def arp_flaps(record: ProbeRecord, window: float = 1.0) -> list[Flap]:
    return flaps(((s.t, s.mac) for s in record.arp), window)


# -- the record file -----------------------------------------------------------------------------------------
def read_record(path: str) -> ProbeRecord:
    """Parse a prober's output (a partial last line, from a prober still writing, is skipped)."""
    rec = ProbeRecord()
    try:
        with open(path) as f:
            lines = f.readlines()
    except FileNotFoundError:
        return rec
    for line in lines:
        if not line.endswith("\n"):
            break
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if "arp" in d:
            rec.arp.append(ArpSighting(float(d["t"]), str(d["arp"]), int(d.get("op", 0))))
        elif "ok" in d:
            rec.attempts.append(Attempt(float(d["t"]), bool(d["ok"]), str(d.get("backend", "")),
                                        str(d.get("error", "")), float(d.get("dt", 0.0))))
    return rec


# -- the prober ------------------------------------------------------------------------------------------------
@dataclass
class _Pending:
    sock: socket.socket
    t: float
    deadline: float
    connected: bool = False
    data: bytes = b""


def _arp_socket(iface: str) -> socket.socket | None:
    try:
        # SOCK_DGRAM: the ARP packet without its Ethernet header
        s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ARP))
        s.bind((iface, ETH_P_ARP))
        s.setblocking(False)
        return s
    except (OSError, AttributeError) as e:
        print(f"probe: no ARP capture on {iface}: {e}", file=sys.stderr)
        return None


def parse_arp(frame: bytes, vip: str) -> tuple[str, int] | None:
    """(sender MAC, op) of an ARP packet (without the Ethernet header) whose sender IP is vip."""
    if len(frame) < 28:
        return None
    htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", frame[:8])
    if htype != 1 or ptype != 0x0800 or hlen != 6 or plen != 4:
        return None
    sha, spa = frame[8:14], frame[14:18]
    if socket.inet_ntoa(spa) != vip:
        return None
    return ":".join(f"{b:02x}" for b in sha), op


def probe(vip: str, port: int, out: IO[str], *, interval: float = DEFAULT_INTERVAL,
          timeout: float = DEFAULT_TIMEOUT, count: int = 3000, duration: float = 60.0,
          arp_iface: str | None = None, should_stop: list[bool] | None = None) -> int:
    """Probe until `count` attempts were started or `duration` seconds passed (or should_stop[0]).

    Returns how many attempts were made. Each attempt is written to out as it ends.
    """
    if interval <= 0 or timeout <= 0 or count < 1 or duration <= 0:
        raise ValueError("interval, timeout, count and duration must be positive")
    sel = selectors.DefaultSelector()
    arp = _arp_socket(arp_iface) if arp_iface else None
    if arp is not None:
        sel.register(arp, selectors.EVENT_READ, None)
    pending: dict[int, _Pending] = {}
    started = 0
    t0 = time.monotonic()
    end = t0 + duration
    next_at = t0

    def finish(p: _Pending, ok: bool, error: str = "") -> None:
        with contextlib.suppress(KeyError, ValueError):
            sel.unregister(p.sock)
        p.sock.close()
        pending.pop(id(p), None)
        now = time.monotonic()
        rec: dict[str, object] = {"t": round(p.t, 6), "ok": ok, "dt": round(now - p.t, 6)}
        if ok:
            rec["backend"] = p.data.decode("utf-8", "replace").strip()
        else:
            rec["error"] = error
        out.write(json.dumps(rec) + "\n")
        out.flush()

    try:
        while True:
            now = time.monotonic()
            stopping = (should_stop is not None and should_stop[0]) or started >= count or now >= end
            if stopping and not pending:
                break
            if not stopping and now >= next_at:
                started += 1
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                p = _Pending(s, now, now + timeout)
                rc = s.connect_ex((vip, port))
                pending[id(p)] = p
                if rc in (0, errno.EINPROGRESS):
                    sel.register(s, selectors.EVENT_WRITE, p)
                else:
                    finish(p, False, errno.errorcode.get(rc, str(rc)))
                # keep the schedule; after a stall, start again from now rather than bursting
                next_at = max(next_at + interval, now)
            for p in [p for p in pending.values() if time.monotonic() >= p.deadline]:
                finish(p, False, "timeout" if not p.connected else "no answer")
            wake = min([p.deadline for p in pending.values()] + ([next_at] if not stopping else []), default=now)
            for key, _ in sel.select(max(0.0, min(wake - time.monotonic(), 0.05))):
                if key.data is None:  # the ARP socket
                    while True:
                        try:
                            frame = key.fileobj.recv(2048)  # type: ignore[union-attr]
                        except BlockingIOError:
                            break
                        hit = parse_arp(frame, vip)
                        if hit is not None:
                            out.write(json.dumps({"t": round(time.monotonic(), 6), "arp": hit[0],
                                                  "op": hit[1]}) + "\n")
                            out.flush()
                    continue
                p = key.data
                if not p.connected:
                    err = p.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        finish(p, False, errno.errorcode.get(err, str(err)))
                        continue
                    p.connected = True
                    sel.modify(p.sock, selectors.EVENT_READ, p)
                    continue
                try:
                    chunk = p.sock.recv(MAX_ANSWER)
                except OSError as e:
                    finish(p, False, errno.errorcode.get(e.errno or 0, str(e)))
                    continue
                p.data += chunk
                if not chunk or b"\n" in p.data or len(p.data) >= MAX_ANSWER:
                    if p.data.strip():
                        finish(p, True)
                    else:
                        finish(p, False, "closed without an answer")
    finally:
        for p in list(pending.values()):
            p.sock.close()
        if arp is not None:
            arp.close()
        sel.close()
    return started


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m corral_lab.probe", description=__doc__.split("\n\n")[0])
    ap.add_argument("vip")
    ap.add_argument("port", type=int)
    ap.add_argument("--out", required=True, help="JSON-lines record (appended)")
    ap.add_argument("--interval", type=float, default=DEFAULT_INTERVAL)
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    ap.add_argument("--count", type=int, default=3000, help="at most this many attempts")
    ap.add_argument("--duration", type=float, default=60.0, help="at most this many seconds")
    ap.add_argument("--arp", metavar="IFACE", help="also record ARP packets claiming the VIP seen on IFACE")
    args = ap.parse_args(argv)
    stop = [False]

    def on_signal(signum: int, frame: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    with os.fdopen(fd, "w") as out:
        probe(args.vip, args.port, out, interval=args.interval, timeout=args.timeout, count=args.count,
              duration=args.duration, arp_iface=args.arp, should_stop=stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
