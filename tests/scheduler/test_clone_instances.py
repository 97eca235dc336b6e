"""Clone instance numbers, placement and clone-min orders against Pacemaker 2.1.5.

Each data/clones/NAME.xml is a small hand-made CIB; NAME.summary holds the
Transition Summary lines the real `crm_simulate -x NAME.xml -S` printed for it
(sorted, normalised as ../shared/conformance/score.py does). Corral must print
exactly those lines, instance numbers included (docs/scheduler.md, "Clone
instance numbers", explains the rules these cases pin down; the clone-min-*
cases check orders after a clone with clone-min).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from corral.model.cib import parse_cib
from corral.model.cib_status import parse_status
from corral.scheduler import schedule

DATA = Path(__file__).parent / "data" / "clones"
CASES = sorted(p.stem for p in DATA.glob("*.xml"))


def summary(xml: Path) -> list[str]:
    root = ET.parse(xml).getroot()
    cfg = parse_cib(root, str(xml))
    tr = schedule(cfg, parse_status(root, cfg))
    return sorted(" ".join(line.split()[1:]) for line in tr.summary_text())


def test_the_fixtures_are_there():
    assert len(CASES) >= 15


@pytest.mark.parametrize("name", CASES)
def test_matches_crm_simulate(name: str):
    want = [line for line in (DATA / f"{name}.summary").read_text().splitlines() if line]
    assert summary(DATA / f"{name}.xml") == want
