"""Remote and guest nodes on small hand-made CIBs and a few corpus scenarios.

Each `data/remote/NAME.xml` comes with `NAME.summary`: the Transition Summary that the
real crm_simulate 2.1.5 printed for it (`crm_simulate -x NAME.xml -S`). Corral's summary
must be the same lines, explanations included. `data/corpus_remote/` holds copies of
Pacemaker 2.1.5 regression scenarios with remote and guest nodes, with the summary the
suite records for them.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from corral.model.cib import parse_cib
from corral.model.cib_status import parse_status
from corral.scheduler import schedule

DATA = Path(__file__).parent / "data" / "remote"
CORPUS = Path(__file__).parent / "data" / "corpus_remote"
CASES = sorted(p.stem for p in DATA.glob("*.xml"))
CORPUS_CASES = sorted(p.stem for p in CORPUS.glob("*.xml"))


def _norm(line: str) -> str:
    return " ".join(line.replace("*", " ", 1).split())


def corral_summary(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    cfg = parse_cib(root, str(path))
    tr = schedule(cfg, parse_status(root, cfg))
    return sorted(_norm(line) for line in tr.summary_text())


def pacemaker_summary(name: str, where: Path = DATA) -> list[str]:
    text = (where / f"{name}.summary").read_text()
    return sorted(_norm(line) for line in text.splitlines() if line.strip())


def test_the_cases_are_there():
    assert len(CASES) >= 9 and len(CORPUS_CASES) >= 10


@pytest.mark.parametrize("name", CASES)
def test_summary_matches_crm_simulate(name: str):
    assert corral_summary(DATA / f"{name}.xml") == pacemaker_summary(name)


@pytest.mark.parametrize("name", CORPUS_CASES)
def test_corpus_scenario(name: str):
    assert corral_summary(CORPUS / f"{name}.xml") == pacemaker_summary(name, CORPUS)


def _schedule(name: str):
    root = ET.parse(DATA / f"{name}.xml").getroot()
    cfg = parse_cib(root, name)
    return schedule(cfg, parse_status(root, cfg))


def test_node_kinds():
    tr = _schedule("guest-container-moves")
    assert {n: rt.kind for n, rt in tr.nodes.items()} == {
        "n1": "cluster", "n2": "cluster", "n3": "cluster", "g1": "guest"}
    assert tr.nodes["g1"].attrs["#kind"] == "container"
    tr = _schedule("remote-online")
    assert tr.nodes["r1"].kind == "remote" and tr.nodes["r1"].attrs["#kind"] == "remote"
    assert tr.nodes["r1"].attrs["#is_dc"] == "false"


def test_fencing_devices_and_connections_never_run_on_remote_nodes():
    tr = _schedule("remote-online")
    # Both prefer r1 by location constraint, yet stay on cluster nodes.
    assert tr.placements["fence"].node != "r1"
    assert tr.placements["r1"].node in ("n1", "n2", "n3")
    assert tr.placements["d1"].node == "r1"


def test_a_guests_implicit_connection_follows_its_container():
    tr = _schedule("guest-container-moves")
    assert tr.placements["vm1"].node == tr.placements["g1"].node == "n2"
