"""The store contract: every backend (memory, sqlite, etcd) must pass every test here."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from corral.store import (
    Compare,
    Delete,
    Deposed,
    KeyValue,
    LeaderElection,
    LeaseExpired,
    Put,
    RevisionCompacted,
    Store,
    fenced_txn,
    open_store,
)
from corral.store.memory import MemoryStore
from corral.store.sqlite import SqliteStore

Connect = Callable[[], Store]


def wait_until(predicate: Callable[[], bool], timeout: float) -> float:
    """Seconds until predicate() held; fails after timeout."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(0.02)
    return time.monotonic() - start


def test_put_get_delete(store: Store) -> None:
    assert store.get("a") is None
    r1 = store.put("a", "1")
    assert store.get("a") == KeyValue("a", "1", r1, r1, None)
    r2 = store.put("a", "2")
    assert r2 > r1
    assert store.get("a") == KeyValue("a", "2", r2, r1, None)
    r3 = store.delete("a")
    assert r3 > r2 and store.get("a") is None
    assert store.delete("a") == r3  # deleting nothing takes no revision
    r4 = store.put("a", "3")
    assert store.get("a").create_revision == r4  # re-created: a new life
    store.put("ünï/ключ", "")
    assert store.get("ünï/ключ").value == ""


def test_get_prefix_sorted_with_revision(store: Store) -> None:
    for key in ["p/b", "p/a", "p/c/d", "q", "p", "p0"]:
        last = store.put(key, key.upper())
    kvs, rev = store.get_prefix("p/")
    assert [(kv.key, kv.value) for kv in kvs] == [("p/a", "P/A"), ("p/b", "P/B"), ("p/c/d", "P/C/D")]
    assert rev == last
    assert [kv.key for kv in store.get_prefix("")[0]] == ["p", "p/a", "p/b", "p/c/d", "p0", "q"]
    assert store.get_prefix("none/") == ([], rev)
    store.delete("p/", prefix=True)
    assert [kv.key for kv in store.get_prefix("")[0]] == ["p", "p0", "q"]


def test_revisions_one_per_txn(store: Store) -> None:
    r = store.txn([], [Put("x", "1"), Put("y", "2"), Delete("nothing")])
    assert r.succeeded and r.responses == [r.revision, r.revision, 0]
    assert store.get("x").mod_revision == store.get("y").mod_revision == r.revision
    revs = [store.put("x", str(i)) for i in range(5)]
    assert revs == sorted(set(revs)) and revs[0] > r.revision
    idle = store.txn([Compare("x", "value", "==", "nope")], [Put("x", "z")])
    assert not idle.succeeded and idle.revision == revs[-1]  # a txn that writes nothing takes no revision
    deleted = store.txn([], [Delete("", prefix=True)])
    assert deleted.responses == [2] and deleted.revision == revs[-1] + 1


def test_cas_success_and_conflict(store: Store) -> None:
    rev = store.put("k", "v1")
    ok = store.txn([Compare("k", "mod_revision", "==", rev)], [Put("k", "v2")], [Put("lost", "yes")])
    assert ok.succeeded and store.get("lost") is None
    stale = store.txn([Compare("k", "mod_revision", "==", rev)], [Put("k", "v3")], [Put("lost", "yes")])
    assert not stale.succeeded
    assert store.get("k").value == "v2" and store.get("lost").value == "yes"
    assert store.txn([Compare("k", "value", "==", "v2")], [Put("k", "v4")]).succeeded
    assert not store.txn([Compare("k", "value", "!=", "v4")], [Put("k", "v5")]).succeeded
    assert store.txn([Compare("k", "value", ">", "v3"), Compare("k", "value", "<", "v5")], []).succeeded
    # create-if-absent
    assert store.txn([Compare("new", "exists", "==", False)], [Put("new", "1")]).succeeded
    assert not store.txn([Compare("new", "exists", "==", False)], [Put("new", "2")]).succeeded
    assert store.txn([Compare("new", "exists", "!=", False), Compare("new", "create_revision", ">", 0)], []).succeeded
    # an absent key has revisions 0, and every value compare on it fails
    assert store.txn([Compare("absent", "mod_revision", "==", 0)], []).succeeded
    assert not store.txn([Compare("absent", "value", "!=", "x")], []).succeeded
    assert store.get("new").value == "1"


def test_txn_rejects_bad_input(store: Store) -> None:
    with pytest.raises(ValueError, match="twice"):
        store.txn([], [Put("a", "1"), Put("a", "2")])
    with pytest.raises(ValueError):
        store.txn([], [Delete("a/", prefix=True), Put("a/b", "2")])
    with pytest.raises(ValueError, match="target"):
        store.txn([Compare("a", "version", "==", 1)], [Put("a", "1")])
    with pytest.raises(ValueError):
        store.txn([Compare("a", "value", "==", 1)], [Put("a", "1")])
    assert store.get("a") is None


def test_lease_expiry_removes_keys_for_everyone(store: Store, connect: Connect) -> None:
    watcher, other = connect(), connect()
    start = time.monotonic()
    lease = store.lease_grant(1)
    rev = store.put("nodes/a", "up", lease=lease)
    store.put("nodes/b", "static")
    assert other.get("nodes/a").lease == lease
    events = watcher.watch_prefix("nodes/", start_revision=rev, timeout=4)
    assert [(e.kind, e.key) for e in (next(events), next(events))] == [("put", "nodes/a"), ("put", "nodes/b")]
    gone = next(events)  # the watcher learns of the expiry without anyone else writing
    assert (gone.kind, gone.key) == ("delete", "nodes/a")
    assert time.monotonic() - start >= 0.9
    assert other.get("nodes/a") is None and other.get("nodes/b") is not None
    assert [kv.key for kv in other.get_prefix("nodes/")[0]] == ["nodes/b"]
    with pytest.raises(LeaseExpired):
        store.lease_keepalive(lease)
    with pytest.raises(LeaseExpired):
        store.put("x", "y", lease=lease)


def test_keepalive_extends_lease(store: Store) -> None:
    lease = store.lease_grant(1)
    store.put("hb", "1", lease=lease)
    until = time.monotonic() + 1.8  # well past the first TTL
    while time.monotonic() < until:
        assert store.lease_keepalive(lease) >= 1
        assert store.get("hb") is not None
        time.sleep(0.2)
    wait_until(lambda: store.get("hb") is None, 3)


def test_dead_lease_raises(store: Store) -> None:
    lease = store.lease_grant(5)
    store.put("a", "1", lease=lease)
    store.lease_revoke(lease)
    assert store.get("a") is None
    with pytest.raises(LeaseExpired):
        store.lease_keepalive(lease)
    with pytest.raises(LeaseExpired):
        store.put("b", "1", lease=lease)
    with pytest.raises(LeaseExpired):
        store.txn([], [Put("c", "1"), Put("d", "1", lease=lease)])
    assert store.get("c") is None  # all or nothing
    store.lease_revoke(lease)  # already gone: not an error
    with pytest.raises(LeaseExpired):
        store.lease_keepalive(987654321)


def test_watch_order_and_resume(store: Store, connect: Connect) -> None:
    writer = connect()
    start = writer.put("w/a", "1")
    writer.put("other", "x")
    both = writer.txn([], [Put("w/b", "2"), Put("w/c", "3")])
    writer.delete("w/a")
    events = list(store.watch_prefix("w/", start_revision=start, timeout=0.5))
    assert [(e.kind, e.key, e.value) for e in events] == [
        ("put", "w/a", "1"), ("put", "w/b", "2"), ("put", "w/c", "3"), ("delete", "w/a", None)]
    revs = [e.mod_revision for e in events]
    assert revs == sorted(revs) and revs[1] == revs[2] == both.revision
    assert list(store.watch_prefix("w/", start_revision=both.revision, timeout=0.3)) == events[1:]


def test_watch_live_from_now(store: Store, connect: Connect) -> None:
    writer = connect()
    writer.put("live/old", "0")
    events = store.watch_prefix("live/", timeout=3)  # starts at this call
    rev = writer.put("live/1", "a")
    writer.put("elsewhere", "b")
    writer.delete("live/", prefix=True)
    first, second, third = next(events), next(events), next(events)
    assert (first.kind, first.key, first.value, first.mod_revision) == ("put", "live/1", "a", rev)
    assert {(e.kind, e.key) for e in (second, third)} == {("delete", "live/old"), ("delete", "live/1")}
    events.close()


def test_watch_timeout_ends_and_resets_on_events(store: Store, connect: Connect) -> None:
    t0 = time.monotonic()
    assert list(store.watch_prefix("quiet/", timeout=0.3)) == []
    assert 0.25 <= time.monotonic() - t0 < 2
    writer = connect()
    timer = threading.Timer(0.2, writer.put, args=("quiet/x", "1"))
    t0 = time.monotonic()
    timer.start()
    try:
        got = list(store.watch_prefix("quiet/", timeout=0.4))
    finally:
        timer.join()
    assert [e.key for e in got] == ["quiet/x"]
    assert time.monotonic() - t0 >= 0.55  # the quiet time counts from the event


def test_close_ends_watches(connect: Connect) -> None:
    s = connect()
    events = s.watch_prefix("x/")  # no timeout: only close() ends it
    threading.Timer(0.2, s.close).start()
    t0 = time.monotonic()
    assert list(events) == []
    assert time.monotonic() - t0 < 3


def test_watch_from_compacted_revision(store_url: str, tmp_path: Path) -> None:
    if store_url.startswith("memory"):
        s: Store = MemoryStore(history=4)
    elif store_url.startswith("sqlite"):
        s = SqliteStore(str(tmp_path / "small.db"), history=4)
    else:
        s = open_store(store_url)
    try:
        first = s.put("c/k", "0")
        for i in range(20):
            last = s.put("c/k", str(i + 1))
        if store_url.startswith("etcd"):  # etcd compacts on request
            requests.post(f"http://{store_url[7:]}/v3/kv/compaction", json={"revision": last - 2}, timeout=5)
        with pytest.raises(RevisionCompacted) as err:
            next(s.watch_prefix("c/", start_revision=first, timeout=1))
        assert first < err.value.compact_revision <= last
        recent = list(s.watch_prefix("c/", start_revision=last, timeout=0.2))
        assert [e.value for e in recent] == ["20"]
    finally:
        s.close()


def test_election_and_epoch_fencing(connect: Connect) -> None:
    a_store, b_store = connect(), connect()
    a = LeaderElection(a_store, "ctl", "a", ttl=2)
    b = LeaderElection(b_store, "ctl", "b", ttl=2)
    assert a.campaign() and a.is_leader and a.epoch == 1
    assert not b.campaign() and not b.is_leader and b.epoch is None
    assert b.leader() == "a"
    assert fenced_txn(a_store, a.epoch_key, 1, [], [Put("cluster/vip", "node1")]).succeeded

    a_store.lease_revoke(a.lease)  # a stalls past its TTL and loses the lease...
    assert b.campaign() and b.epoch == 2 and b.leader() == "b"
    with pytest.raises(Deposed):  # ...so the store itself refuses a's late write
        fenced_txn(a_store, a.epoch_key, 1, [], [Put("cluster/vip", "node2")])
    assert b_store.get("cluster/vip").value == "node1"
    assert not a.keepalive() and not a.is_leader

    # the leader's own CAS failing is not a deposition
    lost = fenced_txn(b_store, b.epoch_key, 2, [Compare("cluster/vip", "value", "==", "nodeX")],
                      [Put("cluster/vip", "node3")])
    assert not lost.succeeded
    assert fenced_txn(b_store, b.epoch_key, 2, [Compare("cluster/vip", "value", "==", "node1")],
                      [Put("cluster/vip", "node3")]).succeeded
    assert b.keepalive() and b.is_leader

    b._valid_until = 0.0  # b's own clock says its lease may have run out: it stops leading...
    assert not b.is_leader and b.epoch is None
    assert b.campaign() and b.epoch == 2  # ...but the store still has its lease and key: same epoch

    b.resign()
    assert not b.is_leader and a_store.get(b.key) is None
    assert a.campaign() and a.epoch == 3
    with pytest.raises(Deposed):
        fenced_txn(b_store, b.epoch_key, 2, [], [Delete("cluster/vip")])
    assert a_store.get("cluster/vip").value == "node3"


INCREMENT = """
import sys
from corral.store import Compare, Put, open_store
store = open_store(sys.argv[1])
done = 0
while done < int(sys.argv[2]):
    kv = store.get("counter")
    new = str(int(kv.value) + 1) if kv else "1"
    if store.txn([Compare("counter", "mod_revision", "==", kv.mod_revision if kv else 0)],
                 [Put("counter", new)]).succeeded:
        done += 1
store.close()
"""


@pytest.mark.parametrize("store_url", ["sqlite", pytest.param("etcd", marks=pytest.mark.etcd)],
                         indirect=True)  # memory stores live in one process
def test_processes_share_the_store(store_url: str, store: Store) -> None:
    """Concurrent CAS increments from two OS processes lose nothing."""
    per_process, procs = 100, 2
    events = store.watch_prefix("counter", timeout=1)
    workers = [subprocess.Popen([sys.executable, "-c", INCREMENT, store_url, str(per_process)])
               for _ in range(procs)]
    for w in workers:
        assert w.wait(timeout=60) == 0
    assert store.get("counter").value == str(per_process * procs)
    values = [int(e.value) for e in events]
    assert values == list(range(1, per_process * procs + 1))  # every increment seen, in order


def test_keepalive_and_put_renews_and_writes_bound_keys(store: Store, connect: Connect) -> None:
    other = connect()
    lease = store.lease_grant(1)
    assert store.lease_keepalive_and_put(lease, [Put("hb", "1", lease=lease)]) >= 1
    kv = other.get("hb")
    assert kv is not None and kv.value == "1" and kv.lease == lease
    until = time.monotonic() + 1.8  # past the first TTL: the renewal part works
    beat = 1
    while time.monotonic() < until:
        beat += 1
        store.lease_keepalive_and_put(lease, [Put("hb", str(beat), lease=lease)])
        time.sleep(0.2)
    assert other.get("hb").value == str(beat)
    store.lease_revoke(lease)
    with pytest.raises(LeaseExpired):
        store.lease_keepalive_and_put(lease, [Put("hb2", "x", lease=lease)])
    assert other.get("hb2") is None and other.get("hb") is None  # a gone lease writes nothing
