"""The fault campaign's CTS kinds (docs/lab.md, "The fault campaign").

Pure parts (the audits' arithmetic, the seeded choice of kinds and targets) run anywhere. The lab
parts need root, `ip netns` and /usr/bin/etcd, else they skip: the new kinds once each (~75 s), the
maintenance kinds (they found two agent defects, now fixed: a clean leave stopped unmanaged
resources; the join probes skipped clone instances; ~45 s), and fencing on
with a partition and a kill-agent aimed at the VIP holder (~45 s). The 4-fault campaign of the older
kinds is in test_corral_lab.py.
"""
from __future__ import annotations

import pytest

from corral.lab.audit import (
    ClaimSample,
    claims_after,
    claims_other_than,
    managed_mismatch,
    restarts,
    still_running,
)
from corral.lab.campaign import BASIC, CTS, FAULTS, Campaign, CampaignReport, FaultResult
from corral.lab.etcd import etcd_available

NEEDS_ETCD = pytest.mark.skipif(etcd_available() is not None, reason=etcd_available() or "")
SAFE_CTS = ("simul-stop-start", "stop-one-by-one", "flip", "near-quorum", "etcd-majority-loss")
MAINTENANCE = ("maintenance", "reattach")


def samples(*pairs: tuple[float, list[str]]) -> list[ClaimSample]:
    return [ClaimSample(t, c) for t, c in pairs]


def test_claims_after_a_quorum_loss() -> None:
    s = samples((10.0, ["h1"]), (11.0, ["h1"]), (11.5, []), (12.5, []), (14.0, ["h2"]))
    assert claims_after(s, since=12.0, until=13.5) == []           # stopped before the TTL ran out
    late = claims_after(s, since=10.5, until=13.5)
    assert len(late) == 1 and "h1" in late[0] and "0.50 s after" in late[0]
    assert claims_after(s, since=12.0) != []                       # after the repair it may run again


def test_claims_other_than_the_holder_in_maintenance() -> None:
    s = samples((1.0, ["h1"]), (2.0, ["h1"]), (3.0, []), (4.0, ["h1", "h2"]))
    assert claims_other_than(s, "h1", since=0.0)[0].startswith("VIP on no host instead of h1")
    assert "2 samples" in claims_other_than(s, "h1", since=0.0)[0]
    assert claims_other_than(s[:2], "h1", since=0.0) == []
    assert claims_other_than(s, "h1", since=5.0) == []


def test_still_running_and_managed() -> None:
    assert still_running(["h1", "h2"], ["h2", "h3"], {"h1": True, "h2": False}) == ["VIP on h2", "service on h1"]
    assert still_running(["h1"], [], {"h1": False}) == []
    snap = {"resources": [{"id": "vip", "managed": False}, {"id": "name:0", "managed": True}]}
    assert managed_mismatch(snap, managed=False) == ["name:0"]
    assert managed_mismatch(snap, managed=True) == ["vip"]


def test_restarts_ignores_reprobes_but_not_starts() -> None:
    def snap(last: dict[tuple[str, str], tuple[str, int]]) -> dict[str, object]:
        history: dict[str, dict[str, object]] = {}
        for (node, rsc), (op, call) in last.items():
            history.setdefault(node, {})[rsc] = {"last": {"op": op, "call_id": call, "rc": 0}}
        return {"members": ["h1", "h2"], "history": history}

    before = snap({("h1", "vip"): ("start", 5), ("h2", "vip"): ("probe", 2), ("h2", "name"): ("start", 3)})
    # every agent rejoined (reattach): re-probes find the same states
    same = snap({("h1", "vip"): ("probe_running", 1), ("h2", "vip"): ("probe", 2), ("h2", "name"): ("probe_running", 1)})
    assert restarts(before, same, touched=[]) == []
    # the clone instance was not probed on rejoin and got started again: that is in the history
    started = snap({("h1", "vip"): ("probe_running", 1), ("h2", "vip"): ("probe", 3), ("h2", "name"): ("start", 4)})
    assert restarts(before, started, touched=[]) == ["name on h2: last operation start#3 became start#4"]


def test_each_runs_every_kind_once_in_a_seeded_order() -> None:
    c = Campaign(faults=len(CTS), seed=5, kinds=CTS, each=True)
    order = list(c.sequence())
    assert sorted(order) == sorted(CTS)
    assert order == list(Campaign(faults=len(CTS), seed=5, kinds=CTS, each=True).sequence())
    assert list(Campaign(faults=3, seed=5, kinds=("flip",), each=True).sequence()) == ["flip"] * 3
    assert set(FAULTS) == set(BASIC) | set(CTS)
    with pytest.raises(ValueError, match="unknown fault kinds"):
        Campaign(faults=1, seed=1, kinds=("flop",))


def test_targets_respect_quorum_and_the_unfenced_holder() -> None:
    for seed in range(20):
        five = Campaign(faults=1, seed=seed, hosts=5)
        assert len(five.targets("near-quorum", "h1")) == 2          # 3 of 5 members keep quorum
        assert len(five.targets("etcd-majority-loss", "h1")) == 3   # 2 of 5 do not
        assert sorted(five.targets("stop-one-by-one", "h1")) == five.names
        three = Campaign(faults=1, seed=seed)
        assert len(three.targets("near-quorum", "h2")) == 1
        assert len(three.targets("etcd-majority-loss", "h2")) == 2
        assert three.targets("kill-agent", "h2") != ["h2"]          # without fencing: never the holder
    fenced = Campaign(faults=1, seed=1, stonith=True)
    assert any(fenced.targets("kill-agent", "h2") == ["h2"] for _ in range(40))


def test_report_per_kind() -> None:
    rep = CampaignReport(1, 3, [FaultResult(1, "flip", "h1", recovered_s=2.0, vip_outage_s=0.5),
                                FaultResult(2, "flip", "h2", recovered_s=4.0, violations=["x"]),
                                FaultResult(3, "reattach", "all", error="boom")])
    s = rep.summary()
    assert s["per_kind"]["flip"] == {"faults": 2, "violations": 1, "errors": 0, "recovered_median_s": 3.0,
                                     "recovered_worst_s": 4.0, "vip_outage_worst_s": 0.5}
    assert s["per_kind"]["reattach"]["errors"] == 1 and s["per_kind"]["reattach"]["recovered_median_s"] is None
    assert rep.violations == ["step 2 flip h2: x"] and rep.errors == ["step 3 reattach all: boom"]


def _run(c: Campaign) -> tuple[CampaignReport, str]:
    lines: list[str] = []
    c.log = lines.append
    report = c.run()
    return report, "\n".join(lines)


@pytest.mark.lab
@NEEDS_ETCD
def test_cts_kinds_once_each_have_no_violations() -> None:
    report, out = _run(Campaign(faults=len(SAFE_CTS), seed=11, kinds=SAFE_CTS, each=True, log_tail_chars=3000))
    assert sorted(r.kind for r in report.results) == sorted(SAFE_CTS), out
    assert report.errors == [], out
    assert report.violations == [], out
    majority = next(r for r in report.results if r.kind == "etcd-majority-loss")
    assert any(n.startswith("everything stopped") for n in majority.notes), out  # it did self-fence
    assert all(r.max_claimants == 1 for r in report.results), out


@pytest.mark.lab
@NEEDS_ETCD
def test_maintenance_kinds_leave_resources_alone() -> None:
    report, out = _run(Campaign(faults=2, seed=11, kinds=MAINTENANCE, each=True, log_tail_chars=3000))
    assert sorted(r.kind for r in report.results) == sorted(MAINTENANCE), out
    assert report.errors == [], out
    assert report.violations == [], out


class _HolderCampaign(Campaign):
    """Aims every fault at the VIP holder: with fencing, kill-agent may, and a partition should."""

    def targets(self, kind: str, holder: str | None) -> list[str]:
        return [holder] if holder else super().targets(kind, holder)


@pytest.mark.lab
@NEEDS_ETCD
def test_fenced_campaign_partition_and_kill_agent_of_the_holder() -> None:
    report, out = _run(_HolderCampaign(faults=2, seed=2, kinds=("partition", "kill-agent"), each=True,
                                       stonith=True, order_kind="Optional", log_tail_chars=3000))
    assert sorted(r.kind for r in report.results) == ["kill-agent", "partition"], out
    assert report.errors == [], out
    for r in report.results:
        assert r.held_vip, out
        assert r.max_claimants == 1 and r.samples > 0, out      # never on two hosts, fenced first
        assert r.recovered_s is not None, out                   # the fenced holder booted and rejoined
        # (restarts on the other hosts are not asserted: losing the etcd leader's host can make them
        # self-fence, docs/lab.md finding 2, which is not the lab's to fix)
