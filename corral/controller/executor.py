"""Executing a transition graph (corral.scheduler.graph), as Pacemaker's transition engine does.

An action fires the moment its inputs are confirmed -- all of them, or one for
an action marked `require_any` -- within the parallelism limits; nothing else
orders the actions (there are no phases: a recovery on one node never waits
for an unrelated stop on another).

- Pseudo-actions run nowhere: they are confirmed as soon as they are ready.
- Optional actions are not executed (Pacemaker leaves them out of its graph);
  an edge from one never holds anything back.
- An unrunnable action is never executed, and neither is anything that needs
  it (transitively); a `require_any` action needs only one of its inputs.
- A failed action (unexpected rc, timeout, vanished, its node left) blocks
  what depends on it; everything else carries on, and the transition then ends
  as failed: the controller plans a new one from the new state.
- Notifications (`notify` actions) never fail a transition: an error is
  logged and the action counts as confirmed (Pacemaker ignores notify results).
- Fences are not executed here: a transition with fences runs only those, in
  the fence coordinator (controller.fencing); one met here blocks its dependents.
- Abort (membership, configuration or attributes changed; leadership lost):
  nothing new is launched, the actions in flight are waited for (except those
  on nodes that left or fell silent), and the transition ends as aborted.

Parallelism (cluster options, Pacemaker's names): `batch-limit` bounds the
actions in flight cluster-wide, `node-action-limit` those on one node and
`migration-limit` the migrations on one node.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from corral.cluster.records import DONE, ActionRecord
from corral.controller.driver import Driver
from corral.model.config import Configuration
from corral.scheduler.graph import Graph, GraphAction

log = logging.getLogger("corral.controller")
POLL_S = 0.02
GRACE_S = 5.0  # beyond an action's own timeout, for the agent to report it
DEFAULT_BATCH_LIMIT = 32


def default_node_limit() -> int:
    """Pacemaker's node-action-limit default: twice the controller's cores (at least 4)."""
    return max(4, 2 * (os.cpu_count() or 1))


@dataclass(frozen=True)
class Limits:
    cluster: int = DEFAULT_BATCH_LIMIT   # batch-limit
    per_node: int = 8                    # node-action-limit; <= 0 unlimited
    migrations: int = -1                 # migration-limit per node; < 0 unlimited

    @classmethod
    def from_config(cls, cfg: Configuration | None) -> Limits:
        def number(name: str, default: int) -> int:
            raw = cfg.option(name, "") if cfg is not None else ""
            try:
                return int(str(raw)) if str(raw).strip() else default
            except ValueError:
                return default  # validation rejected it when the configuration was loaded

        batch = number("batch-limit", 0)
        node = number("node-action-limit", 0)
        return cls(cluster=batch if batch > 0 else DEFAULT_BATCH_LIMIT,
                    per_node=node if node != 0 else default_node_limit(),
                    migrations=number("migration-limit", -1))


class St(Enum):
    WAITING = "waiting"
    RUNNING = "running"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    SKIPPED = "skipped"   # unrunnable, optional, or needs something that failed or cannot run


@dataclass
class Outcome:
    ok: bool = True
    aborted: bool = False
    confirmed: int = 0                                  # real actions that succeeded
    failures: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)    # real actions not run, and why
    started_at: dict[int, float] = field(default_factory=dict)   # action id -> monotonic launch time
    finished_at: dict[int, float] = field(default_factory=dict)


def label(a: GraphAction) -> str:
    return f"{a.key} on {a.node}" if a.node else a.key


def expected_rc(rec: ActionRecord) -> tuple[int, ...]:
    if rec.task == "monitor":
        if rec.interval_ms == 0:
            return (0, 7, 8)
        return (8,) if rec.role == "Promoted" else (0,)
    return (0,)


class GraphExecutor:
    """Runs one transition graph to its end. `make` turns a real action into the record an
    agent executes (or raises ValueError: the action then fails)."""

    def __init__(self, driver: Driver, graph: Graph, make: Callable[[GraphAction], ActionRecord],
                 limits: Limits, abort: threading.Event, wake: threading.Event) -> None:
        self.driver = driver
        self.graph = graph
        self.make = make
        self.limits = limits
        self.abort = abort
        self.wake = wake
        self.actions = graph.by_id()
        self.inputs = graph.inputs()
        self.outputs: dict[int, list[int]] = defaultdict(list)
        for before, after in graph.edges:
            self.outputs[before].append(after)
        self.state: dict[int, St] = {i: St.WAITING for i in self.actions}
        self.ready: set[int] = set()   # real actions whose inputs are confirmed, not yet launched
        self.why: dict[int, str] = {}
        self.inflight: dict[str, tuple[GraphAction, ActionRecord, float]] = {}  # key -> (action, record, deadline)
        self.out = Outcome()

    # --- readiness -------------------------------------------------------------------
    def _evaluate(self, ids: list[int]) -> None:
        """Decide what can be decided without running anything -- skips and pseudo-actions,
        rippling on to their dependents -- and queue the real actions that became ready."""
        stack = list(ids)
        while stack:
            aid = stack.pop()
            a = self.actions.get(aid)
            if a is None or self.state[aid] is not St.WAITING or aid in self.ready:
                continue
            verdict = self._verdict(a)
            if verdict is None:
                continue
            if verdict != "ready":
                self._skip(a, verdict)
                stack.extend(self.outputs[aid])
            elif a.kind == "pseudo":
                self.state[aid] = St.CONFIRMED
                stack.extend(self.outputs[aid])
            else:
                self.ready.add(aid)

    def _verdict(self, a: GraphAction) -> str | None:
        """'ready', a reason it can never run, or None (not yet)."""
        if a.optional:
            return "optional"
        if not a.runnable:
            return f"unrunnable{': ' + a.reason if a.reason else ''}"
        if a.kind == "fence":
            return "fences run only in a transition of their own"
        ins = [i for i in self.inputs.get(a.id, ()) if i in self.actions and not self.actions[i].optional]
        states = [self.state[i] for i in ins]
        dead = [i for i, s in zip(ins, states, strict=True) if s in (St.FAILED, St.SKIPPED)]
        if a.require_any and ins:
            if any(s is St.CONFIRMED for s in states):
                return "ready"
            if len(dead) == len(ins):
                return f"none of its inputs can complete ({label(self.actions[dead[0]])}: {self.why.get(dead[0])})"
            return None
        if dead:
            return f"needs {label(self.actions[dead[0]])} ({self.why.get(dead[0], 'failed')})"
        return "ready" if all(s is St.CONFIRMED for s in states) else None

    def _skip(self, a: GraphAction, why: str) -> None:
        self.state[a.id] = St.SKIPPED
        self.why[a.id] = why
        if a.is_real and a.kind != "fence" and why != "optional":
            self.out.skipped.append(f"{label(a)}: {why}")

    # --- limits ------------------------------------------------------------------------
    def _room(self, a: GraphAction) -> bool:
        lim = self.limits
        if lim.cluster > 0 and len(self.inflight) >= lim.cluster:
            return False
        on_node = [x for x, _r, _d in self.inflight.values() if x.node == a.node]
        if lim.per_node > 0 and len(on_node) >= lim.per_node:
            return False
        if lim.migrations >= 0 and a.task in ("migrate_to", "migrate_from"):
            if sum(1 for x in on_node if x.task in ("migrate_to", "migrate_from")) >= max(1, lim.migrations):
                return False
        return True

    # --- the loop ------------------------------------------------------------------------
    def run(self) -> Outcome:
        self._evaluate(list(self.actions))
        while True:
            if not self.driver.leading():
                self.out.ok, self.out.aborted = False, True
                self.out.failures.append("leadership lost")
                return self.out
            stopping = self.abort.is_set()
            if stopping and not self.out.aborted:
                self.out.aborted = True
                self.out.ok = False
            ready = [] if stopping else [self.actions[i] for i in sorted(self.ready)]
            members = self.driver.members() if ready else None
            for a in ready:
                if 0 < self.limits.cluster <= len(self.inflight):
                    break  # full: the rest waits for a result
                if not self._room(a):
                    continue
                if members is not None and a.node not in members:
                    members = self.driver.members(fresh=True)  # it may have joined since our last read
                if members is not None and a.node not in members:
                    self._fail(a, f"node {a.node} is not a member")
                    self._evaluate(self.outputs[a.id])
                    continue
                self._launch(a)
            if not self.inflight:
                if not stopping:
                    # Anything still waiting now can never be satisfied (e.g. a cycle).
                    for aid, a in self.actions.items():
                        if self.state[aid] is St.WAITING:
                            self._skip(a, "its inputs never completed")
                            if a.is_real:
                                self.out.ok = False
                return self._finish()
            self.wake.wait(POLL_S)
            self.wake.clear()
            self._collect()

    def _finish(self) -> Outcome:
        if self.out.failures:
            self.out.ok = False
        return self.out

    def _launch(self, a: GraphAction) -> None:
        try:
            rec = self.make(a)
        except ValueError as exc:
            self._fail(a, str(exc))
            self._evaluate(self.outputs[a.id])
            return
        key = self.driver.launch(rec)
        self.ready.discard(a.id)
        self.state[a.id] = St.RUNNING
        self.out.started_at[a.id] = time.monotonic()
        self.inflight[key] = (a, rec, time.monotonic() + rec.timeout_s + GRACE_S)
        log.debug("sent %s as %s", label(a), key)

    def _collect(self) -> None:
        current = self.driver.results()
        now = time.monotonic()
        members = self.driver.members(fresh=self.abort.is_set())
        finished: list[str] = []
        for key, (a, rec, deadline) in self.inflight.items():
            outcome = current.get(key)
            problem: str | None = None
            if key not in current:
                problem = "the action vanished"
            elif outcome is not None and outcome.state == DONE:
                if outcome.rc not in expected_rc(rec) or outcome.op_status != 0:
                    problem = f"rc={outcome.rc} {outcome.exit_reason}".rstrip()
                    if outcome.op_status not in (0, None):
                        problem += f" (status {outcome.op_status})"
            elif rec.node not in members:
                problem = f"node {rec.node} left the cluster"
            elif now > deadline:
                problem = f"no result within {rec.timeout_s + GRACE_S:g}s"
            else:
                continue
            finished.append(key)
            self.out.finished_at[a.id] = now
            if problem is None:
                self.state[a.id] = St.CONFIRMED
                self.out.confirmed += 1
            elif a.kind == "notify":
                log.warning("notification %s: %s (ignored, as Pacemaker does)", label(a), problem)
                self.state[a.id] = St.CONFIRMED
            else:
                self._fail(a, problem)
            self._evaluate(self.outputs[a.id])
        for key in finished:
            del self.inflight[key]
        self.driver.finish([k for k in finished if k in current])

    def _fail(self, a: GraphAction, why: str) -> None:
        self.ready.discard(a.id)
        self.state[a.id] = St.FAILED
        self.why[a.id] = why
        self.out.ok = False
        self.out.failures.append(f"{label(a)}: {why}")
