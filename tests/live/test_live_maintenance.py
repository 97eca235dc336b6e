"""Maintenance mode as Pacemaker's: recurring monitors paused (no result, no fail count),
and running again once maintenance ends."""
from __future__ import annotations

import time
from pathlib import Path

from click.testing import CliRunner
from live_helpers import DUMMY_STATE, dummy_rsc

from corral.cli.main import cli

HEAD = "cluster: {{stonith-enabled: false, maintenance-mode: {mode}}}\nresources:"


def _failed_monitor(c) -> bool:
    st = c.status()
    return bool(st["failures"]) or any(r["failcount"] for r in st["resources"])


def test_maintenance_pauses_monitors_and_they_resume_after(make_cluster):
    c = make_cluster("sqlite")
    rsc = dummy_rsc("d1", c.workdir)  # a 500 ms monitor
    c.load(HEAD.format(mode="false") + rsc)
    c.start("n1")
    node = c.wait_running("d1")
    c.wait_idle()
    state = Path(str(c.workdir / DUMMY_STATE / "d1.state").replace("${node:#uname}", node))
    assert state.exists()

    c.load(HEAD.format(mode="true") + rsc)
    time.sleep(1.5)  # the agent has the new configuration
    state.unlink()   # the monitor would now fail (Dummy: not running)
    time.sleep(3)    # six monitor intervals
    assert not _failed_monitor(c), "a paused monitor ran and counted a failure"
    assert c.where("d1") == [node]  # nothing recovered either

    c.load(HEAD.format(mode="false") + rsc)
    c.wait("the monitor to run again and find d1 stopped", lambda: _failed_monitor(c), timeout=15)
    c.wait_running("d1")  # and the cluster recovers it


def test_node_maintenance_pauses_that_nodes_monitors(make_cluster):
    c = make_cluster("sqlite")
    rsc = dummy_rsc("d1", c.workdir)
    c.load(HEAD.format(mode="false") + rsc)
    c.start("n1")
    node = c.wait_running("d1")
    c.wait_idle()
    state = Path(str(c.workdir / DUMMY_STATE / "d1.state").replace("${node:#uname}", node))

    def node_cmd(verb: str) -> None:
        result = CliRunner().invoke(cli, ["node", verb, node, "--store", c.store_url])
        assert result.exit_code == 0, result.output

    node_cmd("maintenance")
    time.sleep(1.5)
    state.unlink()
    time.sleep(3)
    assert not _failed_monitor(c), "a monitor ran on a node in maintenance"
    node_cmd("online")
    c.wait("the monitor to run again and find d1 stopped", lambda: _failed_monitor(c), timeout=15)
