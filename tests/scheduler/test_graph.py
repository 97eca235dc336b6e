"""The transition graph on tiny hand-written CIBs: actions, meta attributes, orderings."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from corral.model.cib import parse_cib
from corral.model.cib_status import parse_status
from corral.scheduler import schedule
from corral.scheduler.graph import Graph, GraphAction

NODE_UP = '<node_state id="{i}" uname="{n}" in_ccm="true" crmd="online" join="member" expected="member">{lrm}</node_state>'


def cib(resources: str, constraints: str = "", status: str = "", options: str = "") -> str:
    nodes = "".join(f'<node id="{i}" uname="n{i}"/>' for i in (1, 2, 3))
    if not status:
        status = "".join(NODE_UP.format(i=i, n=f"n{i}", lrm="") for i in (1, 2, 3))
    return (f'<cib have-quorum="1"><configuration><crm_config><cluster_property_set id="o">'
            f'<nvpair id="o1" name="stonith-enabled" value="false"/>{options}</cluster_property_set></crm_config>'
            f'<nodes>{nodes}</nodes><resources>{resources}</resources><constraints>{constraints}</constraints>'
            f'</configuration><status>{status}</status></cib>')


def dummy(rid: str) -> str:
    return f'<primitive id="{rid}" class="ocf" provider="heartbeat" type="Dummy"/>'


def graph(xml: str) -> Graph:
    root = ET.fromstring(xml)
    cfg = parse_cib(root, "test")
    return schedule(cfg, parse_status(root, cfg)).graph


def running_on(where: dict[str, list[str]], roles: dict[str, str] | None = None) -> str:
    """Status where resource ids run on nodes n1..n3 (`where`: node -> resource ids)."""
    out = []
    for i in (1, 2, 3):
        node = f"n{i}"
        ops = ""
        for rid in where.get(node, []):
            base = rid.split(":")[0]
            rc = "8" if (roles or {}).get(rid) == "Promoted" else "0"
            op = "promote" if rc == "8" else "start"
            ops += (f'<lrm_resource id="{rid}" class="ocf" provider="heartbeat" type="Dummy">'
                    f'<lrm_rsc_op id="{base}_last_{i}" operation="{op}" call-id="2" rc-code="{rc}" op-status="0"'
                    ' interval="0" transition-key="1:1:0:x"/></lrm_resource>')
        lrm = f'<lrm id="{i}"><lrm_resources>{ops}</lrm_resources></lrm>'
        out.append(NODE_UP.format(i=i, n=node, lrm=lrm))
    return "".join(out)


def act(g: Graph, key: str, node: str | None = None) -> GraphAction:
    a = g.find(key, node)
    assert a is not None, f"{key} on {node} not in {[x.key for x in g.actions]}"
    return a


def before(g: Graph, first: GraphAction, then: GraphAction) -> bool:
    """Whether `first` is an input of `then`, directly or through pseudo-actions."""
    inputs = g.inputs()
    by_id = g.by_id()
    stack, seen = list(inputs[then.id]), set()
    while stack:
        i = stack.pop()
        if i == first.id:
            return True
        if i in seen:
            continue
        seen.add(i)
        if not by_id[i].is_real:
            stack.extend(inputs[i])
    return False


def test_start_carries_key_timeout_and_monitor_after_it():
    rsc = ('<primitive id="a" class="ocf" provider="heartbeat" type="Dummy"><operations>'
           '<op id="a-start" name="start" interval="0" timeout="45s"/>'
           '<op id="a-mon" name="monitor" interval="10s" timeout="30s"/></operations></primitive>')
    g = graph(cib(rsc))
    start = act(g, "a_start_0", "n1")
    assert start.kind == "rsc" and start.timeout_ms == 45000 and start.meta["timeout"] == "45000"
    assert start.meta["on_node"] == "n1"
    mon = act(g, "a_monitor_10000", "n1")
    assert mon.interval_ms == 10000 and mon.meta["interval"] == "10000" and mon.meta["timeout"] == "30000"
    assert (start.id, mon.id) in g.edges


def test_timeout_falls_back_to_op_defaults():
    xml = cib(dummy("a")).replace("</configuration>",
                                  '<op_defaults><meta_attributes id="od"><nvpair id="od1" name="timeout" '
                                  'value="90s"/></meta_attributes></op_defaults></configuration>')
    assert act(graph(xml), "a_start_0", "n1").timeout_ms == 90000


def test_move_stops_before_it_starts():
    loc = '<rsc_location id="l" rsc="a" node="n2" score="INFINITY"/>'
    g = graph(cib(dummy("a"), loc, running_on({"n1": ["a"]})))
    stop, start = act(g, "a_stop_0", "n1"), act(g, "a_start_0", "n2")
    assert before(g, stop, start)


def test_order_constraint_and_its_inverse():
    order = ('<rsc_order id="o" first="a" then="b"/>'
             '<rsc_location id="la" rsc="a" node="n2" score="INFINITY"/>'
             '<rsc_location id="lb" rsc="b" node="n2" score="INFINITY"/>')
    g = graph(cib(dummy("a") + dummy("b"), order, running_on({"n1": ["a", "b"]})))
    assert before(g, act(g, "a_start_0", "n2"), act(g, "b_start_0", "n2"))
    assert before(g, act(g, "b_stop_0", "n1"), act(g, "a_stop_0", "n1"))
    assert not before(g, act(g, "a_stop_0", "n1"), act(g, "b_stop_0", "n1"))


def test_asymmetrical_order_has_no_inverse():
    order = ('<rsc_order id="o" first="a" then="b" symmetrical="false"/>'
             '<rsc_location id="la" rsc="a" node="n2" score="INFINITY"/>'
             '<rsc_location id="lb" rsc="b" node="n2" score="INFINITY"/>')
    g = graph(cib(dummy("a") + dummy("b"), order, running_on({"n1": ["a", "b"]})))
    assert not before(g, act(g, "b_stop_0", "n1"), act(g, "a_stop_0", "n1"))


def test_group_members_start_in_order_and_stop_in_reverse():
    grp = f'<group id="g">{dummy("a")}{dummy("b")}{dummy("c")}</group>'
    g = graph(cib(grp))
    a, b, c = (act(g, f"{r}_start_0", "n1") for r in "abc")
    assert before(g, a, b) and before(g, b, c) and not before(g, b, a)
    loc = '<rsc_location id="l" rsc="g" node="n2" score="INFINITY"/>'
    g = graph(cib(grp, loc, running_on({"n1": ["a", "b", "c"]})))
    sa, sb, sc = (act(g, f"{r}_stop_0", "n1") for r in "abc")
    assert before(g, sc, sb) and before(g, sb, sa) and not before(g, sa, sb)


def test_live_migration_chain():
    rsc = ('<primitive id="a" class="ocf" provider="heartbeat" type="Dummy"><meta_attributes id="a-m">'
           '<nvpair id="a-m1" name="allow-migrate" value="true"/></meta_attributes></primitive>')
    loc = '<rsc_location id="l" rsc="a" node="n2" score="INFINITY"/>'
    g = graph(cib(rsc, loc, running_on({"n1": ["a"]})))
    to, frm, stop = act(g, "a_migrate_to_0", "n1"), act(g, "a_migrate_from_0", "n2"), act(g, "a_stop_0", "n1")
    assert to.meta["migrate_source"] == "n1" and to.meta["migrate_target"] == "n2"
    assert before(g, to, frm) and before(g, frm, stop)
    start = act(g, "a_start_0")
    assert start.kind == "pseudo" and before(g, stop, start)
    assert g.find("a_start_0", "n2") is None  # no real start: it already runs there


def test_graph_round_trips_through_json_and_draws():
    g = graph(cib(f'<group id="g">{dummy("a")}{dummy("b")}</group>'))
    again = Graph.from_json(g.to_json())
    assert again == g
    dot = g.to_dot()
    assert dot.startswith("digraph") and '"a_start_0 n1"' in dot


def test_simulate_saves_the_graph_and_draws_it(tmp_path):
    from click.testing import CliRunner

    from corral.cli.simulate import simulate

    xml = tmp_path / "cib.xml"
    xml.write_text(cib(f'<group id="g">{dummy("a")}{dummy("b")}</group>'))
    out_json, out_dot = tmp_path / "g.json", tmp_path / "g.dot"
    res = CliRunner().invoke(simulate, ["-q", "--cib", str(xml), "--save-graph", str(out_json), "--dot", str(out_dot)])
    assert res.exit_code == 0, res.output
    assert "Start" in res.output
    g = Graph.from_json(out_json.read_text())
    assert before(g, act(g, "a_start_0", "n1"), act(g, "b_start_0", "n1"))
    assert out_dot.read_text().startswith("digraph")
    res = CliRunner().invoke(simulate, ["-q", "--cib", str(xml), "--save-graph", str(tmp_path / "no" / "g.json")])
    assert res.exit_code == 2 and "cannot write" in res.output


def clone(rid: str, child: str, meta: str = "") -> str:
    return (f'<clone id="{rid}"><meta_attributes id="{rid}-m">{meta}</meta_attributes>'
            f'{dummy(child)}</clone>')


def test_clone_instances_between_the_clone_pseudo_actions():
    g = graph(cib(clone("c", "d") + dummy("after"), '<rsc_order id="o" first="c" then="after"/>'))
    begin, running = act(g, "c_start_0"), act(g, "c_running_0")
    assert begin.kind == running.kind == "pseudo"
    starts = [a for a in g.actions if a.base == "d" and a.task == "start"]
    assert len(starts) == 3
    for s in starts:
        assert (begin.id, s.id) in g.edges and (s.id, running.id) in g.edges
        assert s.meta["clone_max"] == "3" and s.meta["notify"] == "false" and "clone" in s.meta
    # 'after' waits for the whole clone (not interleaved, require-all by default).
    assert (running.id, act(g, "after_start_0").id) in g.edges


def test_group_pseudo_actions_and_nearest_member_chain():
    grp = f'<group id="g">{dummy("a")}{dummy("b")}{dummy("c")}</group>'
    g = graph(cib(grp, '<rsc_location id="l" rsc="g" node="n2" score="INFINITY"/>',
                  running_on({"n1": ["a", "b", "c"]})))
    stopped, start = act(g, "g_stopped_0"), act(g, "g_start_0")
    assert (stopped.id, start.id) in g.edges  # the group has stopped before it starts again
    assert before(g, act(g, "c_stop_0", "n1"), act(g, "a_start_0", "n2"))


def test_require_all_false_waits_for_any_instance():
    order = '<rsc_order id="o" first="c" then="after" require-all="false"/>'
    g = graph(cib(clone("c", "d") + dummy("after"), order))
    any_of = act(g, "clone-one-or-more:o")
    assert any_of.require_any and any_of.kind == "pseudo"
    assert (any_of.id, act(g, "after_start_0").id) in g.edges
    assert all((a.id, any_of.id) in g.edges for a in g.actions if a.base == "d" and a.task == "start")
    assert g.find("c_running_0") is not None and (act(g, "c_running_0").id, act(g, "after_start_0").id) \
        not in g.edges


def test_interleaved_clones_order_per_node():
    cl = clone("c1", "d1") + clone("c2", "d2", '<nvpair id="c2-i" name="interleave" value="true"/>')
    g = graph(cib(cl, '<rsc_order id="o" first="c1" then="c2"/>'))
    for a in g.actions:
        if a.base == "d2" and a.task == "start":
            firsts = [b for b in g.actions if b.base == "d1" and b.task == "start" and before(g, b, a)]
            assert [b.node for b in firsts] == [a.node]


def test_unrunnable_actions_order_nothing():
    # b cannot start (a is banned everywhere, b needs a): b's start stays in the graph, unrunnable,
    # with no edge leaving it.
    order = ('<rsc_order id="o" first="a" then="b"/>'
             '<rsc_location id="l1" rsc="a" node="n1" score="-INFINITY"/>'
             '<rsc_location id="l2" rsc="a" node="n2" score="-INFINITY"/>'
             '<rsc_location id="l3" rsc="a" node="n3" score="-INFINITY"/>')
    g = graph(cib(dummy("a") + dummy("b"), order))
    b = act(g, "b_start_0")
    assert not b.runnable
    assert not [e for e in g.edges if e[0] == b.id]


NOTIFY = '<nvpair id="c-n" name="notify" value="true"/>'


def test_notifications_around_a_move_of_a_copy():
    # d runs on n1 and n2; n2 is banned: its copy stops there and starts on n3.
    cons = '<rsc_location id="l" rsc="c" node="n2" score="-INFINITY"/>'
    g = graph(cib(clone("c", "d", NOTIFY + '<nvpair id="c-m" name="clone-max" value="2"/>'), cons,
                  running_on({"n1": ["d:0"], "n2": ["d:1"]})))
    pre_stop, pre_stop_ok = act(g, "c_pre_notify_stop_0"), act(g, "c_confirmed-pre_notify_stop_0")
    post_stop, post_stop_ok = act(g, "c_post_notify_stopped_0"), act(g, "c_confirmed-post_notify_stopped_0")
    pre_start = act(g, "c_pre_notify_start_0")
    post_start_ok = act(g, "c_confirmed-post_notify_running_0")
    assert pre_stop.kind == "pseudo" and pre_stop.meta["notify_type"] == "pre"
    assert post_stop.meta["notify_key_operation"] == "stopped" and post_stop.meta["notify_operation"] == "stop"
    assert post_stop_ok.meta["notify_key_type"] == "confirmed-post"
    stop = next(a for a in g.actions if a.task == "stop" and a.kind == "rsc")
    start = next(a for a in g.actions if a.task == "start" and a.kind == "rsc")
    assert stop.node == "n2" and start.node == "n3"
    # Pre-stop goes to both running copies, post-stop only to the survivor on n1.
    pre_stop_targets = sorted(a.node for a in g.actions if a.kind == "notify" and a.key.endswith("pre_notify_stop_0"))
    post_stop_targets = sorted(a.node for a in g.actions if a.kind == "notify" and a.key.endswith("post_notify_stop_0"))
    assert pre_stop_targets == ["n1", "n2"] and post_stop_targets == ["n1"]
    # Post-start goes to the survivor and the copy that just started.
    post_start = sorted(a.node for a in g.actions if a.kind == "notify" and a.key.endswith("post_notify_start_0"))
    assert post_start == ["n1", "n3"]
    # The rounds in order: pre-stop, the stop, post-stop, pre-start, the start, post-start.
    assert before(g, pre_stop_ok, stop) and before(g, stop, post_stop) and before(g, post_stop_ok, pre_start)
    assert before(g, act(g, "c_confirmed-pre_notify_start_0"), start) and before(g, start, act(g, "c_post_notify_running_0"))
    # The lists: sorted resources, nodes in the same order, an empty list a single space.
    n = next(a for a in g.actions if a.kind == "notify" and a.node == "n1" and a.key.endswith("pre_notify_stop_0"))
    assert n.meta["notify_stop_resource"] == stop.rsc and n.meta["notify_stop_uname"] == "n2"
    assert n.meta["notify_start_resource"] == start.rsc and n.meta["notify_start_uname"] == "n3"
    assert n.meta["notify_active_resource"] == "d:0 d:1" and n.meta["notify_active_uname"] == "n1 n2"
    assert n.meta["notify_promote_resource"] == " " and n.meta["notify_master_uname"] == " "
    assert n.meta["notify_all_uname"] == "n1 n2 n3" and n.meta["notify_operation"] == "stop"
    assert stop.meta["notify_stop_resource"] == stop.rsc  # the copies' own actions carry the lists too
    assert "notify_type" not in stop.meta
    assert post_start_ok.id in {b for b, a in g.edges if a in {m.id for m in g.actions if m.task == "monitor"}} \
        or not [m for m in g.actions if m.task == "monitor"]


def test_no_notifications_without_notify():
    g = graph(cib(clone("c", "d")))
    assert not [a for a in g.actions if a.kind == "notify" or "notify" in a.key]


def test_promotion_round_notifies_the_allocated_copies():
    ms = ('<clone id="ms"><meta_attributes id="ms-m"><nvpair id="ms-p" name="promotable" value="true"/>'
          '<nvpair id="ms-n" name="notify" value="true"/></meta_attributes>'
          '<primitive id="s" class="ocf" provider="pacemaker" type="Stateful"><operations>'
          '<op id="s-m1" name="monitor" interval="10s" role="Promoted"/>'
          '<op id="s-m2" name="monitor" interval="11s" role="Unpromoted"/></operations></primitive></clone>')
    g = graph(cib(ms, '<rsc_location id="lp" rsc="ms" node="n1" score="100" role="Promoted"/>'))
    promote = next(a for a in g.actions if a.task == "promote" and a.kind == "rsc")
    pre, post_ok = act(g, "ms_pre_notify_promote_0"), act(g, "ms_confirmed-post_notify_promoted_0")
    assert before(g, act(g, "ms_confirmed-post_notify_running_0"), pre)  # after the start round
    targets = sorted(a.node for a in g.actions if a.kind == "notify" and a.key.endswith("pre_notify_promote_0"))
    assert targets == ["n1", "n2", "n3"]
    assert before(g, act(g, "ms_confirmed-pre_notify_promote_0"), promote)
    mon = next(a for a in g.actions if a.task == "monitor" and a.rsc == promote.rsc)
    assert mon.meta["role"] == "Promoted" and mon.meta["op_target_rc"] == "8"
    assert (post_ok.id, mon.id) in g.edges
    assert promote.meta["promoted_max"] == "1" and promote.meta["master_max"] == "1"


def test_fencing_implies_the_stop_and_orders_starts_of_unknown_state():
    lost = ('<node_state id="2" uname="n2" in_ccm="false" crmd="offline" join="member" expected="member">'
            '<lrm id="2"><lrm_resources><lrm_resource id="a" class="ocf" provider="heartbeat" type="Dummy">'
            '<lrm_rsc_op id="a_last_2" operation="start" call-id="2" rc-code="0" op-status="0" interval="0"'
            ' transition-key="1:1:0:x"/></lrm_resource></lrm_resources></lrm></node_state>')
    status = NODE_UP.format(i=1, n="n1", lrm="") + lost + NODE_UP.format(i=3, n="n3", lrm="")
    fenced_cluster = '<nvpair id="o2" name="stonith-enabled" value="true"/>'
    xml = cib(dummy("a") + dummy("b"), status=status).replace(
        '<nvpair id="o1" name="stonith-enabled" value="false"/>', fenced_cluster)
    g = graph(xml)
    fence = act(g, "stonith-n2-reboot", "n2")
    assert fence.kind == "fence" and fence.timeout_ms == 60000
    stop = act(g, "a_stop_0")
    assert stop.kind == "pseudo" and (fence.id, stop.id) in g.edges  # the fence stops it
    start_a = next(x for x in g.actions if x.key == "a_start_0" and x.kind == "rsc")
    assert before(g, stop, start_a)
    # b has no record on n2: it might run there, so its start waits for the fence.
    start_b = next(x for x in g.actions if x.key == "b_start_0")
    assert (fence.id, start_b.id) in g.edges
