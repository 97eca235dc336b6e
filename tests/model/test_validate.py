"""corral.model.validate: checks beyond shape, shared by the YAML and CIB loaders."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from corral.model.cib import parse_cib
from corral.model.config import (
    Clone,
    Colocation,
    Configuration,
    Group,
    Location,
    Node,
    Operation,
    Order,
    Primitive,
)
from corral.model.errors import ConfigError
from corral.model.rules import DateExpression, Expression, Rule
from corral.model.scores import INFINITY
from corral.model.validate import ConfigErrors, DefaultLocator, validate

from .conftest import check

BASE = """\
cluster: {stonith-enabled: false}
nodes: [{name: n1}, {name: n2}]
resources:
  - {id: a, agent: ocf:heartbeat:Dummy}
  - {id: b, agent: systemd:b}
  - promotable: db-clone
    of: {id: db, agent: ocf:heartbeat:galera}
"""


def problems(text: str, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigErrors) as info:
        check(text, **kwargs)
    return [f"{w}: {p}" for w, p in info.value.problems]


def one_problem(text: str) -> str:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def test_a_good_configuration_passes() -> None:
    _, warnings = check(BASE + """
constraints:
  - location: {rsc: a, node: n1, score: 50}
  - colocation: {rsc: a, with: db-clone, with-role: Promoted}
  - order: {first: db-clone, first-action: promote, then: a}
""")
    assert warnings == []


# -- resources -----------------------------------------------------------------------------------
def test_duplicate_ids_across_all_resources() -> None:
    found = problems(BASE + """\
  - group: g
    members: [{id: a, agent: lsb:x}]
  - clone: b
    of: {id: db, agent: lsb:y}
""")
    assert found == [
        "cfg.yaml:9: resources[3].members[0].id: duplicate id 'a', already used at cfg.yaml:4: resources[0].id",
        "cfg.yaml:10: resources[4].clone: duplicate id 'b', already used at cfg.yaml:5: resources[1].id",
        "cfg.yaml:11: resources[4].of.id: duplicate id 'db', already used at cfg.yaml:7: resources[2].of.id",
    ]


@pytest.mark.parametrize(("agent", "problem"), [
    ("ocf:Dummy", "ocf agents need a provider: ocf:PROVIDER:Dummy"),
    ("systemd:heartbeat:x", "only ocf agents have a provider; write systemd:x"),
    ("foo:bar", "unknown agent class 'foo' (known: ocf, lsb, service, systemd, stonith, corral"),
    ("ocf:heart beat:x", "'heart beat' is not an agent provider"),
])
def test_malformed_agents(agent: str, problem: str) -> None:
    msg = one_problem(f"cluster: {{stonith-enabled: false}}\nresources: [{{id: r, agent: '{agent}'}}]\n")
    assert msg.startswith("cfg.yaml:2: resources[0].agent: ")
    assert problem in msg


def test_stonith_and_lsb_types_may_contain_slashes() -> None:
    check("resources:\n  - {id: s, agent: stonith:external/ipmi}\n  - {id: l, agent: 'lsb:/etc/init.d/x'}\n")


def test_operation_checks() -> None:
    found = problems("""\
cluster: {stonith-enabled: false}
resources:
  - id: r
    agent: ocf:heartbeat:Dummy
    ops:
      - {name: monitor, interval: -5}
      - {name: monitor, interval: 10s, timeout: 0}
      - {name: monitor, interval: 20s, on-fail: explode}
      - {name: monitor, interval: 30s, role: leader}
      - {name: monitor, interval: 10s}
""")
    assert found == [
        "cfg.yaml:6: resources[0].ops[0].interval: interval must not be negative (got -5000ms)",
        "cfg.yaml:7: resources[0].ops[1].timeout: timeout must be positive (got 0ms)",
        "cfg.yaml:8: resources[0].ops[2].on-fail: unknown on-fail value 'explode' (expected one of: ignore, "
        "nothing, block, demote, stop, restart, restart-container, standby, fence)",
        "cfg.yaml:9: resources[0].ops[3].role: 'leader' is not a role (Started, Stopped, Promoted, Unpromoted)",
        "cfg.yaml:10: resources[0].ops[4]: duplicate monitor operation with interval 10000ms "
        "(also at cfg.yaml:7: resources[0].ops[1])",
    ]


def test_recurring_start_is_a_warning() -> None:
    _, warnings = check("cluster: {stonith-enabled: false}\n"
                        "resources: [{id: r, agent: lsb:r, ops: [{name: start, interval: 10s}]}]\n")
    assert warnings == ["cfg.yaml:2: resources[0].ops[0].interval: a start operation does not recur; "
                        "its interval is ignored"]


def test_empty_group_and_promotable_group() -> None:
    found = problems("""\
cluster: {stonith-enabled: false}
resources:
  - {group: g, members: []}
  - promotable: p
    of: {group: pg, members: [{id: m, agent: lsb:m}]}
""")
    assert found == [
        "cfg.yaml:3: resources[0].members: a group needs at least one member",
        "cfg.yaml:5: resources[1].of: a promotable clone of a group is not supported; make the promotable "
        "resource a primitive and colocate the rest with it",
    ]


def test_meta_attribute_values() -> None:
    found = problems("""\
cluster: {stonith-enabled: false}
resources:
  - id: r
    agent: lsb:r
    meta: {target-role: bogus, resource-stickiness: lots, migration-threshold: INFINITY, is-managed: sure}
  - clone: c
    of: {id: x, agent: lsb:x}
    meta: {clone-max: -1, interleave: true, failure-timeout: soon}
defaults: {resource: {priority: high}, op: {timeout: forever}}
""")
    assert found == [
        "cfg.yaml:5: resources[0].meta.target-role: 'bogus' is not a role (Started, Stopped, Promoted, Unpromoted)",
        "cfg.yaml:5: resources[0].meta.resource-stickiness: 'lots' is not a score (an integer, INFINITY or "
        "-INFINITY)",
        "cfg.yaml:5: resources[0].meta.is-managed: 'sure' is not a boolean (true or false)",
        "cfg.yaml:8: resources[1].meta.clone-max: '-1' is not a non-negative integer",
        "cfg.yaml:8: resources[1].meta.failure-timeout: 'soon' is not a time interval (e.g. 30s, 5min, PT1M)",
        "cfg.yaml:9: defaults.resource.priority: 'high' is not a score (an integer, INFINITY or -INFINITY)",
        "cfg.yaml:9: defaults.op.timeout: 'forever' is not a time interval (e.g. 30s, 5min, PT1M)",
    ]


# -- cluster options -----------------------------------------------------------------------------
def test_cluster_option_values_and_unknown_names() -> None:
    found = problems("""\
cluster:
  stonith-enabled: maybe
  no-quorum-policy: panic
  placement-strategy: balanced
  cluster-recheck-interval: 5min
""")
    assert found == [
        "cfg.yaml:2: cluster.stonith-enabled: 'maybe' is not a boolean (true or false)",
        "cfg.yaml:3: cluster.no-quorum-policy: 'panic' is not one of: stop, freeze, ignore, demote, suicide",
    ]
    _, warnings = check("cluster: {stonith-enabled: false, symetric-cluster: true, my-own-option: 1}\n")
    assert warnings == [
        "cfg.yaml:1: cluster.symetric-cluster: unknown cluster option 'symetric-cluster'; "
        "did you mean 'symmetric-cluster'?",
        "cfg.yaml:1: cluster.my-own-option: unknown cluster option 'my-own-option'",
    ]


def test_fencing_enabled_without_a_device_warns() -> None:
    _, warnings = check("resources: [{id: a, agent: lsb:a}]\n")
    assert len(warnings) == 1 and "no fence device" in warnings[0]
    _, warnings = check("resources: [{id: a, agent: lsb:a}, {id: f, agent: stonith:fence_ipmilan}]\n")
    assert warnings == []


# -- constraints ---------------------------------------------------------------------------------
def test_unknown_resources_in_constraints() -> None:
    found = problems(BASE + """\
constraints:
  - location: {rsc: nope, node: n1}
  - colocation: {rsc: a, with: ghost}
  - order: {first: phantom, then: a}
  - colocation-set: {sets: [{resources: [a, spook]}]}
""")
    assert found == [
        "cfg.yaml:9: constraints[0].location.rsc: unknown resource 'nope'",
        "cfg.yaml:10: constraints[1].colocation.with: unknown resource 'ghost'",
        "cfg.yaml:11: constraints[2].order.first: unknown resource 'phantom'",
        "cfg.yaml:12: constraints[3].colocation-set.sets[0].resources[1]: unknown resource 'spook'",
    ]


def test_group_members_and_clone_children_can_be_referenced() -> None:
    check(BASE + """\
  - group: g
    members: [{id: m1, agent: lsb:m1}]
constraints:
  - colocation: {rsc: m1, with: db}
""")


def test_unknown_location_node_is_a_warning() -> None:
    _, warnings = check(BASE + "constraints: [{location: {rsc: a, node: n9, score: 10}}]\n")
    assert warnings == ["cfg.yaml:8: constraints[0].location.node: node 'n9' is not defined (yet); "
                        "the constraint waits for it"]


def test_roles_actions_kinds() -> None:
    found = problems(BASE + """\
constraints:
  - colocation: {rsc: a, with: db-clone, with-role: leader, rsc-role: boss}
  - location: {rsc: a, node: n1, role: chief}
  - order: {first: a, then: b, first-action: migrate, then-action: reload, kind: sometimes}
  - order-set: {sets: [{resources: [a]}, {resources: [b], action: boom}]}
""")
    assert found == [
        "cfg.yaml:9: constraints[0].colocation.rsc-role: 'boss' is not a role (Started, Stopped, Promoted, "
        "Unpromoted)",
        "cfg.yaml:9: constraints[0].colocation.with-role: 'leader' is not a role (Started, Stopped, Promoted, "
        "Unpromoted)",
        "cfg.yaml:10: constraints[1].location.role: 'chief' is not a role (Started, Stopped, Promoted, Unpromoted)",
        "cfg.yaml:11: constraints[2].order.first-action: unknown action 'migrate' (expected one of: start, stop, "
        "promote, demote)",
        "cfg.yaml:11: constraints[2].order.then-action: unknown action 'reload' (expected one of: start, stop, "
        "promote, demote)",
        "cfg.yaml:11: constraints[2].order.kind: unknown kind 'Sometimes' (expected one of: Mandatory, "
        "Optional, Serialize)",
        "cfg.yaml:12: constraints[3].order-set.sets[1].action: unknown action 'boom' (expected one of: start, "
        "stop, promote, demote)",
    ]


def test_rule_checks() -> None:
    found = problems(BASE + """\
constraints:
  - location:
      rsc: a
      rule:
        score: 10
        score-attribute: pingd
        boolean-op: xor
        expressions:
          - {attribute: rack, op: like, value: r1}
          - {attribute: rack, op: eq}
          - {attribute: rack, op: lt, value: "3", type: float}
          - {date: sometime}
          - {date: gt}
          - {date: date_spec, spec: {hours: 9-17, fortnights: 2, minutes: "x"}}
""")
    where = "cfg.yaml:{}: constraints[0].location.rule"
    assert found == [
        f"{where.format(13)}.score-attribute: give a rule a score or a score-attribute, not both",
        f"{where.format(14)}.boolean-op: 'xor' is not 'and' or 'or'",
        f"{where.format(16)}.expressions[0].op: unknown operation 'like' (expected one of: lt, gt, lte, gte, eq, "
        "ne, defined, not_defined)",
        f"{where.format(17)}.expressions[1].value: operation 'eq' needs a value",
        f"{where.format(18)}.expressions[2].type: unknown type 'float' (expected one of: string, integer, "
        "number, version)",
        f"{where.format(19)}.expressions[3].date: unknown date operation 'sometime' (expected one of: in_range, "
        "gt, lt, date_spec)",
        f"{where.format(20)}.expressions[4].start: a gt date expression needs start",
        f"{where.format(21)}.expressions[5].spec.fortnights: unknown date_spec field 'fortnights'",
        f"{where.format(21)}.expressions[5].spec.minutes: 'x' is not a number or a range like 9-17",
    ]


def test_self_references_warn() -> None:
    _, warnings = check(BASE + """\
constraints:
  - colocation: {rsc: a, with: a}
  - order: {first: b, then: b}
""")
    assert [w.split(": ", 2)[2] for w in warnings] == [
        "'a' is colocated with itself; the constraint has no effect",
        "'b' is ordered after itself; the constraint has no effect",
    ]


def test_fencing_topology_checks() -> None:
    found = problems(BASE + """\
  - {id: f, agent: stonith:fence_ipmilan}
fencing-topology:
  - {target: n1, devices: [f, ghost, a]}
""")
    assert found == [
        "cfg.yaml:10: fencing-topology[0].devices: unknown fence device 'ghost'",
        "cfg.yaml:10: fencing-topology[0].devices: 'a' is not a fence device (stonith:...)",
    ]


# -- all at once, one per line -------------------------------------------------------------------
def test_all_errors_in_one_config_error_one_per_line() -> None:
    text = BASE + """\
  - {id: a, agent: lsb:dup}
constraints:
  - order: {first: a, then: ghost}
"""
    with pytest.raises(ConfigError) as info:
        check(text)
    lines = str(info.value).splitlines()
    assert lines[0] == "cfg.yaml: 2 problems:"
    assert lines[1].startswith("cfg.yaml:8: resources[3].id: duplicate id 'a'")
    assert lines[2] == "cfg.yaml:10: constraints[0].order.then: unknown resource 'ghost'"
    assert isinstance(info.value, ConfigErrors) and len(info.value.problems) == 2


def test_single_error_keeps_where_and_problem() -> None:
    with pytest.raises(ConfigErrors) as info:
        check(BASE + "constraints: [{order: {first: a, then: ghost}}]\n")
    assert info.value.where == "cfg.yaml:8: constraints[0].order.then"
    assert info.value.problem == "unknown resource 'ghost'"


# -- programmatic configurations and the CIB locator ---------------------------------------------
def test_programmatic_config_clone_in_clone_and_bad_score() -> None:
    inner = Clone(id="inner", child=Primitive(id="p", rsc_class="lsb", type="p"))
    cfg = Configuration(
        nodes={"n1": Node(name="n1")},
        resources=[Clone(id="outer", child=inner),  # type: ignore[arg-type]
                   Group(id="g", members=[Primitive(id="q", rsc_class="lsb", type="q",
                                                    ops=[Operation(name="monitor", interval_ms=-1)])])],
        locations=[Location(id="l1", rsc="g", node="n1", score=2 * INFINITY)],
        colocations=[Colocation(id="c1", rsc="g", with_rsc="outer", score=INFINITY, rsc_role="Boss")],
        orders=[Order(id="o1", first="g", then="outer", first_action="migrate_to")],
        options={"stonith-enabled": "false"},
    )
    with pytest.raises(ConfigErrors) as info:
        validate(cfg, "api")
    assert info.value.problems == [
        ("api: <clone id='outer'> of", "a clone cannot contain another clone"),
        ("api: <group id='g'> <primitive id='q'> <op name='monitor' interval='-1ms'> interval",
         "interval must not be negative (got -1ms)"),
        ("api: <rsc_location id='l1'> score", "2000000 is not a score (an integer between -INFINITY and INFINITY)"),
        ("api: <rsc_colocation id='c1'> rsc-role", "'Boss' is not a role (Started, Stopped, Promoted, Unpromoted)"),
        ("api: <rsc_order id='o1'> first-action",
         "unknown action 'migrate_to' (expected one of: start, stop, promote, demote)"),
    ]


def test_rule_objects_in_programmatic_config() -> None:
    rule = Rule(id="r1", expressions=[Expression(attribute="x", operation="nope"),
                                      DateExpression(operation="lt")])
    cfg = Configuration(resources=[Primitive(id="p", rsc_class="lsb", type="p")],
                        locations=[Location(id="l", rsc="p", rules=[rule])], options={"stonith-enabled": "no"})
    with pytest.raises(ConfigErrors) as info:
        validate(cfg, "x")
    assert [w for w, _ in info.value.problems] == [
        "x: <rsc_location id='l'> <rule id='r1'> <expression attribute='x'> operation",
        "x: <rsc_location id='l'> <rule id='r1'> <date_expression> end",
    ]


CIB = """<cib><configuration><crm_config><cluster_property_set id="o">
<nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
<nodes><node id="1" uname="n1"/></nodes>
<resources>
  <primitive id="a" class="ocf" provider="heartbeat" type="Dummy"/>
  <master id="ms"><group id="g"><primitive id="m" class="lsb" type="m"/></group></master>
</resources>
<constraints>
  <rsc_colocation id="c1" rsc="a" with-rsc="gone" score="INFINITY"/>
  <rsc_order id="o1" first="a" then="ms" first-action="explode"/>
</constraints></configuration></cib>"""


def test_cib_places_and_lenient_mode() -> None:
    cfg = parse_cib(ET.fromstring(CIB), "cib.xml")
    with pytest.raises(ConfigErrors) as info:
        validate(cfg, "cib.xml")
    assert [f"{w}: {p}" for w, p in info.value.problems] == [
        "cib.xml: <clone id='ms'> of: a promotable clone of a group is not supported; make the promotable "
        "resource a primitive and colocate the rest with it",
        "cib.xml: <rsc_colocation id='c1'> with-rsc: unknown resource 'gone'",
        "cib.xml: <rsc_order id='o1'> first-action: unknown action 'explode' (expected one of: start, stop, "
        "promote, demote)",
    ]
    # Lenient (CIB import): what Pacemaker merely ignores becomes a warning; schema errors stay errors.
    with pytest.raises(ConfigErrors) as info:
        validate(cfg, "cib.xml", lenient=True)
    assert len(info.value.problems) == 1 and "explode" in info.value.problems[0][1]
    cfg.orders[0].first_action = cfg.orders[0].then_action = "start"
    warnings = validate(cfg, "cib.xml", lenient=True)
    assert [w.split(": ")[-1] for w in warnings] == [
        "a promotable clone of a group is not supported; make the promotable resource a primitive and "
        "colocate the rest with it (ignored, as Pacemaker does)",
        "unknown resource 'gone' (ignored, as Pacemaker does)",
    ]


def test_default_locator_uses_lines() -> None:
    cfg = parse_cib(ET.fromstring(CIB), "cib.xml")
    loc = DefaultLocator(cfg, "cib.xml", {"c1": 9, "a": 4})
    assert loc.where(cfg.colocations[0], "with") == "cib.xml:9: <rsc_colocation id='c1'> with-rsc"
    assert loc.where(cfg.resources[0]) == "cib.xml:4: <primitive id='a'>"
    assert loc.where("options", "stonith-enabled") == "cib.xml: <crm_config> stonith-enabled"


def test_references_to_unsupported_things_warn() -> None:
    cfg = parse_cib(ET.fromstring(CIB.replace('with-rsc="gone"', 'with-rsc="b1"')), "cib.xml")
    cfg.unsupported.append("bundle b1")
    cfg.orders.clear()
    warnings = validate(cfg, "cib.xml", lenient=True, other_ids={"t1": "template"}, unsupported="warn")
    assert any("refers to bundle 'b1', which Corral does not support; ignored" in w for w in warnings)
    assert "cib.xml: <bundle id='b1'>: <bundle> is not implemented by Corral's scheduler" in "\n".join(warnings)
    with pytest.raises(ConfigError, match=r"cib.xml: <bundle id='b1'>: <bundle> is not implemented"):
        validate(cfg, "cib.xml", lenient=True, other_ids={"t1": "template"})


@pytest.mark.parametrize("line", ["cfg.yaml:3: x", "a.b:12: y"])
def test_problem_lines_sort_by_line(line: str) -> None:
    from corral.model.validate import _line_of

    assert _line_of(line) == int(re.findall(r":(\d+):", line)[0])


def test_ticket_checks() -> None:
    found = problems(BASE + """\
constraints:
  - ticket: {rsc: ghost, ticket: t1}
  - ticket: {rsc: a, ticket: t2, loss-policy: panic, rsc-role: boss}
""")
    assert found == [
        "cfg.yaml:9: constraints[0].ticket.rsc: unknown resource 'ghost'",
        "cfg.yaml:10: constraints[1].ticket.rsc-role: 'boss' is not a role (Started, Stopped, Promoted, Unpromoted)",
        "cfg.yaml:10: constraints[1].ticket.loss-policy: unknown loss-policy 'panic' (expected one of: stop, "
        "demote, fence, freeze)",
    ]
