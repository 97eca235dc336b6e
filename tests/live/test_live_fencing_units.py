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


# -- a node that came back before its fence ran (the control-plane lab's crash-two) ----------------------

def _calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "log"
    if not log.exists():
        return []
    return [c["action"] for c in map(json.loads, log.read_text().splitlines()) if c["action"] != "metadata"]


def test_a_node_that_rejoined_before_its_fence_is_not_fenced(agent, tmp_path):
    store, election = cluster(agent)
    snap, cfg, tr = plan(store)
    assert [n for n, _a, _r in tr.fences] == ["n1"]            # planned from a snapshot: n1 lost
    store.put(keys.member("n1"), dumps({"pid": 2}))           # ... and n1 rebooted and rejoined since
    coord = FenceCoordinator(store, "n2", election.epoch)
    out = coord.run(snap, cfg, tr.fences, lambda: True)
    assert out.cancelled == ["n1"] and not out.confirmed and not coord.episodes
    assert _calls(tmp_path) == [] and list_history(store, "n1") == []   # no device ran
    assert store.get(keys.member("n1")) is not None                     # and its new member key stays


def test_a_joining_node_is_not_fenced_but_a_silent_one_still_is(agent, tmp_path):
    store, election = cluster(agent)
    snap, cfg, tr = plan(store)
    store.put(keys.joining("n1"), dumps({"pid": 2}))          # a new agent probes its way in
    out = FenceCoordinator(store, "n2", election.epoch).run(snap, cfg, tr.fences, lambda: True)
    assert out.cancelled == ["n1"] and _calls(tmp_path) == []
    # A heartbeat counts only for a node lost for its silence, and only one we have not heard yet.
    store.delete(keys.joining("n1"))
    store.put(keys.member("n1"), "{}")
    store.put(keys.heartbeat("n1"), dumps({"seq": 1}))
    snap, cfg, _tr = plan(store)
    heard = store.get(keys.heartbeat("n1")).mod_revision
    fences = [("n1", "reboot", "heartbeat silent for 2.00s")]
    out = FenceCoordinator(store, "n2", election.epoch).run(snap, cfg, fences, lambda: True, heard=lambda n: heard)
    assert out.confirmed == ["n1"] and _calls(tmp_path) == ["reboot"]   # silent: fenced
    store.put(keys.member("n1"), "{}")
    store.put(keys.heartbeat("n1"), dumps({"seq": 1}))
    snap, cfg, _tr = plan(store)
    store.put(keys.heartbeat("n1"), dumps({"seq": 2}))        # a beat our watch has not delivered yet
    out = FenceCoordinator(store, "n2", election.epoch).run(snap, cfg, fences, lambda: True, heard=lambda n: heard)
    assert out.cancelled == ["n1"] and _calls(tmp_path) == ["reboot"]


def test_mark_fenced_leaves_a_node_alone_whose_restarted_agent_took_its_key_over():
    # A restarted agent replaces its dead predecessor's member key in place (the key's
    # create_revision stays): that join, too, must keep the fence's bookkeeping off the new one.
    store = open_store(f"memory://{uuid.uuid4().hex}")
    store.put(keys.member("n1"), dumps({"pid": 1}))
    guard = member_guard(store, "n1")
    store.put(keys.member("n1"), dumps({"pid": 2}))
    assert not mark_fenced(store, "n1", guard, record_id="x", action="off", by="t")
    assert json.loads(store.get(keys.member("n1")).value) == {"pid": 2}


def test_a_new_controller_settles_the_fence_requests_left_pending(agent, tmp_path):
    store, election = cluster(agent)
    first = election.epoch
    old = record_pending(store, "n1", "off", "n3", epoch=first)           # the controller before's
    mine = record_pending(store, "n1", "off", "n2")                       # n2's takeover fence, never completed
    operator = record_pending(store, "n1", "off", "operator")             # in progress right now
    election.resign()
    successor = LeaderElection(store, keys.ELECTION_NAME, "n2", 30, prefix=keys.ELECTION_PREFIX)
    assert successor.campaign() and successor.epoch > first
    coord = FenceCoordinator(store, "n2", successor.epoch)
    settled = coord.settle_abandoned(list_history(store, "n1"))
    assert sorted(r.id for r in settled) == sorted([old.id, mine.id])
    states = {r.id: (r.state, r.error) for r in list_history(store, "n1")}
    assert states[operator.id] == ("pending", "")
    assert states[old.id][0] == "failed" and states[old.id][1].startswith("abandoned: controller n3 (epoch")
    st = cluster_status(read_snapshot(store))["fencing"]
    assert [e["id"] for e in st["pending"]] == [operator.id]
    assert {e["id"]: e["result"] for e in st["history"]}[mine.id] == "abandoned"
    record_result(store, operator, ok=True)   # the operator's own result still lands
    assert coord.settle_abandoned(list_history(store, "n1")) == []


def _takeover_cluster(agent: Path):
    """n1 held the controller's seat and fell silent (as n2 hears it); n2 is the candidate to act."""
    from corral.controller.liveness import Liveness
    from corral.controller.takeover import Takeover

    store, _election = cluster(agent, ", heartbeat-timeout: 1s")
    store.delete(keys.LEADER)
    store.put(keys.member("n1"), dumps({"pid": 1}))
    seat = LeaderElection(store, keys.ELECTION_NAME, "n1", 30, prefix=keys.ELECTION_PREFIX)
    assert seat.campaign()
    liveness = Liveness("n2")
    liveness.beat("n1", dumps({"seq": 1}), now=0.0, revision=store.put(keys.heartbeat("n1"), dumps({"seq": 1})))
    import time as _time

    for i in range(4):
        liveness.beat("n2", dumps({"seq": i}), now=_time.monotonic(), revision=0)
    cfg = read_snapshot(store).config
    return store, Takeover(store, "n2", liveness), cfg


def test_takeover_fences_a_silent_controller(agent, tmp_path):
    store, takeover, cfg = _takeover_cluster(agent)
    assert takeover.attempt(cfg, ["n1", "n2"])
    assert _calls(tmp_path) == ["reboot"] and store.get(keys.LEADER) is None
    assert json.loads(store.get(keys.node("n1")).value)["expected"] == "down"


def test_takeover_does_not_fence_a_controller_whose_node_rebooted_and_rejoined(agent, tmp_path):
    # crash-two: etcd, quorate again, renews every lease, so the dead controller's seat outlives it
    # by a TTL while its rebooted node's new agent has already taken its member key over.
    store, takeover, cfg = _takeover_cluster(agent)
    store.put(keys.member("n1"), dumps({"pid": 2}))
    assert takeover.attempt(cfg, ["n1", "n2"])          # the seat is free: campaign now
    assert _calls(tmp_path) == [] and list_history(store, "n1") == []
    assert store.get(keys.LEADER) is None and json.loads(store.get(keys.member("n1")).value) == {"pid": 2}


class _Flaky:
    """The store, with its next `fail` transactions on fencing records timing out (as right after
    the fence of the etcd leader's host)."""

    def __init__(self, store, fail: int) -> None:
        self._store, self.fail = store, fail

    def __getattr__(self, name):
        return getattr(self._store, name)

    def txn(self, compares, ops):
        from corral.store import StoreUnavailable

        if self.fail > 0 and any(getattr(op, "key", "").startswith("/corral/fencing/") for op in ops):
            self.fail -= 1
            raise StoreUnavailable("timed out")
        return self._store.txn(compares, ops)


def test_a_fence_whose_outcome_could_not_be_written_is_not_left_pending(agent, tmp_path, monkeypatch):
    import corral.fencing.history as history
    from corral.store import StoreUnavailable

    monkeypatch.setattr(history, "RESULT_RETRY_S", 0.0)
    store, election = cluster(agent)
    snap, cfg, tr = plan(store)
    real, writes = store.txn, {"n": 0}

    def txn(compares, ops):  # the pending write lands, then every try of the result write times out
        if any(getattr(op, "key", "").startswith("/corral/fencing/") for op in ops):
            writes["n"] += 1
            if 2 <= writes["n"] <= 1 + history.RESULT_TRIES:
                raise StoreUnavailable("timed out")
        return real(compares, ops)

    monkeypatch.setattr(store, "txn", txn)
    coord = FenceCoordinator(store, "n2", election.epoch)
    out = coord.run(snap, cfg, tr.fences, lambda: True)
    assert not out.confirmed and "outcome not recorded yet" in out.waiting[0]
    assert [r.state for r in list_history(store, "n1")] == ["pending"] and _calls(tmp_path) == ["reboot"]
    # The next cycle writes the outcome it kept: the fence counts, without a second device run.
    coord.settle_abandoned(list_history(store, "n1"))
    assert [r.state for r in list_history(store, "n1")] == ["done"]
    coord.episodes["n1"].next_at = 0.0
    out = coord.run(snap, cfg, tr.fences, lambda: True)
    assert out.confirmed == ["n1"] and _calls(tmp_path) == ["reboot"]


def test_a_result_write_that_timed_out_is_retried():
    import corral.fencing.history as history
    from corral.fencing.topology import FenceResult

    store = open_store(f"memory://{uuid.uuid4().hex}")
    rec = record_pending(store, "n1", "off", "t")
    flaky = _Flaky(store, 2)
    done = history.complete(flaky, rec, FenceResult("n1", "off", True, "dev", 1, 1, 0.0, 1.0), tries=3)
    assert done.state == "done" and [r.state for r in list_history(store, "n1")] == ["done"]
    rec = record_pending(store, "n1", "off", "t")
    with pytest.raises(history.OutcomeNotRecorded):
        history.complete(_Flaky(store, 5), rec, FenceResult("n1", "off", True, "dev", 1, 1, 0.0, 1.0), tries=2)
