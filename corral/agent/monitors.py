"""Recurring monitors of what this node runs.

Registered by a `monitor` action with an interval (the first check runs at once
and is the action's result), or by the agent itself for resources a probe finds
running (the scheduler only asks for monitors alongside a start or promote).
A result is recorded only when it changes, as Pacemaker's executor reports
recurring operations: a failure bumps the fail count once, and the controller
re-plans on the history change. A stop, start, promote or demote cancels them;
a generation counter discards the result of a check that was in flight then.

Maintenance (cluster maintenance-mode, the node's or the resource's maintenance)
pauses them, as Pacemaker does: a check that falls due is not run, so it records
no result and counts no failure; resume() runs the paused ones at once when
maintenance ends.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from corral.agent.executor import Executor, Outcome
from corral.cluster.records import AgentSpec

IDLE_WAIT_S = 1.0  # nothing due: the loop still looks now and then (close, new entries wake it at once)


@dataclass
class _Entry:
    rid: str
    base: str
    spec: AgentSpec
    interval_ms: int
    timeout_s: float
    target_rc: int
    gen: int
    next_due: float = 0.0
    last_rc: int | None = None
    last_status: int | None = None
    in_flight: bool = False
    skipped: bool = False  # fell due while paused
    meta: dict[str, str] | None = None  # the graph action's meta (clone_max, promoted_max, ...): every check has it


class RecurringMonitors:
    def __init__(self, executor: Executor, pool: ThreadPoolExecutor,
                 paused: Callable[[str], bool] = lambda _rid: False) -> None:
        self.executor = executor
        self.pool = pool
        self.paused = paused  # rid -> in maintenance: its checks are not run
        self._entries: dict[tuple[str, int], _Entry] = {}
        self._gen: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._wake = threading.Event()  # an entry was added or finished a check: recompute the next due time
        self._thread = threading.Thread(target=self._loop, name="monitors", daemon=True)
        self._thread.start()

    def start(self, rid: str, base: str, spec: AgentSpec, interval_ms: int, timeout_s: float,
              target_rc: int, meta: dict[str, str] | None = None) -> Outcome:
        """Run the first check now, record it, and repeat it every interval. meta: the action's
        CRM_meta attributes, which every check exports as Pacemaker's recurring monitors do
        (galera's validation refuses to run without promoted_max/master_max)."""
        with self._lock:
            gen = self._gen.get(rid, 0)
        out = self.executor.run(rid, spec, "monitor", interval_ms=interval_ms, timeout_s=timeout_s,
                                target_rc=target_rc, base=base, meta=meta)
        entry = _Entry(rid, base, spec, interval_ms, timeout_s, target_rc, gen,
                       next_due=time.monotonic() + interval_ms / 1000, last_rc=out.op.rc,
                       last_status=out.op.op_status, meta=meta)
        with self._lock:
            if self._gen.get(rid, 0) == gen:
                self._entries[(rid, interval_ms)] = entry
        self._wake.set()
        return out

    def cancel(self, rid: str) -> None:
        with self._lock:
            self._gen[rid] = self._gen.get(rid, 0) + 1
            for key in [k for k in self._entries if k[0] == rid]:
                del self._entries[key]

    def cancel_all(self) -> None:
        with self._lock:
            for rid, _ in list(self._entries):
                self._gen[rid] = self._gen.get(rid, 0) + 1
            self._entries.clear()

    def resume(self) -> None:
        """Run at once the checks that fell due while paused and are no longer paused."""
        now = time.monotonic()
        with self._lock:
            for e in self._entries.values():
                if e.skipped and not self.paused(e.rid):
                    e.skipped, e.next_due = False, now
        self._wake.set()

    def active(self) -> list[tuple[str, int]]:
        with self._lock:
            return sorted(self._entries)

    def close(self) -> None:
        self._stopped.set()
        self._wake.set()
        self.cancel_all()

    def _valid(self, e: _Entry) -> bool:
        with self._lock:
            return self._gen.get(e.rid, 0) == e.gen and self._entries.get((e.rid, e.interval_ms)) is e

    def _loop(self) -> None:
        """Sleeps until the next check is due (or an entry changes), instead of ticking."""
        while not self._stopped.is_set():
            self._wake.clear()
            now = time.monotonic()
            with self._lock:
                due = [e for e in self._entries.values() if not e.in_flight and e.next_due <= now]
                for e in due:
                    e.in_flight = True
                upcoming = [e.next_due for e in self._entries.values() if not e.in_flight]
            for e in due:
                try:
                    self.pool.submit(self._check, e)
                except RuntimeError:  # the pool is shutting down
                    return
            wait = min(upcoming, default=now + IDLE_WAIT_S) - time.monotonic()
            self._wake.wait(min(IDLE_WAIT_S, max(0.0, wait)))

    def _check(self, e: _Entry) -> None:
        try:
            if self.paused(e.rid):
                e.skipped = True
                return
            e.skipped = False
            with self.executor.lock_for(e.rid):
                if not self._valid(e):
                    return
                out = self.executor.run(e.rid, e.spec, "monitor", interval_ms=e.interval_ms,
                                        timeout_s=e.timeout_s, target_rc=e.target_rc, base=e.base,
                                        locked=True, record=False, meta=e.meta)
                if not self._valid(e) or (out.op.rc == e.last_rc and out.op.op_status == e.last_status):
                    return
                fail = self.executor.note(e.rid, e.spec, out.op, out.result, e.base, out.failed)
                e.last_rc, e.last_status = out.op.rc, out.op.op_status
            self.executor.flush(e.rid, fail)  # outside the operation lock: see executor
        finally:
            e.next_due = time.monotonic() + e.interval_ms / 1000
            e.in_flight = False
            self._wake.set()
