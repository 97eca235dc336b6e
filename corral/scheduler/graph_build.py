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
from corral.model.state import ClusterState
from corral.scheduler.actions import INVERSE, Plan
from corral.scheduler.constraints import ConstraintIndex, Ord
from corral.scheduler.graph import ActionKind, Graph, GraphAction
from corral.scheduler.graph_notify import add_notifications
from corral.scheduler.nodes import NodeRt
from corral.scheduler.ops import find_op, op_timeout_ms, recurring_monitors
from corral.scheduler.resources import CloneR, GroupR, Prim, ResourceTree, Rsc

DONE = {"start": "running", "stop": "stopped", "promote": "promoted", "demote": "demoted"}
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
                 fencing: bool, state: ClusterState | None = None) -> None:
        self.config = config
        self.state = state
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
        # (group or clone id, task) -> its (task, task-done) pseudo-actions
        self.pseudo: dict[tuple[str, str], tuple[GraphAction, GraphAction]] = {}
        self.migration_edges: list[tuple[GraphAction, GraphAction]] = []  # (before, a migrate_to)

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
        self._fence_sequence()
        for p, plan in self.plans.items():
            self._resource(p, plan)
        for top in self.tree.top:
            self._container(top)
        add_notifications(self)
        for o in self.index.orders:
            self._order(o)
        # Last, once every other ordering is known, so that none of them closes a cycle.
        for b, a in self.migration_edges:
            if not self._reaches(a, b):
                self.edge(b, a)
        self._starts_after_fencing()
        self._drop_edges_from_unrunnable()
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
        self.edge(frm, start)
        self._monitors(p, plan, [], start, None)
        for mon in self.acts.get((p.id, "monitor"), []):
            self.edge(frm, mon)

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
        if op is not None:
            meta["name"] = op.name
            if op.on_fail:
                meta["on_fail"] = op.on_fail
        return meta

    def instance_meta(self, p: Prim, node: str) -> dict[str, str]:
        return self._meta(p, node, None, 0)

    @staticmethod
    def clone_meta(clone: CloneR) -> dict[str, str]:
        return clone_meta(clone)

    def notify_timeout_ms(self, clone: CloneR, p: Prim | None = None) -> int:
        prims = [p] if p is not None else clone.primitives()[:1]
        return op_timeout_ms(prims[0].cfg if prims else None, self.config, "notify", 0)

    def _uuid(self, node: str) -> str:
        n = self.nodes.get(node)
        return n.attrs.get("#id", node) if n is not None else node

    # -- groups and clones: their pseudo-actions --------------------------------------------------
    def _container(self, r: Rsc) -> None:
        """A group's or clone's pseudo-actions around its children's actions, as Pacemaker has them:
        X_start_0 -> children's starts -> X_running_0 (and stop/stopped, promote/promoted,
        demote/demoted); then X_demoted -> X_stop, X_stopped -> X_start, X_running -> X_promote."""
        if isinstance(r, CloneR):
            children: list[Rsc] = list(r.instances)
            for inst in r.instances:
                if isinstance(inst, GroupR):
                    self._container(inst)
        elif isinstance(r, GroupR):
            children = list(r.members)
        else:
            return
        made: dict[str, tuple[GraphAction, GraphAction]] = {}
        for task in ("stop", "start", "demote", "promote"):
            firsts = [a for c in children for a in self.initiation(c, task)]
            lasts = [a for c in children for a in self.completion(c, task)]
            if not firsts and not lasts:
                continue
            # Always runnable: what cannot run was settled by the planner, and an unrunnable child
            # orders nothing (a clone whose copies cannot start still counts as "running" for
            # what follows it, as in Pacemaker).
            begin = self.add(op_key(r.id, task), task, "pseudo", rsc=r.id)
            done = self.add(op_key(r.id, DONE[task]), DONE[task], "pseudo", rsc=r.id)
            for a in firsts:
                self.edge(begin, a)
            for a in lasts:
                self.edge(a, done)
            self.edge(begin, done)
            made[task] = (begin, done)
            self.pseudo[(r.id, task)] = (begin, done)
        for first, then in (("demote", "stop"), ("stop", "start"), ("start", "promote"), ("demote", "promote")):
            if first in made and then in made:
                self.edge(made[first][1], made[then][0])
        if isinstance(r, GroupR) and r.meta_bool("ordered", True):
            # Each member after the nearest one before it that does the same (a member doing
            # nothing this time does not break the chain); stops and demotes in reverse.
            for task, inverse in (("start", False), ("promote", False), ("stop", True), ("demote", True)):
                doing = [m for m in r.members if self.completion(m, task)]
                if inverse:
                    doing.reverse()
                for first, then in zip(doing, doing[1:], strict=False):
                    for b in self.completion(first, task):
                        for a in self.initiation(then, task):
                            self.edge(b, a)

    def initiation(self, r: Rsc, task: str) -> list[GraphAction]:
        """What 'r does task' begins with: a primitive's own actions, a collective's pseudo-action."""
        if isinstance(r, Prim):
            # A migration's start is its pseudo start: what must precede the resource's start
            # precedes that, not migrate_to (which the source's stop follows: a cycle otherwise).
            return self.acts.get((r.id, task), [])
        pair = self.pseudo.get((r.id, task))
        return [pair[0]] if pair else []

    def completion(self, r: Rsc, task: str) -> list[GraphAction]:
        """What 'r has done task' ends with."""
        if isinstance(r, Prim):
            return self.acts.get((r.id, task), [])
        pair = self.pseudo.get((r.id, task))
        return [pair[1]] if pair else []

    # -- order constraints -------------------------------------------------------------------------
    def _order(self, o: Ord) -> None:
        """'then' after 'first' (and, symmetrical, the inverse); both must happen for an edge, so an
        Optional order only orders what both do. Serialize orders like an asymmetrical Optional one
        (Pacemaker does not run them at once: the first completes before the other begins)."""
        interleave = isinstance(o.first, CloneR) and isinstance(o.then, CloneR) and o.then.interleave
        pairs = [(o.first, o.first_action, o.then, o.then_action)]
        if o.symmetrical and o.kind != "Serialize":
            pairs.append((o.then, INVERSE.get(o.then_action, o.then_action),
                          o.first, INVERSE.get(o.first_action, o.first_action)))
        for i, (first, ft, then, tt) in enumerate(pairs):
            if interleave:
                assert isinstance(first, CloneR) and isinstance(then, CloneR)
                for t_inst in then.instances:
                    node = _instance_node(t_inst, tt)
                    for f_inst in first.instances:
                        if node is not None and _instance_node(f_inst, ft) == node:
                            self._order_pair(f_inst, ft, t_inst, tt)
                continue
            if i == 0 and not o.require_all and isinstance(first, CloneR):
                self._one_or_more(o, first, ft, then, tt)
                continue
            self._order_pair(first, ft, then, tt)

    def _order_pair(self, first: Rsc, ft: str, then: Rsc, tt: str) -> None:
        befores = self.completion(first, ft)
        afters = self.initiation(then, tt)
        for b in befores:
            for a in afters:
                self.edge(b, a)
        if ft == "start" and tt == "start" and isinstance(then, Prim) and self.acts.get((then.id, "migrate_to")):
            # 'then' migrates: it begins (migrate_to) once 'first' has started, or, if 'first'
            # migrates too, once it has arrived (migrate_from) -- unless that would wait for
            # then's own stop on the source (the first restarting after it): a cycle.
            if isinstance(first, Prim) and self.acts.get((first.id, "migrate_from")):
                befores = self.acts[(first.id, "migrate_from")]
            for b in befores:
                for a in self.acts[(then.id, "migrate_to")]:
                    self.migration_edges.append((b, a))

    def _reaches(self, src: GraphAction, dst: GraphAction) -> bool:
        out: dict[int, list[int]] = defaultdict(list)
        for b, a in self.graph.edges:
            out[b].append(a)
        stack, seen = [src.id], set()
        while stack:
            i = stack.pop()
            if i == dst.id:
                return True
            if i not in seen:
                seen.add(i)
                stack.extend(out[i])
        return False

    def _one_or_more(self, o: Ord, first: CloneR, ft: str, then: Rsc, tt: str) -> None:
        """require-all=false: 'then' needs any one instance of 'first', not the whole clone."""
        befores = [a for inst in first.instances for a in self.completion(inst, ft)]
        afters = self.initiation(then, tt)
        if not befores or not afters:
            return
        key = f"clone-one-or-more:{o.id}"
        any_of = self.add(key, "one-or-more", "pseudo", rsc=first.id, require_any=True,
                          runnable=any(b.runnable for b in befores), reason=f"order {o.id} (require-all=false)")
        for b in befores:
            if b.runnable:
                self.edge(b, any_of)
        for a in afters:
            self.edge(any_of, a)

    def _fence_sequence(self) -> None:
        """Fences run one at a time in node order unless concurrent-fencing is true; the DC's own
        fence comes last either way (it cannot fence the others after it)."""
        fences = sorted(self.fence_actions, key=lambda f: self.nodes[f.node].order if f.node in self.nodes else 0)
        dc = [f for f in fences if f.node in self.nodes and self.nodes[f.node].attrs.get("#is_dc") == "true"]
        others = [f for f in fences if f not in dc]
        if not self.config.option_bool("concurrent-fencing", False):
            for a, b in zip(others, others[1:], strict=False):
                self.edge(a, b)
            if others:
                for f in dc:
                    self.edge(others[-1], f)
            return
        for f in dc:
            for o in others:
                self.edge(o, f)

    def _drop_edges_from_unrunnable(self) -> None:
        """Pacemaker's graph leaves unrunnable actions out; here they stay (to be shown) but order
        nothing: what truly needs them was made unrunnable by the planner."""
        by_id = self.graph.by_id()
        self.graph.edges = [(b, a) for b, a in self.graph.edges if by_id[b].runnable or not by_id[a].runnable]

    def _starts_after_fencing(self) -> None:
        """A resource that requires fencing starts only once every node where its state is unknown
        (no record of it there) is fenced: it might be running there. Where it is known to run, the
        fence implies its stop, which its start follows already."""
        if not self.fence_actions:
            return
        from corral.scheduler.engine import requires  # engine imports this module
        known: dict[str, set[str]] = {}
        for f in self.fence_actions:
            status = self.state.nodes.get(f.node or "") if self.state is not None else None
            known[f.node or ""] = {rid.split(":")[0] for rid in (status.history if status else {})}
        for p in self.plans:
            if requires(p, self.fencing) != "fencing":
                continue
            for a in self.acts.get((p.id, "start"), []):
                if a.kind != "rsc":
                    continue
                for f in self.fence_actions:
                    if p.base not in known[f.node or ""]:
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
                fences: list[tuple[str, str, str]], nodes: dict[str, NodeRt], fencing: bool,
                state: ClusterState | None = None) -> Graph:
    return GraphBuilder(config, tree, index, plans, fences, nodes, fencing, state).build()


def _instance_node(inst: Rsc, task: str) -> str | None:
    """Where a clone instance does `task`: its next node for start/promote, its current one else."""
    prims = inst.primitives()
    if not prims:
        return None
    p = prims[0]
    if task in ("start", "promote"):
        return p.assigned if p.next_role != STOPPED else None
    return p.current_node
