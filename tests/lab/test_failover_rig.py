"""The failover rig: the prober's arithmetic (no root), and one real keepalived crash run (lab).

The lab test builds its own namespaces and contacts only addresses inside them;
every wait in the rig is bounded and everything is torn down even on failure.
"""
from __future__ import annotations

import io
import json
import socket
import struct
from collections.abc import Sequence
from pathlib import Path

import pytest

from corral_lab import Lab
from corral_lab import netns as nsutil
from corral_lab.failover import DEFAULT_PORT, DEFAULT_VIP, SystemUnderTest, crash_runs
from corral_lab.keepalived import Keepalived, find_keepalived, render_config
from corral_lab.probe import (
    Attempt,
    Flap,
    ProbeRecord,
    answer_flaps,
    flaps,
    gaps,
    largest_gap_in,
    longest_outage,
    outage_at,
    parse_arp,
    probe,
    read_record,
    unanswered_since,
)


def series(spec: list[tuple[float, str | None]]) -> list[Attempt]:
    """(t, backend) pairs; backend None is a failed attempt."""
    return [Attempt(t, b is not None, b or "", "" if b else "timeout") for t, b in spec]


def every(t0: float, t1: float, backend: str | None, step: float = 0.02) -> list[tuple[float, str | None]]:
    n = round((t1 - t0) / step)
    return [(round(t0 + i * step, 6), backend) for i in range(n)]


# -- outage arithmetic (synthetic timestamps) -----------------------------------------------------------------
def test_longest_outage_is_the_gap_between_successes() -> None:
    # h1 answers until 1.00, nothing answers until 4.20, then h2
    att = series(every(0.0, 1.02, "h1") + every(1.02, 4.20, None) + every(4.20, 5.0, "h2"))
    out = longest_outage(att)
    assert out is not None
    assert out.start == pytest.approx(1.0) and out.end == pytest.approx(4.2)
    assert out.seconds == pytest.approx(3.2)
    assert (out.before, out.after) == ("h1", "h2")
    assert out.failures == len(every(1.02, 4.20, None))
    # the gap around an instant inside it, and the largest one overlapping an interval
    assert outage_at(att, 2.5) == out and largest_gap_in(att, 1.01, 4.2) == out
    # outside the outage, the gap around an instant is one probe interval
    small = outage_at(att, 0.5)
    assert small is not None and small.seconds == pytest.approx(0.02)


def test_outage_ignores_order_and_needs_two_successes() -> None:
    att = series([(0.3, "h1"), (0.1, "h1"), (0.2, None)])
    out = longest_outage(att)
    assert out is not None and out.seconds == pytest.approx(0.2) and out.failures == 1
    assert longest_outage(series([(0.1, None), (0.2, "h1")])) is None
    assert longest_outage([]) is None
    assert outage_at(series([(0.1, "h1")]), 0.5) is None  # nothing answered after


def test_a_success_in_flight_at_the_fault_starts_the_outage() -> None:
    # the fault is at 1.005; the attempt started at 1.00 still got h1 before its link went down
    att = series(every(0.0, 1.02, "h1") + every(1.02, 3.0, None) + [(3.0, "h2"), (3.02, "h2")])
    out = largest_gap_in(att, 1.005, 3.0)
    assert out is not None and out.start == pytest.approx(1.0) and out.end == pytest.approx(3.0)
    assert largest_gap_in(att, 3.5, 4.0) is None


def test_a_record_ending_unanswered() -> None:
    att = series([(0.0, "h1"), (0.02, "h1"), (0.04, None), (0.06, None)])
    assert unanswered_since(att) == pytest.approx(0.02)
    assert unanswered_since(series([(0.0, None)])) == 0.0
    assert unanswered_since(att[:2]) is None
    assert [g.seconds for g in gaps(att)] == [pytest.approx(0.02)]


# -- split brain evidence -----------------------------------------------------------------------------------------
def test_one_clean_handover_is_no_flap_however_quick() -> None:
    att = series(every(0.0, 1.0, "h1") + every(1.0, 2.0, "h2"))
    assert answer_flaps_of(att) == []


def test_alternating_backends_within_the_window_are_flaps() -> None:
    att = series([(0.0, "h1"), (0.02, "h2"), (0.04, "h1"), (0.06, "h2")])
    found = answer_flaps_of(att)
    assert [(f.value, f.other) for f in found] == [("h1", "h2"), ("h2", "h1")]
    assert found[0].first == 0.0 and found[0].again == 0.04


def test_coming_back_after_the_window_is_no_flap() -> None:
    # h1 answered, h2 took over, h1 came back 5 s later (e.g. preemption): not concurrent
    assert flaps([(0.0, "h1"), (0.5, "h2"), (5.0, "h1")], window=1.0) == []
    assert len(flaps([(0.0, "h1"), (0.5, "h2"), (5.0, "h1")], window=10.0)) == 1


def answer_flaps_of(att: list[Attempt]) -> list[Flap]:
    return answer_flaps(ProbeRecord(att), window=1.0)


# -- the record file and ARP parsing ------------------------------------------------------------------------
def test_read_record_skips_a_partial_last_line(tmp_path: Path) -> None:
    path = f"{tmp_path}/probe.jsonl"
    lines = [{"t": 1.0, "ok": True, "backend": "h1", "dt": 0.001},
             {"t": 1.02, "ok": False, "error": "timeout", "dt": 0.1},
             {"t": 1.03, "arp": "aa:bb:cc:dd:ee:ff", "op": 1}]
    with open(path, "w") as f:
        f.write("".join(json.dumps(d) + "\n" for d in lines) + '{"t": 1.04, "ok": tr')
    rec = read_record(path)
    assert [a.ok for a in rec.attempts] == [True, False]
    assert rec.attempts[0].backend == "h1" and rec.attempts[1].error == "timeout"
    assert rec.arp[0].mac == "aa:bb:cc:dd:ee:ff" and rec.backends() == {"h1"}
    assert read_record(f"{tmp_path}/missing").attempts == []


def arp_packet(sender_mac: bytes, sender_ip: str, op: int = 1) -> bytes:
    return (struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sender_mac + socket.inet_aton(sender_ip)
            + b"\x00" * 6 + socket.inet_aton(sender_ip))


def test_parse_arp_keeps_only_claims_for_the_vip() -> None:
    mac = bytes.fromhex("0a1b2c3d4e5f")
    assert parse_arp(arp_packet(mac, "10.203.0.100"), "10.203.0.100") == ("0a:1b:2c:3d:4e:5f", 1)
    assert parse_arp(arp_packet(mac, "10.203.0.2", 2), "10.203.0.100") is None
    assert parse_arp(b"\x00" * 10, "10.203.0.100") is None


def test_keepalived_config_and_protocol() -> None:
    conf = render_config("h2", "10.203.0.100", priority=190, extra=["garp_lower_prio_repeat 5"])
    for line in ("router_id h2", "state BACKUP", "nopreempt", "interface eth0", "priority 190",
                 "advert_int 1\n", "10.203.0.100/24 dev eth0", "garp_lower_prio_repeat 5"):
        assert line in conf
    assert conf.count("{") == conf.count("}")
    assert isinstance(Keepalived(DEFAULT_VIP, DEFAULT_PORT), SystemUnderTest)


def test_probe_rejects_nonsense_bounds() -> None:
    with pytest.raises(ValueError):
        probe("10.203.0.100", 1, io.StringIO(), interval=0)


# -- one real crash run ---------------------------------------------------------------------------------------
@pytest.mark.lab
def test_keepalived_crash_fails_over_and_the_client_sees_the_outage() -> None:
    if find_keepalived() is None:
        pytest.skip("keepalived is not installed (apt-get install keepalived)")
    before = set(nsutil.list_netns())
    runs = crash_runs(Keepalived(DEFAULT_VIP, DEFAULT_PORT), 1, ready_s=15.0, failover_bound_s=12.0)
    (r,) = runs
    assert not r.error, r.error
    assert r.victim in ("h1", "h2", "h3") and r.new_holder in ("h1", "h2", "h3")
    assert r.new_holder != r.victim
    # VRRP with advert_int 1: the backup takes over 3 adverts + skew after the last advert it heard
    assert r.outage_s is not None and 0.5 < r.outage_s < 10.0, r.outage
    assert r.outage is not None and r.outage.failures > 0
    assert r.outage.before == r.victim and r.outage.after == r.new_holder
    assert r.claimed_after_s is not None and r.claimed_after_s < 10.0
    assert r.longest_gap_s == pytest.approx(r.outage_s)
    assert r.flaps == []
    # torn down: no namespace of ours left behind
    assert set(nsutil.list_netns()) <= before


class _NoVip:
    """A system under test that never brings the VIP up (or fails to start at all)."""

    name, vip, port = "novip", DEFAULT_VIP, DEFAULT_PORT

    def __init__(self, fail_start: bool = False) -> None:
        self.fail_start = fail_start
        self.stopped = False

    def start(self, lab: Lab, hosts: Sequence[str]) -> None:
        if self.fail_start:
            raise RuntimeError("boom")

    def start_host(self, lab: Lab, host: str) -> None:
        pass

    def vip_holder(self, lab: Lab) -> str | None:
        return None

    def claimants(self, lab: Lab) -> list[str]:
        return []

    def stop(self) -> None:
        self.stopped = True


@pytest.mark.lab
def test_a_vip_that_never_answers_is_a_bounded_failure_and_everything_is_torn_down() -> None:
    before = set(nsutil.list_netns())
    sut = _NoVip()
    (r,) = crash_runs(sut, 1, ready_s=0.5)
    assert "did not answer" in r.error and r.outage is None and sut.stopped
    assert set(nsutil.list_netns()) <= before
    failing = _NoVip(fail_start=True)
    with pytest.raises(RuntimeError, match="boom"):
        crash_runs(failing, 1)
    assert failing.stopped and set(nsutil.list_netns()) <= before
