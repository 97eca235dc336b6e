"""The join window: a cold start fences nobody who is joining, and waits dc-deadtime at most."""
from __future__ import annotations

import time
import uuid

from corral.cluster import keys
from corral.cluster.configstore import encode
from corral.cluster.records import dumps, loads
from corral.cluster.snapshot import read_snapshot
from corral.cluster.timing import Timing
from corral.controller.joining import JoinWindow
from corral.fencing import list_history
from corral.model.yaml_config import parse_yaml_config
from corral.store import open_store

CONFIG = """
cluster: {stonith-enabled: true, dc-deadtime: %s}
nodes: [{name: n1}, {name: n2}, {name: n3}]
resources:
  - id: web
    agent: ocf:heartbeat:Dummy
"""


def store_with(deadtime: str = "20s"):
    store = open_store(f"memory://{uuid.uuid4().hex}")
    cfg, _ = parse_yaml_config(CONFIG % deadtime, "t.yaml")
    store.put(keys.CONFIG, encode(cfg, "t.yaml"))
    return store


def member(store, node: str, since: float | None = None) -> None:
    store.put(keys.member(node), dumps({"since": time.time() if since is None else since}))
    store.put(keys.node(node), dumps({"expected": "member"}))


def verdict(store, window: JoinWindow, **kw):
    snap = read_snapshot(store)
    assert snap.config is not None
    return window.assess(snap, snap.config, **kw)


def test_cold_start_waits_for_joining_and_unseen_nodes():
    store = store_with()
    member(store, "n1")
    store.put(keys.joining("n2"), dumps({"since": time.time()}))
    v = verdict(store, JoinWindow())
    assert v.hold and not v.pending
    assert [w.split()[0] for w in v.waiting] == ["n2", "n3"]
    assert "joining" in v.waiting[0] and "not joined since the cluster started" in v.waiting[1]


def test_the_window_closes_once_every_node_is_a_member():
    store = store_with()
    for n in ("n1", "n2", "n3"):
        member(store, n)
    assert not verdict(store, JoinWindow()).hold


def test_the_window_closes_after_dc_deadtime():
    store = store_with("2s")
    member(store, "n1", since=time.time() - 3)
    v = verdict(store, JoinWindow(started_wall=time.time() - 3))
    assert not v.hold  # n2 and n3 are fenced now (startup fencing), as Pacemaker does


def test_a_controller_taking_over_in_a_running_cluster_has_no_window():
    store = store_with()
    member(store, "n1", since=time.time() - 3600)
    assert not verdict(store, JoinWindow()).hold


def test_nodes_from_an_earlier_life_are_waited_for_lost_ones_are_not():
    store = store_with()
    store.put(keys.node("n3"), dumps({"expected": "member"}))  # a member before the cluster restarted
    member(store, "n1")
    member(store, "n2")
    v = verdict(store, JoinWindow())
    assert [w.split()[0] for w in v.waiting] == ["n3"]
    store.delete(keys.member("n2"))  # n2 joined in this life and is lost: fenced at once, no wait
    v = verdict(store, JoinWindow())
    assert [w.split()[0] for w in v.waiting] == ["n3"]


def test_the_first_member_lost_early_is_fenced_at_once():
    """n1 started the cluster (its join wrote /corral/life), n2 joined later; n1 is lost within
    dc-deadtime of the start: it was seen in this life, so it is fenced without waiting."""
    store = store_with()
    store.put(keys.LIFE, dumps({"since": time.time(), "by": "n1"}))
    store.put(keys.node("n1"), dumps({"expected": "member"}))  # n1's join (its member key is gone)
    member(store, "n2")
    member(store, "n3")
    assert not verdict(store, JoinWindow()).hold


def test_a_new_life_waits_for_the_nodes_of_the_old_one():
    store = store_with()
    for n in ("n1", "n2", "n3"):
        store.put(keys.node(n), dumps({"expected": "member"}))  # every node crashed with the cluster
    store.put(keys.LIFE, dumps({"since": time.time(), "by": "n1"}))  # n1's agent is the first back
    member(store, "n1")
    v = verdict(store, JoinWindow())
    assert [w.split()[0] for w in v.waiting] == ["n2", "n3"]


def test_a_node_joining_past_the_window_is_pending_not_fenced():
    store = store_with("1s")
    member(store, "n1", since=time.time() - 3600)
    member(store, "n2", since=time.time() - 3600)
    store.put(keys.node("n3"), dumps({"expected": "member"}))
    store.put(keys.joining("n3"), "{}")
    window = JoinWindow()
    now = time.monotonic()
    assert verdict(store, window, now=now).hold
    v = verdict(store, window, now=now + 1.5)
    assert not v.hold and v.pending == ["n3"]


def test_the_controller_fences_nobody_during_a_cold_start_then_only_the_missing_node(controller):
    store = store_with("1s")
    member(store, "n1")
    store.put(keys.joining("n2"), "{}")
    c = controller(store)
    c._cycle()
    status = loads(store.get(keys.CONTROLLER_STATUS).value)
    assert status["state"] == "waiting" and len(status["waiting"]) == 2
    assert not list_history(store, "n2") and not list_history(store, "n3")
    # dc-deadtime passes: n3 never showed up and is fenced (here: the attempt fails, no device);
    # n2, still joining, is not.
    c.join_window = JoinWindow(started_wall=time.time() - 2)
    c.join_window._joining_since["n2"] = time.monotonic() - 2
    c._cycle()
    assert list_history(store, "n3") and not list_history(store, "n2")


def test_agents_mark_their_join_and_the_first_one_starts_the_life():
    from corral.agent.membership import Membership

    store = open_store(f"memory://{uuid.uuid4().hex}")
    made = [Membership(store, n, Timing(), lambda _why: None) for n in ("n1", "n2")]
    try:
        m1, m2 = made
        m1.announce({"since": time.time()})
        assert store.get(keys.joining("n1")) is not None and store.get(keys.member("n1")) is None
        m1.join({"since": time.time()})
        assert store.get(keys.joining("n1")) is None and store.get(keys.member("n1")) is not None
        life = store.get(keys.LIFE)
        assert life is not None and loads(life.value)["by"] == "n1"
        m2.announce({})
        m2.join({})
        assert store.get(keys.LIFE).mod_revision == life.mod_revision  # n2 joined a running cluster
    finally:
        for m in made:
            m.close()
        store.close()


def test_a_lost_node_is_fenced_while_another_joins(controller):
    store = store_with()
    store.put(keys.LIFE, dumps({"since": time.time() - 3600, "by": "n1"}))
    member(store, "n1", since=time.time() - 3600)
    store.put(keys.node("n2"), dumps({"expected": "member"}))  # n2 was a member in this life: lost
    store.put(keys.node("n3"), dumps({"expected": "member"}))
    store.put(keys.joining("n3"), "{}")                        # n3 is on its way back
    c = controller(store)
    c._cycle()
    assert list_history(store, "n2") and not list_history(store, "n3")
