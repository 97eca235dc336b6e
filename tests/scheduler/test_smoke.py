"""The scheduler on tiny hand-written CIBs: behaviour that must hold."""
from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET

from corral.model.cib import parse_cib
from corral.model.cib_status import parse_status
from corral.scheduler import schedule

NODE_UP = '<node_state id="{i}" uname="{n}" in_ccm="true" crmd="online" join="member" expected="member">{lrm}</node_state>'


def cib(resources: str, constraints: str = "", status: str = "", options: str = "") -> str:
    nodes = "".join(f'<node id="{i}" uname="n{i}"/>' for i in (1, 2, 3))
    if not status:
        status = "".join(NODE_UP.format(i=i, n=f"n{i}", lrm="") for i in (1, 2, 3))
    return textwrap.dedent(f"""
    <cib have-quorum="1"><configuration><crm_config><cluster_property_set id="o">
      <nvpair id="o1" name="stonith-enabled" value="false"/>{options}
    </cluster_property_set></crm_config>
    <nodes>{nodes}</nodes><resources>{resources}</resources><constraints>{constraints}</constraints>
    </configuration><status>{status}</status></cib>""")


def run(xml: str) -> list[str]:
    root = ET.fromstring(xml)
    cfg = parse_cib(root, "test")
    tr = schedule(cfg, parse_status(root, cfg))
    return sorted(" ".join(f"{v} {r} {d}".split()) for v, r, d in tr.summary)


def dummy(rid: str) -> str:
    return f'<primitive id="{rid}" class="ocf" provider="heartbeat" type="Dummy"/>'


def test_fresh_resource_starts_on_a_node():
    assert run(cib(dummy("a"))) == ["Start a ( n1 )"]


def test_location_preference_is_followed():
    out = run(cib(dummy("a"), '<rsc_location id="l" rsc="a" node="n2" score="100"/>'))
    assert out == ["Start a ( n2 )"]


def test_mandatory_colocation_follows_primary():
    out = run(cib(dummy("a") + dummy("b"),
                  '<rsc_location id="l" rsc="a" node="n3" score="100"/>'
                  '<rsc_colocation id="c" rsc="b" with-rsc="a" score="INFINITY"/>'))
    assert out == ["Start a ( n3 )", "Start b ( n3 )"]


def test_running_resource_with_failed_monitor_is_recovered():
    op = ('<lrm_rsc_op id="a_last_0" operation="start" call-id="2" rc-code="0" op-status="0" interval="0"'
          ' transition-key="1:1:0:x"/>'
          '<lrm_rsc_op id="a_mon" operation="monitor" call-id="3" rc-code="7" op-status="0" interval="10000"'
          ' transition-key="2:1:0:x"/>')
    lrm = f'<lrm id="1"><lrm_resources><lrm_resource id="a" class="ocf" provider="heartbeat" type="Dummy">{op}</lrm_resource></lrm_resources></lrm>'
    status = NODE_UP.format(i=1, n="n1", lrm=lrm) + "".join(
        NODE_UP.format(i=i, n=f"n{i}", lrm="") for i in (2, 3))
    assert run(cib(dummy("a"), status=status)) == ["Recover a ( n1 )"]


def _running(rid: str, digest: str) -> str:
    op = (f'<lrm_rsc_op id="{rid}_last_0" operation="start" call-id="2" rc-code="0" op-status="0" interval="0"'
          f' op-digest="{digest}" transition-key="1:1:0:x"/>')
    return f'<lrm_resource id="{rid}" class="ocf" provider="heartbeat" type="Dummy">{op}</lrm_resource>'


def test_changed_parameters_restart_in_place_with_corral_and_pacemaker_digests():
    from corral.model.digest import params_digest
    from corral.model.pcmk_digest import digest as pcmk_digest

    def prim(rid: str, value: str) -> str:
        return (f'<primitive id="{rid}" class="ocf" provider="heartbeat" type="Dummy">'
                f'<instance_attributes id="{rid}-ia"><nvpair id="{rid}-p" name="fake" value="{value}"/>'
                '</instance_attributes></primitive>')

    def status(a_digest: str) -> str:
        lrm = ('<lrm id="1"><lrm_resources>' + _running("a", a_digest) + _running("b", params_digest({"fake": "1"}))
               + '</lrm_resources></lrm>')
        return NODE_UP.format(i=1, n="n1", lrm=lrm) + "".join(NODE_UP.format(i=i, n=f"n{i}", lrm="") for i in (2, 3))

    order = ('<rsc_order id="o" first="a" then="b" kind="Mandatory"/>'
             '<rsc_location id="la" rsc="a" node="n1" score="100"/><rsc_location id="lb" rsc="b" node="n1" score="100"/>')
    resources = prim("a", "2") + prim("b", "1")
    # a ran with fake=1 and is configured with fake=2: restarted where it is, and b, ordered after it, too.
    out = run(cib(resources, order, status(params_digest({"fake": "1"}))))
    assert out == ["Restart a ( n1 ) due to resource definition change",
                   "Restart b ( n1 ) due to required a start"]
    assert run(cib(resources, order, status(params_digest({"fake": "2"})))) == []
    # A Pacemaker digest is compared as Pacemaker computes it (corral.model.pcmk_digest).
    assert run(cib(resources, order, status(pcmk_digest({"fake": "2"})))) == []
    assert run(cib(resources, order, status(pcmk_digest({"fake": "1"})))) == out
    # A digest of neither form (hand-written in a test CIB) implies no change.
    assert run(cib(resources, order, status("not-a-digest"))) == []
