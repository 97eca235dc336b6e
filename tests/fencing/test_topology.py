"""Fencer: topology levels in order with fallback, capable devices without topology, deadline, rounds."""
from __future__ import annotations

import time
from typing import Any

import pytest

from corral.fencing.device import FenceDevice
from corral.fencing.topology import Fencer
from corral.model.config import Configuration, Primitive

from .conftest import FakeAgent, Sleeps


def device(agent: FakeAgent, dev_id: str, **kw: Any) -> FenceDevice:
    kw.setdefault("host_list", ["n1", "n2"])
    kw.setdefault("tries", 1)
    return FenceDevice(dev_id, str(agent.path), host_argument="plug", sleep=Sleeps(), **kw)


def test_level_one_fails_then_level_two(make_agent: Any) -> None:
    ipmi, pdu = make_agent("fence_ipmi"), make_agent("fence_pdu")
    ipmi.set("reboot", rc=1)
    fencer = Fencer([device(ipmi, "ipmi"), device(pdu, "pdu")], [("n1", 1, ["ipmi"]), ("n1", 2, ["pdu"])],
                    rounds=1)
    r = fencer.fence("n1")
    assert r.ok and r.level == 2 and r.device == "pdu" and r.attempts == 2 and r.node == "n1"
    assert r.action == "reboot" and r.started <= r.finished and r.error == ""
    assert [x.device for x in r.results] == ["ipmi", "pdu"] and not r.results[0].ok
    assert ipmi.actions() == ["reboot"] and pdu.actions() == ["reboot"]


def test_first_level_wins_and_levels_are_sorted(make_agent: Any) -> None:
    a, b = make_agent("fence_a"), make_agent("fence_b")
    fencer = Fencer([device(a, "a"), device(b, "b")], [("n1", 2, ["b"]), ("n1", 1, ["a"])])
    r = fencer.fence("n1", "off")
    assert r.ok and r.level == 1 and r.device == "a" and b.actions() == []


def test_every_device_of_a_level_must_succeed(make_agent: Any) -> None:
    a, b, c = make_agent("fence_a"), make_agent("fence_b"), make_agent("fence_c")
    b.set("off", rc=1)
    fencer = Fencer([device(a, "a"), device(b, "b"), device(c, "c")],
                    [("n1", 1, ["a", "b"]), ("n1", 2, ["c"])], rounds=1)
    r = fencer.fence("n1", "off")
    assert r.ok and r.level == 2 and r.device == "c"
    assert a.actions() == ["off"] and b.actions() == ["off"] and c.actions() == ["off"]


def test_reboot_through_two_devices_is_all_off_then_all_on(make_agent: Any, tmp_path: Any) -> None:
    a, b = make_agent("fence_psu1"), make_agent("fence_psu2")
    fencer = Fencer([device(a, "psu1"), device(b, "psu2")], [("n1", 1, ["psu1", "psu2"])])
    r = fencer.fence("n1", "reboot")
    assert r.ok and r.device == "psu1,psu2"
    assert [(x.device, x.agent_action) for x in r.results] == [
        ("psu1", "off"), ("psu2", "off"), ("psu1", "on"), ("psu2", "on")]
    # A failed "on" does not undo the fence: every feed was cut.
    b.set("on", rc=1)
    assert fencer.fence("n1", "reboot").ok


def test_topology_device_that_cannot_fence_target(make_agent: Any) -> None:
    a, b = make_agent("fence_a"), make_agent("fence_b")
    fencer = Fencer([device(a, "a", host_list=["n2"]), device(b, "b")],
                    [("n1", 1, ["a"]), ("n1", 2, ["b"])], rounds=1)
    r = fencer.fence("n1")
    assert r.ok and r.level == 2 and a.actions() == []


def test_unknown_device_in_topology(make_agent: Any) -> None:
    a = make_agent("fence_a")
    r = Fencer([device(a, "a")], [("n1", 1, ["ghost"])], rounds=1).fence("n1")
    assert not r.ok and "unknown fence device 'ghost'" in r.error and r.level is None and r.device is None


def test_without_topology_capable_devices_by_priority(make_agent: Any) -> None:
    a, b, c = make_agent("fence_a"), make_agent("fence_b"), make_agent("fence_c")
    a.set("reboot", rc=1)
    devices = [device(a, "a", priority=5), device(b, "b", priority=1), device(c, "c", priority=9,
                                                                              host_list=["n2"])]
    fencer = Fencer(devices, rounds=1)
    assert [lvl.devices for lvl in fencer.levels_for("n1")] == [("a",), ("b",)]
    r = fencer.fence("n1")
    assert r.ok and r.device == "b" and r.level is None and c.actions() == []
    r = fencer.fence("n9")
    assert not r.ok and r.error == "no fence device can fence n9" and r.attempts == 0


def test_other_targets_topology_does_not_apply(make_agent: Any) -> None:
    a, b = make_agent("fence_a"), make_agent("fence_b")
    fencer = Fencer([device(a, "a"), device(b, "b", priority=1)], [("n1", 1, ["a"])])
    assert fencer.fence("n2").device == "b"


def test_rounds_retry_the_whole_plan(make_agent: Any) -> None:
    a = make_agent("fence_a")
    a.set("off", fail_first=1)
    sleeps = Sleeps()
    r = Fencer([device(a, "a")], [("n1", 1, ["a"])], rounds=2, round_pause_s=0.5, sleep=sleeps).fence("n1", "off")
    assert r.ok and r.attempts == 2 and sleeps.calls == [0.5]
    a2 = make_agent("fence_a2")
    a2.set("off", rc=1)
    r = Fencer([device(a2, "a")], rounds=3, round_pause_s=0, sleep=Sleeps()).fence("n1", "off")
    assert not r.ok and r.attempts == 3 and "a: off failed" in r.error


def test_overall_deadline(make_agent: Any) -> None:
    a, b = make_agent("fence_a"), make_agent("fence_b")
    a.set("reboot", sleep=10)
    b.set("reboot", sleep=10)
    devs = [device(a, "a", timeout_s=20, kill_grace_s=0.1), device(b, "b", timeout_s=20, kill_grace_s=0.1)]
    t0 = time.monotonic()
    r = Fencer(devs, [("n1", 1, ["a"]), ("n1", 2, ["b"])], rounds=5).fence("n1", deadline_s=0.8)
    assert not r.ok and time.monotonic() - t0 < 3.0 and "deadline passed" in r.error
    assert b.actions() == []  # the deadline was spent on level 1


def test_bad_action() -> None:
    with pytest.raises(ValueError, match="fence action 'status'"):
        Fencer([]).fence("n1", "status")


def test_from_config(fake_agent: FakeAgent) -> None:
    cfg = Configuration(
        resources=[Primitive("f1", "stonith", str(fake_agent.path),
                             params={"pcmk_host_list": "n1", "pcmk_host_argument": "plug"})],
        options={"stonith-timeout": "30s"},
        fencing_topology=[("n1", 1, ["f1"]), ("", 1, ["f1"])])
    fencer = Fencer.from_config(cfg)
    assert fencer.devices["f1"].timeout_s == 30 and len(fencer.warnings) == 1
    r = fencer.fence("n1", "off")
    assert r.ok and r.level == 1 and fake_agent.calls("off")[0]["plug"] == "n1"


def test_each_device_takes_its_own_delay(make_agent: Any) -> None:
    a, b = make_agent("fence_a"), make_agent("fence_b")
    a.set("reboot", rc=1)
    da, db = device(a, "a", delay_base=1.0), device(b, "b", delay_base=2.0)
    r = Fencer([da, db], [("n1", 1, ["a"]), ("n1", 2, ["b"])], rounds=1).fence("n1")
    assert r.ok and da.sleep.calls == [1.0] and db.sleep.calls == [2.0]  # type: ignore[attr-defined]
    assert [x.delay_s for x in r.results] == [1.0, 2.0]
