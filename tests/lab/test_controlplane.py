"""The control-plane lab (docs/openstack.md, "Control-plane lab"): the audits' arithmetic, and one
campaign on the real services (Galera, HAProxy, memcached, Keystone) under Corral with fencing, one
fault of each kind, zero violations. Needs root, etcd and the Debian packages scripts/test installs."""
from __future__ import annotations

import pytest

from corral_lab.controlplane import audits


def test_longest_gap_spans_the_fault() -> None:
    recs = [{"t": t, "ok": True} for t in (0.0, 0.1, 0.2)] + [{"t": 0.3, "ok": False}] + \
           [{"t": t, "ok": True} for t in (2.2, 2.3)]
    assert audits.longest_gap(recs, start=0.25, end=2.3) == pytest.approx(2.0)
    assert audits.longest_gap(recs[:4], start=0.25, end=1.0) is None  # never served again


def test_missing_commits_and_acknowledged() -> None:
    recs = [{"t": 1, "n": 1}, {"t": 2, "err": "x", "n_try": 2}, {"t": 3, "n": 3}]
    acked = audits.acknowledged(recs)
    assert acked == {1, 3}
    assert audits.missing_commits(acked, {1, 2}) == [3]


def test_two_primary_components_are_seen() -> None:
    addrs = {"a": "10.0.0.1", "b": "10.0.0.2", "c": "10.0.0.3"}
    one = {h: {"wsrep_cluster_status": "Primary", "wsrep_incoming_addresses": "10.0.0.1:3306,10.0.0.2:3306"}
           for h in ("a", "b")}
    assert audits.two_primaries({**one, "c": {"wsrep_cluster_status": "non-Primary"}}, addrs) == []
    split = {"a": {"wsrep_cluster_status": "Primary", "wsrep_incoming_addresses": "10.0.0.1:3306"},
             "c": {"wsrep_cluster_status": "Primary", "wsrep_incoming_addresses": "10.0.0.3:3306"}}
    assert audits.two_primaries(split, addrs) == ["a", "c"]


@pytest.mark.lab
def test_controlplane_campaign_one_fault_of_each_kind() -> None:
    from corral_lab import cleanup_stale
    from corral_lab.cli import _controlplane_available
    from corral_lab.controlplane.campaign import KINDS, Campaign
    from corral_lab.controlplane.cluster import TAG, ControlPlane

    why = _controlplane_available()
    if why:
        pytest.skip(f"control-plane lab unavailable: {why}")
    cleanup_stale(TAG)
    with ControlPlane(log=print) as cp:
        cp.up()
        results = Campaign(list(KINDS), cp, log=print).run()
    assert [r.kind for r in results] == list(KINDS)
    for r in results:
        assert not r.error, f"{r.kind}: {r.error}"
        assert r.violations == [], f"{r.kind}: {r.violations}"
        assert r.lost_commits == 0 and r.acked_commits > 0
        assert r.all_back_s is not None
        assert r.token_outage_s is not None
