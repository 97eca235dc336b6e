"""The transition graph: what the scheduler hands the controller.

A pure data structure, as Pacemaker's transition graph is: actions (real ones,
run by a node's agent; pseudo-actions, which complete as soon as their inputs
do; fences), and ordering edges "before -> after". The executor fires an action
when every one of its inputs is confirmed (or, for an input set marked
`require_any`, when one of them is). Nothing here refers to the scheduler's
runtime objects: the controller, `corral simulate --save-graph` and the tests
read only this.

Keys follow Pacemaker's `operation_key` so graphs compare with the corpus's
`exp/` files: `RSC_TASK_INTERVAL` for resource actions (`web_start_0`,
`db:1_monitor_10000`), `CLONE_running_0` / `GROUP_stopped_0` for pseudo-actions,
`RSC_pre_notify_start_0` for notifications, `stonith-NODE-reboot` for fences.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal

ActionKind = Literal["rsc", "pseudo", "notify", "fence"]

# Real resource tasks an agent runs.
RESOURCE_TASKS = frozenset({"start", "stop", "promote", "demote", "monitor", "migrate_to", "migrate_from",
                            "notify", "reload", "delete"})


@dataclass
class GraphAction:
    id: int
    key: str                 # Pacemaker's operation_key (see the module docstring)
    task: str                # start, stop, ..., notify; pseudo: running, stopped, promoted, demoted,
    #                          notified, one-or-more, ...; fence: reboot, off, on
    kind: ActionKind
    rsc: str | None = None   # the runtime (instance) id, e.g. "db:1"; None for fences and cluster pseudo-actions
    base: str | None = None  # the configured primitive id ("db")
    node: str | None = None  # where it runs; None for pseudo-actions
    interval_ms: int = 0
    timeout_ms: int = 0
    # What the agent receives as OCF_RESKEY_CRM_meta_<name> (notify_type, notify_start_resource, ...):
    meta: dict[str, str] = field(default_factory=dict)
    runnable: bool = True    # False: it cannot run in this transition (nor can what needs it)
    optional: bool = False   # done only if something needs it
    require_any: bool = False  # its inputs are alternatives: one confirmed input is enough
    reason: str = ""         # why (for the operator and the summary)

    @property
    def is_real(self) -> bool:
        return self.kind in ("rsc", "notify", "fence")


@dataclass
class Graph:
    actions: list[GraphAction] = field(default_factory=list)
    edges: list[tuple[int, int]] = field(default_factory=list)  # (before id, after id)

    def by_id(self) -> dict[int, GraphAction]:
        return {a.id: a for a in self.actions}

    def inputs(self) -> dict[int, set[int]]:
        out: dict[int, set[int]] = {a.id: set() for a in self.actions}
        for before, after in self.edges:
            out[after].add(before)
        return out

    def find(self, key: str, node: str | None = None) -> GraphAction | None:
        for a in self.actions:
            if a.key == key and (node is None or a.node == node):
                return a
        return None

    # -- serialisation --------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({"actions": [asdict(a) for a in self.actions],
                           "edges": [list(e) for e in self.edges]}, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Graph:
        raw = json.loads(text)
        return cls(actions=[GraphAction(**a) for a in raw["actions"]],
                   edges=[(int(b), int(a)) for b, a in raw["edges"]])

    def to_dot(self) -> str:
        """Graphviz, in crm_simulate -D's spirit: real actions boxed, pseudo-actions plain,
        unrunnable actions red, optional ones dashed."""
        lines = ["digraph transition {", "  rankdir=TB;"]
        for a in self.actions:
            label = a.key + (f" {a.node}" if a.node else "")
            style = ["bold"] if a.is_real else ["dashed" if a.optional else "solid"]
            shape = "box" if a.is_real else "ellipse"
            color = "red" if not a.runnable else ("blue" if a.kind == "notify" else "black")
            lines.append(f'  a{a.id} [label="{label}" shape={shape} style="{",".join(style)}" color={color}];')
        for before, after in self.edges:
            lines.append(f"  a{before} -> a{after};")
        lines.append("}")
        return "\n".join(lines) + "\n"
