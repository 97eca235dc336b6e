"""Recurring monitors the transition does not ask for but the cluster needs.

Corral's scheduler emits a resource's recurring monitors only together with a
start, promote or demote. Pacemaker's also schedules them for any active
resource whose history lacks them -- e.g. when a transition was aborted
between a start and its monitor, or after a controller takeover. This adds
those, so every active resource is always monitored as configured.
"""
from __future__ import annotations

from corral.cluster.snapshot import Snapshot
from corral.model.config import STOPPED
from corral.scheduler import Transition
from corral.scheduler.graph import GraphAction


def missing_monitors(tr: Transition, snap: Snapshot) -> list[GraphAction]:
    """Monitor actions (ids 0: the caller numbers them) with no inputs."""
    busy = {a.rsc for a in tr.graph.actions if a.kind == "rsc"}
    out: list[GraphAction] = []
    for p in tr.resources.values():
        if p.kind != "primitive" or not p.has_agent or p.id in busy or not p.managed or p.failed:
            continue
        node = p.assigned
        if p.next_role == STOPPED or node is None or p.active.get(node) is None:
            continue
        rt = tr.nodes.get(node)
        if rt is None or not rt.online or rt.maintenance or node not in snap.members:
            continue
        rid = p.exec_id
        rec = snap.history.get(node, {}).get(rid)
        have = {o.id for o in rec.ops} if rec is not None else set()
        for op in p.recurring_monitors(p.active[node]):
            interval = op.interval_ms
            if f"{rid}_monitor_{interval}" not in have:
                out.append(GraphAction(0, f"{p.id}_monitor_{interval}", "monitor", "rsc", rsc=p.id, base=p.base,
                                       node=node, interval_ms=interval))
    return out
