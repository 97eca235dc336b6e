"""Promotable clones on a live cluster, with Debian's ocf:heartbeat:Stateful: its promotion
score goes through Corral's crm_attribute, one instance is promoted, a promoted instance is
never active on two nodes, and no-quorum-policy=demote keeps a cut-off node's instance
running unpromoted."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from live_helpers import Partition
from test_live_cluster import FENCING_OFF, three_nodes

from corral.cluster import keys
from corral.cluster.timing import Timing

STATEFUL = """
  - promotable: db-clone
    of:
      id: db
      agent: ocf:heartbeat:Stateful
      ops:
        - {name: monitor, interval: 500ms, timeout: 10s}
        - {name: monitor, interval: 400ms, timeout: 10s, role: promoted}
    meta: {promoted-max: 1}
"""


def roles(c, base: str) -> dict[str, str]:
    return {r["node"]: r["role"] for r in c.status()["resources"] if r["base"] == base and r["node"]}


def agent_says_promoted(rsctmp: Path) -> bool:
    """What Stateful itself recorded on that node (its state file), not what Corral believes."""
    return any(f.read_text().strip() == "master" for f in rsctmp.glob("Stateful-db*.state"))


class PromotedSampler:
    """Samples every node's Stateful state every 20 ms; records the most nodes promoted at once."""

    def __init__(self, c, nodes: list[str]) -> None:
        self.c, self.nodes, self.most = c, list(nodes), 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        deadline = time.monotonic() + 120  # bounded even if a test forgets to stop it
        while not self._stop.is_set() and time.monotonic() < deadline:
            count = sum(agent_says_promoted(self.c.nodes[n].rsctmp) for n in list(self.nodes))
            self.most = max(self.most, count)
            time.sleep(0.02)

    def forget(self, node: str) -> None:
        self.nodes.remove(node)  # a crashed node's leftover state file is not a running instance

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        return self.most


def test_one_instance_is_promoted_and_moves_when_its_node_crashes(make_cluster, backend):
    c = make_cluster(backend)
    three_nodes(c, FENCING_OFF + "resources:" + STATEFUL)
    c.wait("db promoted once, unpromoted twice",
           lambda: sorted(roles(c, "db").values()) == ["Promoted", "Unpromoted", "Unpromoted"], timeout=30)
    c.wait_idle()
    promoted = next(n for n, r in roles(c, "db").items() if r == "Promoted")
    # The agent's own score (crm_master -l reboot -v 10) reached the store through the shims.
    assert c.store.get(keys.attr(promoted, "master-db")).value == "10"
    sampler = PromotedSampler(c, ["n1", "n2", "n3"])
    try:
        sampler.forget(promoted)
        c.crash(promoted)
        c.wait("another node promoted", lambda: sorted(roles(c, "db").values()) == ["Promoted", "Unpromoted"]
               and promoted not in roles(c, "db"), timeout=30)
        c.wait_idle()
    finally:
        most = sampler.stop()
    assert most == 1, f"{most} survivors ran db promoted at once"
    assert sum(agent_says_promoted(c.nodes[n].rsctmp) for n in ("n1", "n2", "n3") if n != promoted) == 1


@pytest.mark.etcd
@pytest.mark.parametrize("policy", ["demote", "stop"])
def test_cut_off_promoted_instance_is_demoted_first(make_cluster, live_etcd, policy):
    """no-quorum-policy=demote leaves the cut-off node's instance running unpromoted; with stop
    it is demoted, then stopped (Stateful refuses to stop a promoted instance), within the
    self-fencing budget: the watchdog never has to fire."""
    c = make_cluster("etcd")
    # A lease long enough that the cut-off node's demote (a shell agent and its crm_master call)
    # fits in its self-fencing budget on a loaded machine: it starts at 1.2 s, the lease ends at 4 s.
    c.timing = Timing(ttl=4.0, renew=0.2, store_timeout=0.5)
    wall = Partition(int(live_etcd.rsplit(":", 1)[1]))
    try:
        c.load(f"cluster: {{stonith-enabled: false, no-quorum-policy: {policy}}}\nresources:" + STATEFUL
               + "constraints:\n  - location: {rsc: db-clone, node: n1, score: 100, role: promoted}\n")
        c.store_url, direct = f"etcd://127.0.0.1:{wall.port}", c.store_url
        c.start("n1", "--no-controller")  # n1 reaches etcd only through the partition
        c.store_url = direct
        c.start("n2")
        c.start("n3")
        c.wait("db promoted on n1", lambda: roles(c, "db").get("n1") == "Promoted"
               and sorted(roles(c, "db").values()) == ["Promoted", "Unpromoted", "Unpromoted"], timeout=30)
        c.wait_idle()
        sampler = PromotedSampler(c, ["n1", "n2", "n3"])
        try:
            wall.cut()
            c.wait("db promoted on a node that still has quorum",
                   lambda: roles(c, "db").get("n2") == "Promoted" or roles(c, "db").get("n3") == "Promoted",
                   timeout=20)
            n1_log = (c.workdir / "n1.log").read_text()
            states = [f.read_text().strip() for f in c.nodes["n1"].rsctmp.glob("Stateful-db*.state")]
            if policy == "demote":  # demoted before its lease ran out, and still running unpromoted
                assert states == ["slave"] and "no-quorum-policy=demote" in n1_log, c.logs()
            else:  # demoted, then stopped
                assert states == [] and "demote db before stopping: rc=0" in n1_log, c.logs()
            assert "watchdog fired" not in n1_log, c.logs()
        finally:
            most = sampler.stop()
        assert most == 1, f"db ran promoted on {most} nodes at once\n" + c.logs()
        wall.heal()
        c.wait("n1 back", lambda: c.store.get(keys.member("n1")) is not None, timeout=20)
        c.wait("n1 promoted again (its location preference), once",
               lambda: roles(c, "db").get("n1") == "Promoted"
               and sorted(roles(c, "db").values()) == ["Promoted", "Unpromoted", "Unpromoted"], timeout=30)
    finally:
        wall.close()
