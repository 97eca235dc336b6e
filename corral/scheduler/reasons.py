"""Why an action is forced or cannot run, as crm_simulate explains it.

Two rules that follow from the action graph:

- A stop waits for the stops ordered before it. A resource whose failure
  blocked it (on-fail=block) cannot stop, so every stop ordered after its stop
  (the inverse of "it then X", an explicit "its stop then X stop", the later
  members of its group) cannot run either: the line keeps its own reason and
  gets "(blocked)".
- A stop forced by a collective first (group, clone) names the first's
  "running" pseudo-action: "unrunnable X running" when X cannot run anywhere
  for reasons of its own (none of its primitives is placed), "required X
  running" when X merely restarts or stops because of something else.
- A resource that could migrate but moves by stop and start because what it is
  ordered after changes explains its move by "unrunnable FIRST stop".
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from corral.model.config import STOPPED
from corral.scheduler.resources import CloneR, GroupR, Prim, Rsc

if TYPE_CHECKING:
    from corral.scheduler.actions import ActionPlanner, Plan
    from corral.scheduler.constraints import Ord


def placed_nowhere(rsc: Rsc) -> bool:
    """Whether none of rsc's primitives has a place to run (before any ordering)."""
    prims = rsc.primitives()
    return bool(prims) and not any(p.assigned is not None and p.next_role != STOPPED for p in prims)


def interleaved(o: Ord) -> bool:
    """Whether o orders instances of two clones pairwise, node by node: a stop it forces
    then has no explanation in crm_simulate's summary."""
    return isinstance(o.first, CloneR) and isinstance(o.then, CloneR) and o.then.interleave


def stop_reason(o: Ord, verb: str) -> str:
    """The explanation of a stop forced by order o's first side doing `verb`."""
    if verb == "running" and isinstance(o.first, (CloneR, GroupR)) and placed_nowhere(o.first):
        return f"unrunnable {o.first.id} {verb}"
    return f"required {o.first.id} {verb}"


def _stop_pairs(o: Ord) -> tuple[Rsc, Rsc] | None:
    """(before, after) when o makes after's stop wait for before's stop."""
    if o.kind != "Mandatory":
        return None
    if o.first_action == "stop" and o.then_action == "stop":
        return o.first, o.then
    if o.symmetrical and o.first_action == "start" and o.then_action == "start":
        return o.then, o.first
    return None


def _stop_blocked(p: Prim, plans: dict[Prim, Plan]) -> bool:
    plan = plans.get(p)
    if plan is None:
        return False
    return p.blocked or (bool(plan.stop_on) and not plan.stop_runnable)


def block_stops(planner: ActionPlanner) -> None:
    """Mark unrunnable every planned stop that waits for a stop that cannot run."""
    plans = planner.plans
    pairs = [pair for o in planner.index.orders if (pair := _stop_pairs(o)) is not None]
    changed = True
    while changed:
        changed = False
        for before, after in pairs:
            blocked = [b for b in before.primitives() if _stop_blocked(b, plans)]
            if not blocked:
                continue
            interleaved = isinstance(before, CloneR) and isinstance(after, CloneR) and after.interleave
            for a in after.primitives():
                plan = plans.get(a)
                if interleaved and not any(set(b.active) & set(a.active) for b in blocked):
                    continue  # interleaved clones wait only for the copy on their own node
                if plan is not None and plan.stop_on and plan.stop_runnable:
                    plan.stop_runnable = False
                    changed = True


def explain_denied_migrations(planner: ActionPlanner) -> None:
    """A migratable resource that moves by stop and start because what it is ordered after
    changes names that first's stop (the raw action, no pseudo-action name). A guest node's
    connection is left unexplained: it follows its container, not an ordering."""
    for p, o in planner.denied_migrations.items():
        plan = planner.plans.get(p)
        node = planner.nodes.get(p.id)
        if plan is None or not plan.start_runnable or plan.reason or (node is not None and node.remote):
            continue
        plan.reason = f"unrunnable {o.first.id} stop"


def _forced_by_order(reason: str) -> bool:
    return reason.startswith(("required ", "unrunnable "))


def explain_group_chains(planner: ActionPlanner) -> None:
    """Members after the first of a group that an ordering forces along with the group are
    explained by their predecessor, as the group's internal orders chain them: a restart
    by the predecessor's start; a stop alternately by its stop and its start (after a
    predecessor stopped by something required, its stop; after one that is unrunnable
    or explained by a stop, its start). A member with an ordering of its own (a guest
    node's container) keeps that one."""
    plans = planner.plans
    groups = {p.group: None for p in plans if p.group is not None}
    for g in groups:
        original = {m: plans[m].reason for m in g.members if m in plans}
        for prev, m in zip(g.members, g.members[1:], strict=False):
            plan, before = plans.get(m), plans.get(prev)
            if plan is None or before is None or not plan.stop_on or not before.stop_on:
                continue
            if not _forced_by_order(plan.reason) or plan.reason != original.get(prev):
                continue
            own = planner.index.orders_to.get(m, [])
            if not any(o.first is prev for o in own) or any(o.first not in g.members for o in own):
                continue  # not chained to its predecessor (ordered=false), or forced on its own
            restart = plan.start_on is not None and plan.start_runnable and plan.start_on in plan.stop_on
            if plan.start_on is not None and plan.start_runnable and not restart:
                continue  # a move: crm_simulate prints no explanation for it
            if restart or before.reason.startswith("unrunnable ") or before.reason.endswith(" stop"):
                plan.reason = f"required {prev.id} start"
            else:
                plan.reason = f"required {prev.id} stop"
