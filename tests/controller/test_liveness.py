"""corral.controller.liveness: which members count as silent, and the guards against
fencing a healthy node for the controller's own delays."""
from __future__ import annotations

import json

from corral.controller.liveness import Liveness, heartbeat_timeout
from corral.model.yaml_config import parse_yaml_config


def beat(every: float = 0.1) -> str:
    return json.dumps({"seq": 1, "every": every})


def own_beats(lv: Liveness, *times: float) -> None:
    for t in times:
        lv.beat(lv.own, beat(), now=t)


def test_member_silent_past_the_timeout_while_we_hear_ourselves():
    lv = Liveness("n2")
    lv.beat("n1", beat(), now=10.0)
    own_beats(lv, 10.0, 10.2, 10.4)
    assert lv.silent(["n1", "n2"], 0.5, now=10.45) == {}
    own_beats(lv, 10.5)
    silent = lv.silent(["n1", "n2"], 0.5, now=10.6)
    assert list(silent) == ["n1"] and abs(silent["n1"] - 0.6) < 1e-9


def test_after_a_stall_of_the_store_our_first_beat_does_not_condemn_the_others():
    lv = Liveness("n2")
    lv.beat("n1", beat(), now=10.0)
    own_beats(lv, 10.0)
    own_beats(lv, 12.0)          # the store stalled for 2 s; our beat comes through first
    assert lv.silent(["n1", "n2"], 0.5, now=12.01) == {}
    lv.beat("n1", beat(), now=12.02)
    own_beats(lv, 12.1, 12.2, 12.3)
    assert lv.silent(["n1", "n2"], 0.5, now=12.4) == {}


def test_nobody_is_silent_while_our_own_heartbeat_is_overdue():
    lv = Liveness("n2")
    lv.beat("n1", beat(), now=10.0)
    lv.beat("n2", beat(), now=10.0)
    assert lv.silent(["n1", "n2"], 0.5, now=11.0) == {}  # our watch (or the store) stalls, not n1


def test_timeout_is_at_least_two_of_the_members_own_intervals():
    lv = Liveness("n2")
    lv.beat("n1", beat(every=1.0), now=10.0)
    own_beats(lv, 11.0, 11.3, 11.5)
    assert lv.silent(["n1", "n2"], 0.5, now=11.6) == {}   # 1.6 s < 2 x 1.0 s
    own_beats(lv, 12.1)
    assert list(lv.silent(["n1", "n2"], 0.5, now=12.2)) == ["n1"]


def test_a_member_first_seen_gets_a_grace_period_and_a_gone_key_is_forgotten():
    lv = Liveness("n2")
    own_beats(lv, 10.0)
    assert lv.silent(["n1", "n2"], 0.5, now=10.1) == {}   # n1 unknown until now: grace from 10.1
    own_beats(lv, 10.3, 10.5)
    assert lv.silent(["n1", "n2"], 0.5, now=10.55) == {}
    own_beats(lv, 10.6)
    assert list(lv.silent(["n1", "n2"], 0.5, now=10.65)) == ["n1"]
    lv.beat("n1", None, now=10.7)                          # lease gone: a rejoin starts afresh
    assert lv.silent(["n1", "n2"], 0.5, now=10.7) == {}


def test_zero_timeout_means_wait_for_the_lease():
    lv = Liveness("n2")
    lv.beat("n1", beat(), now=0.0)
    assert lv.silent(["n1", "n2"], 0.0, now=100.0) == {}


def _cfg(options: str):
    return parse_yaml_config(f"cluster: {{{options}}}\nresources: []\n", "test.yaml")[0]


def test_heartbeat_timeout_needs_fencing():
    assert heartbeat_timeout(_cfg("stonith-enabled: true, heartbeat-timeout: 400ms")) == 0.4
    assert heartbeat_timeout(_cfg("stonith-enabled: false, heartbeat-timeout: 400ms")) == 0.0
    assert heartbeat_timeout(_cfg("stonith-enabled: true")) == 0.0
