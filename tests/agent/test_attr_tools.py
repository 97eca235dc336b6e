"""Pacemaker's attribute tools as agents call them, against a real (SQLite) store."""
from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.agent.attr_tools import (
    EX_NOSUCH,
    EX_UNAVAILABLE,
    EX_USAGE,
    NODE_ENV,
    STORE_ENV,
    Attributes,
    install_shims,
    run_tool,
)
from corral.cluster import keys
from corral.cluster.snapshot import read_snapshot
from corral.store import open_store

SHELLFUNCS = Path("/usr/lib/ocf/lib/heartbeat/ocf-shellfuncs")


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cluster.db"


@pytest.fixture
def store(url: str) -> Iterator:
    s = open_store(url)
    yield s
    s.close()


def tool(url: str, name: str, *argv: str, node: str = "n1", instance: str = "db:1") -> tuple[int, list[str], list[str]]:
    out: list[str] = []
    err: list[str] = []
    env = {NODE_ENV: node, "OCF_RESOURCE_INSTANCE": instance}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        attrs = Attributes(url)
        try:
            rc = run_tool(name, list(argv), attrs, out.append, err.append)
        finally:
            attrs.close()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return rc, out, err


def test_promotion_score_is_the_clones_transient_master_attribute(url: str, store) -> None:
    assert tool(url, "crm_master", "-l", "reboot", "-v", "10")[0] == 0
    kv = store.get(keys.attr("n1", "master-db"))  # instance number dropped, as Pacemaker does
    assert kv is not None and kv.value == "10"
    assert tool(url, "crm_attribute", "-p", "-G", "-q") == (0, ["10"], [])
    assert tool(url, "crm_attribute", "--promotion=web", "-v", "3", node="n2")[0] == 0
    assert store.get(keys.attr("n2", "master-web")).value == "3"
    rc, out, _ = tool(url, "crm_attribute", "-N", "n2", "-n", "master-web", "-l", "reboot", "--query")
    assert (rc, out) == (0, ["scope=status  name=master-web value=3"])
    assert tool(url, "crm_master", "-l", "reboot", "-D")[0] == 0
    assert store.get(keys.attr("n1", "master-db")) is None


def test_unchanged_value_is_not_rewritten(url: str, store) -> None:
    tool(url, "crm_attribute", "-p", "-v", "5")
    first = store.get(keys.attr("n1", "master-db")).mod_revision
    tool(url, "crm_attribute", "-p", "-v", "5")  # every monitor re-sets it: no new revision, no re-plan
    assert store.get(keys.attr("n1", "master-db")).mod_revision == first
    tool(url, "crm_attribute", "-p", "-v", "6")
    assert store.get(keys.attr("n1", "master-db")).mod_revision > first


def test_forever_attributes_are_permanent_node_attributes(url: str, store) -> None:
    assert tool(url, "crm_attribute", "-N", "n3", "-l", "forever", "-n", "last-committed", "-v", "42")[0] == 0
    assert store.get(keys.node_attr("n3", "last-committed")).value == "42"
    assert store.get(keys.attr("n3", "last-committed")) is None
    assert read_snapshot(store).node_attrs == {"n3": {"last-committed": "42"}}
    # The default lifetime of a plain crm_attribute is forever, as in Pacemaker.
    assert tool(url, "crm_attribute", "-N", "n3", "-n", "last-committed", "-G", "-q") == (0, ["42"], [])


def test_missing_attribute_and_default(url: str, store) -> None:
    rc, out, err = tool(url, "crm_attribute", "-N", "n1", "-l", "reboot", "-n", "nope", "-G", "-q")
    assert rc == EX_NOSUCH and not out and "nope" in err[0] and "n1" in err[0]
    assert tool(url, "crm_attribute", "-l", "reboot", "-n", "nope", "-G", "-q", "-d", "dflt") == (0, ["dflt"], [])


@pytest.mark.parametrize("argv,words", [
    (["-v", "1"], "--name"),
    (["-n", "x", "-v", "1", "-D"], "mutually exclusive"),
    (["-n", "x", "-l", "sometimes", "-G"], "lifetime"),
    (["--type", "crm_config", "-n", "x", "-v", "1"], "crm_config"),
    (["-n", "x", "--frobnicate"], "--frobnicate"),
])
def test_usage_errors_name_the_problem(url: str, argv: list[str], words: str) -> None:
    rc, out, err = tool(url, "crm_attribute", *argv)
    assert rc == EX_USAGE and not out and words in err[0], err


def test_attrd_updater_and_crm_node(url: str, store) -> None:
    assert tool(url, "attrd_updater", "-n", "pingd", "-U", "100")[0] == 0
    assert tool(url, "attrd_updater", "-n", "pingd", "-U", "50", "-N", "n2")[0] == 0
    assert tool(url, "attrd_updater", "-n", "pingd", "-Q") == (0, ['name="pingd" host="n1" value="100"'], [])
    store.put(keys.node("n1"), "{}")
    store.put(keys.node("n2"), "{}")
    store.put(keys.member("n1"), "{}")
    rc, out, _ = tool(url, "attrd_updater", "-n", "pingd", "-Q", "-A")
    assert rc == 0 and out == ['name="pingd" host="n1" value="100"', 'name="pingd" host="n2" value="50"']
    assert tool(url, "attrd_updater", "-n", "pingd", "-D")[0] == 0
    assert tool(url, "attrd_updater", "-n", "pingd", "-Q")[0] == EX_NOSUCH
    assert tool(url, "crm_node", "-n", node="n7") == (0, ["n7"], [])
    assert tool(url, "crm_node", "-l")[1] == ["1 n1 member", "2 n2 lost"]
    assert tool(url, "crm_node", "-p")[1] == ["n1"]
    assert tool(url, "crm_node", "-q")[1] == ["1"]
    rc, _, err = tool(url, "crm_node", "-R", "n2")
    assert rc == EX_USAGE and "supported" in err[0]


def test_no_store_is_a_clear_error() -> None:
    errors: list[str] = []
    rc = run_tool("crm_attribute", ["--promotion=db", "-v", "1"], Attributes(""), [].append, errors.append)
    assert rc == EX_UNAVAILABLE and STORE_ENV in errors[0]


@pytest.mark.skipif(not SHELLFUNCS.exists(), reason="needs Debian's resource-agents")
def test_shipped_shell_functions_reach_the_shims(url: str, store, tmp_path: Path) -> None:
    # ocf_promotion_score, exactly as Stateful and other promotable agents call it.
    shims = install_shims(tmp_path / "sbin")
    env = {**os.environ, "HA_SBIN_DIR": str(shims), "PATH": f"{shims}:{os.environ.get('PATH', '')}",
           STORE_ENV: url, NODE_ENV: "n2", "OCF_ROOT": "/usr/lib/ocf", "OCF_RESOURCE_INSTANCE": "db:0",
           "OCF_RESKEY_crm_feature_set": "3.16.2"}
    script = f". {SHELLFUNCS}; ocf_promotion_score -v 7 && ocf_promotion_score -G -q"
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "7"
    assert store.get(keys.attr("n2", "master-db")).value == "7"


def test_cut_off_node_answers_at_once(url: str, store, monkeypatch: pytest.MonkeyPatch) -> None:
    from corral.agent.attr_tools import OFFLINE_ENV

    tool(url, "crm_attribute", "-p", "-v", "10")
    monkeypatch.setenv(OFFLINE_ENV, "1")
    # A stop's `crm_master -D` succeeds without the store (moot: cleared when the node rejoins)...
    assert tool(url, "crm_master", "-l", "reboot", "-D")[0] == 0
    assert store.get(keys.attr("n1", "master-db")).value == "10"
    # ...while reads and permanent writes fail at once rather than wait.
    rc, _, err = tool(url, "crm_attribute", "-p", "-G")
    assert rc == EX_UNAVAILABLE and "cut off" in err[0]
    assert tool(url, "crm_attribute", "-n", "x", "-l", "forever", "-v", "1")[0] == EX_UNAVAILABLE


def test_tools_ask_the_node_agent_over_its_socket(url: str, store, tmp_path: Path) -> None:
    # What a node agent serves: the tools import only the stdlib and never open the store.
    from corral.agent.attr_tools import SOCKET_ENV, AgentAttributes, AttrServer

    offline = {"now": False}
    server = AttrServer(str(tmp_path / "attrd.sock"), Attributes(store=store, offline=lambda: offline["now"]))
    try:
        client = AgentAttributes(str(tmp_path / "attrd.sock"))
        out: list[str] = []
        assert run_tool("crm_attribute", ["--promotion=db", "-N", "n1", "-v", "9"], client, out.append) == 0
        assert store.get(keys.attr("n1", "master-db")).value == "9"
        assert run_tool("crm_attribute", ["--promotion=db", "-N", "n1", "-G", "-q"], client, out.append) == 0
        assert out == ["9"]
        errors: list[str] = []
        rc = run_tool("crm_attribute", ["-N", "n1", "-n", "x", "-l", "reboot", "-G"], client, out.append, errors.append)
        assert rc == EX_NOSUCH and "no attribute x" in errors[0]
        offline["now"] = True  # self-fencing: transient writes answered at once, reads refused
        assert run_tool("crm_attribute", ["--promotion=db", "-N", "n1", "-D"], client, out.append) == 0
        assert store.get(keys.attr("n1", "master-db")).value == "9"
        assert run_tool("crm_attribute", ["--promotion=db", "-N", "n1", "-G"], client, out.append,
                        errors.append) == EX_UNAVAILABLE
        # The shims use the socket when the agent exports it, with no store URL at all.
        shims = install_shims(tmp_path / "sbin")
        env = {k: v for k, v in os.environ.items() if k != STORE_ENV}
        env.update({SOCKET_ENV: str(tmp_path / "attrd.sock"), NODE_ENV: "n2"})
        offline["now"] = False
        done = subprocess.run([str(shims / "crm_master"), "-l", "reboot", "-r", "web", "-v", "3"], env=env,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert store.get(keys.attr("n2", "master-web")).value == "3"
    finally:
        server.close()
    assert not (tmp_path / "attrd.sock").exists()
    rc = run_tool("crm_node", ["-p"], AgentAttributes(str(tmp_path / "attrd.sock")), [].append, errors.append)
    assert rc == EX_UNAVAILABLE and "Corral agent" in errors[-1]
