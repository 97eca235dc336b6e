"""The conformance gate: every scenario of the committed baseline still passes.

All 533 scenarios of Pacemaker 2.1.5's scheduler corpus are scored (see
corpus.py); a scenario listed in tests/data/conformance/baseline.txt as `strict`
must still match crm_simulate's Transition Summary exactly, one listed `relaxed`
at least after score.py's relaxation. Scenarios that pass but are not in the
baseline are reported (update the baseline in the commit that improves them).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from .corpus import BASELINE, Outcome, extract, improvements, read_baseline, regressions, score_all, totals


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    corpus = extract(Path(tmp_path_factory.mktemp("corpus")))
    return score_all(corpus)


def test_corpus_is_whole(outcomes: dict[str, Outcome]) -> None:
    assert len(outcomes) == 533


def test_no_baseline_scenario_regresses(outcomes: dict[str, Outcome], capsys: pytest.CaptureFixture[str]) -> None:
    baseline = read_baseline()
    lost = regressions(outcomes, baseline)
    strict, relaxed, n = totals(outcomes)
    with capsys.disabled():
        print(f"\nconformance: strict {strict}/{n}, relaxed {relaxed}/{n}")
        gained = improvements(outcomes, baseline)
        if gained:
            print(f"passing but not in {BASELINE.name} (update it): {' '.join(gained)}")
    assert not lost, "scenarios of the baseline no longer pass:\n" + "\n".join(
        f"{o.name} (baseline {baseline[o.name]}, now {o.level})\n{o.detail}" for o in lost)


def test_baseline_is_not_stale(outcomes: dict[str, Outcome]) -> None:
    """The baseline records what passes: a scenario that passes better than recorded
    means the baseline was not updated with the change that improved it."""
    gained = improvements(outcomes, read_baseline())
    assert not gained, ("these scenarios pass beyond the baseline; run "
                        f"`python3 -m tests.conformance.corpus --update-baseline`: {' '.join(gained)}")
