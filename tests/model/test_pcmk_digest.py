"""Pacemaker's op-digest, checked against (parameters, digest) pairs recorded in the CIBs of
Pacemaker 2.1.5's scheduler corpus (a sample of 300 distinct digests, tests/model/data/)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from corral.model import pcmk_digest
from corral.model.cib import parse_cib
from corral.model.config import Operation, Primitive
from corral.model.digest import operation_redefined

PAIRS = json.loads((Path(__file__).parent / "data" / "pcmk_digests.json").read_text())


def _primitive(row: dict) -> Primitive:
    ops = []
    if row["op_params"] or row["timeout_ms"] is not None:
        ops.append(Operation(name=row["operation"], interval_ms=row["interval_ms"],
                             timeout_ms=row["timeout_ms"], params=row["op_params"]))
    return Primitive(id=row["resource"], rsc_class="ocf", type="Dummy", params=row["params"], ops=ops)


def test_the_sample_is_large_and_varied() -> None:
    assert len(PAIRS) >= 300
    assert sum(1 for r in PAIRS if r["interval_ms"] > 0) >= 50      # recurring: CRM_meta_timeout
    assert sum(1 for r in PAIRS if r["op_params"]) >= 2             # the operation's own attributes
    assert len({r["scenario"] for r in PAIRS}) >= 80


@pytest.mark.parametrize("row", PAIRS, ids=lambda r: f"{r['scenario']}:{r['resource']}:{r['operation']}_{r['interval_ms']}")
def test_reproduces_the_recorded_op_digest(row: dict) -> None:
    prim = _primitive(row)
    assert pcmk_digest.operation_digest(prim, row["operation"], row["interval_ms"]) == row["op_digest"]


def test_canonical_form() -> None:
    assert pcmk_digest.parameters_xml({"b": "2", "a": 'x"<&'}) == ' <parameters a="x&quot;&lt;&amp;" b="2"/>\n'
    # The two digests every parameterless Dummy in the corpus carries: one-shot and recurring.
    empty = Primitive(id="d", rsc_class="ocf", type="Dummy")
    assert pcmk_digest.operation_digest(empty, "start", 0) == "f2317cad3d54cec5d7d7aa7d0bf35cf8"
    assert pcmk_digest.operation_digest(empty, "monitor", 10_000) == "4811cef7f7f94e3a35a70be7916cb2fd"


def test_recurring_timeout_falls_back_to_op_defaults() -> None:
    prim = Primitive(id="d", rsc_class="ocf", type="Dummy", ops=[Operation(name="monitor", interval_ms=10_000)])
    params = pcmk_digest.operation_params(prim, "monitor", 10_000, {"timeout": "45s"})
    assert params == {"CRM_meta_timeout": "45000"}


CIB = """<cib><configuration><crm_config/><nodes/><resources>
<clone id="c"><instance_attributes id="c-ia"><nvpair id="c1" name="shared" value="from-clone"/>
<nvpair id="c2" name="own" value="overridden"/></instance_attributes>
<primitive id="p" class="ocf" provider="pacemaker" type="Dummy">
 <instance_attributes id="p-ia"><nvpair id="p1" name="own" value="mine"/>
 <nvpair id="p2" name="gone" value="#default"/></instance_attributes>
 <operations><op id="p-start" name="start" interval="0" timeout="20">
  <instance_attributes id="p-start-ia"><nvpair id="p3" name="trace_ra" value="1"/></instance_attributes></op>
 </operations></primitive></clone>
</resources><constraints/></configuration></cib>"""


def test_cib_parameters_are_inherited_and_the_operation_adds_its_own() -> None:
    import xml.etree.ElementTree as ET

    cfg = parse_cib(ET.fromstring(CIB))
    prim = cfg.resources[0].child
    assert isinstance(prim, Primitive)
    assert prim.params == {"shared": "from-clone", "own": "mine"}
    assert pcmk_digest.operation_params(prim, "start", 0) == {"shared": "from-clone", "own": "mine", "trace_ra": "1"}
    assert pcmk_digest.operation_params(prim, "stop", 0) == {"shared": "from-clone", "own": "mine"}


def test_redefinition_compares_each_kind_of_digest_its_own_way() -> None:
    prim = Primitive(id="d", rsc_class="ocf", type="Dummy", params={"fake": "1"})
    current = pcmk_digest.operation_digest(prim, "start", 0)
    assert not operation_redefined(current, prim, "start", 0, {})
    assert operation_redefined(pcmk_digest.digest({"fake": "2"}), prim, "start", 0, {})
    # Hand-written digests of test CIBs ("xxx", "1234") are not Pacemaker's: no change is implied.
    assert not operation_redefined("not-a-digest", prim, "start", 0, {})
    assert not operation_redefined(None, prim, "start", 0, {})


def _fence_db1() -> Primitive:
    """fence_db1 of the corpus's on-fail-ignore, whose CIB has its password masked as ****."""
    params = {"delay": "4", "ipaddr": "192.168.103.3", "lanplus": "1", "login": "root",
              "method": "onoff", "passwd": "****", "pcmk_host_check": "static-list",
              "pcmk_host_list": "407888-db1", "power_wait": "4"}
    return Primitive(id="fence_db1", rsc_class="stonith", type="fence_ipmilan", params=params)


def test_secure_digest_leaves_out_secrets_fencer_settings_and_meta() -> None:
    prim = _fence_db1()
    recorded = "d7ead554cd349871ab13dad142fdd3f9"   # the same for its start and its monitor
    assert pcmk_digest.secure_digest(prim, "start", 0, ("passwd", "password")) == recorded
    assert pcmk_digest.secure_digest(prim, "monitor", 60000, ("passwd", "password")) == recorded
    assert pcmk_digest.secure_digest(prim, "start", 0, ()) != recorded


def test_a_matching_secure_digest_outweighs_a_differing_full_digest() -> None:
    prim, secure = _fence_db1(), ("passwd", "password")
    full = "5397ff9100b6061844743be1480cacb6"       # taken over the real password
    assert not operation_redefined(full, prim, "start", 0, {}, secure, "d7ead554cd349871ab13dad142fdd3f9")
    assert operation_redefined(full, prim, "start", 0, {})      # no secure digest recorded
    prim.params["ipaddr"] = "192.168.103.4"
    assert operation_redefined(full, prim, "start", 0, {}, secure, "d7ead554cd349871ab13dad142fdd3f9")
