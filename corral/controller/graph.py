"""A transition's actions as phases of a dependency graph.

Simple and correct before clever: phases run one after another, and within a
phase an action waits for the actions it depends on:

    0 fence
    1 demote, stop                 (what must go away, before anything comes up)
    2 migrate_to, migrate_from, and the stop that ends a migration
    3 start, promote, monitor

Dependencies within a phase: one resource's own sequence (demote before stop,
start before promote before its monitors, migrate_to before migrate_from before
the final stop); order constraints (including a group's implicit ones): the
"then" action after the "first" action, and for symmetrical orders the inverse
(stop "then" before stopping "first"); interleaved clones only per node. An
order edge pointing back into an earlier phase is already satisfied by the
phases; one pointing into a later phase cannot be honoured and is reported.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from corral.model.config import Configuration
from corral.scheduler import Transition
from corral.scheduler.actions import INVERSE, Action
from corral.scheduler.constraints import ConstraintIndex
from corral.scheduler.resources import CloneR, Prim

FENCE, DOWN, MIGRATE, UP = 0, 1, 2, 3
_SEQUENCE = {"demote": 0, "stop": 1, "migrate_to": 2, "migrate_from": 3, "start": 4, "promote": 5, "monitor": 6}


@dataclass(eq=False)
class Step:
    action: Action
    phase: int
    deps: set[Step] = field(default_factory=set)

    @property
    def label(self) -> str:
        a = self.action
        what = f"{a.rsc}_{a.task}" + (f"_{a.interval_ms}" if a.interval_ms else "")
        return f"{what} on {a.node}" if a.rsc else f"fence {a.node}"


@dataclass
class Plan:
    phases: list[list[Step]]
    warnings: list[str]


def _phase(a: Action, migrating: set[str]) -> int:
    if a.task == "fence":
        return FENCE
    if a.task in ("migrate_to", "migrate_from") or (a.task == "stop" and a.rsc in migrating):
        return MIGRATE
    if a.task in ("demote", "stop"):
        return DOWN
    return UP


def build_plan(tr: Transition, config: Configuration, actions: list[Action]) -> Plan:
    migrating = {a.rsc for a in actions if a.task == "migrate_to" and a.rsc}
    steps = [Step(a, _phase(a, migrating)) for a in actions]
    by_rsc: dict[tuple[str, str], list[Step]] = defaultdict(list)  # (rsc, task) -> steps
    per_rsc: dict[str, list[Step]] = defaultdict(list)
    for s in steps:
        if s.action.rsc:
            by_rsc[(s.action.rsc, s.action.task)].append(s)
            per_rsc[s.action.rsc].append(s)
    warnings: list[str] = []

    def depend(later: Step, earlier: Step, why: str) -> None:
        if later is earlier:
            return
        if earlier.phase > later.phase:
            warnings.append(f"cannot order {later.label} after {earlier.label} ({why}): phases run "
                            "fences, demotes/stops, migrations, then starts/promotes")
            return
        if earlier.phase == later.phase:
            later.deps.add(earlier)

    # One resource's own sequence.
    for group in per_rsc.values():
        ordered = sorted(group, key=lambda s: _SEQUENCE.get(s.action.task, 9))
        for i, s in enumerate(ordered):
            for prev in ordered[:i]:
                if _SEQUENCE[prev.action.task] < _SEQUENCE[s.action.task]:
                    depend(s, prev, "same resource")

    # Order constraints, groups included.
    index = ConstraintIndex(config, tr.tree)
    for o in index.orders:
        if o.kind == "Serialize":
            continue
        interleave = isinstance(o.first, CloneR) and isinstance(o.then, CloneR) and o.then.interleave
        pairs = [(o.first_action, o.then_action, o.first.primitives(), o.then.primitives(), False)]
        if o.symmetrical:
            pairs.append((INVERSE.get(o.then_action, o.then_action), INVERSE.get(o.first_action, o.first_action),
                          o.then.primitives(), o.first.primitives(), True))
        for first_task, then_task, firsts, thens, _inverse in pairs:
            before = [s for p in firsts for s in by_rsc.get((p.id, first_task), [])]
            if not before:
                continue
            for t in thens:
                for s in by_rsc.get((t.id, then_task), []):
                    for b in before:
                        if interleave and b.action.node != s.action.node:
                            continue
                        depend(s, b, f"order {o.id}")

    phases = [[s for s in steps if s.phase == ph] for ph in (FENCE, DOWN, MIGRATE, UP)]
    return Plan([p for p in phases if p], warnings)


def prim_of(tr: Transition, rsc: str | None) -> Prim | None:
    r = tr.tree.by_id.get(rsc or "")
    return r if isinstance(r, Prim) else None
