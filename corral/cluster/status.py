"""What `corral status` shows, computed from one store snapshot.

Roles come from the scheduler's own reading of the histories (so status and
controller never disagree on what runs where); nothing here writes.
"""
from __future__ import annotations

from typing import Any

from corral.cluster.snapshot import Snapshot, scheduler_inputs
from corral.model.config import STOPPED
from corral.model.ocf_codes import rc_name
from corral.model.state import EXEC_DONE
from corral.scheduler import ResourceView, fail_counts, primitives, schedule

EXEC_STATUS = {0: "complete", -1: "pending", 1: "cancelled", 2: "Timed Out", 3: "not supported",
               4: "Error", 5: "Hard error", 6: "Fatal error", 7: "not installed"}


def _node_state(n: Any) -> str:
    if n.unclean:
        return "unclean"
    if not n.online:
        return "offline"
    if n.maintenance:
        return "maintenance"
    if n.standby:
        return "standby"
    return "online"


FENCE_EVENTS_SHOWN = 10


def fence_event(rec: Any, epoch: int | None = None) -> dict[str, Any]:
    """One fencing history record as status shows it. A controller's record still pending
    after a newer controller took over (current `epoch`) was abandoned: its successor
    did not count it and fenced again (and settles it: failed, "abandoned: ...")."""
    from corral.fencing.history import ABANDONED

    result = {"done": "success", "failed": "failed", "pending": "pending"}.get(rec.state, rec.state)
    if result == "pending" and rec.epoch is not None and epoch is not None and rec.epoch < epoch:
        result = "abandoned"
    if result == "failed" and rec.error.startswith(ABANDONED):
        result = "abandoned"
    return {"node": rec.node, "action": rec.action, "result": result, "device": rec.device,
            "origin": rec.origin, "epoch": rec.epoch, "requested_at": rec.requested_at,
            "completed_at": rec.completed_at, "attempts": rec.attempts, "error": rec.error, "id": rec.id}


def fencing_status(snap: Snapshot) -> dict[str, Any]:
    """The last fencing events (newest last), fences in progress, and nodes the controller
    is waiting to fence (from its status)."""
    waiting = [w for w in (snap.controller_status or {}).get("waiting", []) if w.startswith("fencing of ")]
    events = [fence_event(r, snap.epoch) for r in snap.fence_history]
    return {"history": events[-FENCE_EVENTS_SHOWN:], "pending": [e for e in events if e["result"] == "pending"],
            "waiting": waiting}


def operator_status(snap: Snapshot) -> dict[str, Any]:
    """The operator's node modes and move/ban constraints (cluster/operator.py)."""
    import time

    now = time.time()
    return {"revision": snap.operator_revision, "error": snap.operator_error,
            "node_modes": snap.operator.node_modes,
            "constraints": [{"id": c.id, "rsc": c.rsc, "node": c.node, "score": c.score, "role": c.role,
                             "expires": c.expires, "expired": c.expired(now)} for c in snap.operator.constraints]}


def cluster_status(snap: Snapshot) -> dict[str, Any]:
    out: dict[str, Any] = {"controller": snap.leader, "epoch": snap.epoch, "revision": snap.revision,
                           "config": {"source": snap.config_source, "revision": snap.config_revision,
                                      "error": snap.config_error, "loaded_at": snap.config_loaded_at or None},
                           "nodes": [], "resources": [], "failures": [],
                           "controller_status": snap.controller_status,
                           "fencing": fencing_status(snap), "operator": operator_status(snap)}
    if snap.config is None:
        out["nodes"] = [{"name": n, "state": "online" if n in snap.members else "offline"}
                        for n in sorted(set(snap.members) | set(snap.nodes))]
        return out
    cfg, state = scheduler_inputs(snap)
    tr = schedule(cfg, state)
    out["nodes"] = node_entries(tr, set(snap.members))
    counts = {node: fail_counts(st.attrs) for node, st in state.nodes.items()}
    out["resources"] = resource_entries(tr, counts)
    out["maintenance_mode"] = cfg.option_bool("maintenance-mode", False)
    out["stonith_enabled"] = cfg.option_bool("stonith-enabled", True)
    out["have_quorum"] = state.have_quorum
    for node, recs in sorted(snap.history.items()):
        for rid, rec in sorted(recs.items()):
            for op in rec.ops:
                if not op.id.endswith("_last_failure_0"):
                    continue
                extra = rec.extra.get(op.id, {})
                out["failures"].append({
                    "rsc": rid, "node": node, "op": op.op, "interval_ms": op.interval_ms, "rc": op.rc,
                    "rc_name": rc_name(op.rc), "status": EXEC_STATUS.get(op.op_status, str(op.op_status)),
                    "exit_reason": op.exit_reason, "call_id": op.call_id, "time": op.last_rc_change,
                    "exec_ms": extra.get("exec_ms"), "timed_out": op.op_status != EXEC_DONE})
    out["pending"] = tr.summary_text()
    return out


def node_entries(tr: Any, members: set[str] | None = None, after: bool = False) -> list[dict[str, Any]]:
    """The nodes as status shows them; after: as they will be once the transition ran
    (a node fenced by it is then cleanly offline)."""
    fenced = {n for n, _a, _r in tr.fences} if after else set()
    out = []
    for n in tr.nodes.values():
        state = "offline" if n.name in fenced else _node_state(n)
        entry: dict[str, Any] = {"name": n.name, "state": state,
                                 "unclean_reason": (n.unclean_reason or None) if state == "unclean" else None}
        if members is not None:
            entry["member"] = n.name in members
        out.append(entry)
    return out


def resource_entries(tr: Any, counts: dict[str, dict[str, int]] | None = None,
                     after: bool = False) -> list[dict[str, Any]]:
    """One entry per primitive instance and node where it is active (one with node None if it
    is active nowhere), in configuration order; after: where the transition puts it."""
    out: list[dict[str, Any]] = []
    for p in _prims(tr):
        entry = {"id": p.id, "base": p.base, "parent": p.top if p.top != p.id else None,
                 "group": p.group, "clone": p.clone, "clone_child": p.clone_child,
                 "promotable": p.promotable, "unique": p.unique,
                 "agent": p.agent, "managed": p.managed,
                 "failed": p.failed and not after, "blocked": p.blocked and not after,
                 "orphan": p.orphan, "target_role": p.target_role}
        if after:
            where = {p.assigned: p.next_role} if p.assigned and p.next_role != STOPPED else {}
        else:
            where = dict(p.active)
        if not where:
            out.append({**entry, "role": STOPPED, "node": None, "failcount": 0, "pending": None})
        for node, role in where.items():
            out.append({**entry, "role": role, "node": node,
                        "failcount": (counts or {}).get(node, {}).get(p.base, 0),
                        "pending": None if after else p.pending.get(node)})
    return out


def _prims(tr: Any) -> list[ResourceView]:
    return primitives(tr.resources)
