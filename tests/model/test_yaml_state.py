"""The YAML cluster-state format -> ClusterState, shaped like a CIB status section."""
from __future__ import annotations

import textwrap

import pytest

from corral.model.config import Configuration
from corral.model.errors import ConfigError
from corral.model.load import load, load_config
from corral.model.state import EXEC_TIMEOUT, ClusterState, OpRecord
from corral.model.validate import ConfigErrors
from corral.model.yaml_state import load_state, parse_yaml_state

from .conftest import EXAMPLES, parse

CONFIG = parse("""
    cluster: {stonith-enabled: false}
    nodes: [{name: n1}, {name: n2}, {name: n3}]
    resources:
      - id: web
        agent: ocf:heartbeat:apache
        ops: [{name: monitor, interval: 10s}]
      - id: bare
        agent: systemd:bare
      - group: grp
        members:
          - {id: g1, agent: lsb:g1, ops: [{name: monitor, interval: 30s}]}
          - {id: g2, agent: lsb:g2}
      - clone: hap-clone
        of: {id: hap, agent: systemd:haproxy, ops: [{name: monitor, interval: 5s}]}
      - clone: uniq-clone
        of: {id: uniq, agent: ocf:pacemaker:Dummy}
        meta: {globally-unique: true}
      - promotable: db-clone
        of:
          id: db
          agent: ocf:heartbeat:galera
          ops:
            - {name: monitor, interval: 20s}
            - {name: monitor, interval: 10s, role: promoted}
""")


def state(text: str, config: Configuration = CONFIG) -> ClusterState:
    return parse_yaml_state(textwrap.dedent(text), config, "state.yaml")


def ops(st: ClusterState, node: str, rsc: str) -> list[tuple[str, str, int, int, int | None]]:
    return [(o.id, o.op, o.interval_ms, o.rc, o.target_rc) for o in st.nodes[node].history[rsc].ops]


def test_node_states() -> None:
    st = state("""
        quorum: false
        now: 2024-05-01T12:00:00Z
        dc: n1
        nodes:
          - {name: n1}
          - {name: n2, state: standby, attributes: {rack: r2}}
          - {name: n3, state: unclean}
    """)
    assert (st.have_quorum, st.now, st.dc) == (False, 1714564800, "n1")
    n1, n2, n3 = st.nodes["n1"], st.nodes["n2"], st.nodes["n3"]
    assert (n1.in_cluster, n1.agent_online, n1.join, n1.expected, n1.seen) == (True, True, "member", "member", True)
    assert n2.in_cluster and n2.attrs == {"rack": "r2", "standby": "on"}
    assert (n3.in_cluster, n3.agent_online, n3.join, n3.expected) == (False, False, "down", "member")
    offline = state("nodes: [{name: n1, state: offline}]").nodes["n1"]
    assert (offline.in_cluster, offline.expected) == (False, "down")
    pending = state("nodes: [{name: n1, state: pending}]").nodes["n1"]
    assert (pending.in_cluster, pending.join) == (True, "pending")


def test_unlisted_nodes_were_never_seen() -> None:
    st = state("nodes: [{name: n1}]")
    assert not st.nodes["n2"].seen and not st.nodes["n2"].in_cluster
    assert state("").nodes.keys() == {"n1", "n2", "n3"}


def test_running_shorthand() -> None:
    st = state("nodes: [{name: n1, running: [web, bare, grp, hap-clone, db-clone:promoted]},"
               " {name: n2, running: ['db-clone:unpromoted', 'uniq-clone', 'uniq-clone', 'uniq:7']}]")
    assert ops(st, "n1", "web") == [("web_last_0", "start", 0, 0, 0), ("web_monitor_10000", "monitor", 10_000, 0, 0)]
    assert ops(st, "n1", "bare") == [("bare_last_0", "start", 0, 0, 0)]
    assert ops(st, "n1", "g1")[1] == ("g1_monitor_30000", "monitor", 30_000, 0, 0)
    assert ops(st, "n1", "g2") == [("g2_last_0", "start", 0, 0, 0)]
    assert ops(st, "n1", "hap") == [("hap_last_0", "start", 0, 0, 0), ("hap_monitor_5000", "monitor", 5000, 0, 0)]
    assert ops(st, "n1", "db") == [("db_last_0", "promote", 0, 0, 0), ("db_monitor_10000", "monitor", 10_000, 8, 8)]
    assert ops(st, "n2", "db") == [("db_last_0", "start", 0, 0, 0), ("db_monitor_20000", "monitor", 20_000, 0, 0)]
    assert sorted(st.nodes["n2"].history) == ["db", "uniq:0", "uniq:1", "uniq:7"]
    hist = st.nodes["n1"].history["web"]
    assert (hist.rsc_class, hist.provider, hist.type) == ("ocf", "heartbeat", "apache")


def test_call_ids_increase_in_file_order() -> None:
    st = state("nodes: [{name: n1, running: [web, hap-clone]}, {name: n2, running: [web]}]")
    calls = [o.call_id for n in ("n1", "n2") for h in st.nodes[n].history.values() for o in h.ops]
    assert calls == [1, 2, 3, 4, 5, 6]


def test_failed_recurring_monitor_like_crm_simulate_inject() -> None:
    st = state("""
        now: 1700000000
        nodes:
          - name: n1
            running: [web]
            failed: [{rsc: web, op: monitor, rc: 7, exit-reason: gone}]
    """)
    records = st.nodes["n1"].history["web"].ops
    assert [(o.id, o.rc, o.target_rc, o.call_id) for o in records] == [
        ("web_last_0", 0, 0, 1), ("web_monitor_10000", 0, 0, 2), ("web_last_failure_0", 7, 0, 3)]
    assert records[-1].exit_reason == "gone" and records[-1].last_rc_change == 1700000000
    assert st.nodes["n1"].attrs == {"fail-count-web#monitor_10000": "1",
                                    "last-failure-web#monitor_10000": "1700000000"}


def test_failure_implies_the_resource_was_started() -> None:
    st = state("nodes: [{name: n1, failed: [{rsc: web, op: monitor, interval: 10s, rc: OCF_ERR_GENERIC}]}]")
    assert [(i, op, rc) for i, op, _, rc, _ in ops(st, "n1", "web")] == [
        ("web_last_0", "start", 0), ("web_monitor_10000", "monitor", 0), ("web_last_failure_0", "monitor", 1)]


def test_failed_start_and_timeouts() -> None:
    st = state("nodes: [{name: n1, failed: [{rsc: web, op: start, rc: error, status: timeout}]}]")
    last, failure = st.nodes["n1"].history["web"].ops
    assert (last.id, last.op, last.rc, last.op_status) == ("web_last_0", "start", 1, EXEC_TIMEOUT)
    assert (failure.id, failure.call_id) == ("web_last_failure_0", last.call_id)
    assert st.nodes["n1"].attrs == {"fail-count-web#start_0": "1"}  # no `now`: no last-failure


def test_failed_promoted_monitor_expects_8_and_probe_expects_7() -> None:
    st = state("nodes: [{name: n1, running: ['db-clone:promoted'], failed: [{rsc: db, op: monitor, rc: 1}]},"
               " {name: n2, failed: [{rsc: web, op: monitor, interval: 0, rc: 5}]}]")
    assert ops(st, "n1", "db")[-1] == ("db_last_failure_0", "monitor", 10_000, 1, 8)
    assert ops(st, "n2", "web") == [("web_last_0", "monitor", 0, 5, 7), ("web_last_failure_0", "monitor", 0, 5, 7)]


def test_explicit_fail_counts_replace_the_automatic_ones() -> None:
    st = state("nodes: [{name: n1, failed: [{rsc: web, op: monitor}], fail-counts: {web: 3, 'g1#monitor_30000': 1}}]")
    assert st.nodes["n1"].attrs == {"fail-count-web": "3", "fail-count-g1#monitor_30000": "1"}


def test_history_entries_as_given() -> None:
    st = state("""
        nodes:
          - name: n1
            history:
              - {rsc: web, op: monitor, rc: not-running, call: 5}
              - {rsc: web, op: start, rc: 0}
              - {rsc: web, op: monitor, interval: 10s, rc: 0, rc-change: 2024-01-01T00:00:00}
              - {rsc: web, op: stop, rc: 1, status: error, target-rc: 0, id: web_last_failure_0}
    """)
    records = st.nodes["n1"].history["web"].ops
    assert [(o.op, o.rc, o.call_id, o.target_rc) for o in records] == [
        ("monitor", 7, 5, 7), ("start", 0, 6, 0), ("monitor", 0, 7, 0), ("stop", 1, 8, 0)]
    assert records[2].last_rc_change == 1704067200 and records[3].id == "web_last_failure_0"


def test_errors_name_file_line_and_path() -> None:
    with pytest.raises(ConfigErrors) as info:
        state("""\
            nodes:
              - name: n1
                running: [web, nothing, 'web:promoted', db-clone:stopped]
              - name: n9
              - name: n1
              - name: n2
                failed: [{rsc: bare, op: monitor}]
                history: [{rsc: grp, op: start}]
              - name: n3
                state: asleep
                failed: [{rsc: web, rc: fine}]
        """)
    assert [f"{w}: {p}" for w, p in info.value.problems] == [
        "state.yaml:10: nodes[4].state: input should be 'online', 'offline', 'unclean', 'standby' or "
        "'pending', got 'asleep'",
        "state.yaml:11: nodes[4].failed[0].rc: 'fine' is not an exit code (a number, or a name like "
        "not-running, OCF_ERR_GENERIC)",
    ]
    with pytest.raises(ConfigErrors) as info:
        state("""\
            nodes:
              - name: n1
                running: [web, nothing, 'web:promoted', db-clone:stopped]
              - name: n9
              - name: n1
              - name: n2
                failed: [{rsc: bare, op: monitor}]
                history: [{rsc: grp, op: start}]
        """)
    assert [f"{w}: {p}" for w, p in info.value.problems] == [
        "state.yaml:3: nodes[0].running[1]: unknown resource 'nothing'",
        "state.yaml:3: nodes[0].running[2]: 'web' is not promotable, so it cannot be promoted",
        "state.yaml:3: nodes[0].running[3]: a running resource cannot be stopped; leave it out instead",
        "state.yaml:4: nodes[1].name: unknown node 'n9' (the configuration has: n1, n2, n3)",
        "state.yaml:5: nodes[2].name: node 'n1' is listed twice (first as nodes[0])",
        "state.yaml:7: nodes[3].failed[0].interval: 'bare' has no recurring monitor configured; give the "
        "interval (0 for a probe)",
        "state.yaml:8: nodes[3].history[0]: 'grp' is a group; history entries name a primitive",
    ]


def test_unknown_keys_are_suggested() -> None:
    with pytest.raises(ConfigError, match=r"state.yaml:1: nodes\[0\].runing: unknown key 'runing'; "
                                          r"did you mean 'running'\?"):
        state("nodes: [{name: n1, runing: [web]}]")


def test_same_records_as_the_cib_of_the_three_node_example() -> None:
    """The YAML shorthands describe the status crm_simulate wrote into examples/three-node.xml."""
    loaded = load(EXAMPLES / "three-node.xml")
    assert loaded.state is not None
    probes = [{"rsc": r, "op": "monitor", "rc": 7} for r in ("vip", "web")]
    st = parse_yaml_state(textwrap.dedent("""
        nodes:
          - name: node1
            history: [{rsc: fence-node1, op: monitor, rc: 7}, %(p)s]
            running: [fence-node2, fence-node3, haproxy-clone]
          - name: node2
            history: [{rsc: fence-node2, op: monitor, rc: 7}, {rsc: fence-node3, op: monitor, rc: 7}, %(p)s]
            running: [fence-node1, haproxy-clone]
          - name: node3
            history: [{rsc: fence-node1, op: monitor, rc: 7}, {rsc: fence-node2, op: monitor, rc: 7},
                      {rsc: fence-node3, op: monitor, rc: 7}]
            running: [vip, web, haproxy-clone]
            failed: [{rsc: web, op: monitor, rc: 7}]
    """) % {"p": ", ".join(f"{{rsc: {p['rsc']}, op: monitor, rc: 7}}" for p in probes)},
        loaded.config, "three-node-state.yaml")

    def view(records: list[OpRecord]) -> list[tuple[str, int, int, int | None]]:
        return [(o.op, o.interval_ms, o.rc, o.target_rc) for o in sorted(records, key=lambda o: o.call_id)]

    for name, node in loaded.state.nodes.items():
        mine = st.nodes[name]
        assert (mine.in_cluster, mine.agent_online, mine.join, mine.expected) == \
            (node.in_cluster, node.agent_online, node.join, node.expected)
        assert mine.history.keys() == node.history.keys(), name
        for rsc, hist in node.history.items():
            assert view(mine.history[rsc].ops) == view(hist.ops), (name, rsc)
        assert {k for k in mine.attrs if k.startswith("fail-count")} == \
            {k for k in node.attrs if k.startswith("fail-count")}


def test_openstack_example_state() -> None:
    config = load_config(EXAMPLES / "openstack-control-plane.yaml", unsupported="warn")
    st = load_state(EXAMPLES / "openstack-state.yaml", config)
    assert all(n.in_cluster and n.agent_online and not n.history for n in st.nodes.values())
    assert {n.attrs["master-galera"] for n in st.nodes.values()} == {"100"}


def test_tickets() -> None:
    st = state("""
        tickets:
          ticketA: granted
          ticketB: revoked
          ticketC: standby
          ticketD: {granted: true}
    """)
    assert {k: (t.granted, t.standby, t.ever_granted) for k, t in st.tickets.items()} == {
        "ticketA": (True, False, True), "ticketB": (False, False, True), "ticketC": (True, True, True),
        "ticketD": (True, False, True)}
    with pytest.raises(ConfigError, match=r"state.yaml:1: tickets.t: 'lost' is not a ticket state"):
        state("tickets: {t: lost}")
