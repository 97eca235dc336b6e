"""From placement to actions: what must stop, start, promote, demote, migrate,
which of those are forced by order constraints, and which cannot run."""
from __future__ import annotations

from dataclasses import dataclass, field

from corral.model.config import PROMOTED, STARTED, STOPPED, UNPROMOTED
from corral.model.scores import INFINITY
from corral.scheduler.clone_orders import clone_min, unrunnable_reason
from corral.scheduler.constraints import ConstraintIndex, Ord
from corral.scheduler.nodes import NodeRt
from corral.scheduler.reasons import (
    block_stops,
    explain_denied_migrations,
    explain_group_chains,
    interleaved,
    stop_reason,
)
from corral.scheduler.resources import CloneR, GroupR, Prim, ResourceTree, Rsc

INVERSE = {"start": "stop", "promote": "demote", "stop": "start", "demote": "promote"}


def action_name(rsc: Rsc, action: str) -> str:
    """How crm_simulate names a resource's action in its explanations."""
    if isinstance(rsc, (GroupR, CloneR)):
        return {"start": "running", "stop": "stopped", "promote": "promoted", "demote": "demoted"}.get(action, action)
    return action


@dataclass
class Plan:
    """What one primitive will do."""
    prim: Prim
    stop_on: list[str] = field(default_factory=list)
    start_on: str | None = None
    promote: bool = False
    demote: bool = False
    migrate: bool = False
    start_runnable: bool = True
    stop_runnable: bool = True
    promote_runnable: bool = True
    reason: str = ""
    unexplained: bool = False   # forced by an interleaved clone's instance: crm_simulate names no reason
    unprobed: bool = False      # its state on a joining node is unknown: the start waits, unexplained

    @property
    def start(self) -> bool:
        return self.start_on is not None


@dataclass
class Action:
    """One step of the transition, for the executor."""
    task: str            # start, stop, promote, demote, migrate_to, migrate_from, monitor, fence
    rsc: str | None      # the runtime (instance) id
    node: str
    base: str | None = None   # the configured primitive id
    interval_ms: int = 0
    runnable: bool = True
    reason: str = ""


class ActionPlanner:
    def __init__(self, tree: ResourceTree, index: ConstraintIndex, nodes: dict[str, NodeRt],
                 fenced: set[str]) -> None:
        self.tree = tree
        self.index = index
        self.nodes = nodes
        self.fenced = fenced
        self.plans: dict[Prim, Plan] = {}
        self.denied_migrations: dict[Prim, Ord] = {}   # a migratable move by stop/start: why

    def build(self) -> dict[Prim, Plan]:
        prims = self.tree.primitives() + [p for p in self.tree.by_id.values()
                                          if isinstance(p, Prim) and p.orphan and p.parent is None]
        seen: set[Prim] = set()
        for p in prims:
            if p in seen:
                continue
            seen.add(p)
            self.plans[p] = self._initial(p)
        self._migrations()
        self._propagate()
        self._runnability()
        block_stops(self)
        explain_denied_migrations(self)
        explain_group_chains(self)
        self._block_restarts()
        return self.plans

    def _block_restarts(self) -> None:
        """A restart whose stop cannot run cannot start either (the start waits for the stop):
        it is shown as a blocked stop. In a group the first such member names the stop of the
        member after it ("unrunnable NEXT stop"), the later ones their predecessor's stop."""
        blocked = [p for p, plan in self.plans.items() if plan.start_on is not None
                   and plan.start_on in plan.stop_on and not plan.stop_runnable]
        for p in blocked:
            self.plans[p].start_runnable = False
        for g in {p.group: None for p in blocked if p.group is not None}:
            prev: Prim | None = None
            for i, m in enumerate(g.members):
                if m not in blocked:
                    prev = None
                    continue
                if prev is not None:
                    self.plans[m].reason = f"required {prev.id} stop"
                elif i + 1 < len(g.members):
                    self.plans[m].reason = f"unrunnable {g.members[i + 1].id} stop"
                prev = m

    def _initial(self, p: Prim) -> Plan:
        plan = Plan(prim=p)
        if p.blocked:
            # Its failure blocked it: neither its recovery's stop nor its start can run.
            plan.start_runnable = plan.stop_runnable = False
        if not p.managed or p.blocked:
            return plan
        nxt = p.assigned if p.next_role != STOPPED else None
        cur = list(p.active)
        multiple = p.meta.get("multiple-active", "stop_start")
        if len(cur) > 1 and multiple == "block":
            return plan
        if len(cur) > 1 and multiple == "stop_only":
            nxt = None
            p.next_role = STOPPED
        for node in cur:
            if node != nxt or p.failed or len(cur) > 1 or node in p.redefined or node in p.uncertain \
                    or node in p.agent_changed or node in p.restart_on:
                plan.stop_on.append(node)
        if nxt is not None and (nxt not in cur or nxt in plan.stop_on):
            plan.start_on = nxt
            # crm_simulate explains a changed definition, not a changed agent.
            if nxt in p.redefined and not p.failed and nxt not in p.agent_changed:
                plan.reason = "resource definition change"
        cur_role = p.current_role
        # on-fail=demote: the failed promoted instance is demoted, and promoted again
        # where the promotion choice still puts it ("Re-promote").
        if p.next_role == PROMOTED and (cur_role != PROMOTED or plan.start or p.demote_on_fail):
            plan.promote = True
        if cur_role == PROMOTED and (p.next_role != PROMOTED or plan.stop_on or p.demote_on_fail):
            plan.demote = True
        for node in cur:
            n = self.nodes.get(node)
            if n is not None and n.unclean and node not in self.fenced:
                plan.stop_runnable = False
        return plan

    # -- order propagation ---------------------------------------------------------
    def _prims(self, rsc: Rsc) -> list[Prim]:
        return rsc.primitives()

    def required(self, p: Prim, task: str) -> bool:
        plan = self.plans.get(p)
        if plan is None:
            return False
        if plan.migrate and task in ("start", "stop"):
            return False  # a live migration keeps the service up: nothing after it restarts
        if task == "start":
            return plan.start
        if task == "stop":
            return bool(plan.stop_on)
        if task == "promote":
            return plan.promote
        if task == "demote":
            return plan.demote
        return False

    def _require(self, p: Prim, task: str) -> bool:
        """Force p's task; returns True if anything changed."""
        plan = self.plans.get(p)
        if plan is None or not p.managed or p.blocked:
            return False
        nxt = p.assigned if p.next_role != STOPPED else None
        if task == "start":
            if plan.start or nxt is None:
                return False
            plan.start_on = nxt
            if nxt in p.active and nxt not in plan.stop_on:
                plan.stop_on.append(nxt)
            if p.next_role == PROMOTED:
                plan.promote = True
            if p.current_role == PROMOTED:
                plan.demote = True
            return True
        if task == "stop":
            if plan.stop_on or not p.active:
                return False
            plan.stop_on = list(p.active)
            if p.current_role == PROMOTED:
                plan.demote = True
            if nxt is not None:
                plan.start_on = nxt
                if p.next_role == PROMOTED:
                    plan.promote = True
            return True
        if task == "promote":
            if plan.promote or p.next_role != PROMOTED:
                return False
            plan.promote = True
            if p.current_role == PROMOTED:
                plan.demote = True
            return True
        if task == "demote":
            if plan.demote or p.current_role != PROMOTED:
                return False
            plan.demote = True
            if p.next_role == PROMOTED:
                plan.promote = True
            return True
        return False

    def _pairs(self, o: Ord) -> list[tuple[list[Prim], list[Prim]]]:
        """Which primitives of 'first' each primitive of 'then' depends on."""
        firsts = self._prims(o.first)
        thens = self._prims(o.then)
        if isinstance(o.first, CloneR) and isinstance(o.then, CloneR) and o.then.interleave \
                and not clone_min(o):
            out = []
            for t in thens:
                node = t.assigned or t.current_node
                same = [f for f in firsts if (f.assigned or f.current_node) == node]
                out.append((same, [t]))
            return out
        if isinstance(o.first, GroupR) and o.first_action == "start":
            firsts = firsts  # any member starting restarts what follows the group
        return [(firsts, thens)]

    def _propagate(self) -> None:
        mandatory = [o for o in self.index.orders if o.kind == "Mandatory" or _restarts_with_first(o)]
        changed = True
        rounds = 0
        while changed and rounds < 50:
            changed = False
            rounds += 1
            for o in mandatory:
                for firsts, thens in self._pairs(o):
                    if clone_min(o):
                        pass  # the then side follows the count of instances, not each one starting
                    elif self._first_forces(o, firsts, thens):
                        for t in thens:
                            if o.then_action in ("start", "promote") and self._restartable(t, o.then_action):
                                if self._require(t, o.then_action):
                                    changed = True
                                    self._explain(t, f"required {o.first.id} {action_name(o.first, o.first_action)}")
                    if o.symmetrical and not clone_min(o) and o.kind == "Mandatory":
                        inv_first = INVERSE.get(o.first_action, o.first_action)
                        inv_then = INVERSE.get(o.then_action, o.then_action)
                        if self._first_forces_inverse(o, firsts, thens, inv_first):
                            for t in thens:
                                if inv_then in ("stop", "demote") and self._require(t, inv_then):
                                    changed = True
                                    if interleaved(o):
                                        self.plans[t].unexplained = not self.plans[t].reason
                                    else:
                                        self._explain(t, stop_reason(o, action_name(o.first, o.first_action)))

    def _collective_first(self, o: Ord) -> bool:
        return isinstance(o.first, CloneR) and not (isinstance(o.then, CloneR) and o.then.interleave)

    def _first_forces(self, o: Ord, firsts: list[Prim], thens: list[Prim]) -> bool:
        """Whether 'first' doing its action forces 'then' to do its action too.

        A clone's copies starting on other nodes don't restart what follows the
        clone (it was already running after the clone); a copy restarting does, and
        so does the clone starting from nothing.
        """
        if self._collective_first(o) and any(f.active for f in firsts):
            firsts = self._beyond_recoveries(firsts, thens)
            return any(self.required(f, o.first_action) and f.active for f in firsts)
        return any(self.required(f, o.first_action) for f in firsts)

    @staticmethod
    def _beyond_recoveries(firsts: list[Prim], thens: list[Prim]) -> list[Prim]:
        """A clone's copies without those recovering in place from a failure, on a node where
        nothing ordered after the clone runs, while another copy keeps running: Pacemaker then
        plans only the copy's recovery (the lab's VIP stays up while a service copy elsewhere
        recovers; a copy recovering on the VIP's own node restarts the VIP)."""
        if not any(f.active and not f.failed for f in firsts):
            return firsts
        then_nodes = {n for t in thens for n in (t.assigned, *t.active) if n}
        return [f for f in firsts
                if not (f.failed and f.assigned is not None and f.assigned in f.active
                        and f.assigned not in then_nodes)]

    def _first_forces_inverse(self, o: Ord, firsts: list[Prim], thens: list[Prim], inv_first: str) -> bool:
        if self._collective_first(o):
            # Only when the clone stops everywhere (or restarts in place) must 'then' stop first.
            firsts = self._beyond_recoveries(firsts, thens)
            staying = [f for f in firsts if f.assigned is not None and f.next_role != STOPPED]
            if staying and not any(f.active and f.assigned in f.active and self.required(f, inv_first)
                                   for f in firsts):
                return False
        return any(self.required(f, inv_first) for f in firsts)

    def _explain(self, p: Prim, reason: str) -> None:
        plan = self.plans.get(p)
        if plan is not None and not plan.reason:
            plan.reason = reason

    def _restartable(self, t: Prim, task: str) -> bool:
        if task == "start":
            return t.assigned is not None and t.next_role != STOPPED
        return t.next_role == PROMOTED

    # -- runnability -----------------------------------------------------------------
    def _will_be(self, rsc: Rsc, action: str) -> bool:
        """Whether rsc's 'action' (start -> running, promote -> promoted) can happen."""
        prims = self._prims(rsc)
        if action == "start":
            if isinstance(rsc, CloneR):
                # A clone runs when one of its instances does; a group instance runs only whole.
                return any(self._will_be(inst, action) for inst in rsc.instances)
            ok = [p for p in prims if p.assigned is not None and p.next_role != STOPPED
                  and self.plans.get(p, Plan(p)).start_runnable]
            return len(ok) == len(prims) and bool(prims)
        if action == "promote":
            return any(p.next_role == PROMOTED and self.plans.get(p, Plan(p)).promote_runnable for p in prims)
        return True

    def _runnable_instances(self, clone: Rsc) -> int:
        """How many of a clone's instances will be running (placed, and able to start)."""
        assert isinstance(clone, CloneR)
        return sum(1 for inst in clone.instances
                   if all(p.assigned is not None and p.next_role != STOPPED
                          and self.plans.get(p, Plan(p)).start_runnable for p in inst.primitives()))

    def _runnability(self) -> None:
        changed = True
        rounds = 0
        while changed and rounds < 50:
            changed = False
            rounds += 1
            for o in self.index.orders:
                if o.kind != "Mandatory" or o.first_action not in ("start", "promote"):
                    continue
                need = clone_min(o)
                interleaved = isinstance(o.first, CloneR) and isinstance(o.then, CloneR) and o.then.interleave
                for firsts, thens in self._pairs(o):
                    if need:
                        ok = self._runnable_instances(o.first) >= need
                    elif interleaved:
                        ok = any(f.assigned is not None and f.next_role != STOPPED
                                 and self.plans.get(f, Plan(f)).start_runnable
                                 and (o.first_action != "promote" or f.next_role == PROMOTED) for f in firsts)
                    else:
                        ok = self._will_be(o.first, o.first_action)
                    if ok:
                        continue
                    for t in thens:
                        plan = self.plans.get(t)
                        if plan is None:
                            continue
                        if o.then_action == "start" and plan.start_runnable:
                            plan.start_runnable = False
                            if need:
                                plan.reason = unrunnable_reason(o)
                            elif interleaved:
                                peer = next((f for f in firsts if f.assigned is not None
                                             and f.next_role != STOPPED), None)
                                if peer is not None and not plan.reason:
                                    plan.reason = f"unrunnable {peer.id} {action_name(peer, o.first_action)}"
                                else:
                                    # no peer instance on its node: crm_simulate names no reason
                                    # for the stop and leaves an inactive instance's start out
                                    plan.unexplained = plan.unexplained or not plan.reason
                            elif not ((plan.reason or plan.unexplained) and t.active):  # a stop explained stays so
                                plan.reason = f"unrunnable {o.first.id} {action_name(o.first, o.first_action)}"
                            changed = True
                            if (o.symmetrical and t.active and t.managed and not t.blocked
                                    and not plan.stop_on):
                                # It cannot be running without what it needs: stop it.
                                plan.stop_on = list(t.active)
                                if t.assigned is not None and t.next_role != STOPPED:
                                    plan.start_on = t.assigned
                        elif o.then_action == "promote" and plan.promote_runnable:
                            plan.promote_runnable = False
                            changed = True
            changed = self._colocated_runnability() or changed

    def _colocated_runnability(self) -> bool:
        """A mandatory colocation with a primitive whose wanted start cannot run makes the
        dependent's start unrunnable too ("due to colocation with X"): it stops where it runs.
        Group-internal colocations are left to the group's own order."""
        changed = False
        for c in self.index.colocs:
            if c.score < INFINITY or c.id.endswith("-internal") or not isinstance(c.primary, Prim):
                continue
            if c.primary_role not in (None, STARTED) or isinstance(c.dependent, CloneR):
                continue
            primary = self.plans.get(c.primary)
            if primary is None or primary.start_on is None or primary.start_runnable:
                continue
            for t in self._prims(c.dependent):
                plan = self.plans.get(t)
                if plan is None or not plan.start_runnable or not t.managed or t.blocked:
                    continue
                plan.start_runnable = False
                changed = True
                if not ((plan.reason or plan.unexplained) and t.active):
                    plan.reason = f"colocation with {c.primary.id}"
                if t.active and not plan.stop_on:
                    plan.stop_on = list(t.active)
                    if t.assigned is not None and t.next_role != STOPPED:
                        plan.start_on = t.assigned
        return changed

    # -- migration -----------------------------------------------------------------------
    def _changes(self, f: Prim) -> bool:
        plan = self.plans.get(f)
        if plan is None:
            return False
        if f.clone is not None:
            return plan.start_on is not None  # instances stopping elsewhere don't matter; starting ones do
        moving = plan.start_on is not None and f.meta_bool("allow-migrate", False) and not f.failed \
            and len(f.active) == 1
        return bool(plan.stop_on) and not moving
    def _migrations(self) -> None:
        for p, plan in self.plans.items():
            if not p.meta_bool("allow-migrate", False) or p.clone is not None:
                continue
            if p.failed or p.migration_blocked or len(p.active) != 1 or plan.start_on is None:
                continue
            src = p.current_node
            if src is None or src == plan.start_on or src in self.fenced:
                continue
            n = self.nodes.get(src)
            if n is None or not n.online or n.unclean:
                continue
            blocker = next((o for o in self.index.orders_to.get(p, []) if o.kind == "Mandatory"
                            and any(self._changes(f) for f in self._prims(o.first))), None)
            if blocker is not None:
                # What it depends on restarts: a live migration cannot be ordered after it.
                self.denied_migrations[p] = blocker
                continue
            plan.migrate = True


def role_shown(p: Prim) -> bool:
    return p.current_role in (UNPROMOTED, PROMOTED) or p.next_role == PROMOTED


def summary_lines(plans: dict[Prim, Plan], fences: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """(verb, resource, details) tuples in crm_simulate's Transition Summary shape."""
    out: list[tuple[str, str, str]] = []
    for node, action, reason in fences:
        out.append((f"Fence ({action})", node, f"'{reason}'"))
    for p, plan in plans.items():
        line = _line(p, plan)
        if line is not None:
            out.append(line)
        if len(p.active) > 1 and (p.next_role == STOPPED or p.assigned is None):
            # Active in several places and going nowhere: every copy stops.
            main = line[2] if line is not None else ""
            for node in plan.stop_on:
                if f" {node} " not in main:
                    out.append(("Stop", p.id, f"( {_with_role(p.active[node], node, role_shown(p))} )"
                                              " due to node availability"))
    return out


def _restarts_with_first(o: Ord) -> bool:
    """An Optional start order whose `then` has the (deprecated) meta `restart-type=restart`
    restarts it whenever `first` (re)starts, as a Mandatory order would."""
    return (o.kind == "Optional" and o.first_action == "start" and o.then_action == "start"
            and all(p.meta.get("restart-type") == "restart" for p in o.then.primitives()))


def _role_name(role: str) -> str:
    return "Unpromoted" if role == STARTED else role


def _line(p: Prim, plan: Plan) -> tuple[str, str, str] | None:
    cur_nodes = list(p.active)
    nxt = p.assigned if p.next_role != STOPPED else None
    show_role = role_shown(p)
    cur_role = p.current_role
    if not plan.stop_on and not plan.start and not plan.promote and not plan.demote:
        return None
    if plan.start and not plan.start_runnable:
        if cur_nodes and plan.stop_on:
            node = plan.stop_on[0]
            why = "" if plan.unexplained and not plan.reason else f" due to {plan.reason or 'node availability'}"
            if not plan.stop_runnable and why:
                why += " (blocked)"
            return ("Stop", p.id, f"( {_with_role(cur_role, node, show_role)} ){why}")
        if not cur_nodes:
            if plan.unprobed and not plan.reason:
                return ("Start", p.id, f"( {nxt} ) blocked")
            if p.next_role == PROMOTED and plan.reason == "no quorum":
                # crm_simulate shows the promotion, blocked, without the reason
                return ("Promote", p.id, f"( Stopped -> Promoted {nxt} ) blocked")
            if plan.unexplained and not plan.reason:
                return None
            return ("Start", p.id, f"( {nxt} ) due to {plan.reason or 'unrunnable dependency'} (blocked)")
    if not cur_nodes:
        if nxt is None:
            return None
        if p.next_role == PROMOTED:
            return ("Promote", p.id, f"( Stopped -> Promoted {nxt} )")
        return ("Start", p.id, f"( {nxt} )")
    cur = cur_nodes[0] if nxt not in cur_nodes else nxt
    if nxt is None:
        why = "no quorum" if plan.reason == "no quorum" else "node availability"
        suffix = f" due to {why}" if plan.stop_runnable else f" due to {why} (blocked)"
        return ("Stop", p.id, f"( {_with_role(cur_role, cur, show_role)} ){suffix}")
    if cur != nxt:
        verb = "Migrate" if plan.migrate else ("Recover" if p.failed else "Move")
        why = f" due to {plan.reason}" if plan.reason and verb == "Move" else ""
        if show_role:
            return (verb, p.id, f"( {_role_name(cur_role)} {cur} -> {_role_name(p.next_role)} {nxt} ){why}")
        return (verb, p.id, f"( {cur} -> {nxt} ){why}")
    # Same node.
    restarting = cur in plan.stop_on
    if restarting:
        verb = "Recover" if p.failed else "Restart"
        why = f" due to {plan.reason}" if plan.reason and not p.failed else ""
        if p.next_role != cur_role and show_role and cur_role != PROMOTED:
            return (verb, p.id, f"( {_role_name(cur_role)} -> {_role_name(p.next_role)} {cur} )")
        if p.next_role == PROMOTED and cur_role == PROMOTED and not p.failed and plan.demote and not restarting:
            return ("Re-promote", p.id, f"( Promoted {cur} )")
        return (verb, p.id, f"( {_with_role(cur_role, cur, show_role)} ){why}")
    if plan.promote and plan.demote:
        return ("Re-promote", p.id, f"( Promoted {cur} )")
    if plan.promote:
        suffix = "" if plan.promote_runnable else " blocked"
        return ("Promote", p.id, f"( {_role_name(cur_role)} -> Promoted {cur} ){suffix}")
    if plan.demote:
        return ("Demote", p.id, f"( Promoted -> {_role_name(p.next_role)} {cur} )")
    return None


def _with_role(role: str, node: str, show: bool) -> str:
    return f"{_role_name(role)} {node}" if show else node
