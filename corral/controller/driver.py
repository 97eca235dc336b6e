"""Carrying out one phase of a transition across the nodes.

Each action is written to /corral/actions/<node>/<id> in a transaction fenced by
the controller's epoch (safety rule 3: once another controller has won, the
store refuses the write). The node's agent executes it and writes the result
back into the same key; the driver then removes the key (fenced too). At most
`parallel` actions are in flight; after a failure, or when the controller is
told to abort (membership or configuration changed), nothing new is launched,
the actions in flight are waited for (except those on nodes that left or fell
silent), and the phase reports failure so the controller re-plans from the new
state.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from corral.cluster import keys
from corral.cluster.records import DONE, ActionRecord
from corral.controller.graph import Step
from corral.store import Delete, Put, Store, fenced_txn

log = logging.getLogger("corral.controller")
POLL_S = 0.02
GRACE_S = 5.0  # beyond an action's own timeout, for the agent to report it


@dataclass
class PhaseResult:
    ok: bool
    failures: list[str] = field(default_factory=list)
    done: int = 0


class Driver:
    def __init__(self, store: Store, epoch: int, leading: Callable[[], bool], parallel: int = 16,
                 silent: Callable[[], set[str]] = set) -> None:
        self.store = store
        self.epoch = epoch
        self.leading = leading
        self.parallel = parallel
        self.silent = silent  # members counted as lost though their lease lives (controller.liveness)

    def write(self, ops: list[Put | Delete]) -> None:
        fenced_txn(self.store, keys.EPOCH, self.epoch, [], ops)  # raises Deposed

    def run_phase(self, steps: list[Step], make: Callable[[Step], ActionRecord],
                  abort: threading.Event, wake: threading.Event) -> PhaseResult:
        result = PhaseResult(ok=True)
        waiting = list(steps)
        done: set[Step] = set()
        inflight: dict[str, tuple[Step, ActionRecord, float]] = {}  # key -> (step, record, deadline)
        members_checked = 0.0
        while waiting or inflight:
            if not self.leading():
                result.ok = False
                result.failures.append("leadership lost")
                return result
            stop_launching = abort.is_set() or not result.ok
            if not stop_launching:
                for s in [s for s in waiting if s.deps <= done]:
                    if len(inflight) >= self.parallel:
                        break
                    rec = make(s)
                    key = keys.action(rec.node, rec.id)
                    self.write([Put(key, rec.to_json())])
                    inflight[key] = (s, rec, time.monotonic() + rec.timeout_s + GRACE_S)
                    waiting.remove(s)
                    log.debug("sent %s as %s", s.label, key)
            if not inflight:
                if waiting and not stop_launching:  # dependencies that can never complete
                    result.ok = False
                    result.failures += [f"{s.label}: a dependency did not complete" for s in waiting]
                elif waiting:
                    result.ok = False
                return result
            wake.wait(POLL_S)
            wake.clear()
            kvs, _ = self.store.get_prefix(keys.ACTIONS)
            current = {kv.key: kv for kv in kvs}
            now = time.monotonic()
            members: set[str] | None = None
            if abort.is_set() or now - members_checked > 1.0:
                members = {kv.key[len(keys.MEMBERS):] for kv in self.store.get_prefix(keys.MEMBERS)[0]}
                members -= self.silent()
                members_checked = now
            finished: list[str] = []
            for key, (s, rec, deadline) in inflight.items():
                kv = current.get(key)
                outcome = ActionRecord.from_json(kv.value) if kv is not None else None
                if outcome is not None and outcome.state == DONE:
                    log.debug("%s: rc=%s", s.label, outcome.rc)
                    finished.append(key)
                    expected = _expected_rc(rec)
                    if outcome.rc in expected and outcome.op_status == 0:
                        done.add(s)
                        result.done += 1
                    else:
                        result.ok = False
                        result.failures.append(f"{s.label}: rc={outcome.rc} {outcome.exit_reason}".rstrip())
                elif kv is None:
                    finished.append(key)
                    result.ok = False
                    result.failures.append(f"{s.label}: the action vanished")
                elif members is not None and rec.node not in members:
                    finished.append(key)
                    result.ok = False
                    result.failures.append(f"{s.label}: node {rec.node} left the cluster")
                elif now > deadline:
                    finished.append(key)
                    result.ok = False
                    result.failures.append(f"{s.label}: no result within {rec.timeout_s + GRACE_S:g}s")
            if finished:
                for key in finished:
                    del inflight[key]
                self.write([Delete(k) for k in finished if k in current])
        return result


def _expected_rc(rec: ActionRecord) -> tuple[int, ...]:
    if rec.task == "monitor":
        if rec.interval_ms == 0:
            return (0, 7, 8)
        return (8,) if rec.role == "Promoted" else (0,)
    return (0,)
