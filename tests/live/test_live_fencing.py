"""Fencing in the live cluster (safety rule 1): a lost node is fenced through a real fence
agent process before its resources start anywhere else.

The fence agent is a script written to the test's directory that speaks the fence-agents
contract: it records each stdin it gets and, for off/reboot, "powers the node off" by
SIGKILLing the node's agent process group (its pid from a file the test writes) and every
service whose pid file lies in the node's directory. A behaviour file makes it fail.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from live_helpers import Cluster, free_port, port_open, process_rsc

from corral.cli.main import cli
from corral.cluster import keys
from corral.fencing import list_history
from corral.store import RevisionCompacted, StoreError, open_store

FENCE_AGENT = r'''#!{python}
import glob, json, os, signal, sys
DIR = {directory!r}
raw = sys.stdin.read()
params = dict(line.partition("=")[::2] for line in raw.splitlines() if line)
with open(os.path.join(DIR, "fence.log"), "a") as f:
    f.write(json.dumps(params) + "\n")
action = params.get("action", "reboot")
if action == "metadata":
    sys.exit(1)  # no metadata: plug and port are both sent
try:
    with open(os.path.join(DIR, "fence.json")) as f:
        behaviour = json.load(f)
except (OSError, ValueError):
    behaviour = {{}}
if action in ("off", "reboot"):
    if behaviour.get("fail"):
        print("Failed: the device does not answer", file=sys.stderr)
        sys.exit(1)
    node = params.get("nodename") or params.get("plug")
    piddir = params["piddir"]
    try:
        pid = int(open(os.path.join(piddir, node + ".pid")).read())
        os.killpg(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass
    for f in glob.glob(os.path.join(piddir, node, "*.pid")):
        try:
            os.killpg(int(json.load(open(f))["pid"]), signal.SIGKILL)
        except (OSError, ValueError, KeyError, TypeError):
            pass
sys.exit(0)
'''


def fenced_cluster(c: Cluster, port: int, cluster_options: str = "") -> Path:
    """The fence agent, a config with fencing enabled (and cluster_options, "name: value, ..."),
    and n1 (never controller) running web."""
    agent = c.workdir / "fence_test"
    agent.write_text(FENCE_AGENT.format(python=sys.executable, directory=str(c.workdir)))
    agent.chmod(0o755)
    extra = f", {cluster_options}" if cluster_options else ""
    c.load(f"""cluster: {{stonith-enabled: true, stonith-timeout: 10s{extra}}}
resources:
  - id: fence-all
    agent: stonith:{agent}
    params: {{pcmk_host_list: "n1 n2 n3", piddir: "{c.workdir}"}}
    ops: [{{name: monitor, interval: 2s, timeout: 5s}}]
""" + process_rsc("web", port) + "constraints:\n  - location: {rsc: web, node: n1, score: 100}\n")
    c.start("n1", "--no-controller")
    for n in ("n2", "n3"):
        c.start(n)
    for name, node in c.nodes.items():
        assert node.proc is not None
        (c.workdir / f"{name}.pid").write_text(str(node.proc.pid))
    c.wait_running("web", on="n1", timeout=30)
    c.wait("fence-all started", lambda: c.where("fence-all"))
    c.wait_idle()
    return agent


def fence_log(c: Cluster) -> list[dict[str, str]]:
    f = c.workdir / "fence.log"
    return [json.loads(line) for line in f.read_text().splitlines()] if f.exists() else []


def set_failing(c: Cluster, fail: bool) -> None:
    (c.workdir / "fence.json").write_text(json.dumps({"fail": fail}))


class Recorder:
    """Every store event under /corral/ with its revision, from a watch of its own."""

    def __init__(self, url: str) -> None:
        self.store = open_store(url)
        self.events: list[tuple[int, str, Any]] = []
        self.stopped = threading.Event()
        _, self.revision = self.store.get_prefix(keys.CONFIG)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        start = self.revision + 1
        while not self.stopped.is_set():
            try:
                for ev in self.store.watch_prefix(keys.ROOT, start_revision=start, timeout=0.5):
                    self.events.append((ev.mod_revision, ev.key, ev.value if ev.kind == "put" else None))
                    start = ev.mod_revision + 1
                    if self.stopped.is_set():
                        return
            except (RevisionCompacted, StoreError):
                if self.stopped.wait(0.1):
                    return

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.store.close()

    def first(self, pred: Any) -> int | None:
        return next((rev for rev, key, value in self.events if value is not None and pred(key, value)), None)


def _is_start_of(rsc: str) -> Any:
    def pred(key: str, value: str) -> bool:
        if not key.startswith(keys.ACTIONS):
            return False
        d = json.loads(value)
        return d.get("task") == "start" and d.get("rsc") == rsc
    return pred


def _fence_done(node: str) -> Any:
    def pred(key: str, value: str) -> bool:
        return key.startswith(f"{keys.FENCE_HISTORY}{node}/") and json.loads(value).get("state") == "done"
    return pred


@pytest.mark.etcd
def test_frozen_node_is_fenced_before_its_resources_move(make_cluster, live_etcd):
    # etcd only: on the embedded SQLite store a SIGSTOP that lands inside the agent's write
    # transaction holds the database lock and stalls every node (docs/store.md), which is
    # what this test then measures instead (1 CI run in ~10 since heartbeats are written).
    c = make_cluster("etcd")
    port = free_port()
    fenced_cluster(c, port)
    recorder = Recorder(c.store_url)
    try:
        agent_pid = c.nodes["n1"].proc.pid  # type: ignore[union-attr]
        os.killpg(agent_pid, signal.SIGSTOP)  # frozen: its service keeps running, its lease runs out
        new = c.wait_running("web", not_on="n1", timeout=30)
        c.wait("web answering on " + new, lambda: port_open(port))
        c.wait_idle()
    finally:
        recorder.close()
    # The fence ran through the agent with the contract's stdin, and really powered n1 off.
    calls = [p for p in fence_log(c) if p.get("action") == "reboot"]
    assert calls and calls[0]["nodename"] == "n1" and calls[0]["plug"] == "n1"
    assert calls[0]["piddir"] == str(c.workdir)
    assert c.nodes["n1"].proc.wait(5) == -signal.SIGKILL  # type: ignore[union-attr]
    history = list_history(c.store, "n1")
    done = [r for r in history if r.state == "done"]
    assert len(done) == 1, history
    rec = done[0]
    assert rec.action == "reboot" and rec.device == "fence-all" and rec.origin in ("n2", "n3")
    assert rec.epoch is not None and rec.epoch >= 1
    # Ordering by store revision: the start of web elsewhere came after the fence's record.
    fence_rev = recorder.first(_fence_done("n1"))
    start_rev = recorder.first(_is_start_of("web"))
    assert fence_rev is not None and start_rev is not None, recorder.events[-20:]
    assert fence_rev < start_rev
    # And by the clock: the start op's own record.
    hist = c.store.get(keys.history_rsc(new, "web"))
    assert hist is not None
    started_at = json.loads(hist.value)["extra"]["web_last_0"]["started_at"]
    assert rec.completed_at is not None and started_at >= rec.completed_at
    # n1 is cleanly down now (not unclean), its fence recorded, and status shows it.
    st = c.status()
    node = next(n for n in st["nodes"] if n["name"] == "n1")
    assert node["state"] == "offline" and not node["member"]
    record = json.loads(c.store.get(keys.node("n1")).value)  # type: ignore[union-attr]
    assert record["expected"] == "down" and record["fenced"]["record"] == rec.id
    events = st["fencing"]["history"]
    assert events[-1]["node"] == "n1" and events[-1]["result"] == "success"
    assert events[-1]["device"] == "fence-all" and not st["fencing"]["pending"]
    text = CliRunner().invoke(cli, ["status", "--store", c.store_url])
    assert text.exit_code == 0 and "Fencing History:" in text.output
    assert "reboot of n1 successful by fence-all" in text.output
    out = CliRunner().invoke(cli, ["fence", "history", "--store", c.store_url, "--node", "n1", "--json"])
    assert out.exit_code == 0, out.output
    assert [r["result"] for r in json.loads(out.output)] == ["success"]
    # n1 comes back: it rejoins as a member and is not fenced again.
    c.start("n1", "--no-controller")
    c.wait("n1 online again",
           lambda: any(n["name"] == "n1" and n["state"] == "online" for n in c.status()["nodes"]))
    c.wait_idle()
    assert len([r for r in list_history(c.store, "n1") if r.state == "done"]) == 1


def test_failed_fence_blocks_recovery_until_an_operator_fences(make_cluster, backend):
    c = make_cluster(backend)
    port = free_port()
    fenced_cluster(c, port)
    set_failing(c, True)
    c.crash("n1")  # the machine died; the fence device does not answer
    c.wait("two failed fence attempts",
           lambda: len([r for r in list_history(c.store, "n1") if r.state == "failed"]) >= 2, timeout=30)
    st = c.wait("the controller to say why it waits", lambda: (lambda s: s if any(
        "fencing of n1" in w and "failed" in w and "not recovered" in w
        for w in s["controller_status"].get("waiting", [])) else None)(c.status()))
    node = next(n for n in st["nodes"] if n["name"] == "n1")
    assert node["state"] == "unclean"
    assert c.where("web") == ["n1"] and not port_open(port)  # not started anywhere else
    assert all(e["result"] == "failed" for e in st["fencing"]["history"] if e["node"] == "n1")
    failed = next(r for r in list_history(c.store, "n1") if r.state == "failed")
    assert "exited with status 1" in failed.error and failed.device is None
    text = CliRunner().invoke(cli, ["status", "--store", c.store_url]).output
    assert "Fencing History:" in text and "reboot of n1 failed" in text and "Pending Fencing Actions:" in text
    assert not recorder_saw_start(c)

    # An unknown node is refused, and nothing is fenced.
    calls = len(fence_log(c))
    out = CliRunner().invoke(cli, ["fence", "n9", "--store", c.store_url])
    assert out.exit_code == 2 and "unknown node 'n9'" in out.output
    # The operator fixes the device and fences n1: recovery follows.
    set_failing(c, False)
    out = CliRunner().invoke(cli, ["fence", "n1", "--store", c.store_url, "--action", "off"])
    assert out.exit_code == 0, out.output
    assert "fenced n1 (off) with fence-all" in out.output
    assert len(fence_log(c)) > calls
    c.wait_running("web", not_on="n1", timeout=30)
    c.wait("web answering", lambda: port_open(port))
    ops = [r for r in list_history(c.store, "n1") if r.state == "done"]
    assert ops and any(r.origin == "operator" and r.action == "off" for r in ops)
    assert next(n for n in c.status()["nodes"] if n["name"] == "n1")["state"] == "offline"


def recorder_saw_start(c: Cluster) -> bool:
    """Whether an action to start web on another node exists right now."""
    kvs, _ = c.store.get_prefix(keys.ACTIONS)
    return any(json.loads(kv.value).get("task") == "start" and json.loads(kv.value).get("rsc") == "web"
               for kv in kvs)


def test_operator_fences_a_healthy_node(make_cluster):
    c = make_cluster("sqlite")
    port = free_port()
    fenced_cluster(c, port)
    out = CliRunner().invoke(cli, ["fence", "n1", "--store", c.store_url, "--action", "off"])
    assert out.exit_code == 0, out.output
    assert "n1 is now cleanly down" in out.output
    assert c.nodes["n1"].proc.wait(5) == -signal.SIGKILL  # type: ignore[union-attr]
    c.wait_running("web", not_on="n1", timeout=30)
    c.wait("web answering", lambda: port_open(port))
    # The operator's fence was enough: the controller did not fence n1 again.
    assert [(r.origin, r.action, r.state) for r in list_history(c.store, "n1")] == [("operator", "off", "done")]
    out = CliRunner().invoke(cli, ["fence", "history", "--store", c.store_url])
    assert out.exit_code == 0 and "n1 off success by fence-all" in out.output and "asked by operator" in out.output
