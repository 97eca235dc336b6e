"""Bad command lines and bad files thrown at a running 3-node cluster (issue 10).

For every input: a non-zero exit, a one-line-or-so message on stderr and no
traceback, and nothing changed in what runs -- nodes and their states, every
resource instance's node and role, the configuration's and the operator
state's store revisions. Most inputs run in-process (CliRunner, so 150 of them
take seconds); a few run as real processes, among them a second agent claiming
a node name that is in use.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from corral.cli.main import cli
from corral.cluster import keys

RESOURCE_VERBS = [["move", "{}", "n2"], ["ban", "{}", "n2"], ["clear", "{}"], ["cleanup", "--wait", "2", "{}"],
                  ["enable", "{}"], ["disable", "{}"], ["restart", "--wait", "1", "{}"], ["unmanage", "{}"],
                  ["manage", "{}"], ["update", "{}", "--meta", "priority=5"]]
BAD_RESOURCES = ["", " ", "D1", "d9", "dc:1", "dc:9", "#uname", "n1:bad", "d1 "]
NODE_VERBS = ["standby", "online", "maintenance", "remove"]
BAD_NODES = ["", " ", "n9", "N2", "#uname", "n1:bad", " n1", "n1\n"]
BAD_STORES = ["", "sqlite:///no/such/dir/c.db", "sqlite:///tmp/corral-bad-input-no-such.db", "sqlite://relative.db",
              "etcd://127.0.0.1:1?timeout=0.3", "http://127.0.0.1:2379", "etcd://host:99999",
              "sqlite:///tmp/", "sqlite:///tmp/x.db?timeout=-1", "etcd://127.0.0.1:2379?bogus=1"]


def command_lines(workdir: Path) -> list[list[str]]:
    cases: list[list[str]] = []
    for verb in RESOURCE_VERBS:
        for name in BAD_RESOURCES:
            cases.append(["resource", *[name if a == "{}" else a for a in verb]])
    for node in BAD_NODES:
        cases += [["resource", "move", "d1", node], ["resource", "ban", "d1", node],
                  ["resource", "cleanup", "--wait", "2", "d1", node], ["resource", "clear", "d1", node]]
    for verb in NODE_VERBS:
        cases += [["node", verb, node] for node in BAD_NODES]
    cases += [
        ["node", "remove", "n1"],                                   # a member
        ["resource", "ban", "dc-clone"],                            # a clone, without a node
        ["resource", "ban", "dc"],                                  # inside a clone, without a node
        ["resource", "move", "dc-clone", "n1"], ["resource", "move", "dc", "n1"], ["resource", "move", "dc:1", "n1"],
        ["resource", "move", "d1", "n2", "--promoted"], ["resource", "move", "dc-clone", "--promoted"],
        ["resource", "move"], ["resource", "ban"], ["resource", "frobnicate", "d1"], ["resource", "clear"],
        ["resource", "clear", "d1", "n3"],                          # nothing of d1 names n3
        ["resource", "update", "d1"], ["resource", "update", "d1", "--set", "novalue"],
        ["resource", "update", "d1", "--set", "=v"], ["resource", "update", "d1", "--set", "a b=c"],
        ["resource", "update", "g1", "--set", "a=b"], ["resource", "update", "d1", "--unset", "nothing"],
        ["resource", "update", "d1", "--set", "a=1", "--unset", "a"], ["resource", "update", "d1", "--set", "a=1",
                                                                     "--set", "a=2"],
        ["resource", "update", "d1", "--meta", "target-role=Bogus"],
        ["resource", "update", "d1", "--meta", "resource-stickiness=lots"],
        ["resource", "update", "d1", "--meta", "migration-threshold=x"],
        ["resource", "update", "d1", "--meta", "clone-max=-1"],
        ["resource", "cleanup", "--wait", "-1", "d1"], ["resource", "cleanup", "--wait", "0", "d1"],
        ["resource", "cleanup", "--wait", "1e999", "d1"], ["resource", "cleanup", "--wait", "nan", "d1"],
        ["resource", "restart", "--wait", "-5", "d1"], ["resource", "restart", "--wait", "abc", "d1"],
        ["property", "set", "stonith-enabeld", "true"], ["property", "set", "stonith-enabled", "maybe"],
        ["property", "set", "no-quorum-policy", "panic"], ["property", "set", "batch-limit", "many"],
        ["property", "set", "cluster-recheck-interval", "10x"], ["property", "set", "stonith-enabled", ""],
        ["property", "set", "", "x"], ["property", "set", "stonith-enabled"], ["property", "unset", "no-such-option"],
        ["property", "unset", "maintenance-mode"],                  # not set
        ["property", "frob"],
        ["config", "show", "--format", "json"], ["config", "frob"], ["constraint", "lsit"],
        ["fence", "n9"], ["fence", ""], ["fence", "N2"], ["fence", "n1", "--action", "explode"],
        ["fence", "n1", "--cleanup"], ["fence", "history", "--node", "n9"], ["fence", "history", "--cleanup", "--node",
                                                                          "n9"],
        ["explain", "d9"], ["explain", ""], ["explain", "dc:9"],
        ["status", "--interval", "abc"], ["status", "--watch", "--interval", "-1"],
        ["status", "--watch", "--interval", "0"], ["status", "--watch", "--interval", "nan"],
        ["status", "--watch", "--interval", "inf"],
        ["frobnicate"],
    ]
    for store in BAD_STORES:
        cases += [["node", "standby", "n1", "--store", store], ["resource", "move", "d1", "n2", "--store", store],
                  ["constraint", "list", "--store", store]]
    cases += [["explain", "d1", "--store", "etcd://127.0.0.1:1?timeout=0.3"],
              ["explain", "d1", "--store", "sqlite:///tmp/corral-bad-input-no-such.db"],
              ["status", "--store", "sqlite:///tmp/corral-bad-input-no-such.db"],
              ["status", "--json", "--store", "sqlite:///tmp/corral-bad-input-no-such.db"]]
    for lifetime in ["PT", "P", "1h", "-PT1H", "PT0S", "P1Y", "P1M", "P9999W", "garbage", "", "PT1H ", "T1H"]:
        cases.append(["resource", "move", "d1", "n2", "--lifetime", lifetime])
    cases.append(["resource", "ban", "d1", "n2", "--lifetime", "forever"])
    return cases


def bad_files(workdir: Path) -> list[tuple[str, str | bytes]]:
    good = (workdir / "config.yaml").read_text()
    return [
        ("invalid.yaml", "resources: [\n"),
        ("unknown-key.yaml", good.replace("cluster:", "clusterr:")),
        ("bad-interval.yaml", good.replace("interval: 500ms", "interval: 10x")),
        ("bad-agent.yaml", good.replace("ocf:heartbeat:Dummy", "ocf:Dummy", 1)),
        ("dangling.yaml", good + "constraints:\n  - colocation: {rsc: d1, with: nothere, score: INFINITY}\n"),
        ("dup-id.yaml", good + f"  - {_dummy('d1', workdir)}\n"),
        ("bad-score.yaml", good + "constraints:\n  - location: {rsc: d1, node: n1, score: lots}\n"),
        ("bad.xml", "<cib><configuration><resources><primitive id='x'"),
        ("bad-cib.xml", "<cib><configuration><crm_config/><nodes/><resources><primitive id='1x' class='ocf' "
                        "type='Dummy'/></resources><constraints/></configuration></cib>"),
        ("binary.yaml", b"\x00\xff\xfe\x00garbage"),
        ("stops-d1.yaml", good.replace("{id: d1,", "{id: d1-renamed,")),  # stops d1: refused without --force
        ("empty.yaml", ""),                                         # stops everything: refused without --force
        ("fences-n4.yaml", good.replace("stonith-enabled: false", "stonith-enabled: true")
         .replace("{name: n3}]", "{name: n3}, {name: n4}]")),        # n4 never joins: fenced, refused
        ("list.yaml", "- 1\n- 2\n"),
        ("alias-bomb.yaml", "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)) + "resources: *a8\n"),
    ]


def _dummy(rid: str, workdir: Path) -> str:
    return (f'{{id: {rid}, agent: "ocf:heartbeat:Dummy", params: {{state: "{workdir}/${{node:#uname}}/{rid}.state"}}, '
            'ops: [{name: monitor, interval: 500ms, timeout: 10s}]}')


def config_text(workdir: Path) -> str:
    return ("cluster: {stonith-enabled: false}\ndefaults: {resource: {resource-stickiness: 100}}\n"
            "nodes: [{name: n1}, {name: n2}, {name: n3}]\nresources:\n"
            f"  - {_dummy('d1', workdir)}\n"
            f"  - group: g1\n    members:\n      - {_dummy('g1a', workdir)}\n      - {_dummy('g1b', workdir)}\n"
            f"  - clone: dc-clone\n    of: {_dummy('dc', workdir)}\n")


def observed(c) -> dict:
    st = c.status()
    config_kv, operator_kv = c.store.get(keys.CONFIG), c.store.get(keys.OPERATOR)
    return {"nodes": sorted((n["name"], n["state"]) for n in st["nodes"]),
            "resources": sorted((r["id"], r["node"] or "", r["role"]) for r in st["resources"]),
            "config_revision": st["config"]["revision"],
            "config_key": config_kv.mod_revision if config_kv else 0,
            "operator_key": operator_kv.mod_revision if operator_kv else 0}


def test_bad_input_changes_nothing(make_cluster, tmp_path):
    c = make_cluster("sqlite")
    c.load(config_text(c.workdir))
    for n in ("n1", "n2", "n3"):
        c.start(n)
    c.wait("three nodes online", lambda: sum(n["state"] == "online" for n in c.status()["nodes"]) == 3)
    c.wait("everything running", lambda: all(r["node"] for r in c.status()["resources"]) and
           len(c.status()["resources"]) == 6)
    c.wait_idle()
    before = observed(c)

    env = {"CORRAL_STORE": c.store_url, "CORRAL_CONF": "", "XDG_CONFIG_HOME": str(tmp_path)}
    runner = CliRunner()
    tried, clean, changed = 0, 0, []

    def check(argv: list[str], code: int, stderr: str, stdout: str, exc: BaseException | None) -> None:
        nonlocal tried, clean
        tried += 1
        problems = []
        if code == 0:
            problems.append("exit status 0")
        if exc is not None and not isinstance(exc, SystemExit):
            problems.append(f"exception {type(exc).__name__}: {exc}")
        if "Traceback" in stderr or "Traceback" in stdout:
            problems.append("a traceback")
        if not stderr.strip():
            problems.append("no message on stderr")
        now = observed(c)
        if now != before:
            changed.append((argv, now))
        assert not problems, f"corral {argv!r}: {', '.join(problems)}\nstdout: {stdout}\nstderr: {stderr}"
        clean += 1

    for argv in command_lines(c.workdir):
        r = runner.invoke(cli, argv, env=env)
        check(argv, r.exit_code, r.stderr, r.stdout, r.exception)

    # The store from the environment and from a config file, wrong.
    conf = tmp_path / "corral.conf"
    conf.write_text("stor = sqlite:///x.db\n")
    for extra_env in ({"CORRAL_STORE": "sqlite:///no/such/dir/c.db"}, {"CORRAL_STORE": "bogus://x"},
                      {"CORRAL_STORE": None, "CORRAL_CONF": str(conf)},
                      {"CORRAL_STORE": None, "CORRAL_CONF": str(tmp_path / "missing.conf")}):
        r = runner.invoke(cli, ["node", "standby", "n1"], env={**env, **extra_env})
        check(["node", "standby", "n1", f"env {extra_env}"], r.exit_code, r.stderr, r.stdout, r.exception)

    for name, content in bad_files(c.workdir):
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        t0 = time.monotonic()
        r = runner.invoke(cli, ["load", str(path)], env=env)
        check(["load", name], r.exit_code, r.stderr, r.stdout, r.exception)
        if name == "alias-bomb.yaml":  # refused before expanding anything (it took 5.8 s and 369 MB)
            assert time.monotonic() - t0 < 2.0 and "too large" in r.stderr
    for argv in (["load", str(tmp_path / "no-such.yaml")], ["load", str(tmp_path)], ["load"], ["load", "/dev/zero"],
                 ["load", "--dry-run", "/dev/null"], ["load", str(tmp_path / "stops-d1.yaml"), "--dry-run", "--bogus"]):
        r = runner.invoke(cli, argv, env=env)
        check(argv, r.exit_code, r.stderr, r.stdout, r.exception)

    # As real processes: the exit status and stderr an operator sees.
    proc_env = {**os.environ, **env}
    for argv in (["node", "standby", "n9"], ["resource", "move", "d1", ""], ["resource", "ban", "dc-clone"],
                 ["explain", "d1", "--store", "etcd://127.0.0.1:1?timeout=0.3"],
                 ["agent", "--node", "n4", "--ttl", "-1"], ["agent", "--node", "n4", "--parallel", "0"],
                 ["agent", "--node", "n4", "--store", "sqlite://relative.db"]):
        p = subprocess.run([sys.executable, "-m", "corral.cli.main", *argv], env=proc_env, capture_output=True,
                           text=True, timeout=60)
        check(argv, p.returncode, p.stderr, p.stdout, None)
    # A second agent for a node name in use is refused, and the real n2 keeps running.
    rsctmp = tmp_path / "impostor"
    started = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "corral.cli.main", "agent", "--node", "n2", "--rsctmp", str(rsctmp),
                        "--ttl", "2", "--renew", "0.2", "--store-timeout", "0.5", "--watchdog", "none"],
                       env=proc_env, capture_output=True, text=True, timeout=60)
    check(["agent", "--node", "n2"], p.returncode, p.stderr, p.stdout, None)
    assert "already claimed" in p.stderr and time.monotonic() - started < 10, p.stderr
    assert c.nodes["n2"].proc.poll() is None

    time.sleep(2.0)  # anything a rejected change set off would show by now
    c.wait_idle()
    after = observed(c)
    print(f"\nbad inputs tried: {tried}, clean errors: {clean}, changes to what runs: {len(changed)}")
    assert not changed, changed
    assert after == before
    assert tried >= 100
