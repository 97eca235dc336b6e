"""Operator commands on a live cluster: move, ban, clear, disable, enable, cleanup, standby, online."""
from __future__ import annotations

import os
import signal

from click.testing import CliRunner
from live_helpers import dummy_rsc, free_port, port_open, process_rsc

from corral.cli.main import cli
from corral.cluster import configstore, keys, operator


def run(c, *args: str) -> str:
    result = CliRunner().invoke(cli, [*args[:2], "--store", c.store_url, *args[2:]] if args[0] in (
        "resource", "node") else [args[0], "--store", c.store_url, *args[1:]])
    assert result.exit_code == 0, result.output
    return result.output


def operator_ids(c) -> list[str]:
    kv = c.store.get(keys.OPERATOR)
    return sorted(x.id for x in operator.decode(kv.value if kv else None).constraints)


def test_operator_commands(make_cluster):
    c = make_cluster("sqlite")
    port = free_port()
    c.load("cluster: {stonith-enabled: false}\ndefaults: {resource: {resource-stickiness: 100}}\nresources:"
           + process_rsc("web", port) + dummy_rsc("db", c.workdir))
    c.start("n1")
    c.start("n2")
    c.wait("both nodes online", lambda: sum(n["state"] == "online" for n in c.status()["nodes"]) == 2)
    first = c.wait_running("web")
    other = "n2" if first == "n1" else "n1"

    run(c, "resource", "move", "web", other)
    c.wait_running("web", on=other)
    assert operator_ids(c) == ["cli-prefer-web"]  # operator state, not the configuration
    assert not any(loc.id.startswith("cli-") for loc in configstore.read(c.store).config.locations)
    run(c, "resource", "clear", "web")
    assert operator_ids(c) == []

    db_node = c.wait_running("db")
    run(c, "resource", "ban", "db")  # from where it runs now
    c.wait_running("db", not_on=db_node)
    assert operator_ids(c) == [f"cli-ban-db-on-{db_node}"]
    run(c, "resource", "clear", "db")

    run(c, "resource", "disable", "web")
    c.wait("web stopped", lambda: c.where("web") == [] and not port_open(port))
    run(c, "resource", "enable", "web")
    web = c.wait_running("web")

    run(c, "node", "standby", web)
    c.wait_running("web", not_on=web)
    c.wait("nothing on the standby node", lambda: all(r["node"] != web for r in c.status()["resources"]))
    assert next(n for n in c.status()["nodes"] if n["name"] == web)["state"] == "standby"
    run(c, "node", "online", web)
    c.wait("node back online", lambda: next(n for n in c.status()["nodes"] if n["name"] == web)["state"] == "online")

    c.wait_idle()
    now = c.wait_running("web")
    pid = c.service_pid(now, "web")
    os.killpg(pid, signal.SIGKILL)
    c.wait("a fail count", lambda: any(r["failcount"] for r in c.status()["resources"] if r["id"] == "web"))
    c.wait_idle()
    out = run(c, "resource", "cleanup", "web")
    assert "cleaned up web" in out
    st = c.status()
    assert not st["failures"] and all(r["failcount"] == 0 for r in st["resources"])
    c.wait_running("web")

    text = run(c, "status")
    assert "Online: [" in text and "web" in text
    assert '"controller"' in run(c, "status", "--json")
    explained = CliRunner().invoke(cli, ["explain", "web", "--store", c.store_url])
    assert explained.exit_code == 0 and "web" in explained.output


def test_removed_resource_is_stopped(make_cluster):
    c = make_cluster("sqlite")
    port, other = free_port(), free_port()
    base = "cluster: {stonith-enabled: false}\nresources:" + process_rsc("keep", other)
    c.load(base + process_rsc("web", port))
    c.start("n1")
    c.wait_running("web")
    c.wait_running("keep")
    c.wait_idle()
    c.load(base)  # web is gone from the configuration: an orphan, stopped with the spec it ran with
    c.wait("web stopped", lambda: not port_open(port) and c.where("web") == [])
    assert c.where("keep") == ["n1"] and port_open(other)


def test_move_migrates_when_allowed(make_cluster):
    c = make_cluster("sqlite")
    c.load("cluster: {stonith-enabled: false}\nresources:"
           + dummy_rsc("vm", c.workdir, "\n    meta: {allow-migrate: true}"))
    c.start("n1")
    c.start("n2")
    c.wait("both nodes online", lambda: sum(n["state"] == "online" for n in c.status()["nodes"]) == 2)
    first = c.wait_running("vm")
    c.wait_idle()
    other = "n2" if first == "n1" else "n1"
    run(c, "resource", "move", "vm", other)
    c.wait_running("vm", on=other)
    c.wait_idle()
    assert (c.workdir / other / "vm.state").exists() and not (c.workdir / first / "vm.state").exists()
    logs = c.logs()
    assert "vm migrate_to on" in logs and "vm migrate_from on" in logs and "vm start on " + other not in logs


def test_shutdown_moves_resources_away_first(make_cluster):
    c = make_cluster("sqlite")
    port = free_port()
    c.load("resources:" + process_rsc("web", port) + dummy_rsc("db", c.workdir)  # fencing enabled
           + "constraints:\n  - order: {first: db, then: web}\n  - colocation: {rsc: web, with: db}\n"
           + "  - location: {rsc: db, node: n1, score: 100}\n")
    c.start("n1")
    c.wait_running("web", on="n1")
    c.start("n2")
    c.wait("n2 online", lambda: any(n["name"] == "n2" and n["state"] == "online" for n in c.status()["nodes"]))
    c.wait_idle()
    proc = c.nodes["n1"].proc
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    c.wait_running("db", on="n2")
    c.wait_running("web", on="n2")
    assert port_open(port)
    st = c.status()
    assert next(n for n in st["nodes"] if n["name"] == "n1")["state"] == "offline"  # left cleanly: no fencing
    assert c.store.get(keys.attr("n1", "shutdown")) is not None  # it asked the controller first
    log = c.nodes["n1"].log.read_text()
    assert log.index("web stop on n1") < log.index("db stop on n1")  # in dependency order
