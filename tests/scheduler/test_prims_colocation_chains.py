"""A resource colocated (INFINITY) with two primaries: the summaries of the real crm_simulate
2.1.5 on these CIBs (tests/scheduler/data/prims/), recorded here.

Pacemaker places a dependent's primaries one after another (by priority, then id), each
restricting the dependent at once: a primary placed for the dependent's sake follows the
dependent's other primaries already placed; primaries placed earlier on their own (for
another resource's sake) may part, and then the dependent cannot run."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from corral.model.cib import parse_cib
from corral.model.cib_status import parse_status
from corral.scheduler import schedule

DATA = Path(__file__).parent / "data" / "prims"


def summary(name: str) -> list[str]:
    root = ET.parse(DATA / name).getroot()
    cfg = parse_cib(root, name)
    tr = schedule(cfg, parse_status(root, cfg))
    return [re.sub(r"\s+", " ", line).strip() for line in tr.summary_text()]


def test_a_primary_placed_for_the_dependent_follows_its_other_primary() -> None:
    # r3 with r5 (placed early, for r1) and r4 (placed by id before r5 for r3): they part.
    # r2 with r6 and r7, both placed for r2: r7 follows r6, and r2 runs with them.
    assert summary("two-mandatory-primaries.xml") == [
        "* Start r1 ( node2 )", "* Start r2 ( node3 )", "* Start r4 ( node4 )",
        "* Start r5 ( node1 )", "* Start r6 ( node3 )", "* Start r7 ( node3 )"]


def test_primaries_placed_on_their_own_may_part() -> None:
    assert summary("mandatory-primaries-placed-apart.xml") == [
        "* Start r1 ( node2 )", "* Start r2 ( node4 )", "* Start r4 ( node1 )",
        "* Start r5 ( node1 )", "* Start r6 ( node3 )", "* Start r7 ( node2 )"]
