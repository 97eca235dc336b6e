"""`resource-discovery=exclusive` on location constraints: a resource with such a
constraint may run only on the nodes one of its exclusive constraints selects
(Pacemaker Explained, "Location Properties"); elsewhere it is neither probed nor run."""
from __future__ import annotations

from datetime import datetime

from corral.model.config import Location
from corral.model.scores import INFINITY
from corral.scheduler.constraints import ConstraintIndex
from corral.scheduler.nodes import NodeRt
from corral.scheduler.resources import Prim


def _selected(loc: Location, nodes: dict[str, NodeRt], now: datetime | None) -> set[str]:
    if not loc.rules:
        return {loc.node} if loc.node is not None else set()
    return {n.name for n in nodes.values() if any(r.matches(n.attrs, now) for r in loc.rules)}


def apply_exclusive_discovery(base: dict[Prim, dict[str, int]], index: ConstraintIndex,
                              nodes: dict[str, NodeRt], now: datetime | None) -> None:
    for rsc, locs in index.locations.items():
        exclusive = [loc for loc in locs if loc.discovery == "exclusive"]
        if not exclusive:
            continue
        allowed: set[str] = set()
        for loc in exclusive:
            allowed |= _selected(loc, nodes, now)
        for p in rsc.primitives():
            scores = base.get(p)
            if scores is None:
                continue
            for node in nodes:
                if node not in allowed:
                    scores[node] = -INFINITY
