"""The generated layout, planned by Corral's scheduler: a cold start in the guides' order."""
from __future__ import annotations

from pathlib import Path

from corral.model.yaml_state import parse_yaml_state
from corral.scheduler import schedule

from .helpers import loaded, make

STATE = """version: 1
quorum: true
nodes:
  - {name: ctl1, state: online, attributes: {master-galera: 100}}
  - {name: ctl2, state: online, attributes: {master-galera: 100}}
  - {name: ctl3, state: online, attributes: {master-galera: 100}}
"""


def test_cold_start_order_on_every_node(tmp_path: Path) -> None:
    cfg = loaded(tmp_path, make({"fencing.agent": "stonith:fence_dummy"}, services="keystone,glance-api"))
    graph = schedule(cfg, parse_yaml_state(STATE, cfg, "state.yaml")).graph
    inputs = graph.inputs()
    by_id = graph.by_id()

    def ancestors(action_id: int) -> set[int]:
        seen: set[int] = set()
        todo = [action_id]
        while todo:
            for before in inputs[todo.pop()]:
                if before not in seen:
                    seen.add(before)
                    todo.append(before)
        return seen

    def action(prefix: str, task: str, node: str) -> int:
        found = [a.id for a in graph.actions
                 if a.kind == "rsc" and a.task == task and a.node == node and (a.rsc or "").split(":")[0] == prefix]
        assert len(found) == 1, (prefix, task, node, found)
        return found[0]

    for node in ("ctl1", "ctl2", "ctl3"):
        keystone = ancestors(action("keystone", "start", node))
        for first, task in (("galera", "promote"), ("rabbitmq", "start"), ("memcached", "start")):
            assert action(first, task, node) in keystone, f"keystone on {node} does not wait for {first} {task}"
        glance = ancestors(action("glance-api", "start", node))
        assert action("keystone", "start", node) in glance
    vip_node = next(a.node for a in graph.actions if a.kind == "rsc" and a.rsc == "vip" and a.task == "start")
    assert vip_node is not None
    assert action("haproxy", "start", vip_node) in ancestors(action("vip", "start", vip_node))
    # Every controller runs a copy of every clone, Galera promoted on all three.
    promoted = {by_id[i].node for i in by_id if by_id[i].kind == "rsc" and by_id[i].task == "promote"}
    assert promoted == {"ctl1", "ctl2", "ctl3"}
