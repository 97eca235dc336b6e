"""Differential gate: ``corral simulate`` against Pacemaker 2.1.5's ``crm_simulate``, strict.

tests/differential/pinned/ holds generated CIBs (see gen.py; level1-* are
primitives, locations, colocations, orders, stickiness and offline nodes;
level2-* add groups and anonymous clones) on which the two agreed when they were
pinned (pin.py). Each goes to both again, here and in CI; their Transition
Summary sections, normalised as in ../shared/conformance/score.py, must be
equal as multisets. A disagreement fails: it is a regression.

Exploring new draws is not a test: `python -m tests.differential.explore`
surveys hypothesis draws, classifies the disagreements and writes FINDINGS.md;
`python -m tests.differential.pin` pins the ones that agree.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import compare, oracle_available

PINNED = Path(__file__).resolve().parent / "pinned"
CIBS = sorted(PINNED.glob("*.xml"))

pytestmark = [
    pytest.mark.oracle,
    pytest.mark.skipif(not oracle_available(), reason="crm_simulate (pacemaker-cli-utils) is not installed"),
]


def test_enough_pinned_cibs() -> None:
    assert sum(p.name.startswith("level1-") for p in CIBS) >= 40
    assert sum(p.name.startswith("level2-") for p in CIBS) >= 40


@pytest.mark.parametrize("cib", CIBS, ids=[p.stem for p in CIBS])
def test_agrees_with_crm_simulate(cib: Path) -> None:
    c = compare(cib.read_text())
    assert c.oracle_ok, f"crm_simulate rejected {cib.name}:\n{c.report()}"
    assert c.agree, f"Transition Summary differs from crm_simulate's on {cib.name}:\n{c.report()}"
