"""Validated operator changes on a store without agents: operator state, compare-and-set,
name checks, lifetimes, the client config file, the CIB writer, the node-name claim."""
from __future__ import annotations

import threading
import time

import pytest

from corral.agent.membership import Membership, NodeClaimed, wait_unclaimed
from corral.cli.common import read_conf
from corral.cli.verbs_resource import parse_lifetime
from corral.cluster import change, configstore, keys, operator
from corral.cluster.snapshot import read_snapshot, scheduler_inputs
from corral.cluster.timing import Timing
from corral.model.cib import parse_cib
from corral.model.cib_dump import dump_cib
from corral.model.errors import ConfigError
from corral.store import open_store

CONFIG = """cluster: {stonith-enabled: false}
nodes: [{name: n1}, {name: n2}]
resources:
  - {id: d1, agent: "ocf:heartbeat:Dummy", meta: {priority: "3"}}
  - group: g1
    members: [{id: g1a, agent: "ocf:heartbeat:Dummy"}]
  - clone: dc-clone
    of: {id: dc, agent: "ocf:heartbeat:Dummy"}
constraints:
  - location: {rsc: d1, rule: {score: -INFINITY, expressions: [{attribute: rack, op: eq, value: r2}]}}
  - colocation: {rsc: g1, with: d1, score: INFINITY}
  - order: {first: d1, then: g1}
"""


@pytest.fixture
def store(tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG)
    s = open_store(f"memory://verbs-{id(tmp_path)}")
    configstore.load_file(s, tmp_path / "c.yaml")
    yield s
    s.close()


def test_operator_state_round_trip_and_merge(store):
    st = operator.OperatorState({"n1": {"standby": "on"}, "n9": {"standby": "on"}}, [
        operator.OperatorConstraint("cli-prefer-d1", "d1", "n2", 1_000_000),
        operator.OperatorConstraint("cli-ban-d1-on-n1", "d1", "n1", -1_000_000, expires=1.0)])
    assert operator.decode(operator.encode(st)) == st
    snap = read_snapshot(store)
    snap.operator = st
    cfg, _ = scheduler_inputs(snap, now=100.0)
    assert cfg.nodes["n1"].attrs == {"standby": "on"}
    assert "n9" not in cfg.nodes  # a mode never adds a node
    assert [loc.id for loc in cfg.locations if loc.id.startswith("cli-")] == ["cli-prefer-d1"]  # the ban expired
    assert operator.next_expiry(st, now=0.0) == 1.0 and operator.next_expiry(st, now=2.0) is None


def test_change_refuses_bad_names_and_writes_nothing(store):
    before = store.get_prefix("/corral/")[1]
    for build in (lambda cur: cur.node("N1"), lambda cur: cur.node(""), lambda cur: cur.resource("dc:0"),
                  lambda cur: cur.resource("D1"), lambda cur: cur.resource(" ")):
        with pytest.raises(change.Rejected):
            change.apply(store, build)
    with pytest.raises(change.Rejected, match="did you mean 'n1'"):
        change.apply(store, lambda cur: cur.node("N1"))
    with pytest.raises(change.Rejected, match="instance of clone 'dc-clone'"):
        change.apply(store, lambda cur: cur.resource("dc:1"))

    def bad_meta(cur):
        cur.resource("d1").rsc.meta["target-role"] = "Bogus"
        cur.config_changed = True

    with pytest.raises(ConfigError, match="Bogus"):
        change.apply(store, bad_meta)
    assert store.get_prefix("/corral/")[1] == before


def test_change_retries_on_a_concurrent_write(store):
    calls = []

    def build(cur):
        calls.append(cur.snap.config_revision)
        if len(calls) == 1:  # someone else writes between our read and our write
            store.put(keys.OPERATOR, operator.encode(operator.OperatorState({"n2": {"standby": "on"}})))
        cur.operator.node_modes.setdefault("n1", {})["maintenance"] = "on"
        cur.operator_changed = True

    change.apply(store, build)
    assert len(calls) == 2
    state = operator.decode(store.get(keys.OPERATOR).value)
    assert state.node_modes == {"n1": {"maintenance": "on"}, "n2": {"standby": "on"}}  # neither edit lost


def test_lifetimes():
    assert parse_lifetime("PT1H30M") == 5400 and parse_lifetime("P1DT1S") == 86401 and parse_lifetime("P2W") == 1209600
    assert parse_lifetime("pt10s") == 10 and parse_lifetime(None) is None
    for bad in ("", "P", "PT", "PT0S", "1h", "P1Y", "P1M", "-PT1H", "PT1H ", "P99999W", "T1H"):
        with pytest.raises(ValueError):
            parse_lifetime(bad)


def test_client_config_file(tmp_path):
    conf = tmp_path / "corral.conf"
    conf.write_text("# comment\nstore = 'sqlite:///var/lib/corral/c.db'  # trailing\n")
    assert read_conf(conf) == {"store": "sqlite:///var/lib/corral/c.db"}
    conf.write_text("\nstor = x\n")
    with pytest.raises(ConfigError, match=r"corral.conf:2: unknown key 'stor'"):
        read_conf(conf)
    conf.write_text("store\n")
    with pytest.raises(ConfigError, match="expected 'key = value'"):
        read_conf(conf)


def test_cib_dump_reads_back_equal(store):
    import xml.etree.ElementTree as ET

    cfg = configstore.read(store).config
    again = parse_cib(ET.fromstring(dump_cib(cfg)), "dump")
    assert again.resources == cfg.resources
    assert again.colocations == cfg.colocations and again.orders == cfg.orders
    assert [(loc.id, loc.rsc, loc.score, loc.node) for loc in again.locations] == \
        [(loc.id, loc.rsc, loc.score, loc.node) for loc in cfg.locations]
    assert again.options == cfg.options and set(again.nodes) == set(cfg.nodes)


def test_a_node_name_is_claimed_by_one_agent():
    store = open_store("memory://verbs-claim")
    timing = Timing(ttl=1.0, renew=0.1, store_timeout=0.3)
    first = Membership(store, "n1", timing, lambda _r: None)
    try:
        first.join({"pid": 1})
        with pytest.raises(NodeClaimed, match="already claimed"):
            wait_unclaimed(store, "n1", timing, threading.Event())  # its heartbeat advances
        second = Membership(store, "n1", timing, lambda _r: None)
        with pytest.raises(NodeClaimed):
            second.join({"pid": 2})  # lost the race: the guard refuses
        second.close()
        assert "pid\": 1" in store.get(keys.member("n1")).value
        first.join({"pid": 1})  # its own claim: a rejoin over its own key is allowed
    finally:
        first.leave()
        first.close()
    wait_unclaimed(store, "n1", timing)  # left: free
    store.close()


def test_a_restarted_agent_takes_over_a_dead_predecessors_claim():
    from corral.cluster.records import dumps
    from corral.store import Put

    store = open_store("memory://verbs-takeover")
    timing = Timing(ttl=5.0, renew=0.1, store_timeout=0.3)
    lease = store.lease_grant(5.0)  # a crashed agent's: nobody renews it, its heartbeat is silent
    store.txn([], [Put(keys.member("n1"), dumps({"pid": 1, "renew": 0.1, "store_timeout": 0.3}), lease),
                   Put(keys.heartbeat("n1"), dumps({"seq": 7, "every": 0.1, "at": time.time() - 10}), lease)])
    started = time.monotonic()
    revision = wait_unclaimed(store, "n1", timing)
    assert time.monotonic() - started < 1.0  # silent for 10 s already: two beats' wait, not the full limit
    assert revision == store.get(keys.member("n1")).mod_revision
    restarted = Membership(store, "n1", timing, lambda _r: None)
    restarted.takeover_revision = revision
    try:
        restarted.join({"pid": 2})
        assert "pid\": 2" in store.get(keys.member("n1")).value
    finally:
        restarted.leave()
        restarted.close()
        store.close()


def _cli(url: str, *args: str, code: int = 0) -> str:
    from click.testing import CliRunner

    from corral.cli.main import cli

    r = CliRunner().invoke(cli, list(args), env={"CORRAL_STORE": url})
    assert r.exit_code == code, (args, r.output, r.stderr)
    return r.output + r.stderr


def test_verbs_on_a_store_without_agents(tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG)
    url = "memory://verbs-cli"
    store = open_store(url)
    try:
        configstore.load_file(store, tmp_path / "c.yaml")
        _cli(url, "node", "standby", "n1")
        _cli(url, "resource", "move", "d1", "n2", "--lifetime", "PT1H")
        state = operator.decode(store.get(keys.OPERATOR).value)
        assert state.node_modes == {"n1": {"standby": "on"}}
        assert state.constraints[0].id == "cli-prefer-d1" and state.constraints[0].expires > 0
        # a reload of the file keeps the operator state
        config_rev = store.get(keys.CONFIG).mod_revision
        _cli(url, "load", str(tmp_path / "c.yaml"))
        assert store.get(keys.CONFIG).mod_revision > config_rev
        assert operator.decode(store.get(keys.OPERATOR).value) == state
        assert "cli-prefer-d1" in _cli(url, "config", "show", "--with-operator")
        assert "cli-prefer-d1" not in _cli(url, "config", "show")
        # a property is validated, set, unset
        _cli(url, "property", "set", "no-quorum-policy", "freeze")
        assert configstore.read(store).config.options["no-quorum-policy"] == "freeze"
        _cli(url, "property", "unset", "no-quorum-policy")
        assert "no-quorum-policy" not in configstore.read(store).config.options
        # enable after disable clears the clone's and its child's target-role
        configstore.edit(store, lambda cfg: cfg.resources[2].child.meta.update({"target-role": "Stopped"}))
        _cli(url, "resource", "disable", "dc-clone")
        _cli(url, "resource", "enable", "dc-clone")
        clone = configstore.read(store).config.resources[2]
        assert "target-role" not in clone.meta and "target-role" not in clone.child.meta
        # node remove of a node that is not a member: gone, with its modes and constraints
        _cli(url, "resource", "ban", "d1", "n1")
        out = _cli(url, "node", "remove", "n1")
        assert "removed cli-ban-d1-on-n1" in out
        assert "n1" not in configstore.read(store).config.nodes
        assert "n1" not in operator.decode(store.get(keys.OPERATOR).value).node_modes
        _cli(url, "node", "standby", "n1", code=2)
    finally:
        store.close()


def test_fence_history_cleanup_keeps_pending_records():
    from corral.fencing.history import list_history, record_pending, record_result

    url = "memory://verbs-fence"
    store = open_store(url)
    try:
        done = record_pending(store, "n1", "reboot", "operator")
        record_result(store, done, ok=True)
        record_pending(store, "n2", "off", "operator")
        assert "removed 1 fencing record(s); kept 1 pending" in _cli(url, "fence", "history", "--cleanup")
        assert [r.node for r in list_history(store)] == ["n2"]
    finally:
        store.close()


def test_move_of_a_promotable_clone_needs_promoted_and_a_node(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "cluster: {stonith-enabled: false}\nnodes: [{name: n1}, {name: n2}]\nresources:\n"
        "  - promotable: db-clone\n    of: {id: db, agent: 'ocf:pacemaker:Stateful'}\n")
    url = "memory://verbs-promotable"
    store = open_store(url)
    try:
        configstore.load_file(store, tmp_path / "p.yaml")
        assert "move --promoted" in _cli(url, "resource", "move", "db-clone", "n1", code=2)
        assert "name the NODE" in _cli(url, "resource", "move", "db-clone", "--promoted", code=2)
        assert store.get(keys.OPERATOR) is None
        _cli(url, "resource", "move", "db-clone", "n2", "--promoted")
        (c,) = operator.decode(store.get(keys.OPERATOR).value).constraints
        assert (c.id, c.node, c.role, c.score) == ("cli-prefer-db-clone", "n2", "Promoted", 1_000_000)
    finally:
        store.close()
