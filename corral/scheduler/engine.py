"""schedule(configuration, state) -> Transition: the scheduler's one entry point.

A pure function: no I/O, no clock (the state carries `now`), no randomness.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from corral.model.config import PROMOTED, STOPPED, UNPROMOTED, Configuration, TicketDependency
from corral.model.scores import INFINITY
from corral.model.state import ClusterState, NodeStatus, TicketState
from corral.scheduler.actions import Action, ActionPlanner, Plan, summary_lines
from corral.scheduler.constraints import ConstraintIndex
from corral.scheduler.containers import restart_containers, with_filler_fail_counts
from corral.scheduler.discovery import apply_exclusive_discovery
from corral.scheduler.graph import Graph
from corral.scheduler.graph_build import build_graph
from corral.scheduler.history import HistoryUnpacker
from corral.scheduler.nodes import NodeRt, build_nodes
from corral.scheduler.placement import Placer
from corral.scheduler.remote import (
    RemoteMembership,
    expand,
    guest_connections,
    guest_fence_lines,
    mark_kinds,
    remote_order,
    restrict,
)
from corral.scheduler.resources import Prim, ResourceTree
from corral.scheduler.view import NodeView, ResourceView, node_views, views_of


@dataclass
class Placement:
    rsc: str
    node: str | None
    role: str
    current: dict[str, str]
    scores: dict[str, int]
    failed: bool
    reasons: list[str] = field(default_factory=list)


@dataclass
class Transition:
    nodes: dict[str, NodeView]             # as the scheduler saw them (view.py)
    placements: dict[str, Placement]
    fences: list[tuple[str, str, str]]      # (node, action, reason)
    summary: list[tuple[str, str, str]]     # (verb, resource, details)
    actions: list[Action]
    # Every resource (primitive instances, groups, clones, orphans) as plain data: the public
    # result; the runtime tree stays inside the scheduler (view.py).
    resources: dict[str, ResourceView] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    graph: Graph = field(default_factory=Graph)   # the actions and their ordering (graph_build.py)

    def summary_text(self) -> list[str]:
        if not self.summary:
            return []
        w_verb = max(len(v) for v, _, _ in self.summary)
        w_rsc = max(len(r) for _, r, _ in self.summary)
        return [f"  * {v:<{w_verb}} {r:<{w_rsc}} {d}" for v, r, d in self.summary]


def schedule(config: Configuration, state: ClusterState) -> Transition:
    fencing = config.option_bool("stonith-enabled", True)
    config, remote_specs = expand(config, state)
    nodes = build_nodes(config, state, fencing)
    mark_kinds(nodes, remote_specs)
    tree = ResourceTree(config)
    unpacker = HistoryUnpacker(tree, nodes, state, fencing)
    unpacker.run()
    membership = RemoteMembership(remote_specs, nodes, tree, state)
    membership.settle(tree.primitives() + unpacker.orphans, fencing)

    maintenance = config.option_bool("maintenance-mode", False)
    all_prims = tree.primitives() + unpacker.orphans
    for p in all_prims:
        if maintenance or not p.meta_bool("is-managed", True) or p.meta_bool("maintenance", False):
            p.managed = False
        if any(nodes[n].maintenance for n in p.active if n in nodes):
            p.managed = False
    if not config.option_bool("stop-orphan-resources", True):
        for p in unpacker.orphans:  # resources deleted from the configuration: left as they run
            p.managed = False

    quorum_policy = config.option("no-quorum-policy", "stop").lower()
    quorate = state.have_quorum or quorum_policy == "ignore"
    lost = _lost_tickets(config, state, tree)
    if fencing:
        for dep, prims in lost:
            if dep.loss_policy == "fence" and not state.tickets.get(dep.ticket, TicketState()).granted:
                for p in prims:
                    if dep.rsc_role in (None, "Started") or p.current_role == dep.rsc_role:
                        for node in p.active:
                            n = nodes.get(node)
                            if n is not None and not n.unclean:
                                n.unclean, n.unclean_reason = True, "deadman ticket was lost"
    if quorum_policy == "suicide":
        if not quorate and state.quorum_lost and fencing:
            _suicide(nodes)
        quorum_policy = "stop"   # besides fencing itself, an inquorate partition stops everything
    fences = _fencing(nodes, all_prims, fencing, quorate, config)
    membership.after_fencing(fences, _stonith_action(config), all_prims)
    fenced = {n for n, _, _ in fences}
    for p in all_prims:
        if p.failed_stop_nodes and p.active and set(p.active) <= fenced:
            p.blocked = False   # fencing settles what the failed stop could not
            # Fenced for its own failure it is still recovered; fenced for another reason
            # (the node was lost) it simply moves.
            if not any(nodes[n].unclean_reason == f"{p.id} failed there" for n in p.active if n in nodes):
                p.failed = False
        elif fencing and any(n in p.active and n not in fenced for n in p.failed_stop_nodes):
            p.blocked = True    # its stop failed where no fence will settle it: left alone
        elif p.failed and p.active and set(p.active) <= fenced and all(
                n in nodes and not nodes[n].remote and nodes[n].unclean_reason != f"{p.id} failed there"
                for n in p.active):
            # Failed only on cluster nodes that a fence for another reason stops: it moves.
            # (On a fenced guest node it is recovered: the guest's fence restarts its container.)
            p.failed = False
    membership.keep_container_failures()

    freeze = not quorate and quorum_policy in ("freeze", "demote")
    can_start = quorate or quorum_policy == "stop"   # with "stop", placement is shown but starts block
    index = ConstraintIndex(config, tree)
    restart_containers(all_prims, tree.by_id)
    placer = Placer(config, tree, nodes, index, with_filler_fail_counts(
        unpacker.fail_counts, all_prims, state, guest_connections(remote_specs)),
                    datetime.fromtimestamp(state.now) if state.now else None, can_start, freeze)
    placer.compute_base_scores()
    restrict(placer.base, remote_specs, nodes)
    apply_exclusive_discovery(placer.base, index, nodes, placer.now)
    _apply_tickets(lost, placer, state)
    if config.option_bool("stop-all-resources", False):
        _stop_everything(placer)
    membership.place_connections(placer)
    placer.allocate_all()
    remote_order(index, remote_specs, tree, all_prims)
    for p in unpacker.orphans:
        p.next_role, p.assigned = (STOPPED, None) if p.managed else (p.current_role, p.current_node)

    planner = ActionPlanner(tree, index, nodes, fenced)
    planner.plans = {}
    plans = planner.build()
    if not quorate:
        _no_quorum(plans, fencing, quorum_policy)
    _wait_for_probes(plans, nodes, state)
    for p in unpacker.orphans:
        if p not in plans:
            plans[p] = planner._initial(p)
    summary = guest_fence_lines(summary_lines(plans, fences), remote_specs, tree)
    placements = {p.id: Placement(rsc=p.id, node=p.assigned if p.next_role != STOPPED else None,
                                  role=p.next_role, current=dict(p.active), scores=dict(p.scores),
                                  failed=p.failed, reasons=list(p.reasons))
                  for p in plans}
    graph = build_graph(config, tree, index, plans, fences, nodes, fencing, state)
    return Transition(nodes=node_views(nodes), placements=placements, fences=fences, summary=summary,
                      actions=_actions(plans, fences), resources=views_of(tree, unpacker.orphans, plans),
                      graph=graph)


def _lost_tickets(config: Configuration, state: ClusterState,
                  tree: ResourceTree) -> list[tuple[TicketDependency, list[Prim]]]:
    out = []
    for dep in config.tickets:
        ticket = state.tickets.get(dep.ticket, TicketState())
        if ticket.granted and not ticket.standby:
            continue
        rsc = tree.resolve(dep.rsc)
        if rsc is not None:
            out.append((dep, rsc.primitives()))
    return out


def _apply_tickets(lost: list[tuple[TicketDependency, list[Prim]]], placer: Placer, state: ClusterState) -> None:
    """A resource whose ticket is not held may not run (or, for a role, not be promoted).

    A revoked ticket applies the loss-policy to what is running; a ticket in standby,
    or one never granted, keeps the resource from running (or only from being
    promoted, when the dependency is on the promoted role and the policy is not stop).
    """
    for dep, prims in lost:
        ticket = state.tickets.get(dep.ticket, TicketState())
        active = any(p.active for p in prims)
        promoted_only = dep.rsc_role == PROMOTED
        ban = freeze = False
        if not ticket.granted and active:
            policy = dep.loss_policy
            if policy == "freeze":
                freeze = True
            elif policy in ("demote", "fence") and promoted_only:
                ban = False  # only the promoted instances go: demoted, or with their node
            else:
                ban = True
        elif not promoted_only or dep.loss_policy == "stop":
            ban = True
        for p in prims:
            if promoted_only:
                placer.no_promote.add(p)
            if not (ban or freeze):
                continue
            scores = placer.base[p]
            for node in list(placer.nodes):
                if freeze and node in p.active:
                    continue
                scores[node] = -INFINITY


def _suicide(nodes: dict[str, NodeRt]) -> None:
    """no-quorum-policy=suicide after quorum was lost: every node of the partition is fenced."""
    for n in nodes.values():
        if n.online and not n.unclean:
            n.unclean, n.unclean_reason = True, "cluster does not have quorum"


def _stop_everything(placer: Placer) -> None:
    """stop-all-resources=true: no resource may run anywhere (unmanaged ones stay as they are)."""
    for scores in placer.base.values():
        for node in list(scores):
            scores[node] = -INFINITY


def requires(p: Prim, fencing: bool) -> str:
    """What must be true before p may start (Pacemaker's `requires` meta attribute)."""
    value = p.meta.get("requires")
    if value:
        return value
    if p.cfg is not None and p.cfg.rsc_class == "stonith":
        return "quorum"
    return "fencing" if fencing else "quorum"


def _no_quorum(plans: dict[Prim, Plan], fencing: bool, policy: str) -> None:
    """Without quorum nothing that needs quorum may start; with policy 'stop' it stops too;
    with 'demote' promoted instances are demoted (left running) and everything else stops."""
    for p, plan in plans.items():
        if not p.managed or p.blocked or requires(p, fencing) == "nothing":
            continue
        if plan.start_on is not None:
            plan.start_runnable = False
            plan.reason = "no quorum"
        if policy == "demote" and p.is_promotable_instance and p.active:
            plan.promote = False
            if p.current_role == PROMOTED:
                plan.demote = True
                p.next_role = UNPROMOTED
            continue
        if policy in ("stop", "demote") and p.active:
            if not plan.stop_on:  # a stop planned already (its node is lost) keeps its own reason
                plan.reason = "no quorum"
            plan.stop_on = list(p.active)
            if p.assigned is not None and p.next_role != STOPPED:
                plan.start_on = p.assigned
                plan.start_runnable = False


def _wait_for_probes(plans: dict[Prim, Plan], nodes: dict[str, NodeRt], state: ClusterState) -> None:
    """A resource stopped everywhere may be active, for all anyone knows, on a node that is up
    but has not joined yet (join=pending): it cannot be probed there, so it may not start
    anywhere until it has been (crm_simulate: `Start R ( node ) blocked`)."""
    joining = [n for n, rt in nodes.items() if rt.joining and n in state.nodes]
    if not joining:
        return
    for p, plan in plans.items():
        if p.cfg is None or p.active or plan.start_on is None or not plan.start_runnable:
            continue
        if any(not _probed(state.nodes[n], p.cfg.id) for n in joining):
            plan.start_runnable, plan.unprobed = False, True


def _probed(st: NodeStatus, rsc: str) -> bool:
    return any(rid.split(":")[0] == rsc and hist.ops for rid, hist in st.history.items())


def _stonith_action(config: Configuration) -> str:
    action = config.option("stonith-action", "reboot")
    return "off" if action == "poweroff" else action


def _fencing(nodes: dict[str, NodeRt], prims: list[Prim], fencing: bool, quorate: bool,
             config: Configuration) -> list[tuple[str, str, str]]:
    action = config.option("stonith-action", "reboot")
    if action == "poweroff":
        action = "off"
    if fencing:
        for p in prims:
            for node in sorted(p.failed_stop_nodes):
                n = nodes.get(node)
                if n is not None and not n.unclean and p.on_fail == "fence":
                    n.unclean, n.unclean_reason = True, f"{p.id} failed there"
            if p.failed and p.on_fail == "fence":
                for node in p.active:
                    n = nodes.get(node)
                    if n is not None and not n.unclean:
                        n.unclean, n.unclean_reason = True, f"{p.id} failed there"
            if p.managed:
                for node in p.active:
                    n = nodes.get(node)
                    if n is not None and not n.online and not n.unclean:
                        n.unclean, n.unclean_reason = True, f"{p.id} is thought to be active there"
    out: list[tuple[str, str, str]] = []
    for n in nodes.values():
        if n.unclean:
            member = n.online
            n.online = False
            # Without quorum only a member of this partition known to be in trouble is fenced;
            # a node outside it (never seen, or offline with a failure recorded) may be in the
            # quorate partition, which decides about it.
            if fencing and (quorate or (member and n.unclean_reason != "node is unclean")):
                out.append((n.name, action, n.unclean_reason))
    return out


def _actions(plans: dict[Prim, Plan], fences: list[tuple[str, str, str]]) -> list[Action]:
    out = [Action(task="fence", rsc=None, node=n, reason=r) for n, _a, r in fences]
    for p, plan in plans.items():
        if plan.migrate and plan.start_on:
            src = plan.stop_on[0]
            out.append(Action("migrate_to", p.id, src, p.base))
            out.append(Action("migrate_from", p.id, plan.start_on, p.base))
            out.append(Action("stop", p.id, src, p.base))
            continue
        if plan.demote:
            out.append(Action("demote", p.id, p.current_node or "", p.base))
        for node in plan.stop_on:
            out.append(Action("stop", p.id, node, p.base, runnable=plan.stop_runnable))
        if plan.start_on:
            out.append(Action("start", p.id, plan.start_on, p.base, runnable=plan.start_runnable))
        if plan.promote and p.assigned:
            out.append(Action("promote", p.id, p.assigned, p.base, runnable=plan.promote_runnable))
        if p.assigned and p.next_role != STOPPED and p.cfg is not None and (plan.start_on or plan.promote
                                                                          or plan.demote):
            for op in p.cfg.ops:
                if op.name == "monitor" and op.interval_ms > 0 and op.enabled:
                    want = op.role or None
                    if want in (None, p.next_role) or (want == "Unpromoted" and p.next_role != PROMOTED):
                        out.append(Action("monitor", p.id, p.assigned, p.base, interval_ms=op.interval_ms))
    return out
