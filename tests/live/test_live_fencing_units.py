"""The controller's fencing without processes: FenceCoordinator, mark_fenced, and the agent's
bookkeeping of stonith resources, on the memory store with a scripted fence agent."""
from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest

from corral.agent.book import HistoryBook
from corral.agent.executor import Executor
from corral.cluster import keys
from corral.cluster.configstore import encode
from corral.cluster.fenced import mark_fenced, member_guard
from corral.cluster.records import AgentSpec, HistoryRecord, dumps
from corral.cluster.snapshot import read_snapshot, scheduler_inputs
from corral.cluster.status import cluster_status
from corral.controller.fencing import FenceCoordinator
from corral.fencing import list_history, record_pending, record_result
from corral.model.state import EXEC_DONE, OpRecord
from corral.model.yaml_config import parse_yaml_config
from corral.scheduler import schedule
from corral.store import Deposed, LeaderElection, open_store

AGENT = """#!{python}
import sys, json
raw = sys.stdin.read()
params = dict(l.partition("=")[::2] for l in raw.splitlines() if l)
open({log!r}, "a").write(json.dumps(params) + "\\n")
if params.get("action") == "metadata":
    sys.exit(1)
sys.exit(int(open({rc!r}).read()))
"""


@pytest.fixture
def agent(tmp_path: Path) -> Path:
    path = tmp_path / "fence_unit"
    path.write_text(AGENT.format(python=sys.executable, log=str(tmp_path / "log"), rc=str(tmp_path / "rc")))
    path.chmod(0o755)
    (tmp_path / "rc").write_text("0")
    return path


def cluster(agent: Path, extra: str = ""):
    store = open_store(f"memory://{uuid.uuid4().hex}")
    cfg, _ = parse_yaml_config(f"""cluster: {{stonith-enabled: true{extra}}}
resources:
  - id: fence-all
    agent: stonith:{agent}
    params: {{pcmk_host_list: "n1 n2"}}
  - id: a
    agent: ocf:heartbeat:Dummy
""", "t.yaml")
    store.put(keys.CONFIG, encode(cfg, "t.yaml"))
    election = LeaderElection(store, keys.ELECTION_NAME, "n2", 30, prefix=keys.ELECTION_PREFIX)
    assert election.campaign()
    for n in ("n1", "n2"):
        store.put(keys.node(n), dumps({"expected": "member"}))
    store.put(keys.member("n2"), "{}")
    rec = HistoryRecord("a", AgentSpec("ocf", "Dummy", "heartbeat"),
                        [OpRecord("a", "start", 0, 0, EXEC_DONE, 1, 0, id="a_last_0")])
    store.put(keys.history_rsc("n1", "a"), rec.to_json())  # a runs on n1, which is lost
    return store, election


def plan(store):
    snap = read_snapshot(store)
    cfg, state = scheduler_inputs(snap)
    return snap, cfg, schedule(cfg, state)


def test_confirmed_fence_marks_the_node_down_and_recovery_follows(agent, tmp_path):
    store, election = cluster(agent)
    snap, cfg, tr = plan(store)
    assert [n for n, _a, _r in tr.fences] == ["n1"]
    coord = FenceCoordinator(store, "n2", election.epoch)
    out = coord.run(snap, cfg, tr.fences, lambda: True)
    assert out.confirmed == ["n1"] and not out.waiting
    calls = [json.loads(line) for line in (tmp_path / "log").read_text().splitlines()]
    assert [c["action"] for c in calls if c["action"] != "metadata"] == ["reboot"]
    (rec,) = list_history(store, "n1")
    assert (rec.state, rec.origin, rec.epoch, rec.device) == ("done", "n2", election.epoch, "fence-all")
    node = json.loads(store.get(keys.node("n1")).value)
    assert node["expected"] == "down" and node["fenced"]["record"] == rec.id
    assert store.get_prefix(keys.history("n1"))[0] == []
    _snap, _cfg, tr = plan(store)  # the next transition: n1 cleanly down, a recovered on n2
    assert not tr.fences and not tr.nodes["n1"].unclean
    assert ("start", "a", "n2") in [(a.task, a.rsc, a.node) for a in tr.actions if a.task == "start"]
    st = cluster_status(read_snapshot(store))
    assert st["fencing"]["history"][-1]["result"] == "success"


def test_failed_fence_backs_off_and_gives_up(agent, tmp_path):
    (tmp_path / "rc").write_text("1")
    store, election = cluster(agent, ", stonith-max-attempts: 2")
    coord = FenceCoordinator(store, "n2", election.epoch)
    snap, cfg, tr = plan(store)
    out = coord.run(snap, cfg, tr.fences, lambda: True)
    assert not out.confirmed and out.retry_at is not None
    assert "attempt 1 failed" in out.waiting[0] and "not recovered" in out.waiting[0]
    out = coord.run(snap, cfg, tr.fences, lambda: True)  # not due yet: no new attempt
    assert len(list_history(store, "n1")) == 1 and "retrying in" in out.waiting[0]
    coord.episodes["n1"].next_at = 0.0
    out = coord.run(snap, cfg, tr.fences, lambda: True)
    assert "attempt 2 failed" in out.waiting[0] and "giving up" in out.waiting[0]
    coord.episodes["n1"].next_at = 0.0
    out = coord.run(snap, cfg, tr.fences, lambda: True)
    assert "gave up after 2 failed attempts" in out.waiting[0] and "corral fence n1" in out.waiting[0]
    assert [r.state for r in list_history(store, "n1")] == ["failed", "failed"]
    assert json.loads(store.get(keys.node("n1")).value)["expected"] == "member"  # still unclean
    # An operator's fence after the loss counts: no device run by the controller, node marked down.
    rec = record_pending(store, "n1", "off", "operator")
    record_result(store, rec, ok=True)
    out = coord.run(snap, cfg, tr.fences, lambda: True)
    assert out.confirmed == ["n1"]
    assert json.loads(store.get(keys.node("n1")).value)["fenced"]["by"] == "operator"


def test_a_fence_from_before_the_loss_does_not_count(agent, tmp_path):
    store, election = cluster(agent)
    old = record_pending(store, "n1", "reboot", "operator")
    record_result(store, old, ok=True)
    snap, cfg, tr = plan(store)
    FenceCoordinator(store, "n2", election.epoch).run(snap, cfg, tr.fences, lambda: True)
    assert [r.origin for r in list_history(store, "n1")] == ["operator", "n2"]  # fenced again


def test_a_deposed_controller_neither_fences_nor_marks(agent, tmp_path):
    store, election = cluster(agent)
    snap, cfg, tr = plan(store)
    coord = FenceCoordinator(store, "n2", election.epoch)
    election.resign()
    assert LeaderElection(store, keys.ELECTION_NAME, "n3", 30, prefix=keys.ELECTION_PREFIX).campaign()
    with pytest.raises(Deposed):
        coord.run(snap, cfg, tr.fences, lambda: True)
    assert list_history(store, "n1") == [] and not (tmp_path / "log").exists()


def test_mark_fenced_leaves_a_rejoined_node_alone():
    store = open_store(f"memory://{uuid.uuid4().hex}")
    store.put(keys.member("n1"), "{}")
    guard = member_guard(store, "n1")
    store.delete(keys.member("n1"))
    store.put(keys.member("n1"), "{}")  # rebooted and rejoined meanwhile
    store.put(keys.node("n1"), dumps({"expected": "member"}))
    assert not mark_fenced(store, "n1", guard, record_id="x", action="reboot", by="t")
    assert json.loads(store.get(keys.node("n1")).value) == {"expected": "member"}
    assert mark_fenced(store, "n1", member_guard(store, "n1"), record_id="x", action="reboot", by="t")
    assert store.get(keys.member("n1")) is None


def test_stonith_resources_are_bookkeeping(agent, tmp_path):
    store = open_store(f"memory://{uuid.uuid4().hex}")
    ex = Executor(store, "n1", HistoryBook(), lambda: {"#uname": "n1"}, lambda: True)
    spec = AgentSpec("stonith", str(agent), None, {"pcmk_host_list": "n1", "ip": "10.0.0.1"})
    assert ex.run("f", spec, "monitor", target_rc=7).op.rc == 7     # probe: not started here
    assert ex.run("f", spec, "start").op.rc == 0 and "f" in ex.running
    assert not (tmp_path / "log").exists()                          # nothing was run for it
    assert ex.run("f", spec, "monitor", interval_ms=1000).op.rc == 0  # the device's monitor
    calls = [json.loads(line) for line in (tmp_path / "log").read_text().splitlines()]
    assert calls[-1] == {"action": "monitor", "ip": "10.0.0.1"}
    (tmp_path / "rc").write_text("1")
    out = ex.run("f", spec, "monitor", interval_ms=1000)
    assert out.op.rc == 1 and "monitor failed" in out.op.exit_reason
    assert ex.run("f", spec, "stop").op.rc == 0 and "f" not in ex.running


def test_a_started_fence_device_stays_started_across_an_agent_restart(agent, tmp_path, monkeypatch):
    monkeypatch.setenv("CORRAL_RSCTMP", str(tmp_path / "rsctmp"))
    store = open_store(f"memory://{uuid.uuid4().hex}")
    spec = AgentSpec("stonith", str(agent), None, {"pcmk_host_list": "n1"})

    def fresh() -> Executor:  # what a restarted agent has: no memory of what it started
        return Executor(store, "n1", HistoryBook(), lambda: {"#uname": "n1"}, lambda: True)

    assert fresh().run("f", spec, "start").op.rc == 0
    assert fresh().run("f", spec, "monitor", target_rc=7).op.rc == 0   # its probe finds it started
    assert fresh().run("f", spec, "stop").op.rc == 0
    assert fresh().run("f", spec, "monitor", target_rc=7).op.rc == 7
