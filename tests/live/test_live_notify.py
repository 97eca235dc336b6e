"""Clone notifications on a live cluster, run by a real OCF agent that records its whole
environment per call (tests/live/agents/recorder), checked against Pacemaker's documented
contract (Pacemaker Explained, "Clone Notifications" and the promotable extras):

- pre notifications go to the instances active before the operation, post notifications to
  those active after it (post-stop: the survivors; post-start: the old and the new);
- a pre round ends before the first operation of its kind, a post round starts after the last;
- every notification carries notify_type / notify_operation and the node (uname) and
  instance lists, whitespace separated, an empty list being a single space.
"""
from __future__ import annotations

from recorder import Call, calls, recorder_provider, recorder_rsc  # noqa: F401 - the fixture

from corral.cluster import keys

FENCING_OFF = "cluster: {stonith-enabled: false}\n"
NODES = ["n1", "n2", "n3"]


def settle(c) -> None:
    """Until the controller is idle with no action in flight (a post round runs after the
    resources already look placed)."""
    c.wait_idle()
    c.wait("the controller idle, no action in flight", lambda: c.status()["controller_status"].get("state")
           == "idle" and not c.store.get_prefix(keys.ACTIONS)[0], timeout=20)


def unames(call: Call, which: str) -> set[str]:
    value = call.meta(f"notify_{which}_uname")
    assert value is not None, f"{call.node} {call.notify}: no notify_{which}_uname"
    return set(value.split())


def notes(cs: list[Call], kind: str, node: str | None = None, after: float = 0.0) -> list[Call]:
    return [c for c in cs if c.notify == kind and (node is None or c.node == node) and c.at > after]


def ops(cs: list[Call], action: str, node: str, after: float = 0.0) -> list[Call]:
    return [c for c in cs if c.action == action and c.node == node and c.at > after]


def _clone(provider: str, workdir, kind: str = "clone", extra_params: str = "", meta: str = "") -> str:
    prim = recorder_rsc("nc", provider, workdir, params=extra_params, indent="      ", item=False)
    return (f"  - {kind}: nc-clone\n    of:\n{prim}"
            f"    meta: {{notify: true, resource-stickiness: 100{meta}}}\n")


def test_notifications_on_start_stop_and_move(make_cluster, backend, recorder_provider):  # noqa: F811
    c = make_cluster(backend)
    cons = "constraints:\n  - location: {rsc: nc-clone, node: n3, score: -INFINITY}\n"
    config = FENCING_OFF + "resources:\n" + _clone(recorder_provider, c.workdir, meta=", clone-max: 2")
    c.load(config + cons)
    for n in NODES:
        c.start(n)
    c.wait("nc on n1 and n2", lambda: c.where("nc") == ["n1", "n2"])
    settle(c)
    cs = calls(c.workdir, "nc", NODES)
    starts = {n: ops(cs, "start", n) for n in ("n1", "n2")}
    assert all(len(v) == 1 for v in starts.values()), starts
    last_start = max(v[0].at for v in starts.values())
    # Nobody was active before: no pre-start notification; post-start to both, after both starts.
    assert not notes(cs, "pre-start")
    for n in ("n1", "n2"):
        post = notes(cs, "post-start", n)
        assert len(post) == 1 and post[0].at > last_start
        assert unames(post[0], "start") == {"n1", "n2"}
        assert post[0].meta("notify_stop_uname") == " " and post[0].meta("notify_active_uname") == " "
        assert len(post[0].meta("notify_start_resource").split()) == 2
    assert not [x for x in cs if x.node == "n3" and x.action == "notify"]

    # Move: n2 is banned, its copy goes to n3.
    mark = max(x.at for x in cs)
    c.load(config + "constraints:\n  - location: {rsc: nc-clone, node: n2, score: -INFINITY}\n")
    c.wait("nc on n1 and n3", lambda: c.where("nc") == ["n1", "n3"])
    settle(c)
    cs = calls(c.workdir, "nc", NODES)
    stop = ops(cs, "stop", "n2", mark)
    start = ops(cs, "start", "n3", mark)
    assert len(stop) == 1 and len(start) == 1 and stop[0].at < start[0].at
    assert not ops(cs, "stop", "n1", mark), "the copy on n1 is not touched"
    pre_stop = notes(cs, "pre-stop", after=mark)
    assert {x.node for x in pre_stop} == {"n1", "n2"}          # the instances active before
    assert all(x.at < stop[0].at for x in pre_stop)
    assert all(unames(x, "stop") == {"n2"} and unames(x, "start") == {"n3"} for x in pre_stop)
    assert all(unames(x, "active") == {"n1", "n2"} for x in pre_stop)
    post_stop = notes(cs, "post-stop", after=mark)
    assert {x.node for x in post_stop} == {"n1"}                # the survivors
    assert all(x.at > stop[0].at for x in post_stop)
    pre_start = notes(cs, "pre-start", after=mark)
    assert {x.node for x in pre_start} <= {"n1"} and all(x.at < start[0].at for x in pre_start)
    post_start = notes(cs, "post-start", after=mark)
    assert {x.node for x in post_start} == {"n1", "n3"} and all(x.at > start[0].at for x in post_start)
    assert not [x for x in cs if x.node == "n2" and x.at > stop[0].at], "nothing runs on n2 after its stop"


def test_notifications_on_promote_and_demote(make_cluster, backend, recorder_provider):  # noqa: F811
    c = make_cluster(backend)
    promotable = _clone(recorder_provider, c.workdir, kind="promotable", extra_params=", promotable: 'true'",
                        meta=", promoted-max: 1")
    promotable = promotable.replace("ops: [{name: monitor, interval: 500ms, timeout: 10s}]",
                                    "ops: [{name: monitor, interval: 500ms, timeout: 10s}, "
                                    "{name: monitor, interval: 400ms, timeout: 10s, role: promoted}]")
    config = FENCING_OFF + "resources:\n" + promotable + "constraints:\n"

    def prefer(node: str) -> str:
        return config + (f"  - location: {{rsc: nc-clone, node: {node}, score: 100, role: promoted}}\n"
                         "  - location: {rsc: nc-clone, node: n3, score: -INFINITY}\n")

    c.load(prefer("n1"))
    for n in NODES:
        c.start(n)
    c.wait("nc promoted on n1", lambda: [r["node"] for r in c.status()["resources"]
                                          if r["base"] == "nc" and r["role"] == "Promoted"] == ["n1"])
    settle(c)
    cs = calls(c.workdir, "nc", NODES)
    promote = ops(cs, "promote", "n1")
    assert len(promote) == 1
    pre = notes(cs, "pre-promote")
    post = notes(cs, "post-promote")
    assert {x.node for x in pre} == {"n1", "n2"} and all(x.at < promote[0].at for x in pre)
    assert {x.node for x in post} == {"n1", "n2"} and all(x.at > promote[0].at for x in post)
    assert all(unames(x, "promote") == {"n1"} for x in pre + post)
    assert all(x.meta("notify_demote_uname") == " " for x in pre + post)

    # Promotion moves to n2: demote n1 (with its rounds), then promote n2 (with its rounds).
    mark = max(x.at for x in cs)
    c.load(prefer("n2"))
    c.wait("nc promoted on n2", lambda: [r["node"] for r in c.status()["resources"]
                                          if r["base"] == "nc" and r["role"] == "Promoted"] == ["n2"])
    settle(c)
    cs = calls(c.workdir, "nc", NODES)
    demote = ops(cs, "demote", "n1", mark)
    promote = ops(cs, "promote", "n2", mark)
    assert len(demote) == 1 and len(promote) == 1 and demote[0].at < promote[0].at
    pre_demote = notes(cs, "pre-demote", after=mark)
    post_demote = notes(cs, "post-demote", after=mark)
    pre_promote = notes(cs, "pre-promote", after=mark)
    post_promote = notes(cs, "post-promote", after=mark)
    for round_, when in ((pre_demote, lambda x: x.at < demote[0].at), (post_demote, lambda x: x.at > demote[0].at),
                         (pre_promote, lambda x: x.at < promote[0].at),
                         (post_promote, lambda x: x.at > promote[0].at)):
        assert {x.node for x in round_} == {"n1", "n2"}, [(x.node, x.notify) for x in round_]
        assert all(when(x) for x in round_)
        assert all(unames(x, "demote") == {"n1"} and unames(x, "promote") == {"n2"} for x in round_)
    assert all(unames(x, "promoted") == {"n1"} for x in pre_demote)   # promoted before the transition
