"""Failure detection by heartbeat (corral.controller.liveness): with fencing and
`heartbeat-timeout`, a silent member is fenced and its resources recovered while
its lease is still valid at the store -- the lease (20 s here) is not waited for."""
from __future__ import annotations

import json
import os
import signal

from live_helpers import free_port, port_open
from test_live_fencing import Recorder, _fence_done, _is_start_of, fence_log, fenced_cluster

from corral.cluster import keys
from corral.cluster.timing import Timing
from corral.fencing import list_history


def silence(c, node: str, backend: str) -> None:
    """Freeze the node's agent (its lease stays valid, it just stops talking). On the embedded
    SQLite store a process frozen inside a write would hold the database lock and stall every
    node (docs/store.md), so there the agent is killed instead: silent just the same."""
    os.killpg(c.nodes[node].proc.pid, signal.SIGSTOP if backend == "etcd" else signal.SIGKILL)


def test_silent_member_is_fenced_before_its_lease_expires(make_cluster, backend):
    c = make_cluster(backend)
    c.timing = Timing(ttl=20.0, renew=0.2, store_timeout=0.5)
    port = free_port()
    fenced_cluster(c, port, cluster_options="heartbeat-timeout: 1s")
    recorder = Recorder(c.store_url)
    try:
        silence(c, "n1", backend)
        new = c.wait_running("web", not_on="n1", timeout=15)  # well inside the 20 s lease
        c.wait("web answering on " + new, lambda: port_open(port))
        # n1's lease-bound heartbeat key is still there: its lease had not expired, yet n1
        # was fenced and its resources recovered.
        assert c.store.get(keys.heartbeat("n1")) is not None
    finally:
        recorder.close()
    calls = [p for p in fence_log(c) if p.get("action") == "reboot"]
    assert [p["nodename"] for p in calls] == ["n1"]
    done = [r for r in list_history(c.store, "n1") if r.state == "done"]
    assert len(done) == 1
    fence_rev = recorder.first(_fence_done("n1"))
    start_rev = recorder.first(_is_start_of("web"))
    assert fence_rev is not None and start_rev is not None and fence_rev < start_rev
    record = json.loads(c.store.get(keys.node("n1")).value)  # type: ignore[union-attr]
    assert record["expected"] == "down" and record["fenced"]["record"] == done[0].id
    assert c.store.get(keys.member("n1")) is None
    # The healthy members were never suspected.
    assert not [r for n in ("n2", "n3") for r in list_history(c.store, n)]


def test_silent_controller_is_fenced_and_replaced_before_its_lease_expires(make_cluster, backend):
    c = make_cluster(backend)
    c.timing = Timing(ttl=20.0, renew=0.2, store_timeout=0.5)
    port = free_port()
    fenced_cluster(c, port, cluster_options="heartbeat-timeout: 1s")
    old = c.controller()
    assert old in ("n2", "n3")  # n1 runs with --no-controller
    survivor = "n3" if old == "n2" else "n2"
    silence(c, old, backend)
    c.wait("a new controller", lambda: c.controller() == survivor, timeout=15)  # inside the 20 s lease
    assert c.store.get(keys.heartbeat(old)) is not None  # the old lease is still valid
    done = [r for r in list_history(c.store, old) if r.state == "done"]
    assert len(done) == 1 and done[0].origin == survivor, done
    assert c.nodes[old].proc.wait(5) == -signal.SIGKILL  # type: ignore[union-attr]
    record = json.loads(c.store.get(keys.node(old)).value)  # type: ignore[union-attr]
    assert record["expected"] == "down" and record["fenced"]["by"] == survivor
    # The new controller does not fence it again, and web stayed where it was.
    c.wait_idle()
    assert len([r for r in list_history(c.store, old) if r.state == "done"]) == 1
    assert c.where("web") == ["n1"]
