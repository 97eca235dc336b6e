"""The live cluster's pieces without processes: state assembly, fencing of writes."""
from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner

from corral.agent.book import HistoryBook
from corral.cli.main import cli
from corral.cluster import keys
from corral.cluster.records import AgentSpec, HistoryRecord, dumps
from corral.cluster.snapshot import read_snapshot, scheduler_inputs
from corral.controller.driver import Driver
from corral.model.state import EXEC_DONE, OpRecord
from corral.model.yaml_config import parse_yaml_config
from corral.scheduler import schedule
from corral.store import Deposed, LeaderElection, Put, open_store

CONFIG = """
cluster: {stonith-enabled: %s}
resources:
  - id: a
    agent: ocf:heartbeat:Dummy
  - group: g
    members:
      - {id: g1, agent: "ocf:heartbeat:Dummy"}
      - {id: g2, agent: "ocf:heartbeat:Dummy"}
constraints:
  - order: {first: a, then: g}
"""


def _store(fencing: bool):
    from corral.cluster.configstore import encode

    store = open_store(f"memory://{uuid.uuid4().hex}")
    cfg, _ = parse_yaml_config(CONFIG % ("true" if fencing else "false"), "t.yaml")
    store.put(keys.CONFIG, encode(cfg, "t.yaml"))
    return store


def _running(store, node: str, rid: str) -> None:
    rec = HistoryRecord(rid, AgentSpec("ocf", "Dummy", "heartbeat"),
                        [OpRecord(rid, "start", 0, 0, EXEC_DONE, 1, 0, id=f"{rid}_last_0")])
    store.put(keys.history_rsc(node, rid), rec.to_json())


@pytest.mark.parametrize("fencing", [True, False])
def test_membership_from_the_store(fencing):
    store = _store(fencing)
    store.put(keys.member("n1"), "{}")
    store.put(keys.node("n1"), dumps({"expected": "member"}))
    store.put(keys.node("n2"), dumps({"expected": "member"}))   # joined once, lease gone: lost
    store.put(keys.node("n3"), dumps({"expected": "down"}))     # left cleanly
    _running(store, "n2", "a")
    cfg, state = scheduler_inputs(read_snapshot(store))
    assert set(cfg.nodes) == {"n1", "n2", "n3"}  # joined nodes are added to the configuration
    n1, n2, n3 = (state.nodes[n] for n in ("n1", "n2", "n3"))
    assert (n1.in_cluster, n1.agent_online, n1.join, n1.expected) == (True, True, "member", "member")
    assert (n2.in_cluster, n2.join, n2.expected) == (False, "down", "member")
    assert n3.expected == "down"
    tr = schedule(cfg, state)
    if fencing:  # the lost node must be fenced; its resource is still thought active there
        assert [f[0] for f in tr.fences] == ["n2"] and tr.nodes["n2"].unclean and not tr.nodes["n3"].unclean
    else:  # simply offline; its resources are recovered elsewhere
        assert not tr.fences and not tr.nodes["n2"].online and "a" not in state.nodes["n2"].history
        assert tr.placements["a"].node == "n1"


def test_a_deposed_controller_cannot_write():
    store = open_store(f"memory://{uuid.uuid4().hex}")
    old = LeaderElection(store, keys.ELECTION_NAME, "n1", 5, prefix=keys.ELECTION_PREFIX)
    assert old.campaign()
    driver = Driver(store, old.epoch, lambda: True)
    driver.write([Put(keys.action("n2", "x"), "{}")])
    old.resign()
    new = LeaderElection(store, keys.ELECTION_NAME, "n2", 5, prefix=keys.ELECTION_PREFIX)
    assert new.campaign() and new.epoch == 2
    with pytest.raises(Deposed):
        driver.write([Put(keys.action("n2", "y"), "{}")])
    assert store.get(keys.action("n2", "y")) is None  # refused by the store, not just ignored


def test_history_book_keeps_pacemaker_slots():
    book = HistoryBook()
    spec = AgentSpec("ocf", "Dummy", "heartbeat")
    book.add("r", spec, OpRecord("r", "start", 0, 0, EXEC_DONE, book.next_call_id(), 0), {})
    book.add("r", spec, OpRecord("r", "monitor", 1000, 0, EXEC_DONE, book.next_call_id(), 0), {})
    rec = book.add("r", spec, OpRecord("r", "monitor", 1000, 7, EXEC_DONE, book.next_call_id(), 0), {})
    assert sorted(o.id for o in rec.ops) == ["r_last_0", "r_last_failure_0", "r_monitor_1000"]
    rec = book.add("r", spec, OpRecord("r", "stop", 0, 0, EXEC_DONE, book.next_call_id(), 0), {})
    assert sorted(o.id for o in rec.ops) == ["r_last_0", "r_last_failure_0"]  # the stop cancelled it
    assert [o.call_id for o in rec.ops if o.id == "r_last_0"] == [4]
    book.clear_failures("r")
    assert [o.id for o in book.records["r"].ops] == ["r_last_0"]


def test_agent_refuses_unsafe_lease_timing(tmp_path):
    result = CliRunner().invoke(cli, ["agent", "--node", "n1", "--store", f"sqlite://{tmp_path}/c.db",
                                      "--ttl", "1", "--renew", "0.5", "--store-timeout", "0.5"])
    assert result.exit_code == 2
    assert "must be less than the lease TTL" in result.output
