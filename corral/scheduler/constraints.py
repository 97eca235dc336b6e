"""Constraints resolved onto runtime resources, with indexes for the allocator.

Every lookup the allocator makes is a dict access: no pass over all
constraint pairs per resource (the design's scale target is 5000 resources).
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from corral.model.config import Colocation, Configuration, Location, Order
from corral.model.scores import INFINITY
from corral.scheduler.resources import CloneR, GroupR, Prim, ResourceTree, Rsc


@dataclass(eq=False)
class Coloc:
    id: str
    dependent: Rsc
    primary: Rsc
    score: int
    dependent_role: str | None
    primary_role: str | None
    influence: bool
    node_attribute: str


@dataclass(eq=False)
class Ord:
    id: str
    first: Rsc
    then: Rsc
    first_action: str
    then_action: str
    kind: str
    symmetrical: bool
    require_all: bool = True


class ConstraintIndex:
    def __init__(self, config: Configuration, tree: ResourceTree) -> None:
        self.tree = tree
        self.locations: dict[Rsc, list[Location]] = defaultdict(list)
        self.colocs: list[Coloc] = []
        self.as_dependent: dict[Rsc, list[Coloc]] = defaultdict(list)
        self.as_primary: dict[Rsc, list[Coloc]] = defaultdict(list)
        self.orders: list[Ord] = []
        self.orders_from: dict[Rsc, list[Ord]] = defaultdict(list)
        self.orders_to: dict[Rsc, list[Ord]] = defaultdict(list)
        for loc in config.locations:
            for rsc in self._location_targets(loc):
                self.locations[rsc].append(loc)
        for col in config.colocations:
            self._add_colocation(col)
        for order in config.orders:
            self._add_order(order)
        self._group_internals()

    def _location_targets(self, loc: Location) -> list[Rsc]:
        if loc.rsc_pattern:
            # a leading "!" selects the resources whose id does not match
            invert = loc.rsc_pattern.startswith("!")
            try:
                pattern = re.compile(loc.rsc_pattern[1:] if invert else loc.rsc_pattern)
            except re.error:
                return []
            return [r for r in self.tree.top if bool(pattern.search(r.id)) != invert]
        r = self.tree.resolve(loc.rsc or "")
        return [r] if r is not None else []

    def _add_colocation(self, col: Colocation) -> None:
        dep = self.tree.resolve(col.rsc)
        prim = self.tree.resolve(col.with_rsc)
        if dep is None or prim is None or dep is prim or col.score == 0:
            return
        self._coloc(Coloc(id=col.id, dependent=dep, primary=prim, score=col.score,
                          dependent_role=col.rsc_role, primary_role=col.with_rsc_role,
                          influence=col.influence, node_attribute=col.node_attribute))

    def _coloc(self, c: Coloc) -> None:
        self.colocs.append(c)
        self.as_dependent[c.dependent].append(c)
        self.as_primary[c.primary].append(c)

    def _add_order(self, order: Order) -> None:
        first = self.tree.resolve(order.first)
        then = self.tree.resolve(order.then)
        if first is None or then is None or first is then:
            return
        self._ord(Ord(id=order.id, first=first, then=then, first_action=order.first_action,
                      then_action=order.then_action, kind=order.kind, symmetrical=order.symmetrical,
                      require_all=order.require_all))

    def _ord(self, o: Ord) -> None:
        self.orders.append(o)
        self.orders_from[o.first].append(o)
        self.orders_to[o.then].append(o)

    def _group_internals(self) -> None:
        groups: list[GroupR] = []
        for top in self.tree.top:
            if isinstance(top, GroupR):
                groups.append(top)
            elif isinstance(top, CloneR):
                groups += [i for i in top.instances if isinstance(i, GroupR)]
        for g in groups:
            self.add_group(g)

    def add_group(self, g: GroupR) -> None:
        colocated = g.meta_bool("collocated", True)
        ordered = g.meta_bool("ordered", True)
        for prev, cur in zip(g.members, g.members[1:], strict=False):
            if colocated:
                self._coloc(Coloc(id=f"{g.id}-internal", dependent=cur, primary=prev, score=INFINITY,
                                  dependent_role=None, primary_role=None, influence=True,
                                  node_attribute="#uname"))
            if ordered:
                self._ord(Ord(id=f"{g.id}-internal", first=prev, then=cur, first_action="start",
                              then_action="start", kind="Mandatory", symmetrical=True))

    def primitives_of(self, rsc: Rsc) -> list[Prim]:
        return rsc.primitives()
