"""The etcd client when the etcd leader's host crashes (issue 4: needless restarts).

A 3-member etcd in the namespace lab; lease probes (an agent's renewal loop, plus a watch) on
the two surviving hosts, one with the leader's member first in its endpoint list (its calls
and its watch are on the member that dies), one with its own member first. Crashing the
leader's host (links down: connects hang, nothing is refused) must cost them neither their
lease nor their watch. Needs root, `ip netns` and /usr/bin/etcd, else skipped (~15 s). Plus the
arithmetic of a probe's record (no lab needed).
"""
from __future__ import annotations

import shutil
import tempfile

import pytest

from corral_lab import Lab
from corral_lab.etcd import LabEtcd, analyze_probe, etcd_available, leader_crash_trial

NEEDS_ETCD = pytest.mark.skipif(etcd_available() is not None, reason=etcd_available() or "")
TIMEOUT, RENEW, TTL = 0.4, 0.2, 2.0  # renew + 2 x timeout = 1.0 < TTL, as agents are configured


@pytest.mark.lab
@NEEDS_ETCD
def test_leader_host_crash_keeps_leases_and_watches_of_the_survivors() -> None:
    work = tempfile.mkdtemp(prefix="corral-test-etcd-failover-")
    try:
        with Lab(3) as lab:
            etcd = LabEtcd(lab, list(lab.hosts), data_root=f"{work}/etcd")
            try:
                etcd.start()
                leader, reports = leader_crash_trial(lab, etcd, f"{work}/trial", timeout=TIMEOUT, renew=RENEW,
                                                     ttl=TTL, observe_s=3.0)
            finally:
                etcd.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert len(reports) == 2
    for rep in reports:
        assert rep.host != leader
        assert rep.renewals > 0 and not rep.expired, rep  # etcd never dropped the lease
        assert rep.final_ok, rep  # and still renews it after the crash
        assert rep.max_gap_s is not None and rep.max_gap_s < TTL, rep  # the client recovered within the TTL
        assert rep.watch_unseen == 0, rep  # the watch resumed on a live member: every put was seen


def test_probe_record_arithmetic() -> None:
    config = {"config": {"url": "etcd://x", "ttl": 2.0, "renew": 0.2, "timeout": 0.4}}
    ka = [{"keepalive": "ok", "sent": 10.0, "t": 10.01}, {"keepalive": "failed: no answer", "sent": 10.21, "t": 10.61},
          {"keepalive": "ok", "sent": 10.81, "t": 11.05}, {"keepalive": "ok", "sent": 11.25, "t": 11.26}]
    watch = [{"put": 1, "t": 10.0}, {"seen": 1, "t": 10.02}, {"put": 2, "t": 10.9}, {"seen": 2, "t": 11.3},
             {"put": 3, "t": 11.0}]  # 3 never seen
    rep = analyze_probe([config, *ka, *watch, {"final": "ok", "sent": 11.5, "t": 11.51}], crash_at=10.1, end_at=12.0)
    assert rep.limit_s == pytest.approx(1.0)
    assert rep.max_gap_s == pytest.approx(1.05)  # sent 10.0 -> the next good one returned at 11.05
    assert rep.lease_lost  # an agent would have self-fenced after 1.0 s
    assert rep.recovered_s == pytest.approx(0.95) and rep.longest_call_s == pytest.approx(0.4)
    assert rep.watch_unseen == 1 and rep.watch_lag_s == pytest.approx(1.0)  # put 3 unseen until the end
    fine = analyze_probe([config, *ka[2:], {"final": "ok", "sent": 11.5, "t": 11.51}], crash_at=10.1, end_at=12.0)
    assert not fine.lease_lost and fine.max_gap_s == pytest.approx(0.45)  # 10.81 -> 11.26
    expired = analyze_probe([config, *ka[:1], {"final": "LeaseExpired: gone", "sent": 11.5, "t": 11.51}],
                            crash_at=10.1, end_at=12.0)
    assert expired.expired and expired.lease_lost
