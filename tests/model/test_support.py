"""Fail closed: settings Corral's scheduler does not implement (corral.model.support) are
refused when a configuration is loaded, and named on stderr when a CIB is simulated.

When a feature lands, its registry line goes and so does its case below."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from corral.cli.simulate import simulate
from corral.model import support
from corral.model.errors import ConfigError
from corral.model.load import load

CIB = """<cib><configuration><crm_config><cluster_property_set id="o"><nvpair id="se" name="stonith-enabled" value="false"/>{options}</cluster_property_set></crm_config>
<nodes><node id="1" uname="n1"/><node id="2" uname="n2"/></nodes>
<resources>
 <primitive id="a" class="ocf" provider="heartbeat" type="Dummy">{a_meta}</primitive>
 <clone id="c"><meta_attributes id="c-m">{clone_meta}</meta_attributes>
  <primitive id="b" class="ocf" provider="heartbeat" type="Dummy"/></clone>
</resources>
<constraints>{constraints}</constraints>
</configuration><status>
<node_state id="1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member"/>
<node_state id="2" uname="n2" in_ccm="true" crmd="online" join="member" expected="member"/>
</status></cib>"""

# (what the CIB says, the place and attribute the error must name)
CASES = {
    "require-all": ({"constraints": '<rsc_order id="o" first="a" then="c" require-all="false"/>'},
                    "<rsc_order id='o'> require-all: require-all='false'"),
    "require-all in a set": (
        {"constraints": '<rsc_order id="o"><resource_set id="s1" sequential="false" require-all="false">'
                        '<resource_ref id="a"/><resource_ref id="c"/></resource_set>'
                        '<resource_set id="s2"><resource_ref id="b"/></resource_set></rsc_order>'},
        "<rsc_order id='o'> require-all: require-all='false'"),
    "resource-discovery": ({"constraints": '<rsc_location id="l" rsc="a" node="n1" score="10" '
                                           'resource-discovery="never"/>'},
                           "<rsc_location id='l'> resource-discovery: resource-discovery='never'"),
    "shutdown-lock": ({"options": '<nvpair id="sl" name="shutdown-lock" value="true"/>'},
                      "<crm_config>: cluster option shutdown-lock='true'"),
    "node-health-strategy": ({"options": '<nvpair id="nh" name="node-health-strategy" value="migrate-on-red"/>'},
                             "<crm_config>: cluster option node-health-strategy='migrate-on-red'"),
    "instance_attributes rule": (
        {"a_meta": '<instance_attributes id="a-p" score="2"><rule id="a-r" score="0"><expression id="a-e" '
                   'attribute="#uname" operation="eq" value="n1"/></rule><nvpair id="a-ip" name="ip" '
                   'value="10.0.0.1"/></instance_attributes>'},
        "<primitive id='a'>: parameters chosen by a rule"),
    "requires": ({"a_meta": '<meta_attributes id="a-m"><nvpair id="rq" name="requires" value="unfencing"/>'
                            '</meta_attributes>'},
                 "<primitive id='a'> meta_attributes requires: requires='unfencing'"),
}


def _cib(tmp_path: Path, parts: dict[str, str]) -> Path:
    path = tmp_path / "cib.xml"
    path.write_text(CIB.format(clone_meta=parts.get("clone_meta", ""), constraints=parts.get("constraints", ""),
                               options=parts.get("options", ""), a_meta=parts.get("a_meta", "")))
    return path


def test_every_registry_entry_has_a_case_here() -> None:
    covered = {"require-all", "resource-discovery", "bundle", "shutdown-lock", "node-health-strategy", "requires",
               "instance_attributes rule"}
    assert {u.attribute for u in support.UNSUPPORTED} <= covered


@pytest.mark.parametrize("case", sorted(CASES))
def test_load_refuses_naming_file_element_and_attribute(tmp_path: Path, case: str) -> None:
    parts, place = CASES[case]
    path = _cib(tmp_path, parts)
    with pytest.raises(ConfigError) as info:
        load(path)
    text = str(info.value)
    assert str(path) in text and place in text and "not implemented by Corral" in text


@pytest.mark.parametrize("case", sorted(CASES))
def test_simulate_warns_on_stderr_and_still_simulates(tmp_path: Path, case: str) -> None:
    parts, place = CASES[case]
    path = _cib(tmp_path, parts)
    result = CliRunner().invoke(simulate, ["-q", "--cib", str(path)])
    assert result.exit_code == 0, result.stderr
    assert "Transition Summary:" in result.stdout and "Start" in result.stdout
    assert f"corral simulate: warning: {path}" in result.stderr and place in result.stderr


def test_a_configuration_without_them_loads(tmp_path: Path) -> None:
    assert load(_cib(tmp_path, {"clone_meta": '<nvpair id="n" name="notify" value="false"/>'})).warnings == []


def test_implemented_clone_settings_load(tmp_path: Path) -> None:
    """clone-min, and require-all=false on a plain order after a clone, are scheduled."""
    parts = {"clone_meta": '<nvpair id="n" name="clone-min" value="2"/>',
             "constraints": '<rsc_order id="o" first="c" then="a" require-all="false"/>'}
    assert load(_cib(tmp_path, parts)).warnings == []


def test_yaml_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("nodes: [{name: n1}]\nresources:\n  - {id: b, agent: ocf:heartbeat:Dummy}\nconstraints:\n"
                    "  - location: {rsc: b, node: n1, score: 10,\n               resource-discovery: never}\n")
    with pytest.raises(ConfigError, match=r"cfg.yaml:6: constraints\[0\]\.location\.resource-discovery: "
                                          r"resource-discovery='never' is not"):
        load(path)
    assert any("resource-discovery" in w for w in load(path, unsupported="warn").warnings)
