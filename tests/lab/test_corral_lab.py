"""Corral in the namespace lab (docs/lab.md): one crash failover measured from a client, one partition
of the VIP holder (never two holders), and a short seeded fault campaign with zero violations (~60 s
together). Needs root, `ip netns` and /usr/bin/etcd, else skipped. Plus the audit's arithmetic and a
scheduler divergence from Pacemaker that the campaign found, now fixed (no lab needed)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from corral_lab.audit import ClaimSample, dual_claim_violations, restarts
from corral_lab.etcd import etcd_available

NEEDS_ETCD = pytest.mark.skipif(etcd_available() is not None, reason=etcd_available() or "")


def _snap(members: list[str], last: dict[tuple[str, str], tuple[str, int]]) -> dict[str, object]:
    history: dict[str, dict[str, object]] = {}
    for (node, rsc), (op, call) in last.items():
        history.setdefault(node, {})[rsc] = {"last": {"op": op, "call_id": call, "rc": 0}}
    return {"members": members, "history": history}


def test_audit_restarts_and_dual_claims_pure() -> None:
    before = _snap(["h1", "h2", "h3"], {("h1", "vip"): ("start", 5), ("h2", "name"): ("start", 3),
                                        ("h3", "name"): ("probe_running", 1), ("h2", "vip"): ("probe", 2)})
    # h1 (the VIP holder) was touched; the VIP may start on h2; h3's service must stay put
    after = _snap(["h1", "h2", "h3"], {("h1", "vip"): ("stop", 9), ("h2", "name"): ("start", 3),
                                       ("h3", "name"): ("probe_running", 1), ("h2", "vip"): ("start", 7)})
    assert restarts(before, after, touched=["h1"], movable=["vip"]) == []
    assert restarts(before, after, touched=["h1"]) == ["vip on h2: last operation probe#2 became start#7"]
    reprobed = _snap(["h1", "h2", "h3"], {("h3", "name"): ("probe_running", 8), ("h2", "name"): ("start", 3)})
    assert restarts(before, reprobed, touched=["h1"]) == []
    again = _snap(["h1", "h2", "h3"], {("h3", "name"): ("start", 4)})
    assert restarts(before, again, touched=["h1"]) == [
        "name on h3: last operation probe_running#1 became start#4"]
    assert dual_claim_violations([ClaimSample(1.0, ["h1"]), ClaimSample(1.05, [])]) == []
    assert len(dual_claim_violations([ClaimSample(1.0, ["h1", "h2"])])) == 1


@pytest.mark.lab
@NEEDS_ETCD
def test_corral_crash_failover_answers_from_another_host() -> None:
    from corral_lab.failover import Corral, crash_once, lab_with

    sut = Corral()
    with lab_with(sut) as (lab, work):
        r = crash_once(lab, sut, work, 1, ready_s=30, failover_bound_s=15, restore=False)
        assert not r.error, r.error
        assert r.new_holder and r.new_holder != r.victim
        assert r.outage_s is not None and r.outage_s < 6.0, r
        assert sut.claimants(lab) == [r.new_holder]


@pytest.mark.lab
@NEEDS_ETCD
def test_short_campaign_has_no_violations() -> None:
    from corral_lab.campaign import Campaign

    # The service order is Mandatory, as configured for real. Faults that take the etcd leader away
    # are left out: that known defect (docs/lab.md, "What the campaign found") is not fixed yet.
    lines: list[str] = []
    report = Campaign(faults=4, seed=1, kinds=("resource-fail", "standby", "restart", "kill-agent", "etcd-loss"),
                      order_kind="Mandatory", log=lines.append).run()
    assert len(report.results) == 4, "\n".join(lines)
    assert report.violations == [], "\n".join(lines)
    assert report.errors == [], "\n".join(lines)
    assert report.summary()["dual_promoted_samples"] == 0, "\n".join(lines)  # db's promoted instance


@pytest.mark.lab
@NEEDS_ETCD
def test_corral_partition_never_has_two_vip_holders() -> None:
    from corral_lab.failover import Corral, partition_run

    p = partition_run(Corral(), hold_s=4.0, settle_s=20.0, after_heal_s=1.0, sample_s=0.05)
    assert not p.error, p.error
    assert p.max_claimants == 1 and p.dual_claim_s == 0 and p.dual_claim_after_heal_s == 0, p
    assert p.answered_partitioned and p.isolated, p


# Found by the campaign: a new instance of a clone starting on a third node restarts a primitive that is
# ordered (Mandatory) after the clone and runs elsewhere; Pacemaker 2.1.5 only starts the instance
# (crm_simulate -S on this CIB: "Start name:2 (h3)" and nothing else).
CLONE_JOIN_CIB = """\
<cib crm_feature_set="3.16.2" validate-with="pacemaker-3.9" epoch="10" num_updates="0" admin_epoch="0" have-quorum="1" dc-uuid="1">
  <configuration>
    <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
    <nodes><node id="1" uname="h1"/><node id="2" uname="h2"/><node id="3" uname="h3"/></nodes>
    <resources>
      <clone id="name-clone"><primitive id="name" class="ocf" provider="pacemaker" type="Dummy"/></clone>
      <primitive id="vip" class="ocf" provider="pacemaker" type="Dummy"/>
    </resources>
    <constraints>
      <rsc_colocation id="c" rsc="vip" with-rsc="name-clone" score="INFINITY"/>
      <rsc_order id="ord" first="name-clone" then="vip"/>
    </constraints>
    <rsc_defaults><meta_attributes id="d"><nvpair id="d1" name="resource-stickiness" value="100"/></meta_attributes></rsc_defaults>
  </configuration>
  <status>
    <node_state id="1" uname="h1" in_ccm="true" crmd="online" join="member" expected="member">
      <lrm id="1"><lrm_resources>
        <lrm_resource id="name" class="ocf" provider="pacemaker" type="Dummy"><lrm_rsc_op id="name_last_0" operation_key="name_start_0" operation="start" crm-debug-origin="x" crm_feature_set="3.16.2" transition-key="1:1:0:x" transition-magic="0:0;1:1:0:x" call-id="5" rc-code="0" op-status="0" interval="0" op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8" on_node="h1"/></lrm_resource>
        <lrm_resource id="vip" class="ocf" provider="pacemaker" type="Dummy"><lrm_rsc_op id="vip_last_0" operation_key="vip_monitor_0" operation="monitor" crm-debug-origin="x" crm_feature_set="3.16.2" transition-key="1:1:7:x" transition-magic="0:7;1:1:7:x" call-id="2" rc-code="7" op-status="0" interval="0" op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8" on_node="h1"/></lrm_resource>
      </lrm_resources></lrm>
    </node_state>
    <node_state id="2" uname="h2" in_ccm="true" crmd="online" join="member" expected="member">
      <lrm id="2"><lrm_resources>
        <lrm_resource id="name" class="ocf" provider="pacemaker" type="Dummy"><lrm_rsc_op id="name_last_0" operation_key="name_start_0" operation="start" crm-debug-origin="x" crm_feature_set="3.16.2" transition-key="1:1:0:x" transition-magic="0:0;1:1:0:x" call-id="5" rc-code="0" op-status="0" interval="0" op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8" on_node="h2"/></lrm_resource>
        <lrm_resource id="vip" class="ocf" provider="pacemaker" type="Dummy"><lrm_rsc_op id="vip_last_0" operation_key="vip_start_0" operation="start" crm-debug-origin="x" crm_feature_set="3.16.2" transition-key="1:1:0:x" transition-magic="0:0;1:1:0:x" call-id="6" rc-code="0" op-status="0" interval="0" op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8" on_node="h2"/></lrm_resource>
      </lrm_resources></lrm>
    </node_state>
    <node_state id="3" uname="h3" in_ccm="true" crmd="online" join="member" expected="member">
      <lrm id="3"><lrm_resources>
        <lrm_resource id="name" class="ocf" provider="pacemaker" type="Dummy"><lrm_rsc_op id="name_last_0" operation_key="name_monitor_0" operation="monitor" crm-debug-origin="x" crm_feature_set="3.16.2" transition-key="1:1:7:x" transition-magic="0:7;1:1:7:x" call-id="1" rc-code="7" op-status="0" interval="0" op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8" on_node="h3"/></lrm_resource>
        <lrm_resource id="vip" class="ocf" provider="pacemaker" type="Dummy"><lrm_rsc_op id="vip_last_0" operation_key="vip_monitor_0" operation="monitor" crm-debug-origin="x" crm_feature_set="3.16.2" transition-key="1:1:7:x" transition-magic="0:7;1:1:7:x" call-id="2" rc-code="7" op-status="0" interval="0" op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8" on_node="h3"/></lrm_resource>
      </lrm_resources></lrm>
    </node_state>
  </status>
</cib>
"""


def test_clone_instance_start_does_not_restart_ordered_vip(tmp_path: Path) -> None:
    path = tmp_path / "cib.xml"
    path.write_text(CLONE_JOIN_CIB)
    r = subprocess.run([sys.executable, "-m", "corral.cli.main", "simulate", "--cib", str(path)],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    summary = r.stdout.split("Transition Summary:")[1].split("Executing")[0]
    assert "vip" not in summary, summary


def _simulate(tmp_path: Path, cib: str) -> str:
    path = tmp_path / "cib.xml"
    path.write_text(cib)
    r = subprocess.run([sys.executable, "-m", "corral.cli.main", "simulate", "--cib", str(path)],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    return r.stdout.split("Transition Summary:")[1].split("Executing")[0]


_FAILED_MONITOR = ('<lrm_rsc_op id="name_last_failure_0" operation_key="name_monitor_1000" operation="monitor" '
                   'crm-debug-origin="x" crm_feature_set="3.16.2" transition-key="2:1:0:x" '
                   'transition-magic="0:7;2:1:0:x" call-id="7" rc-code="7" op-status="0" interval="1000" '
                   'op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8" on_node="h1"/>')
# The same cluster, name's instance on h1 (not the VIP's node, h2) failed its monitor: Pacemaker 2.1.5
# plans "Recover name:0 (h1)" and nothing else (crm_simulate -S).
CLONE_RECOVER_CIB = CLONE_JOIN_CIB.replace(
    '<primitive id="name" class="ocf" provider="pacemaker" type="Dummy"/>',
    '<primitive id="name" class="ocf" provider="pacemaker" type="Dummy">'
    '<operations><op id="name-mon" name="monitor" interval="1s"/></operations></primitive>').replace(
    'call-id="5" rc-code="0" op-status="0" interval="0" op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8" on_node="h1"/>',
    'call-id="5" rc-code="0" op-status="0" interval="0" op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8" on_node="h1"/>'
    + _FAILED_MONITOR).replace(  # and name running on h3 too, so that nothing else is planned
    '<lrm_rsc_op id="name_last_0" operation_key="name_monitor_0" operation="monitor" crm-debug-origin="x" '
    'crm_feature_set="3.16.2" transition-key="1:1:7:x" transition-magic="0:7;1:1:7:x" call-id="1" rc-code="7" '
    'op-status="0" interval="0" op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8" on_node="h3"/>',
    '<lrm_rsc_op id="name_last_0" operation_key="name_start_0" operation="start" crm-debug-origin="x" '
    'crm_feature_set="3.16.2" transition-key="1:1:0:x" transition-magic="0:0;1:1:0:x" call-id="5" rc-code="0" '
    'op-status="0" interval="0" op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8" on_node="h3"/>')


def test_clone_instance_recovery_does_not_restart_ordered_vip(tmp_path: Path) -> None:
    # Found by the campaign: every recovery of a service copy anywhere restarted the VIP.
    summary = _simulate(tmp_path, CLONE_RECOVER_CIB)
    assert "Recover name:0 ( h1 )" in summary and "Start" not in summary, summary
    assert "vip" not in summary, summary


def test_clone_instance_recovery_on_the_vips_node_restarts_it(tmp_path: Path) -> None:
    # The same failure on the VIP's own node (h2): Pacemaker 2.1.5 restarts the VIP after it
    # ("Restart vip ( h2 ) due to required name-clone running", crm_simulate -S).
    failed = _FAILED_MONITOR.replace('on_node="h1"', 'on_node="h2"')
    cib = CLONE_RECOVER_CIB.replace(_FAILED_MONITOR, "")
    h2_start = cib.index('on_node="h2"/>', cib.index('<lrm_rsc_op id="name_last_0"', cib.index('uname="h2"')))
    cib = cib[:h2_start + len('on_node="h2"/>')] + failed + cib[h2_start + len('on_node="h2"/>'):]
    summary = _simulate(tmp_path, cib)
    assert "Recover name:1 ( h2 )" in summary, summary
    assert "Restart vip" in summary and "h2" in summary.split("Restart vip")[1].splitlines()[0], summary


# A promotable clone whose instance on h1 was found promoted by a probe (every agent rejoined in
# maintenance mode: transient attributes, the promotion scores among them, are gone; heartbeat's
# Stateful does not set its score on a probe). Pacemaker 2.1.5: "Demote db:0 (Promoted -> Unpromoted
# h1)": no instance has a promotion score, so none may stay promoted.
def _db_node(i: int, node: str, rc: int) -> str:
    return (f'<node_state id="{i}" uname="{node}" in_ccm="true" crmd="online" join="member" expected="member">'
            f'<lrm id="{i}"><lrm_resources><lrm_resource id="db" class="ocf" provider="pacemaker" type="Stateful">'
            f'<lrm_rsc_op id="db_last_0" operation_key="db_monitor_0" operation="monitor" crm-debug-origin="x" '
            f'crm_feature_set="3.16.2" transition-key="1:1:7:x" transition-magic="0:{rc};1:1:7:x" call-id="3" '
            f'rc-code="{rc}" op-status="0" interval="0" op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8" '
            f'on_node="{node}"/></lrm_resource></lrm_resources></lrm></node_state>')


PROMOTED_WITHOUT_SCORE_CIB = f"""\
<cib crm_feature_set="3.16.2" validate-with="pacemaker-3.9" epoch="10" num_updates="0" admin_epoch="0" have-quorum="1" dc-uuid="1">
  <configuration>
    <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
    <nodes><node id="1" uname="h1"/><node id="2" uname="h2"/><node id="3" uname="h3"/></nodes>
    <resources>
      <clone id="db-clone">
        <meta_attributes id="m"><nvpair id="m1" name="promotable" value="true"/><nvpair id="m2" name="promoted-max" value="1"/></meta_attributes>
        <primitive id="db" class="ocf" provider="pacemaker" type="Stateful"/>
      </clone>
    </resources>
    <constraints/>
    <rsc_defaults><meta_attributes id="d"><nvpair id="d1" name="resource-stickiness" value="100"/></meta_attributes></rsc_defaults>
  </configuration>
  <status>{_db_node(1, "h1", 8)}{_db_node(2, "h2", 0)}{_db_node(3, "h3", 0)}</status>
</cib>
"""


def test_promoted_instance_without_a_promotion_score_is_demoted(tmp_path: Path) -> None:
    summary = _simulate(tmp_path, PROMOTED_WITHOUT_SCORE_CIB)
    assert [" ".join(line.split()) for line in summary.strip().splitlines()] == [
        "* Demote db:0 ( Promoted -> Unpromoted h1 )"], summary
