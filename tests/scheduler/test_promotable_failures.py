"""Failure handling and unfinished migrations against the real crm_simulate 2.1.5.

Each tests/scheduler/data/promotable/NAME.xml is a small CIB (most are variations of
corpus scenarios); NAME.summary holds the Transition Summary lines that
`crm_simulate -x NAME.xml -S` printed for it. Corral must print the same lines.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from corral.model.cib import parse_cib
from corral.model.cib_status import parse_status
from corral.scheduler import schedule

DATA = Path(__file__).parent / "data" / "promotable"
CASES = sorted(p.stem for p in DATA.glob("*.xml"))


def corral_summary(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    cfg = parse_cib(root, str(path))
    tr = schedule(cfg, parse_status(root, cfg))
    return sorted(" ".join(f"{v} {r} {d}".split()) for v, r, d in tr.summary)


def expected_summary(name: str) -> list[str]:
    text = (DATA / f"{name}.summary").read_text()
    return sorted(" ".join(line.split()) for line in text.splitlines() if line.strip())


def test_fixtures_exist():
    assert len(CASES) >= 7


@pytest.mark.parametrize("name", CASES)
def test_summary_matches_crm_simulate(name: str):
    assert corral_summary(DATA / f"{name}.xml") == expected_summary(name)
