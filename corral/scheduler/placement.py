"""Placement: node scores for every resource and the choice of node and role.

Scores follow Pacemaker's documented model: location constraints and rules,
stickiness on the current node, bans after too many failures, colocation
(mandatory ones restrict, finite ones add), and the preferences of dependent
resources folded into the resource they follow.
"""
from __future__ import annotations

from datetime import datetime

from corral.model.config import PROMOTED, STARTED, STOPPED, UNPROMOTED, Configuration, Location
from corral.model.rules import RscValues
from corral.model.scores import INFINITY, add
from corral.scheduler.constraints import Coloc, ConstraintIndex
from corral.scheduler.instances import allocation_order, preferred_per_node
from corral.scheduler.nodes import NodeRt
from corral.scheduler.resources import CloneR, GroupR, Prim, ResourceTree, Rsc

NEG = -INFINITY


class Placer:
    def __init__(self, config: Configuration, tree: ResourceTree, nodes: dict[str, NodeRt],
                 index: ConstraintIndex, fail_counts: dict[str, dict[str, int]],
                 now: datetime | None, can_start: bool, freeze: bool) -> None:
        self.config = config
        self.tree = tree
        self.nodes = nodes
        self.index = index
        self.fail_counts = fail_counts
        self.now = now
        self.can_start = can_start      # False without quorum (no-quorum-policy stop/freeze)
        self.freeze = freeze
        self.symmetric = config.option_bool("symmetric-cluster", True)
        self.node_list = sorted(nodes.values(), key=lambda n: n.order)
        self.base: dict[Prim, dict[str, int]] = {}
        self.promo_locations: dict[Prim, dict[str, int]] = {}
        self.done: set[Rsc] = set()
        self.no_promote: set[Prim] = set()
        self.in_progress: set[Rsc] = set()
        # Clones being placed with as many instances as there are nodes to host them:
        # what is colocated with such a clone does not steer its instances.
        self.everywhere: set[CloneR] = set()
        # The scores of a primitive being placed, as its colocations with primaries already
        # placed restrict them: a primary placed meanwhile sees where that dependent can go
        # (a dependent of two mandatory primaries pulls the second to the first's node).
        self.partial: dict[Prim, dict[str, int]] = {}
        self.strategy = config.option("placement-strategy", "default")
        self.utilization_on = self.strategy != "default"
        self.capacity = {n.name: dict(n.utilization) for n in self.node_list}
        self.health = self._node_health()

    # -- base scores -------------------------------------------------------------------
    def compute_base_scores(self) -> None:
        for top in self.tree.top:
            for p in top.primitives():
                self.base[p] = self._initial(p)
        for rsc, locs in self.index.locations.items():
            for loc in locs:
                self._apply_location(rsc, loc)
        for p in self.tree.primitives():
            self._apply_history(p)

    def _initial(self, p: Prim) -> dict[str, int]:
        scores = {n.name: 0 for n in self.node_list} if self.symmetric else {}
        for node, health in self.health.items():
            if health and (node in scores or health <= NEG):
                scores[node] = add(scores.get(node, 0), health)
        return scores

    def _node_health(self) -> dict[str, int]:
        """Node health (#health-* attributes) as a score every resource gets on that node."""
        strategy = self.config.option("node-health-strategy", "none")
        if strategy == "none":
            return {}
        from corral.model.scores import parse_score

        colours = {"red": "node-health-red", "yellow": "node-health-yellow", "green": "node-health-green"}
        if strategy == "migrate-on-red":
            weights = {"red": NEG, "yellow": 0, "green": 0}
        elif strategy == "only-green":
            weights = {"red": NEG, "yellow": NEG, "green": 0}
        else:  # progressive, custom
            weights = {c: parse_score(self.config.option(opt, "0")) for c, opt in colours.items()}
        out: dict[str, int] = {}
        for n in self.node_list:
            total = 0
            for name, value in n.attrs.items():
                if not name.startswith("#health"):
                    continue
                v = value.strip().lower()
                total = add(total, weights[v] if v in weights else parse_score(v, 0))
            out[n.name] = total
        return out

    def _apply_location(self, rsc: Rsc, loc: Location) -> None:
        scores: dict[str, int] = {}
        role = loc.role
        if loc.node is not None and not loc.rules:
            if loc.node in self.nodes:
                scores[loc.node] = loc.score
        cfg = rsc.cfg if isinstance(rsc, Prim) else None
        sources = RscValues(params=dict(cfg.params) if cfg else {}, meta=dict(rsc.meta),
                            param_sets=list(cfg.param_sets) if cfg else [])
        for rule in loc.rules:
            role = role or rule.role
            for n in self.node_list:
                if rule.matches(n.attrs, self.now, sources):
                    s = rule.score_for(n.attrs) if (rule.score is not None or rule.score_attribute) else loc.score
                    scores[n.name] = add(scores.get(n.name, 0), s) if n.name in scores else s
        if loc.discovery == "exclusive":
            pass
        prims = rsc.primitives()
        if role == PROMOTED:
            for p in prims:
                d = self.promo_locations.setdefault(p, {})
                for node, s in scores.items():
                    d[node] = add(d.get(node, 0), s)
            return
        for p in prims:
            d = self.base[p]
            for node, s in scores.items():
                d[node] = add(d.get(node, 0), s) if node in d else s

    def _apply_history(self, p: Prim) -> None:
        d = self.base[p]
        threshold = p.meta_int("migration-threshold", INFINITY)
        for node in list(self.nodes):
            count = self.fail_counts.get(node, {}).get(p.base, 0)
            if threshold > 0 and count >= threshold:
                d[node] = NEG
        for node in p.banned:
            d[node] = NEG
        if self.utilization_on and p.cfg is not None:
            for node, cap in self.capacity.items():
                if not self._fits_capacity(p, cap):
                    d[node] = NEG  # can never fit there, whatever else moves
        if len(p.active) == 1 and p.managed:
            node = next(iter(p.active))
            if node in d and p.stickiness:
                d[node] = add(d[node], p.stickiness)

    # -- helpers -----------------------------------------------------------------------
    def hostable(self, node: str) -> bool:
        n = self.nodes.get(node)
        return n is not None and n.can_host

    def preference(self, rsc: Rsc, visited: set[Rsc] | None = None,
                   own: dict[str, int] | None = None) -> dict[str, int]:
        """What rsc and the unplaced resources that follow it would like."""
        # `visited` is the path being followed (a guard against colocation cycles), not
        # every resource seen: two dependents may share a dependent, and both pass it on.
        visited = visited if visited is not None else set()
        if isinstance(rsc, GroupR):
            return self.preference(rsc.members[0], visited) if rsc.members else {}
        if isinstance(rsc, CloneR):
            return self.preference(rsc.instances[0], visited) if rsc.instances else {}
        assert isinstance(rsc, Prim)
        own = dict(self.partial.get(rsc, self.base[rsc])) if own is None else own
        for c in self._dependents_of(rsc):
            dep = c.dependent
            if dep in visited or dep in self.done or not c.influence or c.score <= 0:
                continue
            if c.dependent_role == PROMOTED or c.primary_role == PROMOTED:
                continue  # these steer promotion, not placement
            visited.add(rsc)
            theirs = self.preference(dep, visited)
            visited.discard(rsc)
            if isinstance(c.primary, CloneR):
                # A clone takes only its dependents' wishes for nodes, never their bans.
                theirs = {n: v for n, v in theirs.items() if v > 0}
            self._merge(own, theirs, c.score / INFINITY)
        return own

    @staticmethod
    def _primary_rank(c: Coloc) -> tuple[int, int, str]:
        prim = c.primary
        variant = 0 if isinstance(prim, CloneR) else 1 if isinstance(prim, GroupR) else 2
        return (-prim.meta_int("priority", 0), variant, prim.id)

    def _dependents_of(self, p: Prim) -> list[Coloc]:
        out = list(self.index.as_primary.get(p, []))
        g = p.group
        clone = None
        if g is not None and g.members and g.members[0] is p:
            out += self.index.as_primary.get(g, [])
            if isinstance(g.parent, CloneR):
                clone = g.parent
        elif isinstance(p.parent, CloneR):
            clone = p.parent
        if clone is not None and clone not in self.everywhere:
            out += self.index.as_primary.get(clone, [])
        return out

    def _colocations_of(self, p: Prim) -> list[Coloc]:
        """Colocations in which p (or the group/clone it leads) is the dependent."""
        out = list(self.index.as_dependent.get(p, []))
        g = p.group
        if g is not None and g.members and g.members[0] is p:
            out += self.index.as_dependent.get(g, [])
            if isinstance(g.parent, CloneR):
                out += self.index.as_dependent.get(g.parent, [])
        elif isinstance(p.parent, CloneR):
            out += self.index.as_dependent.get(p.parent, [])
        return out

    @staticmethod
    def _merge(into: dict[str, int], theirs: dict[str, int], factor: float) -> None:
        before = dict(into)
        for node in list(into):
            s = theirs.get(node)
            if s is None:
                continue
            if s <= NEG:
                scaled = NEG if factor >= 1.0 else int(s * factor)
            elif s >= INFINITY:
                scaled = INFINITY if factor >= 1.0 else int(s * factor)
            else:
                scaled = int(s * factor)
            into[node] = add(into[node], scaled)
        if before and all(v < 0 for v in into.values()) and any(v >= 0 for v in before.values()):
            into.clear()
            into.update(before)  # the dependents' wishes would leave nowhere to run: ignore them

    def placed_nodes(self, rsc: Rsc, role: str | None, whole_instances: bool = False) -> dict[str, str]:
        """Where rsc will run (node -> next role), restricted to a role if given.

        A group hosts its dependents where its last member runs (all of it); a clone
        of groups where its instances' first members run, or, for an interleaved
        dependent (`whole_instances`), where whole instances run."""
        out: dict[str, str] = {}
        if isinstance(rsc, GroupR):
            hosts = rsc.members[-1:]
        elif isinstance(rsc, CloneR) and whole_instances:
            hosts = [i if isinstance(i, Prim) else i.members[-1] for i in rsc.instances if
                     isinstance(i, Prim) or i.members]
        else:
            hosts = self._leaders(rsc)
        for p in hosts:
            if isinstance(rsc, CloneR) and p.failed and p.blocked:
                continue  # a failed copy held in place by on-fail=block hosts no dependent
            if p.assigned and (role in (None, STARTED) or p.next_role == role or
                               (role == UNPROMOTED and p.next_role == STARTED)):
                out[p.assigned] = p.next_role
        return out

    def _leaders(self, rsc: Rsc) -> list[Prim]:
        if isinstance(rsc, Prim):
            return [rsc]
        if isinstance(rsc, GroupR):
            return rsc.members[:1]
        assert isinstance(rsc, CloneR)
        out: list[Prim] = []
        for inst in rsc.instances:
            out += self._leaders(inst)
        return out

    def _node_attr_match(self, attribute: str, nodes: dict[str, str]) -> set[str]:
        if attribute == "#uname":
            return set(nodes)
        values = {self.nodes[n].attrs.get(attribute) for n in nodes if n in self.nodes}
        values.discard(None)
        return {n.name for n in self.node_list if n.attrs.get(attribute) in values}

    def apply_colocations(self, p: Prim, scores: dict[str, int], for_promotion: bool = False) -> None:
        # One primary after another (higher priority, clones, groups, then by id, as the
        # oracle orders them), each placed and then restricting p at once, so that a primary
        # placed for p's sake later sees where p can still go (`self.partial`).
        colocs = self._colocations_of(p)
        colocs.sort(key=self._primary_rank)
        for c in colocs:
            if c.dependent_role in (PROMOTED,) and not for_promotion:
                continue
            if for_promotion and c.dependent_role != PROMOTED:
                continue
            primary = c.primary
            if primary is p.top:
                continue
            self.allocate(primary)
            if primary in self.in_progress or primary not in self.done:
                continue  # a colocation loop: the primary waits on us, so it cannot constrain us
            whole = isinstance(primary, CloneR) and p.clone is not None and p.clone.interleave
            where = self._node_attr_match(c.node_attribute, self.placed_nodes(primary, c.primary_role, whole))
            if c.score >= INFINITY:
                for node in scores:
                    if node not in where:
                        scores[node] = NEG
            elif c.score <= NEG:
                for node in where:
                    if node in scores:
                        scores[node] = NEG
            else:
                before = dict(scores)
                for node in where:
                    if node in scores:
                        scores[node] = add(scores[node], c.score)
                if not for_promotion and not any(v >= 0 and self.hostable(n) for n, v in scores.items()):
                    scores.clear()
                    scores.update(before)  # an optional colocation never leaves it nowhere to run

    # -- allocation ----------------------------------------------------------------------
    def allocate_all(self) -> None:
        order = sorted(self.tree.top, key=self._allocation_rank)
        for rsc in order:
            self.allocate(rsc)
        for p in self.tree.primitives():
            if p not in self.done:
                self.allocate(p)

    def _allocation_rank(self, rsc: Rsc) -> tuple[int, int]:
        """Higher priority first, then configuration order (the sort is stable). With a
        utilization strategy, resources that score best where they already run go first,
        so that what fits where it is keeps its place."""
        current = -INFINITY
        for p in rsc.primitives()[:1]:
            scores = self.base.get(p, {})
            node = p.current_node
            if node is not None and node in scores:
                current = scores[node]
        return (-rsc.meta_int("priority", 0), -current if self.utilization_on else 0)

    def allocate(self, rsc: Rsc) -> None:
        if rsc in self.done or rsc in self.in_progress:
            return
        if isinstance(rsc, Prim) and rsc.parent is not None:
            self.allocate(rsc.parent if isinstance(rsc.parent, CloneR) or rsc.parent.parent is None
                          else rsc.parent.parent)
            if rsc in self.done:
                return
        self.in_progress.add(rsc)
        try:
            if isinstance(rsc, Prim):
                self._allocate_prim(rsc)
            elif isinstance(rsc, GroupR):
                for m in rsc.members:
                    self._allocate_prim(m)
            else:
                assert isinstance(rsc, CloneR)
                self._allocate_clone(rsc)
        finally:
            self.in_progress.discard(rsc)
            self.done.add(rsc)

    def _fixed(self, p: Prim) -> bool:
        """Unmanaged or blocked resources stay exactly as they are."""
        if not p.managed or p.blocked:
            p.assigned = p.current_node
            p.next_role = p.current_role
            p.allocated = True
            self.done.add(p)
            if p.assigned in self.nodes:
                self.nodes[p.assigned].assigned_count += 1
            return True
        return False

    def _wants_to_run(self, p: Prim) -> bool:
        target = (p.meta.get("target-role") or STARTED).lower()
        if p.failed and p.on_fail == "stop":
            return False
        return target not in ("stopped",) and not p.orphan

    def scores_for(self, p: Prim) -> dict[str, int]:
        scores = dict(self.base[p])
        self.partial[p] = scores
        try:
            self.apply_colocations(p, scores)
        finally:
            del self.partial[p]
        scores = self.preference(p, own=scores)
        g = p.group
        if g is not None and g.members and g.members[0] is not p:
            prev = g.members[g.members.index(p) - 1]
            for node in scores:
                if prev.assigned != node and g.meta_bool("collocated", True):
                    scores[node] = NEG
        return scores

    def _allocate_prim(self, p: Prim, limit: dict[str, int] | None = None) -> None:
        if p in self.done:
            return
        self.in_progress.add(p)
        try:
            if self._fixed(p):
                return
            p.allocated = True
            if not self._wants_to_run(p):
                p.next_role = STOPPED
                return
            scores = self.scores_for(p)
            p.scores = scores
            choice = self._choose(p, scores, limit)
            if choice is None:
                p.next_role = STOPPED
                return
            if not self.can_start and choice not in p.active:
                p.next_role = STOPPED
                return
            self._assign(p, choice)
        finally:
            self.in_progress.discard(p)
            self.done.add(p)

    def _assign(self, p: Prim, node: str) -> None:
        p.assigned = node
        p.next_role = UNPROMOTED if p.is_promotable_instance else STARTED
        self.nodes[node].assigned_count += 1
        if self.utilization_on and p.cfg is not None:
            cap = self.capacity[node]
            for k, v in p.cfg.utilization.items():
                if k in cap:
                    try:
                        cap[k] -= int(v)
                    except ValueError:
                        pass

    @staticmethod
    def _fits_capacity(p: Prim, cap: dict[str, int]) -> bool:
        assert p.cfg is not None
        for k, v in p.cfg.utilization.items():
            try:
                need = int(v)
            except ValueError:
                continue
            if need > 0 and cap.get(k, 0) < need:
                return False
        return True

    def _fits(self, p: Prim, node: str) -> bool:
        if not self.utilization_on or p.cfg is None:
            return True
        cap = self.capacity[node]
        for k, v in p.cfg.utilization.items():
            try:
                need = int(v)
            except ValueError:
                continue
            if need > 0 and cap.get(k, 0) < need:
                return False
        return True

    def _choose(self, p: Prim, scores: dict[str, int], limit: dict[str, int] | None) -> str | None:
        candidates = [n for n in self.node_list
                      if n.name in scores and scores[n.name] >= 0 and n.can_host and self._fits(p, n.name)
                      and (limit is None or limit.get(n.name, 1) > 0)]
        if self.freeze:
            candidates = [n for n in candidates if n.name in p.active]
        if not candidates:
            return None
        best = max(scores[n.name] for n in candidates)
        current = p.current_node
        top = [n for n in candidates if scores[n.name] == best]
        top.sort(key=lambda n: self._tie_break(n, current))
        return top[0].name

    def _tie_break(self, n: NodeRt, current: str | None) -> tuple[int, ...]:
        """Among equally good nodes: spread load (unless the strategy packs resources),
        then stay where it runs, then the node listed first."""
        here = 0 if n.name == current else 1
        if self.strategy == "minimal":
            return (here, n.order)
        if self.strategy == "balanced":
            free = sum(self.capacity[n.name].values())
            return (-free, n.assigned_count, here, n.order)
        return (n.assigned_count, here, n.order)

    # -- clones ------------------------------------------------------------------------
    def _allocate_clone(self, c: CloneR) -> None:
        """Pacemaker's two rounds: instances that may stay where they run keep their node
        (up to an even share per node), then every other instance, in allocation order,
        takes the best node left; an anonymous clone runs at most one copy per node."""
        counts: dict[str, int] = {}
        per_node = c.clone_node_max if c.unique else min(1, c.clone_node_max)
        available = sum(1 for n in self.node_list if n.can_host)
        share = preferred_per_node(c.clone_max, available)
        if c.clone_max >= available:
            self.everywhere.add(c)
        try:
            self._place_instances(c, counts, per_node, share)
        finally:
            self.everywhere.discard(c)
        if c.promotable:
            self._promote(c)

    def _place_instances(self, c: CloneR, counts: dict[str, int], per_node: int, share: int) -> None:
        placed = 0

        def leader(inst: Prim | GroupR) -> Prim:
            return inst if isinstance(inst, Prim) else inst.members[0]

        def score_here(p: Prim) -> int | None:
            node = p.current_node
            return None if node is None else self.base[p].get(node, NEG)

        def try_place(inst: Prim | GroupR, keep: str | None) -> bool:
            """Place inst on the best node left; with `keep`, only if that node is among the best."""
            first = leader(inst)
            if self._fixed_instance(inst):
                if first.assigned is not None:
                    counts[first.assigned] = counts.get(first.assigned, 0) + 1  # it holds its node
                return True
            if not self._wants_to_run(first):
                return False
            scores = self.scores_for(first)
            limit = {n: per_node - counts.get(n, 0) for n in self.nodes}
            choice = self._choose_instance(first, scores, limit, counts)
            if choice is None or (keep is not None and scores.get(choice) != scores.get(keep)):
                return False
            if keep is not None:
                choice = keep
            if not self.can_start and choice not in first.active:
                return False
            first.scores = scores
            self._assign(first, choice)
            first.allocated = True
            self.done.add(first)
            if isinstance(inst, GroupR):
                for m in inst.members[1:]:
                    self._allocate_prim(m)
            counts[choice] = counts.get(choice, 0) + 1
            return True

        configured = [i for i in c.instances if not any(p.orphan for p in i.primitives())]
        ordered = allocation_order(configured, leader, score_here)
        done: set[Prim | GroupR] = set()
        for inst in ordered:
            first = leader(inst)
            cur = first.current_node
            if placed >= c.clone_max or cur is None or len(first.active) != 1 or first.failed:
                continue
            score = score_here(first)
            if not self.hostable(cur) or score is None or score < 0 or counts.get(cur, 0) >= share:
                continue
            if try_place(inst, cur):
                placed += 1
                done.add(inst)
        for inst in ordered:
            if inst in done:
                continue
            if placed < c.clone_max and try_place(inst, None):
                placed += 1
                continue
            self._stop_instance(inst)
        for inst in c.instances:
            if inst not in done and any(p.orphan for p in inst.primitives()):
                self._stop_instance(inst)

    def _stop_instance(self, inst: Prim | GroupR) -> None:
        for p in inst.primitives():
            if p not in self.done:
                p.allocated = True
                p.next_role = STOPPED
                self.done.add(p)

    def _fixed_instance(self, inst: Prim | GroupR) -> bool:
        prims = inst.primitives()
        if all(not p.managed or p.blocked for p in prims) and any(p.active for p in prims):
            for p in prims:
                self._fixed(p)
            return True
        return False

    def _choose_instance(self, p: Prim, scores: dict[str, int], limit: dict[str, int],
                         counts: dict[str, int]) -> str | None:
        candidates = [n for n in self.node_list
                      if n.name in scores and scores[n.name] >= 0 and n.can_host and limit.get(n.name, 0) > 0
                      and self._fits(p, n.name)]
        if self.freeze:
            candidates = [n for n in candidates if n.name in p.active]
        if not candidates:
            return None
        current = p.current_node
        candidates.sort(key=lambda n: (-scores[n.name], counts.get(n.name, 0), 0 if n.name == current else 1,
                                       n.assigned_count, n.order))
        return candidates[0].name

    # -- promotion ---------------------------------------------------------------------
    def promotion_score(self, inst: Prim | GroupR, node: str) -> int | None:
        prims = inst.primitives()
        attrs = self.nodes[node].attrs
        total = 0
        found = False
        for p in prims:
            value = self._promotion_attr(attrs, p, node)
            if value is not None:
                total = add(total, value)
                found = True
        leader = prims[0]
        extra = self.promo_locations.get(leader, {})
        for p in prims[1:]:
            for n, s in self.promo_locations.get(p, {}).items():
                extra = dict(extra)
                extra[n] = add(extra.get(n, 0), s)
        if node in extra:
            total = add(total, extra[node])
            found = True
        return total if found else None

    @staticmethod
    def _promotion_attr(attrs: dict[str, str], p: Prim, node: str) -> int | None:
        """The promotion score the agent set (crm_master): by base id, else by the instance
        id its history on that node was recorded under, else by any instance id."""
        from corral.model.scores import parse_score

        names = [f"master-{p.base}", f"promotion-{p.base}"]
        if node in p.history_ids:
            names.append(f"master-{p.history_ids[node]}")
        names.append(f"master-{p.id}")
        prefix = f"master-{p.base}:"
        names += sorted(n for n in attrs if n.startswith(prefix))
        for name in names:
            if name in attrs:
                try:
                    return parse_score(attrs[name])
                except ValueError:
                    return None
        return None

    def _promote(self, c: CloneR) -> None:
        target = (c.meta.get("target-role") or STARTED).lower()
        candidates: list[tuple[int, int, int, Prim | GroupR, str]] = []
        for idx, inst in enumerate(c.instances):
            leader = inst if isinstance(inst, Prim) else inst.members[0]
            node = leader.assigned
            if node is None or leader.next_role == STOPPED:
                continue
            prims = inst.primitives()
            if any(p.assigned != node or p.next_role == STOPPED or p in self.no_promote for p in prims):
                continue
            score = self.promotion_score(inst, node)
            colo = {node: 0}
            self.apply_colocations(leader, colo, for_promotion=True)
            for dep in self._promoted_dependents(c):
                theirs = self.preference(dep.dependent, {c})
                s = theirs.get(node)
                if s is not None:
                    colo[node] = add(colo[node], int(s * dep.score / INFINITY) if abs(s) < INFINITY
                                     else (s if dep.score >= INFINITY else int(s * dep.score / INFINITY)))
            if score is None and colo[node] == 0:
                continue
            score = add(score or 0, colo[node])
            if score < 0 or not self.can_start and leader.current_role != PROMOTED:
                continue
            was = 1 if leader.current_role == PROMOTED else 0
            candidates.append((score, was, -idx, inst, node))
        if target in ("unpromoted", "slave", "stopped"):
            candidates = []
        candidates.sort(key=lambda t: (-t[0], -t[1], -t[2]))
        per_node: dict[str, int] = {}
        chosen = 0
        for _score, _was, _idx, inst, node in candidates:
            if chosen >= c.promoted_max:
                break
            if per_node.get(node, 0) >= c.promoted_node_max:
                continue
            per_node[node] = per_node.get(node, 0) + 1
            chosen += 1
            for p in inst.primitives():
                p.next_role = PROMOTED

    def _promoted_dependents(self, c: CloneR) -> list[Coloc]:
        return [col for col in self.index.as_primary.get(c, [])
                if col.primary_role == PROMOTED and col.influence and col.score > 0
                and col.dependent not in self.done]
