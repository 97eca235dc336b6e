"""This node's operation history: kept in memory, mirrored to the store by the executor.

Per resource it keeps what Pacemaker's CIB keeps: the last one-shot operation
(`<rsc>_last_0`), the last failure (`<rsc>_last_failure_0`) and the last result
of each recurring monitor (`<rsc>_monitor_<interval>`); call ids increase per node.
"""
from __future__ import annotations

import copy
import threading

from corral.cluster.records import AgentSpec, HistoryRecord
from corral.model.state import EXEC_DONE, OpRecord

# One-shot operations after which recurring monitors are cancelled (the role changed).
_CANCELS_MONITORS = ("start", "stop", "promote", "demote", "migrate_to", "migrate_from")


def is_failure(op: OpRecord) -> bool:
    if op.op_status != EXEC_DONE:
        return True
    if op.op == "monitor" and op.interval_ms == 0:  # a probe: running or not, both are answers
        return op.rc not in (0, 7, 8)
    return op.rc != (op.target_rc if op.target_rc is not None else 0)


class HistoryBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._call_id = 0
        self.records: dict[str, HistoryRecord] = {}

    def next_call_id(self) -> int:
        with self._lock:
            self._call_id += 1
            return self._call_id

    def reset(self) -> None:
        with self._lock:
            self.records.clear()

    def add(self, rid: str, spec: AgentSpec, op: OpRecord, extra: dict) -> HistoryRecord:
        """Record one result; returns a copy of the resource's record to write out."""
        with self._lock:
            rec = self.records.get(rid)
            if rec is None:
                rec = self.records[rid] = HistoryRecord(rsc=rid, spec=spec)
            elif spec.rsc_class:
                rec.spec = spec
            recurring = op.op == "monitor" and op.interval_ms > 0
            slot = f"{rid}_monitor_{op.interval_ms}" if recurring else f"{rid}_last_0"
            op.id = slot
            if op.op in _CANCELS_MONITORS:
                rec.ops = [o for o in rec.ops if not o.id.startswith(f"{rid}_monitor_")]
            rec.ops = [o for o in rec.ops if o.id != slot] + [op]
            rec.extra[slot] = extra
            if is_failure(op):
                fail = copy.copy(op)
                fail.id = f"{rid}_last_failure_0"
                rec.ops = [o for o in rec.ops if o.id != fail.id] + [fail]
                rec.extra[fail.id] = extra
            return copy.deepcopy(rec)

    def clear_failures(self, rid: str) -> None:
        with self._lock:
            rec = self.records.get(rid)
            if rec is not None:
                rec.ops = [o for o in rec.ops if not is_failure(o)]
                rec.extra = {k: v for k, v in rec.extra.items() if any(o.id == k for o in rec.ops)}

    def promoted(self, rid: str) -> bool:
        """Whether rid may be running promoted here: promoted last, a failed demote, or an
        agent that answered "running promoted" (8) to its latest probe or monitor."""
        with self._lock:
            rec = self.records.get(rid)
            if rec is None:
                return False
            for op in rec.ops:
                if op.id == f"{rid}_last_failure_0":
                    continue
                if op.op == "promote" and not is_failure(op):
                    return True
                if op.op == "demote" and is_failure(op):
                    return True
                if op.op == "monitor" and op.rc == 8:
                    return True
            return False

    def snapshot(self, rid: str) -> HistoryRecord | None:
        with self._lock:
            rec = self.records.get(rid)
            return copy.deepcopy(rec) if rec else None
