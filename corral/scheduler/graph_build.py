"""From the plans to the transition graph (corral/scheduler/graph.py).

The plans say what each primitive does (stop here, start there, promote, ...);
this module turns them into Pacemaker's model: one action per step with its
operation key, timeout and the CRM_meta attributes the agent receives, and an
ordering edge for every "must happen before". Only ids and strings leave this
module: the graph carries nothing of the scheduler's runtime tree.

Edges, as Pacemaker orders them:
  - a resource's own sequence: demote -> stop -> start -> promote -> recurring monitors
    (all its stops before its start, so a move stops before it starts);
  - a live migration: migrate_to (source) -> migrate_from (target) -> stop (source)
    -> start (a pseudo-action: the resource already runs on the target) -> monitors;
  - fencing: a resource on a fenced node stops with the fence (a pseudo-action after
    it), and nothing that requires fencing starts before every fence is done;
  - order constraints (groups' implicit ones included): 'then' after 'first';
    symmetrical ones also stop 'then' before 'first'; interleaved clones per node.
"""
from __future__ import annotations

from collections import defaultdict

from corral.model.config import PROMOTED, STOPPED, Configuration, Operation, parse_interval_ms
from corral.scheduler.actions import INVERSE, Plan
from corral.scheduler.constraints import ConstraintIndex, Ord
from corral.scheduler.graph import ActionKind, Graph, GraphAction
from corral.scheduler.nodes import NodeRt
from corral.scheduler.ops import find_op, op_timeout_ms, recurring_monitors
from corral.scheduler.resources import CloneR, Prim, ResourceTree

# Pacemaker's result code a recurring monitor expects in each role.
_PROMOTED_RC = "8"


def op_key(rsc: str, task: str, interval_ms: int = 0) -> str:
    """Pacemaker's operation_key."""
    return f"{rsc}_{task}_{interval_ms}"


def fence_key(node: str, action: str) -> str:
    return f"stonith-{node}-{action}"


class GraphBuilder:
    def __init__(self, config: Configuration, tree: ResourceTree, index: ConstraintIndex,
                 plans: dict[Prim, Plan], fences: list[tuple[str, str, str]], nodes: dict[str, NodeRt],
                 fencing: bool) -> None:
        self.config = config
        self.tree = tree
        self.index = index
        self.plans = plans
        self.fences = fences
        self.fenced = {n for n, _, _ in fences}
        self.nodes = nodes
        self.fencing = fencing
        self.graph = Graph()
        self._edges: set[tuple[int, int]] = set()
        # (primitive id, task) -> its actions for that task; "start" includes a migration's pseudo start.
        self.acts: dict[tuple[str, str], list[GraphAction]] = defaultdict(list)
        # Where a pseudo-action implied by fencing would have run (for per-node orders).
        self.where: dict[int, str] = {}
        self.fence_actions: list[GraphAction] = []

    # -- primitives of the graph ----------------------------------------------------------------
    def add(self, key: str, task: str, kind: ActionKind, *, rsc: str | None = None, base: str | None = None,
            node: str | None = None, interval_ms: int = 0, timeout_ms: int = 0,
            meta: dict[str, str] | None = None, runnable: bool = True, optional: bool = False,
            require_any: bool = False, reason: str = "") -> GraphAction:
        a = GraphAction(id=len(self.graph.actions), key=key, task=task, kind=kind, rsc=rsc, base=base, node=node,
                        interval_ms=interval_ms, timeout_ms=timeout_ms, meta=meta or {}, runnable=runnable,
                        optional=optional, require_any=require_any, reason=reason)
        self.graph.actions.append(a)
        return a

    def edge(self, before: GraphAction | None, after: GraphAction | None) -> None:
        if before is None or after is None or before is after:
            return
        e = (before.id, after.id)
        if e not in self._edges:
            self._edges.add(e)
            self.graph.edges.append(e)

    def node_of(self, a: GraphAction) -> str | None:
        return a.node if a.node is not None else self.where.get(a.id)

    # -- build -----------------------------------------------------------------------------------
    def build(self) -> Graph:
        for node, action, reason in self.fences:
            self._fence(node, action, reason)
        for p, plan in self.plans.items():
            self._resource(p, plan)
        for o in self.index.orders:
            self._order(o)
        self._starts_after_fencing()
        return self.graph

    def _fence(self, node: str, action: str, reason: str) -> None:
        meta = {"on_node": node, "on_node_uuid": self._uuid(node), "stonith_action": action}
        try:
            timeout = parse_interval_ms(self.config.option("stonith-timeout", "60s"))
        except ValueError:
            timeout = 60_000
        self.fence_actions.append(self.add(fence_key(node, action), action, "fence", node=node, meta=meta,
                                           timeout_ms=timeout, reason=reason))

    def _fence_of(self, node: str) -> GraphAction | None:
        return next((f for f in self.fence_actions if f.node == node), None)

    def _resource(self, p: Prim, plan: Plan) -> None:
        if plan.migrate and plan.start_on and plan.stop_on:
            self._migration(p, plan)
            return
        seq: list[GraphAction] = []   # this primitive's actions in their own order
        if plan.demote:
            node = next((n for n, r in p.active.items() if r == PROMOTED), p.current_node or "")
            seq.append(self._step(p, "demote", node))
        stops = [self._step(p, "stop", node, runnable=plan.stop_runnable) for node in plan.stop_on]
        start = None
        if plan.start_on:
            start = self._step(p, "start", plan.start_on, runnable=plan.start_runnable, reason=plan.reason)
        promote = None
        if plan.promote and p.assigned:
            runnable = plan.promote_runnable and (start is None or start.runnable)
            promote = self._step(p, "promote", p.assigned, runnable=runnable)
        for a in seq:
            for s in stops:
                self.edge(a, s)
        for s in stops:
            self.edge(s, start)
            if start is None:
                self.edge(s, promote)
        self.edge(start, promote)
        if start is None:
            for a in seq:
                self.edge(a, promote)
        self._monitors(p, plan, seq, start, promote)

    def _monitors(self, p: Prim, plan: Plan, demote: list[GraphAction], start: GraphAction | None,
                  promote: GraphAction | None) -> None:
        if p.assigned is None or p.next_role == STOPPED or not (start or promote or demote):
            return
        cfg = p.cfg
        for op in recurring_monitors(cfg, p.next_role):
            after = promote if (p.next_role == PROMOTED and promote is not None) else (start or promote)
            if after is None and demote:
                after = demote[-1]
            mon = self._step(p, "monitor", p.assigned, op=op, runnable=after.runnable if after else True)
            self.edge(after, mon)

    def _migration(self, p: Prim, plan: Plan) -> None:
        assert plan.start_on is not None
        src, dst = plan.stop_on[0], plan.start_on
        extra = {"migrate_source": src, "migrate_target": dst}
        to = self._step(p, "migrate_to", src, extra=extra)
        frm = self._step(p, "migrate_from", dst, extra=extra)
        stop = self._step(p, "stop", src)
        start = self._pseudo_step(p, "start", dst, reason="migrated")
        self.edge(to, frm)
        self.edge(frm, stop)
        self.edge(stop, start)
        self._monitors(p, plan, [], start, None)

    def _step(self, p: Prim, task: str, node: str, *, runnable: bool = True, reason: str = "",
              op: Operation | None = None, extra: dict[str, str] | None = None) -> GraphAction:
        """One of p's actions: real, or a pseudo-action when its node is being fenced (the fence
        is what stops or demotes it there)."""
        if task in ("stop", "demote") and node in self.fenced:
            a = self._pseudo_step(p, task, node, reason=f"implied by the fencing of {node}")
            self.edge(self._fence_of(node), a)
            return a
        interval = op.interval_ms if op is not None else 0
        cfg_op = op or find_op(p.cfg, task, interval)
        meta = self._meta(p, node, cfg_op, interval)
        meta["timeout"] = str(op_timeout_ms(p.cfg, self.config, task, interval))
        if extra:
            meta.update(extra)
        if task == "monitor" and op is not None:
            meta["interval"] = str(interval)
            meta["name"] = "monitor"
            if op.role:
                meta["role"] = op.role
                if op.role == PROMOTED:
                    meta["op_target_rc"] = _PROMOTED_RC
        a = self.add(op_key(p.id, task, interval), task, "rsc", rsc=p.id, base=p.base, node=node,
                     interval_ms=interval, timeout_ms=int(meta["timeout"]), meta=dict(sorted(meta.items())),
                     runnable=runnable, reason=reason)
        self.acts[(p.id, task)].append(a)
        return a

    def _pseudo_step(self, p: Prim, task: str, node: str, reason: str) -> GraphAction:
        a = self.add(op_key(p.id, task), task, "pseudo", rsc=p.id, base=p.base, reason=reason)
        self.where[a.id] = node
        self.acts[(p.id, task)].append(a)
        return a

    def _meta(self, p: Prim, node: str, op: Operation | None, interval: int) -> dict[str, str]:
        meta = {"on_node": node, "on_node_uuid": self._uuid(node)}
        clone = p.clone
        if clone is not None:
            meta.update(clone_meta(clone))
            meta["clone"] = p.id.rsplit(":", 1)[1] if ":" in p.id else "0"
        if op is not None and op.on_fail:
            meta["on_fail"] = op.on_fail
        return meta

    def _uuid(self, node: str) -> str:
        n = self.nodes.get(node)
        return n.attrs.get("#id", node) if n is not None else node

    # -- order constraints -------------------------------------------------------------------------
    def _actions_of(self, prims: list[Prim], task: str) -> list[GraphAction]:
        return [a for p in prims for a in self.acts.get((p.id, task), [])]

    def _order(self, o: Ord) -> None:
        if o.kind == "Serialize":
            return  # not an ordering: handled with the pseudo-actions (one at a time)
        interleave = isinstance(o.first, CloneR) and isinstance(o.then, CloneR) and o.then.interleave
        pairs = [(o.first_action, o.then_action, o.first.primitives(), o.then.primitives())]
        if o.symmetrical:
            pairs.append((INVERSE.get(o.then_action, o.then_action), INVERSE.get(o.first_action, o.first_action),
                          o.then.primitives(), o.first.primitives()))
        for first_task, then_task, firsts, thens in pairs:
            before = self._actions_of(firsts, first_task)
            if not before:
                continue
            for after in self._actions_of(thens, then_task):
                for b in before:
                    if interleave and self.node_of(b) != self.node_of(after):
                        continue
                    self.edge(b, after)

    def _starts_after_fencing(self) -> None:
        """Nothing that requires fencing starts (or is promoted) before the fences are done: it
        may still be running on a node that is not yet fenced."""
        if not self.fence_actions:
            return
        from corral.scheduler.engine import requires  # engine imports this module
        for p in self.plans:
            if requires(p, self.fencing) != "fencing":
                continue
            for a in self.acts.get((p.id, "start"), []):
                if a.kind == "rsc":
                    for f in self.fence_actions:
                        self.edge(f, a)


def clone_meta(clone: CloneR) -> dict[str, str]:
    """The CRM_meta attributes every action of a clone's instances carries."""
    meta = {"clone_max": str(clone.clone_max), "clone_node_max": str(clone.clone_node_max),
            "globally_unique": "true" if clone.unique else "false",
            "notify": "true" if clone.meta_bool("notify", False) else "false"}
    if clone.promotable:
        for name, value in (("promoted_max", clone.promoted_max), ("promoted_node_max", clone.promoted_node_max)):
            meta[name] = str(value)
            meta[name.replace("promoted", "master")] = str(value)
    return meta


def build_graph(config: Configuration, tree: ResourceTree, index: ConstraintIndex, plans: dict[Prim, Plan],
                fences: list[tuple[str, str, str]], nodes: dict[str, NodeRt], fencing: bool) -> Graph:
    return GraphBuilder(config, tree, index, plans, fences, nodes, fencing).build()
