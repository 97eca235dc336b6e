"""The graph executor on hand-made graphs, against the memory store and a fake agent."""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from corral.cluster import keys
from corral.cluster.records import DONE, PENDING, ActionRecord, AgentSpec
from corral.controller.driver import Driver
from corral.controller.executor import GraphExecutor, Limits
from corral.scheduler.graph import Graph, GraphAction
from corral.store import LeaderElection, Put, open_store


class FakeAgents:
    """Answers every pending action after `delay[key]` seconds with `rc[key]` (default 0),
    and notes when each ran."""

    def __init__(self, store) -> None:
        self.store = store
        self.delay: dict[str, float] = {}
        self.rc: dict[str, int] = {}
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}
        self.running: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._seen: set[str] = set()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.003):
            for kv in self.store.get_prefix(keys.ACTIONS)[0]:
                if kv.key in self._seen:
                    continue
                rec = ActionRecord.from_json(kv.value)
                if rec.state != PENDING:
                    continue
                self._seen.add(kv.key)
                threading.Thread(target=self._run, args=(kv.key, rec), daemon=True).start()

    def _run(self, key: str, rec: ActionRecord) -> None:
        name = rec.rsc + "_" + rec.task
        with self._lock:
            self.started[name] = time.monotonic()
            self.running.add(name)
        time.sleep(self.delay.get(name, 0.01))
        rec.state, rec.rc, rec.op_status = DONE, self.rc.get(name, 0), 0
        with self._lock:
            self.running.discard(name)
            self.ended[name] = time.monotonic()
        if not self._stop.is_set() and self.store.get(key) is not None:
            self.store.put(key, rec.to_json())

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)


@pytest.fixture
def env() -> Iterator[tuple]:
    store = open_store(f"memory://{uuid.uuid4().hex}")
    election = LeaderElection(store, keys.ELECTION_NAME, "c", 5, prefix=keys.ELECTION_PREFIX)
    assert election.campaign()
    for n in ("n1", "n2"):
        store.put(keys.member(n), "{}")
    agents = FakeAgents(store)
    yield store, election, agents
    agents.close()
    store.close()


def act(aid: int, rsc: str | None, task: str, node: str | None = "n1", kind: str = "rsc", **kw) -> GraphAction:
    key = f"{rsc}_{task}_0" if rsc else f"{task}_{aid}"
    return GraphAction(aid, key, task, kind, rsc=rsc, base=rsc, node=node if kind != "pseudo" else None, **kw)  # type: ignore[arg-type]


def run(env, graph: Graph, limits: Limits | None = None, abort: threading.Event | None = None):
    store, election, _agents = env
    driver = Driver(store, election.epoch, lambda: True)
    n = iter(range(1, 10_000))

    def make(a: GraphAction) -> ActionRecord:
        return ActionRecord(id=f"t-{next(n)}", task=a.task, rsc=a.rsc or "", exec_rsc=a.rsc or "", base=a.base or "",
                            node=a.node or "", spec=AgentSpec("ocf", "Dummy", "heartbeat"), timeout_s=5.0,
                            meta=dict(a.meta))

    ex = GraphExecutor(driver, graph, make, limits or Limits(), abort or threading.Event(), threading.Event())
    out = ex.run()
    assert not store.get_prefix(keys.ACTIONS)[0], "answered actions are removed"
    return out


def test_an_action_waits_only_for_its_own_inputs(env):
    """A restart on n1 (stop -> start) does not wait for a slow, unrelated stop on n2."""
    _store, _e, agents = env
    agents.delay["slow_stop"] = 0.6
    g = Graph([act(1, "web", "stop"), act(2, "web", "start"), act(3, "slow", "stop", "n2")], [(1, 2)])
    out = run(env, g)
    assert out.ok and out.confirmed == 3
    assert agents.ended["web_start"] < agents.ended["slow_stop"] - 0.3
    assert agents.started["web_start"] >= agents.ended["web_stop"]


def test_pseudo_actions_and_require_any(env):
    """clone_running (pseudo) needs both copies; an 'or' set needs one of them."""
    _store, _e, agents = env
    agents.rc["a_start"] = 1  # one member of the or-set fails
    g = Graph([act(1, "a", "start"), act(2, "b", "start", "n2"),
               act(3, None, "one-or-more", kind="pseudo", require_any=True),
               act(4, "c", "start"),
               act(5, None, "running", kind="pseudo"), act(6, "d", "start")],
              [(1, 3), (2, 3), (3, 4), (1, 5), (2, 5), (5, 6)])
    out = run(env, g)
    assert "c_start" in agents.ended                # one of the alternatives was enough
    assert "d_start" not in agents.started          # needed both
    assert not out.ok and any("a_start_0" in f for f in out.failures)
    assert any(s.startswith("d_start_0") for s in out.skipped)


def test_a_failure_blocks_its_dependents_only(env):
    _store, _e, agents = env
    agents.rc["db_start"] = 1
    agents.delay["other_start"] = 0.2
    g = Graph([act(1, "db", "start"), act(2, "app", "start"), act(3, "app", "monitor"),
               act(4, "other", "start", "n2"), act(5, "other", "monitor", "n2")],
              [(1, 2), (2, 3), (4, 5)])
    out = run(env, g)
    assert not out.ok and not out.aborted
    assert "app_start" not in agents.started and "app_monitor" not in agents.started
    assert "other_monitor" in agents.ended          # independent work still ran
    assert [s.split(":")[0] for s in out.skipped] == ["app_start_0 on n1", "app_monitor_0 on n1"]


def test_unrunnable_and_optional_actions_are_not_executed(env):
    _store, _e, agents = env
    g = Graph([act(1, "a", "start", runnable=False, reason="no quorum"), act(2, "b", "start"),
               act(3, "c", "stop", optional=True), act(4, "d", "start"), act(5, "e", "start")],
              [(1, 2), (3, 4)])
    out = run(env, g)
    assert set(agents.started) == {"d_start", "e_start"}  # an optional input holds nothing back
    assert out.ok  # nothing failed: unrunnable work is the scheduler's decision, not a failure
    assert any("a_start_0" in s and "no quorum" in s for s in out.skipped)


def test_a_failed_notification_is_ignored(env):
    _store, _e, agents = env
    agents.rc["db_notify"] = 1
    g = Graph([act(1, "db", "notify", kind="notify", meta={"notify_type": "pre", "notify_operation": "start"}),
               act(2, "db", "start")], [(1, 2)])
    out = run(env, g)
    assert out.ok and "db_start" in agents.ended


def test_parallelism_is_bounded_per_node(env):
    _store, _e, agents = env
    for r in "abcd":
        agents.delay[f"{r}_start"] = 0.1
    g = Graph([act(i, r, "start") for i, r in enumerate("abcd", 1)], [])
    t0 = time.monotonic()
    out = run(env, g, Limits(cluster=10, per_node=2))
    took = time.monotonic() - t0
    assert out.ok and took >= 0.2  # two rounds of two
    starts = sorted(agents.started[f"{r}_start"] for r in "abcd")
    assert starts[2] - starts[0] >= 0.08


def test_abort_launches_nothing_new_and_waits_for_what_runs(env):
    _store, _e, agents = env
    agents.delay["a_stop"] = 0.3
    abort = threading.Event()
    g = Graph([act(1, "a", "stop"), act(2, "a", "start")], [(1, 2)])
    threading.Timer(0.1, abort.set).start()
    out = run(env, g, abort=abort)
    assert out.aborted and not out.ok
    assert "a_stop" in agents.ended and "a_start" not in agents.started


def test_no_action_for_a_node_that_is_not_a_member(env):
    store, _e, agents = env
    g = Graph([act(1, "a", "start", "n9"), act(2, "b", "start")], [])
    out = run(env, g)
    assert not out.ok and any("n9" in f for f in out.failures)
    assert "b_start" in agents.ended and "a_start" not in agents.started


def test_a_deposed_controller_launches_nothing(env):
    store, election, _agents = env
    driver = Driver(store, election.epoch, lambda: True)
    store.put(keys.EPOCH, str(election.epoch + 1))  # another controller won meanwhile
    from corral.store import Deposed

    with pytest.raises(Deposed):
        driver.write([Put(keys.action("n1", "x"), "{}")])


def test_limits_come_from_pacemakers_options():
    from corral.controller.executor import DEFAULT_BATCH_LIMIT, default_node_limit
    from corral.model.yaml_config import parse_yaml_config

    def limits(options: str) -> Limits:
        cfg, _ = parse_yaml_config(f"cluster: {{{options}}}\n", "t.yaml")
        return Limits.from_config(cfg)

    assert limits("stonith-enabled: false") == Limits(DEFAULT_BATCH_LIMIT, default_node_limit(), -1)
    assert limits("batch-limit: 3, node-action-limit: 2, migration-limit: 1") == Limits(3, 2, 1)
    assert limits("node-action-limit: -1").per_node < 0  # no limit per node


def test_migrations_per_node_are_bounded(env):
    _store, _e, agents = env
    for r in "ab":
        agents.delay[f"{r}_migrate_to"] = 0.15
    g = Graph([act(1, "a", "migrate_to"), act(2, "b", "migrate_to")], [])
    out = run(env, g, Limits(cluster=10, per_node=10, migrations=1))
    assert out.ok
    first, second = sorted((agents.started[f"{r}_migrate_to"], agents.ended[f"{r}_migrate_to"]) for r in "ab")
    assert second[0] >= first[1]  # one after the other
