"""A controller killed in the middle of a recovery: its successor resumes from the store.

Nothing twice (no instance evacuated twice, no second recovery), nothing forgotten (every HA
instance ends ACTIVE elsewhere), wherever the first controller stopped.
"""
from __future__ import annotations

import pytest

from corral.cluster import keys
from corral.openstack.records import RecoveryBook, read_all
from corral.openstack.workflow import HostRecovery, Stopped

from .fake_nova import FakeNova
from .rig import env, memory_store, start_recovery


class Crash(Exception):
    """The controller's process dies here."""


def _lab(n: int = 8) -> tuple[FakeNova, list[str], list[str]]:
    nova = FakeNova(["hostA", "hostB", "hostC"])
    pets = nova.boot("hostA", n, "pet", metadata={"HA_Enabled": "True"})
    cows = nova.boot("hostA", 2, "cow")
    nova.kill("hostA")
    return nova, pets, cows


def _successor(store, nova) -> None:
    store.put(keys.EPOCH, "2")  # the new controller's epoch: the old one's writes are refused
    rec = HostRecovery(env(store, nova, epoch=2), "hostA").run()
    assert rec is not None and rec.state == "evacuated"


def _all_recovered_once(store, nova, pets, cows) -> None:
    for pet in pets:
        assert nova.servers[pet].status == "ACTIVE" and nova.servers[pet].host != "hostA", pet
        assert nova.evacuate_calls(pet) == 1, pet
    assert all(nova.evacuate_calls(c) == 0 for c in cows)
    insts = read_all(store)[1]["hostA"]
    assert sorted(insts) == sorted(pets + cows)
    assert all(insts[p].state == "active" and insts[p].target == nova.servers[p].host for p in pets)


@pytest.mark.parametrize("when", ["before", "after"])
def test_killed_while_sending_evacuations(when: str):
    """Killed between marking an evacuation requested and sending it, or between sending it and
    recording that: the successor asks Nova and sends only what never reached it."""
    store, (nova, pets, cows) = memory_store(), _lab()
    real = nova.evacuate
    calls = {"n": 0}

    def dying(server_id: str) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            if when == "after":
                real(server_id)
            raise Crash(server_id)
        real(server_id)

    nova.evacuate = dying  # type: ignore[method-assign]
    start_recovery(store, "hostA")
    with pytest.raises(Crash):
        HostRecovery(env(store, nova, limit=4), "hostA").run()
    insts = read_all(store)[1]["hostA"]
    assert any(r.state == "requested" for r in insts.values())  # left behind by the dead controller
    nova.evacuate = real  # type: ignore[method-assign]
    _successor(store, nova)
    _all_recovered_once(store, nova, pets, cows)


def test_killed_while_following():
    store, (nova, pets, cows) = memory_store(), _lab()
    nova.rebuild_polls = 4

    def leading() -> bool:  # lost once some instances are in flight and some are ACTIVE already
        return not (sum(1 for c in nova.calls if c[0] == "server") >= 8)

    start_recovery(store, "hostA")
    with pytest.raises(Stopped):
        HostRecovery(env(store, nova, leading=leading, limit=3), "hostA").run()
    insts = read_all(store)[1]["hostA"]
    assert {r.state for r in insts.values()} & {"rebuilding", "pending"}
    _successor(store, nova)
    _all_recovered_once(store, nova, pets, cows)


def test_killed_while_selecting():
    """Instance records written, the recovery not yet advanced: the successor selects again,
    keeps the records it finds, and adds none twice."""
    store, (nova, pets, cows) = memory_store(), _lab()
    e = env(store, nova)
    real_update = e.book.update

    def dying(rec, **changes):
        if changes.get("state") == "evacuating":
            raise Crash("after the instance records")
        return real_update(rec, **changes)

    e.book.update = dying  # type: ignore[method-assign]
    start_recovery(store, "hostA")
    with pytest.raises(Crash):
        HostRecovery(e, "hostA").run()
    assert RecoveryBook(store, 1).read("hostA")[0].state == "selecting"  # type: ignore[union-attr]
    assert len(read_all(store)[1]["hostA"]) == len(pets) + len(cows)
    _successor(store, nova)
    _all_recovered_once(store, nova, pets, cows)


def test_killed_after_fencing_the_successor_does_not_fence_again():
    store, (nova, pets, cows) = memory_store(), _lab()
    from .rig import FakeFencer

    first, second = FakeFencer(), FakeFencer()
    e = env(store, nova, fencer=first)
    real_update = e.book.update

    def dying(rec, **changes):
        if changes.get("state") == "forcing-down":
            raise Crash("fenced, not yet recorded in the recovery")
        return real_update(rec, **changes)

    e.book.update = dying  # type: ignore[method-assign]
    start_recovery(store, "hostA")
    with pytest.raises(Crash):
        HostRecovery(e, "hostA").run()
    store.put(keys.EPOCH, "2")
    HostRecovery(env(store, nova, epoch=2, fencer=second), "hostA").run()
    assert len(first.fenced) == 1 and second.fenced == []  # the confirmed fence in the history counts
    _all_recovered_once(store, nova, pets, cows)
