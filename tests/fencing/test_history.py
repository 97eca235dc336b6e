"""Fencing history in the store (memory and sqlite): records, epochs, confirmed_fenced."""
from __future__ import annotations

import json

import pytest

from corral.cluster import keys
from corral.fencing.device import FenceDevice
from corral.fencing.history import (
    DEFAULT_EPOCH_KEY,
    HISTORY,
    HistoryConflict,
    confirmed_fenced,
    fence_and_record,
    last_confirmed,
    list_history,
    pending,
    prune_history,
    record_pending,
    record_result,
)
from corral.fencing.topology import Fencer, FenceResult
from corral.store import Deposed, Store

from .conftest import FakeAgent


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def result(node: str, ok: bool, at: float, action: str = "reboot") -> FenceResult:
    return FenceResult(node=node, action=action, ok=ok, device="ipmi" if ok else None, level=1 if ok else None,
                       attempts=2, started=at - 1, finished=at, error="" if ok else "boom")


def test_epoch_key_matches_the_cluster_layout() -> None:
    assert DEFAULT_EPOCH_KEY == keys.EPOCH


def test_pending_then_done(store: Store) -> None:
    clock = Clock()
    rec = record_pending(store, "n1", "reboot", "ctl-a", now=clock)
    assert rec.state == "pending" and rec.key.startswith(f"{HISTORY}n1/") and rec.epoch is None
    assert [r.id for r in pending(store)] == [rec.id]
    stored = json.loads(store.get(rec.key).value)  # type: ignore[union-attr]
    assert stored["state"] == "pending" and stored["origin"] == "ctl-a"
    done = record_result(store, rec, result("n1", True, clock()))
    assert done.state == "done" and done.device == "ipmi" and done.level == 1 and done.attempts == 2
    (listed,) = list_history(store, "n1")
    assert listed.state == "done" and listed.completed_at == done.completed_at and pending(store) == []
    with pytest.raises(HistoryConflict):
        record_result(store, rec, result("n1", False, clock()))  # the stale pending copy
    other = record_pending(store, "n1", "reboot", "ctl-a", now=clock)
    with pytest.raises(ValueError, match="does not belong"):
        record_result(store, other, result("n2", True, clock()))


def test_list_history_order_and_filter(store: Store) -> None:
    clock = Clock()
    a = record_pending(store, "n1", "reboot", "ctl", now=clock)
    b = record_pending(store, "n2", "off", "ctl", now=clock)
    c = record_pending(store, "n1", "off", "ctl", now=clock)
    store.put(f"{HISTORY}n1/garbage", "not json")
    store.put(f"{HISTORY}n1/half", '{"id": "x", "node": "n1"}')
    assert [r.id for r in list_history(store)] == [a.id, b.id, c.id]
    assert [r.id for r in list_history(store, "n1")] == [a.id, c.id]
    assert list_history(store, "n3") == []
    with pytest.raises(ValueError):
        list_history(store, "a/b")


def test_confirmed_fenced(store: Store) -> None:
    clock = Clock()
    lost_at = clock()
    assert not confirmed_fenced(store, "n1", lost_at)
    rec = record_pending(store, "n1", "reboot", "ctl", now=clock)
    assert not confirmed_fenced(store, "n1", lost_at)  # pending is not a fence
    record_result(store, rec, result("n1", False, clock()))
    assert not confirmed_fenced(store, "n1", lost_at)  # nor is a failed one
    rec2 = record_pending(store, "n1", "reboot", "ctl", now=clock)
    done = record_result(store, rec2, result("n1", True, clock()))
    assert confirmed_fenced(store, "n1", lost_at)
    assert last_confirmed(store, "n1", lost_at) == done
    assert not confirmed_fenced(store, "n2", lost_at)
    # A fence requested before the node was (last) lost proves nothing about later.
    assert not confirmed_fenced(store, "n1", clock())
    with pytest.raises(ValueError, match="needs since"):
        confirmed_fenced(store, "n1")
    assert last_confirmed(store, "n1") == done
    on = record_pending(store, "n1", "on", "ctl", now=clock)
    record_result(store, on, ok=True)
    assert not confirmed_fenced(store, "n1", on.requested_at)  # "on" fences nothing


def test_confirmed_fenced_by_revision(store: Store) -> None:
    rec = record_pending(store, "n1", "off", "ctl")
    record_result(store, rec, ok=True)
    lost_rev = store.put("/corral/members-gone/n1", "x")
    assert confirmed_fenced(store, "n1", since_revision=rec.create_revision - 1)
    assert not confirmed_fenced(store, "n1", since_revision=lost_rev)
    rec2 = record_pending(store, "n1", "off", "ctl")
    record_result(store, rec2, ok=True)
    assert confirmed_fenced(store, "n1", since_revision=lost_rev)


def test_writes_are_fenced_by_the_epoch(store: Store) -> None:
    store.put(DEFAULT_EPOCH_KEY, "3")
    rec = record_pending(store, "n1", "reboot", "ctl-a", epoch=3)
    assert rec.epoch == 3 and json.loads(store.get(rec.key).value)["epoch"] == 3  # type: ignore[union-attr]
    store.put(DEFAULT_EPOCH_KEY, "4")  # another controller won
    with pytest.raises(Deposed):
        record_result(store, rec, ok=True)
    assert list_history(store, "n1")[0].state == "pending"
    with pytest.raises(Deposed):
        record_pending(store, "n1", "reboot", "ctl-a", epoch=3)
    assert len(list_history(store, "n1")) == 1
    rec4 = record_pending(store, "n1", "reboot", "ctl-b", epoch=4)
    assert record_result(store, rec4, ok=True).state == "done"


def test_prune_keeps_newest_and_pending(store: Store) -> None:
    clock = Clock()
    for _ in range(5):
        record_result(store, record_pending(store, "n1", "reboot", "ctl", now=clock), ok=True, now=clock)
    p = record_pending(store, "n1", "reboot", "ctl", now=clock)
    assert prune_history(store, "n1", keep=2) == 3
    left = list_history(store, "n1")
    assert len(left) == 3 and left[-1].id == p.id and prune_history(store, "n1", keep=2) == 0


def test_fence_and_record(store: Store, fake_agent: FakeAgent) -> None:
    store.put(DEFAULT_EPOCH_KEY, "7")
    dev = FenceDevice("ipmi", str(fake_agent.path), host_list=["n1"], host_argument="plug", tries=1)
    fencer = Fencer([dev], [("n1", 1, ["ipmi"])])
    lost_at = Clock()()
    res, rec = fence_and_record(store, fencer, "n1", "reboot", "ctl-a", epoch=7)
    assert res.ok and rec.state == "done" and rec.device == "ipmi" and rec.origin == "ctl-a" and rec.epoch == 7
    assert confirmed_fenced(store, "n1", since=lost_at)
    fake_agent.set("reboot", rc=1)
    res, rec = fence_and_record(store, Fencer([dev], rounds=1), "n1", "reboot", "ctl-a", epoch=7)
    assert not res.ok and rec.state == "failed" and "reboot failed" in rec.error
