"""cibadmin and crm_mon as Debian's galera and rabbitmq-cluster agents call them (corral.agent.cib_tools),
checked against the real Pacemaker 2.1.5 tools (pacemaker-cli-utils): on the scheduler corpus's CIBs,
and on the CIB Corral exports of a live (SQLite) cluster."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from corral.agent.attr_tools import NODE_ENV, STORE_ENV, Attributes, install_shims, run_tool
from corral.agent.cib_tools import EX_NOSUCH, EX_USAGE, xpath_find
from corral.cluster import keys
from corral.cluster.configstore import encode
from corral.cluster.records import AgentSpec, HistoryRecord, dumps
from corral.model import crm_mon_xml
from corral.model.state import EXEC_DONE, OpRecord
from corral.model.xml_out import parse, to_text
from corral.model.yaml_config import parse_yaml_config
from corral.store import open_store

REAL_TOOLS = shutil.which("cibadmin") and shutil.which("crm_mon")
needs_pacemaker = pytest.mark.skipif(not REAL_TOOLS and not os.environ.get("CI"),
                                     reason="pacemaker-cli-utils (cibadmin, crm_mon) not installed")
BASELINE = Path(__file__).resolve().parents[1] / "data" / "conformance" / "crm_mon_baseline.txt"
SHELLFUNCS = "/usr/lib/ocf/lib/heartbeat/ocf-shellfuncs"
# The line galera's master_exists() greps for (resource-agents 4.12, heartbeat/galera).
GALERA_PROMOTED = re.compile(r'resource.*id="galera".*role="(Promoted|Master)".*active="true".*'
                             r'orphaned="false".*failed="false"', re.I)


def _real(tool: str, cib: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool, *argv], env={**os.environ, "CIB_file": str(cib)}, capture_output=True,
                          text=True, timeout=30, check=False)


def _ours(tool: str, cib: Path | None, *argv: str, source: Attributes | None = None) -> tuple[int, str, str]:
    out: list[str] = []
    err: list[str] = []
    saved = os.environ.get("CIB_file")
    if cib is not None:
        os.environ["CIB_file"] = str(cib)
    try:
        rc = run_tool(tool, list(argv), source or Attributes(""), out.append, err.append)
    finally:
        if saved is None:
            os.environ.pop("CIB_file", None)
        else:
            os.environ["CIB_file"] = saved
    return rc, "\n".join(out) + ("\n" if out else ""), "\n".join(err)


def _no_clock(text: str) -> str:
    """What must differ between two runs: crm_mon's own clock."""
    return re.sub(r'<last_update time="[^"]*"/>', "<last_update/>", text)


@pytest.fixture(scope="module")
def corpus() -> Path:
    from conformance.corpus import shared_corpus

    return shared_corpus() / "xml"


# --- on the corpus ----------------------------------------------------------------------------------------
@needs_pacemaker
def test_cibadmin_query_prints_every_corpus_cib_as_pacemaker_does(corpus: Path) -> None:
    files = sorted(corpus.glob("*.xml"))
    assert len(files) == 533
    differ = [f.name for f in files if _real("cibadmin", f, "-Q").stdout != to_text(parse(f.read_text()))]
    assert differ == []


@needs_pacemaker
def test_cibadmin_xpath_answers_as_pacemaker_does(corpus: Path) -> None:
    cib = corpus / "promoted-1.xml"
    for xpath in ("//node_state[@crmd='online']//nvpair[@name='probe_complete']",   # two matches
                  "//node_state[@uname='node1']//nvpair[@name='probe_complete']",   # one
                  "/cib/status/node_state[@uname='node2']",
                  "//node_state//nvpair[@name='rmq-node-attr-rabbitmq']"):           # none
        real = _real("cibadmin", cib, "-Q", "--xpath", xpath)
        rc, out, _ = _ours("cibadmin", cib, "-Q", "--xpath", xpath)
        assert (rc, out) == (real.returncode, real.stdout), xpath
    assert _ours("cibadmin", cib, "-Q", "--xpath", "//nope")[0] == EX_NOSUCH


def _baseline() -> list[str]:
    return [line.split()[0] for line in BASELINE.read_text().splitlines() if line.strip() and not line.startswith("#")]


@needs_pacemaker
def test_crm_mon_xml_equals_pacemakers_on_the_baseline_scenarios(corpus: Path) -> None:
    """Every scenario of the baseline renders exactly as crm_mon 2.1.5 renders it, in the three forms
    the agents use (tests/data/conformance/crm_mon_baseline.txt says which and why only these)."""
    names = _baseline()
    assert len(names) >= 150
    differ = []
    for i, name in enumerate(names):
        cib = corpus / f"{name}.xml"
        forms = [("-1", "--output-as=xml")] + ([("-1X",), ("-r", "--as-xml")] if i % 10 == 0 else [])
        for argv in forms:
            real = _real("crm_mon", cib, *argv)
            rc, out, err = _ours("crm_mon", cib, *argv)
            if rc != 0 or _no_clock(out) != _no_clock(real.stdout):
                differ.append(f"{name} {' '.join(argv)} {err}")
    assert differ == []


def test_crm_mon_refuses_what_it_does_not_provide(corpus: Path) -> None:
    cib = corpus / "promoted-1.xml"
    for argv in (["-1"], ["--output-as=text", "-1"], ["--output-as=xml"], ["-1", "--watch-interval=5"]):
        rc, out, err = _ours("crm_mon", cib, *argv)
        assert rc == EX_USAGE and out == "" and "orral" in err, argv
    for argv in (["--replace", "--xml-text", "<cib/>"], ["-Q", "--scope", "nodes"], ["-E"]):
        rc, out, err = _ours("cibadmin", cib, *argv)
        assert rc == EX_USAGE and out == "" and "quer" in err, argv


def test_xpath_outside_what_elementtree_evaluates_is_a_usage_error() -> None:
    root = ET.fromstring("<cib><status/></cib>")
    assert xpath_find(root, "/cib") == [root]
    assert xpath_find(root, "/other") == []
    for bad in ("count(//node)", "//node/@name", "status"):
        with pytest.raises(Exception) as info:
            xpath_find(root, bad)
        assert getattr(info.value, "code", None) == EX_USAGE


# --- on a live cluster ---------------------------------------------------------------------------------------
LIVE = """
cluster: {stonith-enabled: false}
nodes: [{name: n1}, {name: n2}, {name: n3}]
resources:
  - promotable: galera-clone
    of:
      id: galera
      agent: ocf:heartbeat:galera
      params: {wsrep_cluster_address: "gcomm://n1,n2,n3"}
      ops: [{name: monitor, interval: 10s, role: Promoted}, {name: monitor, interval: 20s, role: Unpromoted}]
    meta: {promoted-max: 3}
  - clone: rabbitmq-clone
    of: {id: rabbitmq, agent: "ocf:heartbeat:rabbitmq-cluster", ops: [{name: monitor, interval: 10s}]}
"""


def _op(rid: str, task: str, call: int, rc: int = 0, interval: int = 0, target: int = 0) -> OpRecord:
    slot = f"{rid}_monitor_{interval}" if interval else f"{rid}_last_0"
    return OpRecord(rid, task, interval, rc, EXEC_DONE, call, target, last_rc_change=1764669600 + call,
                    id=slot, op_digest="0" * 32)


@pytest.fixture
def live(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/cluster.db"
    store = open_store(url)
    cfg, _ = parse_yaml_config(LIVE, "live.yaml")
    store.put(keys.CONFIG, encode(cfg, "live.yaml"))
    galera, rabbit = AgentSpec("ocf", "galera", "heartbeat"), AgentSpec("ocf", "rabbitmq-cluster", "heartbeat")
    for i, n in enumerate(("n1", "n2", "n3"), start=1):
        store.put(keys.node(n), dumps({"expected": "member"}))
        if n == "n3":
            continue  # lost: joined once, its lease is gone
        store.put(keys.member(n), "{}")
        # As the node's history book keeps them: the last one-shot operation and each recurring monitor.
        ops = ([_op("galera", "promote", 3), _op("galera", "monitor", 4, rc=8, interval=10000, target=8)] if n == "n1"
               else [_op("galera", "start", 2), _op("galera", "monitor", 3, interval=20000)])
        store.put(keys.history_rsc(n, "galera"), HistoryRecord("galera", galera, ops).to_json())
        store.put(keys.history_rsc(n, "rabbitmq"), HistoryRecord("rabbitmq", rabbit, [_op("rabbitmq", "start", 1)]).to_json())
        store.put(keys.attr(n, "master-galera"), "100" if n == "n1" else "5")
        store.put(keys.attr(n, "rmq-node-attr-rabbitmq"), f"rabbit@{n}")
        store.put(keys.node_attr(n, "rmq-node-attr-last-known-rabbitmq"), f"rabbit@{n}")
        store.put(keys.attr(n, "galera-last-committed"), str(40 + i))
    store.put(keys.node_attr("n3", "rmq-node-attr-last-known-rabbitmq"), "rabbit@n3")
    store.put(keys.attr("n3", "rmq-node-attr-rabbitmq"), "rabbit@n3")  # a stale transient attribute
    yield url, store
    store.close()


def _live_cib(url: str, tmp_path: Path) -> Path:
    rc, out, err = _ours("cibadmin", None, "-Q", source=Attributes(url))
    assert rc == 0, err
    path = tmp_path / "live.xml"
    path.write_text(out)
    return path


def test_live_cib_has_pacemakers_layout(live, tmp_path: Path) -> None:
    url, _ = live
    root = ET.parse(_live_cib(url, tmp_path)).getroot()
    assert list(root.attrib)[:5] == ["crm_feature_set", "validate-with", "epoch", "num_updates", "admin_epoch"]
    states = {ns.get("uname"): ns for ns in root.iter("node_state")}
    assert states["n1"].get("crmd") == "online" and states["n3"].get("crmd") == "offline"
    assert list(states["n1"].attrib) == ["id", "uname", "in_ccm", "crmd", "crm-debug-origin", "join", "expected"]
    assert [c.tag for c in states["n1"]] == ["lrm", "transient_attributes"]
    forever = root.find("configuration/nodes/node[@uname='n1']/instance_attributes/nvpair")
    assert forever is not None and forever.get("name") == "rmq-node-attr-last-known-rabbitmq"
    op = root.find(".//node_state[@uname='n1']//lrm_resource[@id='galera']/lrm_rsc_op[@operation='promote']")
    assert op is not None and op.get("rc-code") == "0" and op.get("on_node") == "n1"


@pytest.mark.skipif(not os.path.exists(SHELLFUNCS), reason="resource-agents not installed")
def test_the_agents_own_pipelines_read_the_live_cluster(live, tmp_path: Path) -> None:
    """The shell the agents run, through the installed shims: rabbitmq-cluster's join list (xpath +
    grep + sed) and galera's master_exists (crm_mon_no_validation ... | grep)."""
    url, _ = live
    shims = install_shims(tmp_path / "sbin")
    env = {**os.environ, STORE_ENV: url, NODE_ENV: "n2", "HA_SBIN_DIR": str(shims), "SHELL": "/bin/bash",
           "PATH": f"{shims}:{os.environ.get('PATH', '')}", "OCF_ROOT": "/usr/lib/ocf"}
    rabbit = ("cibadmin -Q --xpath \"//node_state[@crmd='online']//nvpair[@name='rmq-node-attr-rabbitmq']\" "
              "| grep rmq-node-attr-rabbitmq | sed -n -e \"s/^.*value=.\\(.*\\)\\\".*$/\\1/p\"")
    r = subprocess.run(["bash", "-c", rabbit], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert r.stdout.split() == ["rabbit@n1", "rabbit@n2"], r.stderr  # n3 is offline: not a join candidate
    galera = (f". {SHELLFUNCS}; crm_mon_no_validation -1 --output-as=xml | grep -q -i -E "
              "\"resource.*id=\\\"galera\\\".*role=\\\"(Promoted|Master)\\\".*active=\\\"true\\\".*orphaned=\\\"false\\\".*failed=\\\"false\\\"\"")
    r = subprocess.run(["bash", "-c", galera], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr


def test_live_crm_mon_shows_the_promoted_instance_and_nodes(live, tmp_path: Path) -> None:
    url, store = live
    cib = _live_cib(url, tmp_path)
    rc, out, err = _ours("crm_mon", cib, "-1", "--output-as=xml")
    assert rc == 0, err
    promoted = [line for line in out.splitlines() if GALERA_PROMOTED.search(line)]
    assert len(promoted) == 1 and '<node name="n1"' in out.split(promoted[0])[1].splitlines()[1]
    nodes = {n.get("name"): n.get("online") for n in ET.fromstring(out).iter("node") if n.get("online")}
    assert nodes == {"n1": "true", "n2": "true", "n3": "false"}
    # Demoted on n1: no promoted line any more, which is what galera waits on.
    rec = HistoryRecord.from_json(store.get(keys.history_rsc("n1", "galera")).value)
    rec.ops = [_op("galera", "demote", 5)]
    store.put(keys.history_rsc("n1", "galera"), rec.to_json())
    rc, out, _ = _ours("crm_mon", _live_cib(url, tmp_path), "-1", "--output-as=xml")
    assert rc == 0 and not any(GALERA_PROMOTED.search(line) for line in out.splitlines())


@needs_pacemaker
def test_pacemakers_crm_mon_reads_corrals_live_cib_as_corral_does(live, tmp_path: Path) -> None:
    """The real crm_mon, given the CIB Corral exports, prints what Corral's crm_mon prints."""
    url, _ = live
    cib = _live_cib(url, tmp_path)
    real = _real("crm_mon", cib, "-1", "--output-as=xml")
    assert real.returncode == 0, real.stderr
    rc, out, _ = _ours("crm_mon", cib, "-1", "--output-as=xml")
    assert rc == 0
    assert _no_clock(out) == _no_clock(real.stdout)


def test_live_cib_reads_back_through_the_renderer(live, tmp_path: Path) -> None:
    url, _ = live
    root = ET.parse(_live_cib(url, tmp_path)).getroot()
    cfg, state, header = crm_mon_xml.inputs_from_cib(root)
    assert state.nodes["n1"].attrs["master-galera"] == "100"
    assert cfg.nodes["n2"].attrs["rmq-node-attr-last-known-rabbitmq"] == "rabbit@n2"
    assert header.attrs["update-client"] == "corral"


def test_cibadmin_asks_the_node_agent_for_the_live_cib(live, tmp_path: Path) -> None:
    """As agents run it: no CIB_file, no store URL, only the node agent's socket."""
    from corral.agent.attr_tools import AgentAttributes, AttrServer

    url, store = live
    server = AttrServer(str(tmp_path / "attrd.sock"), Attributes(store=store))
    try:
        rc, out, err = _ours("cibadmin", None, "-Q", source=AgentAttributes(str(tmp_path / "attrd.sock")))
        assert rc == 0, err
        assert out == _live_cib(url, tmp_path).read_text()  # the same CIB as read from the store itself
        root = ET.fromstring(out)
        assert root.find(".//node_state[@uname='n1']//nvpair[@name='master-galera']").get("value") == "100"
    finally:
        server.close()
