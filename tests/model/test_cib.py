"""Pacemaker CIB import (corral.model.cib + load + validate) on real Pacemaker regression CIBs."""
from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from corral.model.cib import parse_cib
from corral.model.config import Clone, Primitive
from corral.model.errors import ConfigError
from corral.model.load import detect_format, load, load_config, load_state
from corral.model.state import EXEC_ERROR

from .conftest import CIB_DIR, CONFORMANCE_XML, EXAMPLES


def test_promotable_clone_with_role_rule() -> None:
    cfg = load_config(CIB_DIR / "promoted-1.xml")
    (clone,) = cfg.resources
    assert isinstance(clone, Clone) and clone.promotable and clone.id == "rsc1"
    assert isinstance(clone.child, Primitive) and clone.child.agent == "ocf:heartbeat:apache"
    assert clone.meta["promoted-max"] == "2" and clone.meta["globally-unique"] == "true"
    (loc,) = cfg.locations
    (rule,) = loc.rules
    assert (loc.rsc, rule.score, rule.role) == ("rsc1", 100, "Promoted")
    assert rule.matches({"#uname": "node2"}) and not rule.matches({"#uname": "node1"})


def test_order_sets_expand_pairwise() -> None:
    cfg = load_config(CIB_DIR / "ordered-set-basic-startup.xml")
    pairs = {(o.first, o.then) for o in cfg.orders}
    # {B C} (unordered) -> A -> {D E} (unordered) -> F
    assert pairs == {("B", "A"), ("C", "A"), ("A", "D"), ("A", "E"), ("D", "F"), ("E", "F")}
    assert {o.id for o in cfg.orders} == {"order-1"}


def test_status_section_with_a_failed_monitor() -> None:
    loaded = load(CIB_DIR / "rec-rsc-2.xml")
    assert loaded.format == "cib" and loaded.state is not None
    node1 = loaded.state.nodes["node1"]
    assert node1.in_cluster and node1.agent_online
    ops = node1.history["rsc1"].ops
    assert [(o.op, o.interval_ms, o.rc, o.op_status) for o in ops] == [("start", 0, 0, 0),
                                                                     ("monitor", 1, 1, EXEC_ERROR)]
    assert load_state(CIB_DIR / "rec-rsc-2.xml", loaded.config).nodes["node1"].history.keys() == {"rsc1"}


CIBS = sorted(CIB_DIR.glob("*.xml")) + sorted(CONFORMANCE_XML.glob("*.xml")) + [EXAMPLES / "three-node.xml"]


@pytest.mark.parametrize("path", CIBS, ids=lambda p: p.name)
def test_pacemaker_cibs_import(path: Path) -> None:
    """Every CIB Pacemaker accepts imports (leniently), with a state when it has a status section,
    unless it uses a setting Corral does not implement: then it is rejected, saying so."""
    try:
        loaded = load(path)
    except ConfigError as exc:
        problems = [line for line in str(exc).splitlines() if line.strip() and not line.endswith(" problems:")]
        assert problems and all("not implemented by Corral" in line for line in problems), str(exc)
        return
    assert loaded.config.nodes
    assert (loaded.state is not None) == (ET.parse(path).getroot().find("status") is not None)


def test_three_node_example() -> None:
    loaded = load(EXAMPLES / "three-node.xml")
    assert loaded.warnings == []
    assert [r.id for r in loaded.config.resources] == ["fence-node1", "fence-node2", "fence-node3", "vip", "web",
                                                       "haproxy-clone"]
    assert loaded.state is not None
    node3 = loaded.state.nodes["node3"]
    assert node3.attrs["fail-count-web#monitor_10000"] == "1"
    failure = next(o for o in node3.history["web"].ops if o.id == "web_last_failure_0")
    assert (failure.op, failure.interval_ms, failure.rc, failure.target_rc) == ("monitor", 10_000, 7, 0)
    assert sorted(n for n, s in loaded.state.nodes.items() if s.in_cluster) == ["node1", "node2", "node3"]


@pytest.mark.oracle
@pytest.mark.skipif(shutil.which("crm_simulate") is None, reason="needs crm_simulate (pacemaker-cli-utils)")
def test_three_node_example_is_a_recovery_for_pacemaker() -> None:
    out = subprocess.run(["crm_simulate", "-x", str(EXAMPLES / "three-node.xml"), "-S"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    summary = out.split("Transition Summary:")[1].split("Executing Cluster Transition:")[0]
    assert [line.split() for line in summary.strip().splitlines()] == [["*", "Recover", "web", "(", "node3", ")"]]


# -- loading by content, and the errors on the way -----------------------------------------------
def test_detect_format() -> None:
    assert detect_format("\ufeff  \n<cib/>") == "cib"
    assert detect_format("# a comment\nresources: []\n") == "yaml"
    assert detect_format("") == "yaml"


def test_invalid_xml_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.xml"
    path.write_text("<cib>\n  <configuration>\n  </configuratio>\n</cib>\n")
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value).startswith(f"{path}:3:5: invalid XML: mismatched tag")


def test_cib_without_configuration(tmp_path: Path) -> None:
    path = tmp_path / "empty.xml"
    path.write_text("<cib/>")
    with pytest.raises(ConfigError, match="no <configuration> section"):
        load(path)


BAD_CIB = """<cib>
  <configuration>
    <crm_config><cluster_property_set id="opts"><nvpair id="opt1" name="stonith-enabled" value="0"/></cluster_property_set></crm_config>
    <nodes><node id="1" uname="n1"/></nodes>
    <resources>
      <primitive id="a" class="ocf" type="Dummy"/>
      <primitive id="b" class="lsb" type="b">
        <operations><op id="b-mon" name="monitor" interval="10s" on-fail="explode"/></operations>
      </primitive>
    </resources>
    <constraints>
      <rsc_order id="o1" first="a" then="ghost"/>
    </constraints>
  </configuration>
</cib>
"""


def test_cib_errors_name_line_and_element(tmp_path: Path) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(BAD_CIB)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value) == (f"{path}:6: <primitive id='a'> class/provider/type: "
                               "ocf agents need a provider: ocf:PROVIDER:Dummy")
    fixed = path.read_text().replace('class="ocf" type', 'class="ocf" provider="pacemaker" type')
    path.write_text(fixed)
    loaded = load(path)  # a CIB is lenient by default: what Pacemaker ignores is a warning
    assert loaded.warnings == [
        f"{path}:8: <primitive id='b'> <op id='b-mon'> on-fail: unknown on-fail value 'explode' (expected one "
        "of: ignore, nothing, block, demote, stop, restart, restart-container, standby, fence) "
        "(ignored, as Pacemaker does)",
        f"{path}:12: <rsc_order id='o1'> then: unknown resource 'ghost' (ignored, as Pacemaker does)",
    ]
    with pytest.raises(ConfigError, match="2 problems"):
        load(path, strict=True)


def test_template_references_reach_the_primitives_built_from_it(tmp_path: Path) -> None:
    path = tmp_path / "t.xml"
    path.write_text("""<cib><configuration><crm_config/><nodes/><resources>
      <template id="tmpl" class="ocf" provider="pacemaker" type="Dummy"/>
      <primitive id="p" template="tmpl"/>
      <primitive id="q" template="tmpl"/>
      <primitive id="r" class="ocf" provider="pacemaker" type="Dummy"/>
    </resources><constraints><rsc_colocation id="c" rsc="r" with-rsc="tmpl" score="10"/></constraints>
    </configuration></cib>""")
    loaded = load(path)
    assert loaded.config.resources[0].agent == "ocf:pacemaker:Dummy"  # type: ignore[union-attr]
    assert [(c.rsc, c.with_rsc) for c in loaded.config.colocations] == [("r", "p"), ("r", "q")]
    assert not any("refers to template" in w for w in loaded.warnings)


def test_cib_and_yaml_describe_the_same_configuration() -> None:
    from corral.model.yaml_config import dump_yaml_config, parse_yaml_config

    cfg = parse_cib(ET.parse(EXAMPLES / "three-node.xml").getroot(), "three-node.xml")
    again, _ = parse_yaml_config(dump_yaml_config(cfg), "three-node.yaml")
    assert again == cfg


def test_rsc_defaults_selected_by_agent_apply_to_matching_primitives_only() -> None:
    import xml.etree.ElementTree as ET

    from corral.model.cib import parse_cib
    from corral.model.config import Group

    cib = """<cib><configuration><crm_config/><nodes/><resources>
      <primitive id="d" class="ocf" provider="pacemaker" type="Dummy"/>
      <primitive id="ip" class="ocf" provider="heartbeat" type="IPaddr2"/>
      <group id="g"><meta_attributes id="g-m"><nvpair id="g1" name="is-managed" value="true"/></meta_attributes>
        <primitive id="d2" class="ocf" provider="pacemaker" type="Dummy"/></group>
    </resources><constraints/>
    <rsc_defaults>
      <meta_attributes id="all"><nvpair id="a1" name="resource-stickiness" value="5"/></meta_attributes>
      <meta_attributes id="dummies"><rule id="r1" score="INFINITY">
        <rsc_expression id="e1" class="ocf" provider="pacemaker"/></rule>
        <nvpair id="n1" name="is-managed" value="false"/></meta_attributes>
      <meta_attributes id="ips"><rule id="r2" score="INFINITY" boolean-op="or">
        <rsc_expression id="e2" type="IPaddr2"/><rsc_expression id="e3" type="IPaddr"/></rule>
        <nvpair id="n2" name="target-role" value="Stopped"/></meta_attributes>
    </rsc_defaults></configuration></cib>"""
    cfg = parse_cib(ET.fromstring(cib))
    d, ip, g = cfg.resources
    assert cfg.rsc_defaults == {"resource-stickiness": "5"}
    assert d.meta == {"is-managed": "false"} and ip.meta == {"target-role": "Stopped"}
    assert isinstance(g, Group) and g.members[0].meta == {}   # the group's own setting wins


def test_untyped_ordering_expressions_compare_numbers_as_numbers() -> None:
    import xml.etree.ElementTree as ET

    from corral.model.cib import parse_cib

    def matches(op: str, value: str, node_value: str) -> bool:
        cib = f"""<cib><configuration><crm_config/><nodes/><resources>
          <primitive id="d" class="ocf" provider="pacemaker" type="Dummy"/></resources><constraints>
          <rsc_location id="l" rsc="d"><rule id="r" score="-INFINITY">
            <expression id="e" attribute="v" operation="{op}" value="{value}"/></rule></rsc_location>
          </constraints></configuration></cib>"""
        rule = parse_cib(ET.fromstring(cib)).locations[0].rules[0]
        return rule.matches({"v": node_value}, None)

    assert matches("gt", "3.4", "10.4")        # as numbers (as strings, "10.4" < "3.4")
    assert matches("gt", "3", "10")            # as integers
    assert not matches("gt", "3", "2.5")       # an integer value against a decimal: numbers
    assert not matches("eq", "3", "3.0")       # eq/ne stay string comparisons


def test_an_endless_file_is_refused_not_read_forever() -> None:
    from corral.model.cib import read_cib

    with pytest.raises(ConfigError, match="larger than 64 MiB: not a CIB"):
        read_cib("/dev/zero")
