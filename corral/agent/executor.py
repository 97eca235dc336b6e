"""Runs resource agent operations on this node and records every result.

One operation at a time per resource (recurring monitors included), like
Pacemaker's executor. A result is noted in the in-memory history book at
once, then flushed to /corral/history/<node>/<rsc> -- together with the fail
count attributes a failure bumps, in one store transaction, so the controller
never sees one without the other. Flushing happens outside the operation lock
(a slow store never delays a stop, which self-fencing depends on) under a
per-resource write lock, and always writes the book's latest record, so
writes can never land out of order.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from corral.agent.book import HistoryBook, is_failure
from corral.cluster import keys
from corral.cluster.records import AgentSpec
from corral.cluster.resources import MissingNodeAttribute, resource_spec
from corral.model.digest import params_digest
from corral.model.scores import INFINITY, format_score, parse_score
from corral.model.state import EXEC_DONE, EXEC_NOT_INSTALLED, EXEC_TIMEOUT, OpRecord
from corral.resource_agents import (
    OCF_ERR_ARGS,
    OCF_ERR_GENERIC,
    OCF_ERR_INSTALLED,
    OCF_NOT_RUNNING,
    OCF_SUCCESS,
    OperationResult,
    ResourceAgentError,
    ResourceSpec,
    runner_for,
)
from corral.resource_agents.environment import meta_environment
from corral.store import Compare, Put, Store, StoreError

log = logging.getLogger("corral.agent")
Fail = tuple[str, str, int]  # (base, op, interval_ms) whose fail count a failure bumps
FLUSH_ATTEMPTS = 10


@dataclass
class Outcome:
    op: OpRecord
    result: OperationResult
    failed: bool
    fail: Fail | None = None


class Executor:
    def __init__(self, store: Store, node: str, book: HistoryBook,
                 node_attrs: Callable[[], dict[str, str]],
                 start_failure_fatal: Callable[[], bool],
                 halted: Callable[[], bool] = lambda: False) -> None:
        self.store = store
        self.node = node
        self.book = book
        self.node_attrs = node_attrs
        self.start_failure_fatal = start_failure_fatal
        self.halted = halted  # self-fencing: the store is out of reach, stop retrying writes
        self.running: OrderedDict[str, AgentSpec] = OrderedDict()  # rid -> spec, in start order
        self._locks: dict[str, threading.Lock] = {}
        self._write_locks: dict[str, threading.Lock] = {}
        self.deferring = False
        self.deferred_fails: list[Fail] = []
        self._guard = threading.Lock()

    def lock_for(self, rid: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(rid, threading.Lock())

    def _write_lock(self, rid: str) -> threading.Lock:
        with self._guard:
            return self._write_locks.setdefault(rid, threading.Lock())

    def run(self, rid: str, spec: AgentSpec, task: str, *, interval_ms: int = 0, timeout_s: float = 20.0,
            target_rc: int = 0, base: str | None = None, env_extra: dict[str, str] | None = None,
            migrate: tuple[str | None, str | None] = (None, None), locked: bool = False,
            record: bool = True, lock_wait: float | None = None, meta: dict[str, str] | None = None) -> Outcome:
        """Execute one operation and record it.

        meta: the action's own meta attributes (the controller's graph), exported as
        OCF_RESKEY_CRM_meta_<name> on top of the resource's.
        locked: the caller holds the resource's lock and flushes (Outcome.fail) itself.
        lock_wait: give up waiting for the lock after that many seconds and run anyway
        (self-fencing must not wait behind a long operation).
        """
        if meta:  # the environment only: the history keeps the resource's own spec
            env_extra = {**meta_environment(rid, meta), **(env_extra or {})}
        if locked:
            return self._run(rid, spec, task, interval_ms, timeout_s, target_rc, base or rid, env_extra,
                             migrate, record)
        lock = self.lock_for(rid)
        have = lock.acquire(timeout=-1 if lock_wait is None else lock_wait)
        try:
            out = self._run(rid, spec, task, interval_ms, timeout_s, target_rc, base or rid, env_extra,
                            migrate, record)
        finally:
            if have:
                lock.release()
        if record:
            self.flush(rid, out.fail)
        return out

    def _run(self, rid: str, spec: AgentSpec, task: str, interval_ms: int, timeout_s: float, target_rc: int,
             base: str, env_extra: dict[str, str] | None, migrate: tuple[str | None, str | None],
             record: bool) -> Outcome:
        result, status = self._execute(rid, spec, task, interval_ms, timeout_s, env_extra)
        op = OpRecord(rsc=rid, op=task, interval_ms=interval_ms, rc=result.rc, op_status=status,
                      call_id=self.book.next_call_id(), target_rc=target_rc,
                      last_rc_change=int(time.time()), exit_reason=result.exit_reason,
                      migrate_source=migrate[0], migrate_target=migrate[1],
                      op_digest=params_digest(spec.params))
        failed = is_failure(op)
        self._track(rid, spec, op, failed)
        out = Outcome(op, result, failed)
        if record:
            out.fail = self.note(rid, spec, op, result, base, failed)
        return out

    def _execute(self, rid: str, spec: AgentSpec, task: str, interval_ms: int, timeout_s: float,
                 env_extra: dict[str, str] | None) -> tuple[OperationResult, int]:
        started = time.time()
        try:
            rs = resource_spec(rid, spec, self.node_attrs())
        except MissingNodeAttribute as exc:  # node-specific: ban from this node, like OCF_ERR_ARGS
            return OperationResult(OCF_ERR_ARGS, str(exc), 0.0, started), EXEC_DONE
        rs.meta.setdefault("on_node", self.node)  # OCF_RESKEY_CRM_meta_on_node: agents name their node by it
        if rs.rsc_class == "stonith":
            return self._stonith(rid, rs, task, interval_ms, timeout_s, started), EXEC_DONE
        try:
            runner = runner_for(rs)
        except ResourceAgentError as exc:
            return OperationResult(OCF_ERR_INSTALLED, str(exc), 0.0, started), EXEC_NOT_INSTALLED
        result = runner.run(rs, task, timeout_s, interval_ms=interval_ms, env_extra=env_extra)
        return result, (EXEC_TIMEOUT if result.timed_out else EXEC_DONE)

    def _stonith(self, rid: str, rs: ResourceSpec, task: str, interval_ms: int, timeout_s: float,
                 started: float) -> OperationResult:
        """A fence device resource is bookkeeping, not a process: the controller fences through
        corral.fencing wherever it runs. start/stop/promote/demote/migrations succeed; a probe
        says whether it was started here; a recurring monitor runs the device's `monitor`
        action (as Pacemaker's fencer does), so a broken device shows as a failed resource."""
        marker = _stonith_marker(rid)
        if task != "monitor":
            # Started-ness survives a restart of the agent (a file in HA_RSCTMP, which a reboot
            # clears), so a re-probe does not make the scheduler start the device again.
            with contextlib.suppress(OSError):
                if task in ("start", "migrate_from", "promote", "demote"):
                    os.makedirs(os.path.dirname(marker), exist_ok=True)
                    with open(marker, "w"):
                        pass
                elif task == "stop":
                    os.unlink(marker)
            return OperationResult(OCF_SUCCESS, "", 0.0, started)
        if rid not in self.running and not os.path.exists(marker):
            return OperationResult(OCF_NOT_RUNNING, "", 0.0, started)
        if interval_ms <= 0:
            return OperationResult(OCF_SUCCESS, "", 0.0, started)
        from corral.fencing.device import FenceDevice, FenceDeviceError

        try:
            params = {k: v for k, v in rs.params.items() if not k.startswith("pcmk_")}
            run = FenceDevice(id=rid, agent=rs.type, params=params).run("monitor", None, timeout_s)
        except (FenceDeviceError, ValueError, OSError) as exc:
            return OperationResult(OCF_ERR_GENERIC, f"fence device: {exc}", time.time() - started, started)
        if run.ok:
            return OperationResult(OCF_SUCCESS, "", run.duration_s, started)
        reason = run.error or f"monitor exited with status {run.status}"
        return OperationResult(OCF_ERR_GENERIC, f"fence device monitor failed: {reason}", run.duration_s,
                               started, output=(run.stdout + run.stderr)[-512:], timed_out=run.timed_out)

    def _track(self, rid: str, spec: AgentSpec, op: OpRecord, failed: bool) -> None:
        """What runs here, for self-fencing and shutdown (anything possibly active counts)."""
        with self._guard:
            if op.op == "stop" and not failed:
                self.running.pop(rid, None)
            elif op.op == "monitor" and op.interval_ms == 0 and op.rc == 7 and not failed:
                self.running.pop(rid, None)
            elif op.op in ("start", "migrate_from", "promote", "demote") or (
                    op.op == "monitor" and op.rc in (0, 8)):
                if rid not in self.running or op.op in ("start", "migrate_from"):
                    self.running.pop(rid, None)
                    self.running[rid] = spec
            # A migrate_to leaves it here until the stop that ends the migration.

    def note(self, rid: str, spec: AgentSpec, op: OpRecord, result: OperationResult, base: str,
             failed: bool) -> Fail | None:
        """Put a result in the history book (fast, no store); returns what flush() must bump."""
        log.log(logging.WARNING if failed else logging.INFO, "%s %s%s on %s: rc=%d%s (%.0f ms)", rid, op.op,
                f"_{op.interval_ms}" if op.interval_ms else "", self.node, result.rc,
                f" {result.exit_reason!r}" if result.exit_reason else "", result.duration_s * 1000)
        extra = {"exec_ms": int(result.duration_s * 1000), "started_at": result.started_at,
                 "output": result.output[-512:] if failed else ""}
        self.book.add(rid, spec, op, extra)
        return (base, op.op, op.interval_ms) if failed else None

    def flush(self, rid: str, fail: Fail | None) -> None:
        """Write the resource's latest history (and a fail count bump) to the store."""
        if self.deferring:  # joining: the join writes the whole book in one transaction
            if fail is not None:
                self.deferred_fails.append(fail)
            return
        with self._write_lock(rid):
            rec = self.book.snapshot(rid)
            if rec is not None:
                self._commit(keys.history_rsc(self.node, rid), rec.to_json(), fail)

    def _commit(self, hist_key: str, hist_value: str, fail: Fail | None) -> None:
        """History and fail count in one transaction (compare-and-set on the count)."""
        for _ in range(FLUSH_ATTEMPTS):
            if self.halted():
                return  # self-fenced: the history is wiped when the node rejoins anyway
            try:
                compares: list[Compare] = []
                ops: list[Put] = [Put(hist_key, hist_value)]
                if fail is not None:
                    base, op, interval = fail
                    fc_key = keys.attr(self.node, keys.fail_count_attr(base, op, interval))
                    kv = self.store.get(fc_key)
                    current = _score(kv.value) if kv else 0
                    bump = INFINITY if op == "start" and self.start_failure_fatal() else 1
                    compares.append(Compare(fc_key, "mod_revision", "==", kv.mod_revision if kv else 0))
                    ops.append(Put(fc_key, format_score(min(INFINITY, current + bump))))
                    ops.append(Put(keys.attr(self.node, keys.last_failure_attr(base, op, interval)),
                                   str(int(time.time()))))
                if self.store.txn(compares, ops).succeeded:
                    return
            except StoreError as exc:
                log.error("could not record %s: %s", hist_key, exc)
                time.sleep(0.1)
        log.error("gave up recording %s", hist_key)


def _score(text: str) -> int:
    try:
        return parse_score(text)
    except ValueError:
        return 0


def _stonith_marker(rid: str) -> str:
    from corral.resource_agents.environment import rsctmp_dir

    return os.path.join(rsctmp_dir(), f"corral-stonith-{rid.replace('/', '_')}.started")
