"""Unfinished and failed live migrations, read across the source's and the target's
histories (the rules Pacemaker 2.1.5 follows, learnt from its regression scenarios
and from crm_simulate on variations of them).

A live migration is `migrate_to` on the source, then `migrate_from` on the target,
then a stop on the source. A migration that completed is settled elsewhere
(`HistoryUnpacker.settle_migrations`); this module handles the others:

- `migrate_to` failed, and the target recorded nothing newer: the resource may be
  half-way there, so it counts as active on the target too. While the source is
  still active both copies are failed (stop both, start one: "Recover"); once the
  source was stopped the target's copy is of unknown state and is started again
  where it stays ("Restart") or live-migrated away.
- `migrate_to` succeeded, `migrate_from` never ran: if the source was then
  stopped, the resource runs on the target, of unknown state: it is restarted
  there, or moved by stop and start (not live-migrated); if the source is still active and
  the target has gone down cleanly, the migration cannot be finished and the
  source's copy is recovered (stopped, started elsewhere).
- `migrate_from` failed on the target: the source's copy is recovered too.
"""
from __future__ import annotations

from corral.model.config import STARTED
from corral.model.state import (
    EXEC_CANCELLED,
    EXEC_DONE,
    EXEC_ERROR,
    EXEC_PENDING,
    PENDING_RC,
    OpRecord,
    ResourceHistory,
)
from corral.scheduler.nodes import NodeRt
from corral.scheduler.resources import Prim

RC_OK, RC_NOT_RUNNING = 0, 7


def _ops(hist: ResourceHistory) -> list[OpRecord]:
    return sorted((o for o in hist.ops if o.op_status != EXEC_CANCELLED
                   and o.op_status != EXEC_PENDING and o.rc != PENDING_RC),
                  key=lambda o: o.call_id)


def _ok(op: OpRecord) -> bool:
    return op.op_status in (EXEC_DONE, EXEC_ERROR) and (
        op.rc == RC_OK or (op.op == "stop" and op.rc == RC_NOT_RUNNING))


def _after(ops: list[OpRecord], index: int) -> str | None:
    """What the source did after its migrate_to: 'start' if it was started again at
    some point (the migration was abandoned), else 'stop' if it was stopped, else None."""
    last = None
    for op in ops[index + 1:]:
        if op.op == "start" and _ok(op):
            return "start"
        if op.op == "stop" and _ok(op):
            last = op.op
    return last


def _when(ops: list[OpRecord], index: int) -> int:
    """When the migrate_to happened: its own time, else the latest time recorded before it."""
    return ops[index].last_rc_change or max((o.last_rc_change for o in ops[:index]), default=0)


def reconcile_migrations(prim: Prim, hists: dict[str, ResourceHistory], nodes: dict[str, NodeRt]) -> None:
    if prim.clone is not None:
        return
    for source, hist in hists.items():
        ops = _ops(hist)
        idx = next((i for i in range(len(ops) - 1, -1, -1) if ops[i].op == "migrate_to"), None)
        if idx is None:
            continue
        mig = ops[idx]
        target = mig.migrate_target
        if not target or target == source:
            continue
        target_ops = _ops(hists[target]) if target in hists else []
        mfrom = next((o for o in reversed(target_ops) if o.op == "migrate_from"
                      and o.migrate_source in (None, source)), None)
        if mfrom is not None and _ok(mfrom) and _ok(mig):
            continue  # completed: settled with the other histories
        tnode = nodes.get(target)
        target_up = tnode is not None and tnode.online and not tnode.unclean
        when = _when(ops, idx)
        newer_on_target = any(o is not mfrom and o.last_rc_change > when for o in target_ops)
        after = _after(ops, idx)
        if mfrom is not None and not _ok(mfrom):
            if source in prim.active and after is None:
                prim.failed = True
                _drop_partial(prim, source)
            continue
        if not _ok(mig):
            if newer_on_target or not target_up or target in prim.active or after == "start":
                continue
            prim.active[target] = STARTED
            if after == "stop":
                prim.uncertain.add(target)
            continue
        if after == "start":
            continue
        if after == "stop":
            if target_up and not newer_on_target and target not in prim.active:
                prim.active[target] = STARTED
                prim.uncertain.add(target)
                prim.migration_blocked = True
            continue
        if after is None and source in prim.active and not target_up and not (tnode and tnode.unclean):
            prim.failed = True
            _drop_partial(prim, source)


def _drop_partial(prim: Prim, source: str) -> None:
    if prim.partial_migration is not None and prim.partial_migration[0] == source:
        prim.partial_migration = None
