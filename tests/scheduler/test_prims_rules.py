"""Rules (node attribute sets, value-source), stop-orphan-resources, templates in constraints and
unimplemented monitors: the summaries of the real crm_simulate 2.1.5 on the CIBs in
tests/scheduler/data/prims/, recorded here.

A node's <instance_attributes> block with a <rule> (here date expressions, judged at the
CIB's execution-date) applies only while the rule holds: node1's expired "gold" block
yields to its plain "bronze" one, node2's current block sets "gold", node3's future block
leaves "tier" undefined."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from corral.model.cib import parse_cib
from corral.model.cib_status import parse_status
from corral.scheduler import schedule

DATA = Path(__file__).parent / "data" / "prims"


def test_node_attribute_sets_apply_while_their_date_rule_holds() -> None:
    root = ET.parse(DATA / "node-attr-sets-by-date.xml").getroot()
    cfg = parse_cib(root, "node-attr-sets-by-date.xml")
    assert cfg.nodes["node1"].attrs["tier"] == "bronze"
    assert cfg.nodes["node2"].attrs["tier"] == "gold"
    assert "tier" not in cfg.nodes["node3"].attrs
    tr = schedule(cfg, parse_status(root, cfg))
    assert [re.sub(r"\s+", " ", line).strip() for line in tr.summary_text()] == [
        "* Start rsc1 ( node2 )", "* Start rsc2 ( node1 )"]


def _summary(name: str) -> list[str]:
    root = ET.parse(DATA / name).getroot()
    cfg = parse_cib(root, name)
    tr = schedule(cfg, parse_status(root, cfg))
    return [re.sub(r"\s+", " ", line).strip() for line in tr.summary_text()]


def test_stop_orphan_resources_false_leaves_a_deleted_resource_running() -> None:
    # "gone" runs on node1 but is no longer configured (real crm_simulate 2.1.5 summaries).
    assert _summary("orphan-kept.xml") == ["* Start rsc1 ( node1 )"]
    assert _summary("orphan-stopped.xml") == [
        "* Start rsc1 ( node1 )", "* Stop gone ( node1 ) due to node availability"]


def test_a_template_in_a_constraint_stands_for_every_primitive_built_from_it() -> None:
    # location and colocation on template "web" reach web1 and web2; the ticket on "db"
    # (not granted) keeps db1 stopped (real crm_simulate 2.1.5 summary).
    assert _summary("template-in-constraints.xml") == [
        "* Start web1 ( node3 )", "* Start plain ( node3 )", "* Start web2 ( node3 )"]


def test_value_source_param_and_meta_and_an_inverted_rsc_pattern() -> None:
    # big: node size > its param size (25) only on node3; zoned: node zone == its meta
    # zone "b"; per-node: its size param is 30 on node3 (a ruled block, higher score)
    # and 10 elsewhere, so it equals the node's on node1 and node3 (both INFINITY; node1
    # first); "!^(per|big|zoned)" reaches only "other" (real crm_simulate 2.1.5 summary).
    assert _summary("value-source-and-inverted-pattern.xml") == [
        "* Start big ( node3 )", "* Start zoned ( node2 )", "* Start per-node ( node1 )",
        "* Start other ( node3 )"]


def test_unimplemented_from_a_recurring_monitor_is_a_soft_failure() -> None:
    # rc 3 (OCF_ERR_UNIMPLEMENTED) from the 10 s monitor: recover in place; from a
    # probe it bans node1 (real crm_simulate 2.1.5 summaries).
    assert _summary("unimplemented-recurring-monitor.xml") == ["* Recover r ( node1 )"]
    assert _summary("unimplemented-probe.xml") == ["* Recover r ( node1 -> node2 )"]


BALANCED = ["* Start rsc1 ( node1 )", "* Start rsc2 ( node2 )", "* Start rsc3 ( node1 )",
            "* Start rsc4 ( node2 )", "* Start rsc5 ( node1 )", "* Start rsc6 ( node2 )"]


def test_a_colocation_naming_tags_or_templates_on_both_sides_has_no_effect() -> None:
    # INFINITY colocations tag-with-tag and tag-with-template: Pacemaker 2.1.5 places
    # as if there were none (real crm_simulate summaries).
    assert _summary("colocation-tag-with-tag.xml") == BALANCED
    assert _summary("colocation-tag-with-template.xml") == BALANCED


def test_a_template_on_one_side_of_a_colocation_colocates_each_primitive() -> None:
    assert _summary("colocation-template-with-primitive.xml") == [
        "* Start rsc1 ( node1 )", "* Start rsc2 ( node1 )", "* Start rsc3 ( node1 )",
        "* Start rsc4 ( node1 )", "* Start rsc5 ( node2 )", "* Start rsc6 ( node2 )"]
