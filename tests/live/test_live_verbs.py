"""Operator verbs that do what they say: operator state survives a reload, a clone comes
back after disable/enable, lifetimes expire, an orphan's failures clean up, load shows
its plan and asks before stopping resources, a restart restarts."""
from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner
from live_helpers import dummy_rsc

from corral.cli.main import cli


def corral(c, *args: str, code: int = 0) -> str:
    r = CliRunner().invoke(cli, list(args), env={"CORRAL_STORE": c.store_url})
    assert r.exit_code == code, (args, r.output, r.stderr)
    return r.output


def test_operator_state_and_new_verbs(make_cluster):
    c = make_cluster("sqlite")
    text = ("cluster: {stonith-enabled: false}\ndefaults: {resource: {resource-stickiness: 100}}\nresources:"
            + dummy_rsc("d1", c.workdir)
            + "  - clone: dc-clone\n    of: {id: dc, agent: 'ocf:heartbeat:Dummy', params: {state: '"
            + f"{c.workdir}/${{node:#uname}}/dc.state'}}, ops: [{{name: monitor, interval: 500ms}}]}}\n")
    path = c.workdir / "cluster.yaml"
    path.write_text(text)
    corral(c, "load", str(path))
    c.start("n1")
    c.start("n2")
    c.wait("two nodes online", lambda: sum(n["state"] == "online" for n in c.status()["nodes"]) == 2)
    first = c.wait_running("d1")
    other = "n2" if first == "n1" else "n1"
    c.wait("dc on both", lambda: len(c.where("dc")) == 2)

    # move and standby live apart from the configuration: a reload keeps them
    corral(c, "resource", "move", "d1", other)
    c.wait_running("d1", on=other)
    corral(c, "node", "standby", first)
    c.wait("dc off the standby node", lambda: c.where("dc") == [other])
    out = corral(c, "load", str(path))
    assert "changes nothing" in out
    c.wait_idle()
    assert c.where("d1") == [other] and c.where("dc") == [other]
    listed = json.loads(corral(c, "constraint", "list", "--json"))
    assert [x["id"] for x in listed["constraints"]] == ["cli-prefer-d1"]
    assert listed["node_modes"] == {first: {"standby": "on"}}
    corral(c, "node", "online", first)
    corral(c, "resource", "clear", "d1")
    c.wait("dc on both again", lambda: len(c.where("dc")) == 2)

    # disable and enable a clone: it comes back everywhere
    corral(c, "resource", "disable", "dc-clone")
    c.wait("dc stopped", lambda: c.where("dc") == [])
    corral(c, "resource", "enable", "dc-clone")
    c.wait("dc started again", lambda: len(c.where("dc")) == 2)

    # a ban with a lifetime expires by itself
    corral(c, "resource", "ban", "d1", other, "--lifetime", "PT2S")
    c.wait_running("d1", on=first)
    time.sleep(2.2)
    listed = json.loads(corral(c, "constraint", "list", "--json"))
    assert [x["expired"] for x in listed["constraints"]] == [True]
    assert "expired" in corral(c, "constraint", "list").lower()
    corral(c, "resource", "clear", "--expired")
    assert json.loads(corral(c, "constraint", "list", "--json"))["constraints"] == []

    # restart: stopped and started again, on the same node (stickiness)
    c.wait_idle()
    before = (c.workdir / first / "d1.state").stat().st_mtime_ns
    corral(c, "resource", "restart", "d1", "--wait", "20")
    c.wait_running("d1", on=first)
    assert (c.workdir / first / "d1.state").stat().st_mtime_ns != before
    assert "d1 stop on " + first in c.logs(200)

    # update: a parameter change restarts it; a property is validated and set
    corral(c, "resource", "update", "d1", "--set", "fake=changed")
    c.wait_idle()
    shown = corral(c, "config", "show")
    assert "fake: changed" in shown
    assert "<primitive id=\"d1\"" in corral(c, "config", "show", "--format", "xml")
    corral(c, "property", "set", "maintenance-mode", "false")
    assert "maintenance-mode: false" in corral(c, "property", "list")
    corral(c, "property", "unset", "maintenance-mode")

    # unmanage: the resource is left alone (shown unmanaged), manage gives it back
    corral(c, "resource", "unmanage", "d1")
    c.wait("d1 unmanaged", lambda: any(not r["managed"] for r in c.status()["resources"] if r["id"] == "d1"))
    corral(c, "resource", "manage", "d1")
    c.wait("d1 managed", lambda: all(r["managed"] for r in c.status()["resources"] if r["id"] == "d1"))

    # load: --dry-run changes nothing; a load that stops d1 is refused without --force
    without_d1 = c.workdir / "without-d1.yaml"
    without_d1.write_text(text.replace("  - id: d1\n", "  - id: d2\n"))
    revision = c.status()["config"]["revision"]
    out = corral(c, "load", "--dry-run", str(without_d1))
    assert "Stop" in out and "d1" in out and c.status()["config"]["revision"] == revision
    corral(c, "load", str(without_d1), code=1)
    assert c.status()["config"]["revision"] == revision and c.where("d1") == [first]

    # an orphan's failures clean up: fail d1, remove it from the configuration, clean it up
    (c.workdir / first / "d1.state").unlink()
    c.wait("a d1 failure", lambda: any(f["rsc"] == "d1" for f in c.status()["failures"]))
    corral(c, "load", "--force", str(without_d1))
    c.wait("d1 stopped", lambda: c.where("d1") == [])
    corral(c, "resource", "cleanup", "d1")
    c.wait("d1's failures gone", lambda: not any(f["rsc"] == "d1" for f in c.status()["failures"]))

    # node remove is refused while the node's agent is a member
    corral(c, "node", "remove", first, code=2)


@pytest.mark.etcd  # a SIGSTOPped agent may hold SQLite's write lock, which would freeze every node
def test_a_frozen_agents_name_taken_over_by_its_restart_leaves_one_agent_serving(make_cluster):
    import os
    import signal

    from corral.cluster import keys

    c = make_cluster("etcd")
    c.load("cluster: {stonith-enabled: false}\nresources:" + dummy_rsc("d1", c.workdir))
    c.start("n1")
    c.start("n2")
    c.wait("two nodes online", lambda: sum(n["state"] == "online" for n in c.status()["nodes"]) == 2)
    node = c.wait_running("d1")
    c.wait_idle()
    old = c.nodes[node].proc
    try:
        os.kill(old.pid, signal.SIGSTOP)  # frozen: its heartbeat and renewals stop
        time.sleep(1.0)
        new = c.start(node).proc          # a restart while the old lease may still hold
        c.wait("the new agent to hold the name", lambda: (lambda kv: kv is not None and str(new.pid) in kv.value)(
            c.store.get(keys.member(node))))
        os.kill(old.pid, signal.SIGCONT)  # the old one wakes up: it must stop serving, not fight
        time.sleep(3.0)
        kv = c.store.get(keys.member(node))
        assert kv is not None and str(new.pid) in kv.value
        c.wait_running("d1")  # on exactly one node
        log = c.nodes[node].log.read_text()
        assert "membership lost" in log or "took over this node's name" in log
        assert new.poll() is None
    finally:
        try:
            os.kill(old.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        old.kill()
        old.wait(10)
