"""The scheduler's public result: ResourceView, plain frozen data about every resource."""
from __future__ import annotations

import dataclasses
import textwrap
import xml.etree.ElementTree as ET

import pytest

from corral.model.cib import parse_cib
from corral.model.cib_status import parse_status
from corral.model.yaml_config import parse_yaml_config
from corral.scheduler import Transition, configured_views, primitives, resolve, schedule

NODE_UP = ('<node_state id="{i}" uname="n{i}" in_ccm="true" crmd="online" join="member" expected="member">'
           '{lrm}</node_state>')


def _op(rid: str, op: str, call: int, rc: int, interval: int = 0) -> str:
    return (f'<lrm_rsc_op id="{rid}_{op}_{interval}" operation="{op}" call-id="{call}" rc-code="{rc}" '
            f'op-status="0" interval="{interval}" transition-key="{call}:1:0:x"/>')


def _lrm(rid: str, ops: str) -> str:
    return (f'<lrm id="1"><lrm_resources><lrm_resource id="{rid}" class="ocf" provider="heartbeat" '
            f'type="Dummy">{ops}</lrm_resource></lrm_resources></lrm>')


RESOURCES = """
<primitive id="a" class="ocf" provider="heartbeat" type="Dummy">
  <instance_attributes id="a-p"><nvpair id="a-p1" name="state" value="/tmp/a"/></instance_attributes>
  <meta_attributes id="a-m"><nvpair id="a-m1" name="target-role" value="Started"/></meta_attributes>
  <operations>
    <op id="a-mon" name="monitor" interval="10s" timeout="33s"/>
    <op id="a-deep" name="monitor" interval="60s">
      <instance_attributes id="a-deep-p"><nvpair id="a-deep-p1" name="OCF_CHECK_LEVEL" value="20"/></instance_attributes>
    </op>
    <op id="a-start" name="start" interval="0" timeout="90s"/>
  </operations>
</primitive>
<group id="g">
  <primitive id="g1" class="ocf" provider="heartbeat" type="Dummy"/>
  <primitive id="g2" class="ocf" provider="heartbeat" type="Dummy"/>
</group>
<clone id="c"><meta_attributes id="c-m"><nvpair id="c-m1" name="clone-max" value="2"/></meta_attributes>
  <primitive id="cp" class="ocf" provider="heartbeat" type="Dummy"/>
</clone>
<clone id="u"><meta_attributes id="u-m"><nvpair id="u-m1" name="clone-max" value="1"/>
  <nvpair id="u-m2" name="globally-unique" value="true"/></meta_attributes>
  <primitive id="up" class="ocf" provider="heartbeat" type="Dummy"/>
</clone>
"""


def _transition(status_n1: str = "") -> Transition:
    status = NODE_UP.format(i=1, lrm=status_n1) + NODE_UP.format(i=2, lrm="")
    xml = textwrap.dedent(f"""
    <cib have-quorum="1"><configuration><crm_config><cluster_property_set id="o">
      <nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
    <nodes><node id="1" uname="n1"/><node id="2" uname="n2"/></nodes><resources>{RESOURCES}</resources>
    <constraints><rsc_location id="l" rsc="a" node="n2" score="100"/></constraints>
    <op_defaults><meta_attributes id="od"><nvpair id="od1" name="timeout" value="45s"/></meta_attributes>
    </op_defaults></configuration><status>{status}</status></cib>""")
    root = ET.fromstring(xml)
    cfg = parse_cib(root, "test")
    return schedule(cfg, parse_status(root, cfg))


def test_a_primitive_carries_its_agent_ops_and_decision() -> None:
    v = _transition().resources["a"]
    assert (v.kind, v.base, v.exec_id, v.parent, v.top, v.clone) == ("primitive", "a", "a", None, "a", None)
    assert (v.rsc_class, v.provider, v.type, v.agent) == ("ocf", "heartbeat", "Dummy", "ocf:heartbeat:Dummy")
    assert dict(v.params) == {"state": "/tmp/a"} and v.target_role == "Started"
    assert (v.assigned, v.next_role, v.start_on, v.stop_on) == ("n2", "Started", "n2", ())
    assert v.scores["n2"] > v.scores["n1"]
    assert not v.active and not v.failed and v.managed and not v.orphan


def test_operation_parameters_and_timeouts() -> None:
    v = _transition().resources["a"]
    assert v.params_for("monitor", 60_000) == {"state": "/tmp/a", "OCF_CHECK_LEVEL": "20"}
    assert v.params_for("monitor", 10_000) == v.params_for("start") == v.params_for() == {"state": "/tmp/a"}
    assert v.timeout_ms("start", 0) == 90_000
    assert v.timeout_ms("stop", 0) == 45_000           # op defaults
    assert v.timeout_ms("monitor", 0) == 33_000        # a probe borrows a monitor's timeout
    assert v.timeout_ms("monitor", 60_000) == 33_000   # so does a monitor with none of its own
    assert [(o.interval_ms, o.timeout_ms) for o in v.recurring_monitors("Started")] == [(10_000, 33_000),
                                                                                       (60_000, 33_000)]


def test_groups_and_clones_name_their_members() -> None:
    res = _transition().resources
    assert res["g"].kind == "group" and res["g"].members == ("g1", "g2")
    assert (res["g2"].group, res["g2"].parent, res["g2"].top) == ("g", "g", "g")
    assert res["c"].kind == "clone" and res["c"].members == ("cp:0", "cp:1")
    inst = res["cp:1"]
    assert (inst.base, inst.exec_id, inst.clone, inst.clone_child, inst.unique) == ("cp", "cp", "c", "cp", False)
    assert res["up:0"].exec_id == "up:0" and res["up:0"].unique   # a unique instance keeps its own id
    assert resolve(res, "cp") is res["c"] and resolve(res, "g1") is res["g1"] and resolve(res, "x") is None
    assert [p.id for p in primitives(res)] == ["a", "g1", "g2", "cp:0", "cp:1", "up:0"]


def test_state_and_orphans_are_read_from_history() -> None:
    running = _op("a", "start", 2, 0) + _op("a", "monitor", 3, 7, 10_000)
    orphan = _lrm("gone", _op("gone", "start", 4, 0)).replace("<lrm_resources>", "<lrm_resources>", 1)
    lrm = _lrm("a", running).replace("</lrm_resources>", orphan.split("<lrm_resources>")[1].split(
        "</lrm_resources>")[0] + "</lrm_resources>")
    res = _transition(lrm).resources
    a = res["a"]
    assert dict(a.active) == {"n1": "Started"} and a.failed
    assert a.stop_on == ("n1",) and a.start_on == "n2"
    gone = res["gone"]
    assert gone.orphan and gone.agent == "ocf:heartbeat:Dummy" and dict(gone.active) == {"n1": "Started"}
    assert primitives(res)[-1] is gone and gone.next_role == "Stopped"


def test_views_are_read_only() -> None:
    v = _transition().resources["a"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.assigned = "n1"  # type: ignore[misc]
    with pytest.raises(TypeError):
        v.params["state"] = "x"  # type: ignore[index]


def test_configured_views_need_no_state() -> None:
    cfg, _ = parse_yaml_config(textwrap.dedent("""\
        nodes: [{name: n1}, {name: n2}, {name: n3}]
        resources:
          - clone: c
            of: {id: p, agent: "ocf:heartbeat:Dummy"}
        """), "cfg.yaml")
    views = configured_views(cfg)
    assert [v.id for v in primitives(views)] == ["p:0", "p:1", "p:2"]   # clone-max defaults to the nodes
    assert {v.exec_id for v in primitives(views)} == {"p"}
    assert all(not v.active and v.assigned is None and v.next_role == "Stopped" for v in views.values())


def test_nodes_are_read_only_views() -> None:
    nodes = _transition().nodes
    assert sorted(nodes) == ["n1", "n2"]
    n1 = nodes["n1"]
    assert (n1.name, n1.online, n1.kind, n1.can_host, n1.unclean) == ("n1", True, "cluster", True, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        n1.online = False  # type: ignore[misc]
