"""corral.controller.liveness: which members count as silent, and the guards against
fencing a healthy node for the controller's own delays."""
from __future__ import annotations

import json

from corral.controller.liveness import Liveness, heartbeat_timeout
from corral.model.yaml_config import parse_yaml_config


def beat(every: float = 0.1) -> str:
    return json.dumps({"seq": 1, "every": every})


def test_member_silent_past_the_timeout_while_we_hear_ourselves():
    lv = Liveness("n2")
    lv.beat("n1", beat(), now=10.0)
    lv.beat("n2", beat(), now=10.0)
    assert lv.silent(["n1", "n2"], 0.5, now=10.4) == {}
    lv.beat("n2", beat(), now=10.5)
    silent = lv.silent(["n1", "n2"], 0.5, now=10.6)
    assert list(silent) == ["n1"] and abs(silent["n1"] - 0.6) < 1e-9


def test_nobody_is_silent_while_our_own_heartbeat_is_overdue():
    lv = Liveness("n2")
    lv.beat("n1", beat(), now=10.0)
    lv.beat("n2", beat(), now=10.0)
    assert lv.silent(["n1", "n2"], 0.5, now=11.0) == {}  # our watch (or the store) stalls, not n1


def test_timeout_is_at_least_two_of_the_members_own_intervals():
    lv = Liveness("n2")
    lv.beat("n1", beat(every=1.0), now=10.0)
    lv.beat("n2", beat(), now=11.5)
    assert lv.silent(["n1", "n2"], 0.5, now=11.6) == {}   # 1.6 s < 2 x 1.0 s
    lv.beat("n2", beat(), now=12.1)
    assert list(lv.silent(["n1", "n2"], 0.5, now=12.2)) == ["n1"]


def test_a_member_first_seen_gets_a_grace_period_and_a_gone_key_is_forgotten():
    lv = Liveness("n2")
    lv.beat("n2", beat(), now=10.0)
    assert lv.silent(["n1", "n2"], 0.5, now=10.1) == {}   # n1 unknown until now: grace from 10.1
    lv.beat("n2", beat(), now=10.5)
    assert lv.silent(["n1", "n2"], 0.5, now=10.55) == {}
    lv.beat("n2", beat(), now=10.6)
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
