"""The explanations of the Transition Summary ("due to ...", "(blocked)"): the summaries of
the real crm_simulate 2.1.5 on these CIBs (tests/scheduler/data/reasons/), recorded here.

Pacemaker derives them from the action graph: a stop forced by a collective that cannot
run anywhere names its unrunnable "running" pseudo-action, one forced by a primitive names
that primitive's start; an action after one that cannot run is blocked; a stop waiting for
a stop that cannot run (a failure with on-fail=block) is blocked and keeps its own reason;
a migratable resource moving by stop and start after its first moves names the first's stop;
later members of a group forced along with it are explained by their predecessor; a stop
forced by an interleaved clone's instance on the same node has no explanation."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from corral.model.cib import parse_cib
from corral.model.cib_status import parse_status
from corral.scheduler import schedule

DATA = Path(__file__).parent / "data" / "reasons"

# name -> crm_simulate 2.1.5's Transition Summary on DATA/name.xml (whitespace squeezed)
EXPECTED: dict[str, list[str]] = {
    "stop-after-primitive-placed-nowhere": [
        "* Stop A ( node1 ) due to node availability",
        "* Stop B ( node1 ) due to required A start"],
    "stop-after-clone-placed-nowhere": [
        "* Stop C:0 ( node1 ) due to node availability",
        "* Stop B ( node1 ) due to unrunnable C-clone running"],
    "stop-after-group-placed-nowhere": [
        "* Stop G1 ( node1 ) due to node availability",
        "* Stop G2 ( node1 ) due to node availability",
        "* Stop B ( node1 ) due to unrunnable G running"],
    "start-after-blocked-failure": [
        "* Stop B ( node1 ) due to node availability",
        "* Start C ( node2 ) due to unrunnable A start (blocked)"],
    "running-after-blocked-failure": [
        "* Stop C ( node1 ) due to unrunnable A start"],
    "agent-changed": [
        "* Restart A ( node1 )"],
    "start-after-incomplete-group": [
        "* Start G1 ( node1 )",
        "* Start B ( node2 ) due to unrunnable G running (blocked)"],
    "start-after-clone-of-incomplete-groups": [
        "* Start G1:0 ( node1 )",
        "* Start G1:1 ( node2 )",
        "* Start B ( node1 ) due to unrunnable C running (blocked)"],
    "running-after-clone-of-incomplete-groups": [
        "* Start G1:1 ( node2 )",
        "* Stop B ( node1 ) due to unrunnable C running"],
    "stop-waits-for-blocked-group-member": [
        "* Stop G1 ( node1 ) due to node availability (blocked)"],
    "group-stops-after-primitive": [
        "* Stop X ( node1 ) due to node availability",
        "* Stop G1 ( node1 ) due to required X start",
        "* Stop G2 ( node1 ) due to required G1 stop",
        "* Stop G3 ( node1 ) due to required G2 start"],
    "group-stops-after-unrunnable-clone": [
        "* Stop X:0 ( node1 ) due to node availability",
        "* Stop G1 ( node1 ) due to unrunnable XC running",
        "* Stop G2 ( node1 ) due to required G1 start",
        "* Stop G3 ( node1 ) due to required G2 stop"],
    "group-restarts-after-primitive": [
        "* Restart X ( node1 ) due to resource definition change",
        "* Restart G1 ( node1 ) due to required X start",
        "* Restart G2 ( node1 ) due to required G1 start",
        "* Restart G3 ( node1 ) due to required G2 start"],
    "interleaved-instance-stops": [
        "* Stop A:0 ( node1 ) due to node availability",
        "* Stop B:0 ( node1 )"],
    "migration-denied-by-moving-first": [
        "* Move A ( node1 -> node2 )",
        "* Move B ( node1 -> node2 ) due to unrunnable A stop"],
}


def summary(name: str) -> list[str]:
    root = ET.parse(DATA / f"{name}.xml").getroot()
    cfg = parse_cib(root, name)
    tr = schedule(cfg, parse_status(root, cfg))
    return [re.sub(r"\s+", " ", line).strip() for line in tr.summary_text()]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_summary_explains_as_crm_simulate(name: str) -> None:
    assert summary(name) == EXPECTED[name]


def test_every_fixture_has_its_expected_summary() -> None:
    assert sorted(p.stem for p in DATA.glob("*.xml")) == sorted(EXPECTED)
