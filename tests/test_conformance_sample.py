"""A fixed sample of Pacemaker 2.1.5's scheduler scenarios, scored like ../shared/conformance/score.py.

tests/data/conformance/ holds copies of ~35 corpus scenarios (xml/NAME.xml, the
CIB, and summary/NAME.summary, the output of `crm_simulate -x NAME.xml -S`),
in the corpus's layout, so score.py can also run on it:

    python3 ../shared/conformance/score.py --cmd 'corral simulate --cib {xml}' \\
        --corpus tests/data/conformance --list

Each scenario is given to `corral simulate --cib` (the `corral` executable beside
the running Python) and its Transition Summary is compared with the recorded one.

tests/data/conformance/EXPECTED_PASS lists the scenarios that must pass, one
name a line (blank lines and '#' comments are ignored). A bare name must pass
strictly (the same multiset of normalised lines); `NAME relaxed` only needs
score.py's relaxed match (no clone instance numbers, no "due to ..." tails).
Scenarios not listed are run as non-strict xfails: an XPASS in the report means
one more scenario can be added to EXPECTED_PASS.
"""

from __future__ import annotations

import collections
import subprocess
import sys
from pathlib import Path

import pytest
from differential.summary import relax, summary_lines  # score.py's normalisation, one copy

DATA = Path(__file__).resolve().parent / "data" / "conformance"
EXPECTED_PASS_FILE = DATA / "EXPECTED_PASS"
CORRAL = Path(sys.executable).parent / "corral"
TIMEOUT_S = 60.0

#: The sample: simple, diverse scenarios copied from the corpus (see tests/data/conformance/README.md).
SCENARIOS: tuple[str, ...] = (
    # primitives: placement, stickiness, colocation, ordering, migration, standby
    "simple2",
    "simple3",
    "simple7",
    "simple8",
    "minimal",
    "placement-location",
    "placement-stickiness",
    "rsc_dep1",
    "rsc_dep3",
    "order-mandatory",
    "order-optional",
    "order2",
    "anti-colocation-order",
    "1-a-then-bm-move-b",
    "standby",
    "stop-all-resources",
    # groups
    "group1",
    "group2",
    "group6",
    "group-fail",
    # clones and a promotable clone
    "clone-anon-probe-1",
    "cloned_start_two",
    "cloned_stop_two",
    "clone-max-zero",
    "clone-order-primitive",
    "promoted-0",
    # node loss and fencing
    "rec-node-1",
    "rec-node-2",
    "concurrent-fencing",
    "stop-failure-with-fencing",
    "no_quorum_demote",
    # resource failures
    "rec-rsc-0",
    "rec-rsc-1",
    "monitor-onfail-restart",
    "monitor-onfail-stop",
    "failed-probe-primitive",
)



def expected_pass() -> dict[str, str]:
    """EXPECTED_PASS as {name: "strict" | "relaxed"}."""
    out: dict[str, str] = {}
    if not EXPECTED_PASS_FILE.exists():
        return out
    for lineno, raw in enumerate(EXPECTED_PASS_FILE.read_text().splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1] not in ("strict", "relaxed")):
            raise ValueError(f"{EXPECTED_PASS_FILE}:{lineno}: expected 'NAME' or 'NAME relaxed', got {raw!r}")
        out[words[0]] = words[1] if len(words) == 2 else "strict"
    return out


EXPECTED = expected_pass()


def _params() -> list[object]:
    params: list[object] = []
    for name in SCENARIOS:
        if name in EXPECTED:
            params.append(pytest.param(name, EXPECTED[name], id=name))
        else:
            mark = pytest.mark.xfail(strict=False, reason="not (yet) in tests/data/conformance/EXPECTED_PASS")
            params.append(pytest.param(name, "strict", id=name, marks=mark))
    return params


def test_expected_pass_names_are_in_the_sample() -> None:
    unknown = sorted(set(EXPECTED) - set(SCENARIOS))
    assert not unknown, f"EXPECTED_PASS names scenarios that are not in the sample: {unknown}"


def test_sample_files_present() -> None:
    missing = [
        str(p)
        for name in SCENARIOS
        for p in (DATA / "xml" / f"{name}.xml", DATA / "summary" / f"{name}.summary")
        if not p.is_file()
    ]
    assert not missing, f"missing scenario files: {missing}"


@pytest.mark.parametrize(("name", "level"), _params())
def test_conformance_scenario(name: str, level: str) -> None:
    want = summary_lines((DATA / "summary" / f"{name}.summary").read_text())
    assert want is not None, f"{name}.summary has no Transition Summary section"
    assert CORRAL.exists(), (
        f"no corral executable at {CORRAL} (is the project installed in this environment?)"
    )
    try:
        p = subprocess.run(
            [str(CORRAL), "simulate", "--cib", str(DATA / "xml" / f"{name}.xml")],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"corral simulate did not finish in {TIMEOUT_S:.0f} s")
    got = summary_lines(p.stdout)
    assert got is not None, (
        f"corral simulate (exit {p.returncode}) printed no 'Transition Summary:' section\n"
        f"stdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-2000:]}"
    )
    if level == "relaxed":
        want, got = [relax(line) for line in want], [relax(line) for line in got]
    want_c, got_c = collections.Counter(want), collections.Counter(got)
    missing = sorted((want_c - got_c).elements())
    extra = sorted((got_c - want_c).elements())
    assert not missing and not extra, (
        f"{name} ({level}): Transition Summary differs\n"
        + "".join(f"  missing: {line}\n" for line in missing)
        + "".join(f"  extra:   {line}\n" for line in extra)
    )
