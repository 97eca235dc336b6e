"""Corral's YAML configuration: the mapping to the model, errors with file/line/path, round trips."""
from __future__ import annotations

import re
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from corral.model.cib import parse_cib
from corral.model.config import Clone, Group, Primitive
from corral.model.errors import ConfigError
from corral.model.load import load
from corral.model.rules import DateExpression, Expression, Rule
from corral.model.scores import INFINITY
from corral.model.validate import ConfigErrors
from corral.model.yaml_config import (
    dump_yaml_config,
    format_path,
    load_yaml_config,
    parse_yaml_config,
)

from .conftest import CIB_DIR, CONFORMANCE_XML, EXAMPLES, comparable, parse

FULL = """\
cluster:
  stonith-enabled: false
  no-quorum-policy: stop
nodes:
  - name: ctl1
    attributes: {rack: r1}
    utilization: {cpu: 8}
  - name: ctl2
    id: "2"
    attributes: {rack: r2}
defaults: {resource: {resource-stickiness: 100}, op: {timeout: 20s}}
resources:
  - id: vip
    agent: ocf:heartbeat:IPaddr2
    params: {ip: 192.0.2.10, cidr_netmask: 24}
    meta: {migration-threshold: 3}
    ops: [{name: monitor, interval: 10s, timeout: 20s, on-fail: restart}]
  - group: api
    members:
      - {id: api-ip, agent: "ocf:heartbeat:IPaddr2", params: {ip: 192.0.2.11}}
      - {id: api-web, agent: systemd:apache2}
  - clone: haproxy-clone
    of: {id: haproxy, agent: systemd:haproxy}
    meta: {clone-max: 3, interleave: true}
  - promotable: galera-clone
    of:
      id: galera
      agent: ocf:heartbeat:galera
      ops:
        - {name: monitor, interval: 20s}
        - {name: monitor, interval: 10s, role: promoted}
    meta: {promoted-max: 3}
  - clone: web-clone
    of: {group: web, members: [{id: web-a, agent: corral:process}]}
constraints:
  - location: {rsc: vip, node: ctl1, score: 100}
  - location: {rsc: vip, rule: {score: -INFINITY, expressions: [{attribute: rack, op: eq, value: r2}]}}
  - colocation: {rsc: vip, with: haproxy-clone, score: INFINITY}
  - colocation: {rsc: api, with: galera-clone, with-role: Promoted, score: 500}
  - order: {first: galera-clone, then: haproxy-clone, first-action: promote, then-action: start,
            kind: Mandatory, symmetrical: true}
  - order: {first: vip, then: api, kind: optional}
"""


# -- the mapping ---------------------------------------------------------------------------------
def test_full_example_maps_to_the_model() -> None:
    cfg = parse(FULL)
    assert cfg.options == {"stonith-enabled": "false", "no-quorum-policy": "stop"}
    assert cfg.nodes["ctl1"].attrs == {"rack": "r1"} and cfg.nodes["ctl1"].utilization == {"cpu": "8"}
    assert cfg.nodes["ctl1"].id == "ctl1" and cfg.nodes["ctl2"].id == "2"
    assert cfg.rsc_defaults == {"resource-stickiness": "100"} and cfg.op_defaults == {"timeout": "20s"}

    vip, api, haproxy, galera, web = cfg.resources
    assert isinstance(vip, Primitive)
    assert (vip.rsc_class, vip.provider, vip.type, vip.agent) == ("ocf", "heartbeat", "IPaddr2",
                                                                 "ocf:heartbeat:IPaddr2")
    assert vip.params == {"ip": "192.0.2.10", "cidr_netmask": "24"}
    assert vip.meta == {"migration-threshold": "3"}
    (mon,) = vip.ops
    assert (mon.name, mon.interval_ms, mon.timeout_ms, mon.on_fail, mon.enabled) == ("monitor", 10_000, 20_000,
                                                                                     "restart", True)
    assert mon.id == "vip-monitor-interval-10s"
    assert isinstance(api, Group) and [m.id for m in api.members] == ["api-ip", "api-web"]
    assert api.members[1].provider is None and api.members[1].type == "apache2"
    assert isinstance(haproxy, Clone) and not haproxy.promotable
    assert haproxy.meta == {"clone-max": "3", "interleave": "true"}
    assert isinstance(galera, Clone) and galera.promotable and galera.meta == {"promoted-max": "3"}
    assert isinstance(galera.child, Primitive) and galera.child.ops[1].role == "Promoted"
    assert galera.child.ops[1].id == "galera-monitor-interval-10s-promoted"
    assert isinstance(web, Clone) and isinstance(web.child, Group)

    node_loc, rule_loc = cfg.locations
    assert (node_loc.rsc, node_loc.node, node_loc.score, node_loc.rules) == ("vip", "ctl1", 100, [])
    assert rule_loc.node is None and rule_loc.score == 0
    (rule,) = rule_loc.rules
    assert rule.score == -INFINITY and rule.id == "location-vip-rule"
    assert rule.expressions == [Expression(attribute="rack", operation="eq", value="r2")]

    c1, c2 = cfg.colocations
    assert (c1.rsc, c1.with_rsc, c1.score, c1.node_attribute) == ("vip", "haproxy-clone", INFINITY, "#uname")
    assert (c2.with_rsc_role, c2.score) == ("Promoted", 500)
    o1, o2 = cfg.orders
    assert (o1.first_action, o1.then_action, o1.kind, o1.symmetrical) == ("promote", "start", "Mandatory", True)
    assert (o2.kind, o2.then_action) == ("Optional", "start")


def test_defaults_and_generated_ids() -> None:
    cfg = parse("""
        resources:
          - {id: a, agent: lsb:a}
          - {id: b, agent: lsb:b}
        constraints:
          - colocation: {rsc: a, with: b}
          - colocation: {rsc: a, with: b}
          - order: {first: a, then: b, first-action: stop}
          - order: {first: a, then: b, kind: serialize}
          - location: {rsc: a, node: n1}
    """)
    assert [c.id for c in cfg.colocations] == ["colocation-a-b-INFINITY", "colocation-a-b-INFINITY-2"]
    assert all(c.score == INFINITY for c in cfg.colocations)
    stop, serial = cfg.orders
    assert (stop.first_action, stop.then_action) == ("stop", "stop")  # then-action follows first-action
    assert (serial.kind, serial.symmetrical) == ("Serialize", False)
    assert (cfg.locations[0].score, cfg.locations[0].id) == (INFINITY, "location-a-n1-INFINITY")


def test_explicit_ids_are_kept_and_never_reused() -> None:
    cfg = parse("""
        resources: [{id: a, agent: lsb:a}, {id: b, agent: lsb:b}]
        constraints:
          - colocation: {rsc: a, with: b}
          - colocation: {id: colocation-a-b-INFINITY, rsc: b, with: a}
    """)
    assert [c.id for c in cfg.colocations] == ["colocation-a-b-INFINITY-2", "colocation-a-b-INFINITY"]


@pytest.mark.parametrize(("written", "ms"), [("10s", 10_000), ("10", 10_000), ("500ms", 500), ("2min", 120_000),
                                             ("1h", 3_600_000), ("PT1M30S", 90_000), ("0", 0), ("1.5", 1500)])
def test_intervals(written: str, ms: int) -> None:
    cfg = parse(f"resources: [{{id: a, agent: lsb:a, ops: [{{name: monitor, interval: {written}}}]}}]")
    assert cfg.resources[0].ops[0].interval_ms == ms  # type: ignore[union-attr]


@pytest.mark.parametrize(("written", "score"), [("INFINITY", INFINITY), ("-INFINITY", -INFINITY),
                                                ("+INFINITY", INFINITY), ("inf", INFINITY), (".inf", INFINITY),
                                                ("-.inf", -INFINITY), ("250", 250), ("-7", -7),
                                                ("5000000", INFINITY)])
def test_scores(written: str, score: int) -> None:
    cfg = parse(f"""
        resources: [{{id: a, agent: lsb:a}}]
        constraints: [{{location: {{rsc: a, node: n1, score: {written}}}}}]
    """)
    assert cfg.locations[0].score == score


def test_scalars_keep_their_text_and_yaml_1_1_surprises_do_not_happen() -> None:
    cfg = parse("""
        nodes:
          - name: n1
            attributes: {a: on, b: no, c: 0755, d: 1.10, e: 2024-01-01, f: 1:30, g: true, h: 0x1F, i: "x"}
    """)
    assert cfg.nodes["n1"].attrs == {"a": "on", "b": "no", "c": "0755", "d": "1.10", "e": "2024-01-01",
                                     "f": "1:30", "g": "true", "h": "0x1F", "i": "x"}


def test_underscore_spellings_are_accepted() -> None:
    cfg = parse("""
        resources:
          - {id: a, agent: lsb:a, ops: [{name: monitor, interval: 5s, on_fail: block}]}
          - {id: b, agent: lsb:b}
        constraints:
          - colocation: {rsc: a, with_rsc: b, with_rsc_role: started, node_attribute: rack}
          - order: {first: a, then: b, first_action: start, require_all: false}
        fencing_topology: []
    """)
    assert cfg.resources[0].ops[0].on_fail == "block"  # type: ignore[union-attr]
    col = cfg.colocations[0]
    assert (col.with_rsc, col.with_rsc_role, col.node_attribute) == ("b", "Started", "rack")
    assert cfg.orders[0].require_all is False


def test_roles_are_normalised() -> None:
    cfg = parse("""
        resources: [{id: a, agent: lsb:a}, {id: b, agent: lsb:b}]
        constraints:
          - colocation: {rsc: a, with: b, rsc-role: master, with-role: SLAVE}
    """)
    assert (cfg.colocations[0].rsc_role, cfg.colocations[0].with_rsc_role) == ("Promoted", "Unpromoted")


def test_rules_nested_and_dated() -> None:
    cfg = parse("""
        resources: [{id: a, agent: lsb:a}]
        constraints:
          - location:
              rsc: a
              role: promoted
              resource-discovery: exclusive
              rules:
                - score-attribute: pingd
                  boolean-op: or
                  expressions:
                    - {attribute: pingd, op: defined}
                    - {date: date_spec, spec: {hours: 9-17, weekdays: 1-5}}
                    - expressions: [{attribute: rack, op: ne, value: r3, type: string}]
                - score: 10
                  expressions: [{date: in_range, start: 2024-01-01, end: "2024-12-31 23:59:59"}]
    """)
    loc = cfg.locations[0]
    assert (loc.role, loc.discovery) == ("Promoted", "exclusive")
    r1, r2 = loc.rules
    assert (r1.score, r1.score_attribute, r1.boolean_op, r1.id) == (None, "pingd", "or", "location-a-rule")
    defined, spec, nested = r1.expressions
    assert isinstance(defined, Expression) and defined.value is None
    assert spec == DateExpression(operation="date_spec", spec={"hours": "9-17", "weekdays": "1-5"})
    assert isinstance(nested, Rule) and nested.expressions[0].value == "r3"  # type: ignore[union-attr]
    assert r2.id == "location-a-rule-1"
    assert r2.expressions == [DateExpression(operation="in_range", start="2024-01-01", end="2024-12-31 23:59:59")]


def test_anchors_merge_keys_and_x_keys() -> None:
    cfg = parse("""
        x-mon: &mon {name: monitor, interval: 10s, timeout: 30s}
        x-meta: &meta {interleave: true}
        resources:
          - clone: a-clone
            of: {id: a, agent: systemd:a, ops: [*mon]}
            meta: *meta
          - id: b
            agent: systemd:b
            ops: [{<<: *mon, interval: 30s}]
    """)
    a, b = cfg.resources
    assert isinstance(a, Clone) and a.meta == {"interleave": "true"}
    assert a.child.ops[0].interval_ms == 10_000  # type: ignore[union-attr]
    assert (b.ops[0].interval_ms, b.ops[0].timeout_ms) == (30_000, 30_000)  # type: ignore[union-attr]


def test_fencing_topology() -> None:
    cfg = parse("""
        nodes: [{name: n1}]
        resources: [{id: f1, agent: stonith:fence_ipmilan}, {id: f2, agent: stonith:fence_sbd}]
        fencing-topology:
          - {target: n1, devices: [f1]}
          - {target: n1, devices: "f1,f2"}
          - {target: n1, index: 7, devices: [f2]}
    """)
    assert cfg.fencing_topology == [("n1", 1, ["f1"]), ("n1", 2, ["f1", "f2"]), ("n1", 7, ["f2"])]


# -- sets expand exactly like the CIB loader's --------------------------------------------------
def _cib(constraints: str) -> str:
    rscs = "".join(f'<primitive id="{r}" class="lsb" type="{r}"/>' for r in "ABCDEF")
    return (f"<cib><configuration><crm_config/><nodes/><resources>{rscs}</resources>"
            f"<constraints>{constraints}</constraints></configuration></cib>")


SETS_YAML = """
resources: [{id: A, agent: lsb:A}, {id: B, agent: lsb:B}, {id: C, agent: lsb:C},
            {id: D, agent: lsb:D}, {id: E, agent: lsb:E}, {id: F, agent: lsb:F}]
constraints:
  - colocation-set:
      id: c1
      score: 500
      sets:
        - {resources: [A, B], sequential: false, role: Promoted}
        - {resources: [C, D]}
        - {resources: [E, F], score: 20}
  - order-set:
      id: o1
      kind: Optional
      sets:
        - {resources: [B, C], sequential: false, require-all: false}
        - {resources: [A]}
        - {resources: [D, E], sequential: false, action: promote}
        - {resources: [F]}
"""
SETS_XML = """
<rsc_colocation id="c1" score="500">
  <resource_set id="s1" sequential="false" role="Promoted"><resource_ref id="A"/><resource_ref id="B"/></resource_set>
  <resource_set id="s2"><resource_ref id="C"/><resource_ref id="D"/></resource_set>
  <resource_set id="s3" score="20"><resource_ref id="E"/><resource_ref id="F"/></resource_set>
</rsc_colocation>
<rsc_order id="o1" kind="Optional">
  <resource_set id="t1" sequential="false" require-all="false"><resource_ref id="B"/><resource_ref id="C"/></resource_set>
  <resource_set id="t2"><resource_ref id="A"/></resource_set>
  <resource_set id="t3" sequential="false" action="promote"><resource_ref id="D"/><resource_ref id="E"/></resource_set>
  <resource_set id="t4"><resource_ref id="F"/></resource_set>
</rsc_order>
"""


def test_sets_expand_like_the_cib_loader() -> None:
    from_yaml = parse(SETS_YAML)
    from_cib = parse_cib(ET.fromstring(_cib(SETS_XML)), "sets.xml")
    assert from_yaml.colocations and from_yaml.orders
    assert from_yaml.colocations == from_cib.colocations
    assert from_yaml.orders == from_cib.orders


# -- errors: file, line, path, problem -----------------------------------------------------------
def errors_of(text: str, source: str = "cfg.yaml") -> list[str]:
    with pytest.raises(ConfigErrors) as info:
        parse_yaml_config(textwrap.dedent(text), source)
    return [f"{w}: {p}" for w, p in info.value.problems]


def test_error_names_file_line_and_path() -> None:
    (msg,) = errors_of("""\
        resources:
          - id: a
            agent: lsb:a
          - id: b
            agent: lsb:b
          - id: c
            agent: lsb:c
            ops:
              - {name: monitor, interval: 10x}
    """)
    assert msg.startswith("cfg.yaml:9: resources[2].ops[0].interval: '10x' is not a time interval")


def test_every_shape_error_is_reported_in_line_order() -> None:
    msgs = errors_of("""\
        cluster: {stonith-enabled: false}
        nodes:
          - name: n1
            atributes: {rack: r1}
        resources:
          - id: a
            agent: ocf:IPaddr2:x:y
            params: {ip: [1, 2]}
          - agent: lsb:b
          - foo: bar
          - group: g
            members: [{clone: c, of: {id: x, agent: lsb:x}}]
          - clone: c2
            of: {promotable: p, of: {id: y, agent: lsb:y}}
        constraints:
          - colocation: {rsc: a, with: g, score: lots}
          - {location: {rsc: a, node: n1}, order: {first: a, then: g}}
          - location: {rsc: a}
          - location: {rsc: a, node: n1, rule: {expressions: []}}
          - colocation: {rsc: a}
          - order: {first: a, then: g, kind: sometimes, symmetrical: maybe}
    """)
    expected = [
        r"cfg.yaml:4: nodes\[0\].atributes: unknown key 'atributes'; did you mean 'attributes'\?",
        r"cfg.yaml:7: resources\[0\].agent: 'ocf:IPaddr2:x:y' is not an agent; write CLASS:PROVIDER:TYPE",
        r"cfg.yaml:8: resources\[0\].params.ip: must be a single value, not a list",
        r"cfg.yaml:9: resources\[1\]: missing required key 'id'",
        r"cfg.yaml:10: resources\[2\]: a resource needs 'id' and 'agent' \(a primitive\), or one of",
        r"cfg.yaml:12: resources\[3\].members\[0\]: a group can only contain primitives, not a clone",
        r"cfg.yaml:14: resources\[4\].of: a clone cannot contain another clone",
        r"cfg.yaml:16: constraints\[0\].colocation.score: 'lots' is not a score",
        r"cfg.yaml:17: constraints\[1\]: a constraint is a mapping with exactly one key: location, colocation",
        r"cfg.yaml:18: constraints\[2\].location: a location needs a 'node' \(with a score\) or a 'rule'",
        r"cfg.yaml:19: constraints\[3\].location: give either 'node' \(with a score\) or a 'rule', not both",
        r"cfg.yaml:20: constraints\[4\].colocation: missing required key 'with'",
        r"cfg.yaml:21: constraints\[5\].order.symmetrical: input should be a valid boolean.*got 'maybe'",
    ]
    assert len(msgs) == len(expected), "\n".join(msgs)
    for pattern, msg in zip(expected, msgs, strict=True):
        assert re.match(pattern, msg), f"{msg!r} does not match {pattern!r}"


def test_unknown_key_lists_the_expected_ones() -> None:
    (msg,) = errors_of("resources: [{id: a, agent: lsb:a, ops: [{name: monitor, intervl: 5}]}]")
    assert "unknown key 'intervl'; did you mean 'interval'?" in msg
    assert "(expected: name, interval, timeout, role, on-fail, enabled, id, params, meta)" in msg


def test_rule_expression_kind_error() -> None:
    (msg,) = errors_of("""\
        resources: [{id: a, agent: lsb:a}]
        constraints:
          - location:
              rsc: a
              rule:
                score: 5
                expressions:
                  - {attribute: rack, op: eq, value: r1}
                  - {nothing: here}
    """)
    assert msg.startswith("cfg.yaml:9: constraints[0].location.rule.expressions[1]: an expression needs")


def test_yaml_syntax_error_has_line_and_column() -> None:
    with pytest.raises(ConfigError) as info:
        parse_yaml_config("resources:\n  - id: a\n    agent: [lsb:a\n", "bad.yaml")
    assert re.match(r"bad\.yaml:\d+:\d+: invalid YAML: ", str(info.value)), str(info.value)


def test_duplicate_keys_are_errors() -> None:
    (msg,) = errors_of("resources:\n  - id: a\n    agent: lsb:a\n    id: b\n")
    assert msg == "cfg.yaml:4: resources[0].id: duplicate key 'id' (first given at line 2)"


def test_duplicate_node_names() -> None:
    (msg,) = errors_of("nodes:\n  - name: n1\n  - name: n1\n")
    assert msg.startswith("cfg.yaml:3: nodes[1].name: duplicate node 'n1', already defined at cfg.yaml:2")


@pytest.mark.parametrize(("text", "problem"), [
    ("", "the configuration is empty"),
    ("- a\n- b\n", "the configuration must be a mapping"),
    ("version: 2\n", "version: input should be 1"),
    ("resources: {id: a}\n", "resources: input should be a valid list"),
])
def test_document_level_errors(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_yaml_config(text, "cfg.yaml")
    assert problem in str(info.value)


def test_format_path() -> None:
    assert format_path(("resources", 2, "ops", 0, "interval")) == "resources[2].ops[0].interval"
    assert format_path(("nodes", 0, "attributes", "a.b")) == "nodes[0].attributes['a.b']"
    assert format_path(()) == "(top level)"


def test_load_yaml_config_validates_and_keeps_warnings(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("cluster: {stonith-enabled: false, stonith-enable: true}\n")
    cfg = load_yaml_config(path)
    assert cfg.warnings == [f"{path}:1: cluster.stonith-enable: unknown cluster option 'stonith-enable'; "
                            "did you mean 'stonith-enabled'?"]
    with pytest.raises(ConfigError, match="cannot read"):
        load_yaml_config(tmp_path / "missing.yaml")


# -- round trips ---------------------------------------------------------------------------------
def test_yaml_round_trip() -> None:
    cfg = parse(FULL)
    again = parse(dump_yaml_config(cfg), "dumped.yaml")
    assert again == cfg


def test_round_trip_keeps_odd_values() -> None:
    cfg = parse("""
        nodes: [{name: n1, type: remote, attributes: {a: "0755", b: "yes", c: "1.10", d: "", e: "true"}}]
        resources:
          - id: r
            agent: ocf:pacemaker:Dummy
            params: {s: "with: colon", t: "#hash", u: "0o17", v: "~"}
            ops: [{name: monitor, interval: 1500ms, enabled: false, id: custom}]
    """)
    assert parse(dump_yaml_config(cfg)) == cfg


CIB_FILES = sorted(CIB_DIR.glob("*.xml")) + sorted(CONFORMANCE_XML.glob("*.xml"))


@pytest.mark.parametrize("path", CIB_FILES, ids=lambda p: p.name)
def test_cib_to_yaml_round_trip(path: Path) -> None:
    """Any CIB Corral imports converts to YAML that reads back as the same configuration."""
    cfg = parse_cib(ET.parse(path).getroot(), path.name)
    text = dump_yaml_config(cfg, header=f"converted from {path.name}")
    assert text.startswith(f"# converted from {path.name}\n")
    assert comparable(parse(text, "converted.yaml")) == comparable(cfg)


# -- the shipped examples ------------------------------------------------------------------------
def test_openstack_example_loads_and_validates_cleanly() -> None:
    # The example uses galera's notifications and resource-discovery=exclusive: both are
    # implemented now, so it loads as it is, without warnings.
    loaded = load(EXAMPLES / "openstack-control-plane.yaml")
    assert loaded.format == "yaml"
    assert loaded.warnings == [], loaded.warnings
    cfg = loaded.config
    assert sorted(cfg.nodes) == ["controller-1", "controller-2", "controller-3"]
    ids = {r.id for r in cfg.resources}
    for expected in ("vip", "haproxy-clone", "galera-clone", "rabbitmq-clone", "memcached-clone",
                     "keystone-clone", "glance-api-clone", "nova-api-clone", "neutron-server-clone",
                     "nova-scheduler-clone", "nova-conductor-clone", "cinder-volume"):
        assert expected in ids
    galera = next(r for r in cfg.resources if r.id == "galera-clone")
    assert isinstance(galera, Clone) and galera.promotable
    assert any(o.first == "galera-clone" and o.first_action == "promote" and o.then == "keystone-clone"
               for o in cfg.orders)
    assert any(c.rsc == "vip" and c.with_rsc == "haproxy-clone" for c in cfg.colocations)
    assert parse(dump_yaml_config(cfg)) == comparable(cfg)


def test_ticket_constraints_match_the_cib() -> None:
    from_yaml = parse("""
        resources: [{id: A, agent: lsb:A}, {id: B, agent: lsb:B}]
        constraints:
          - ticket: {id: t1, rsc: A, ticket: ticketA, loss-policy: fence}
          - ticket: {id: t2, rsc: B, ticket: ticketB, rsc-role: promoted}
    """)
    from_cib = parse_cib(ET.fromstring(_cib(
        '<rsc_ticket id="t1" rsc="A" ticket="ticketA" loss-policy="fence"/>'
        '<rsc_ticket id="t2" rsc="B" ticket="ticketB" rsc-role="Promoted"/>')), "t.xml")
    assert from_yaml.tickets == from_cib.tickets
    assert parse(dump_yaml_config(from_cib)).tickets == from_cib.tickets


def test_an_alias_bomb_is_refused_before_it_is_expanded() -> None:
    """Nine levels of nine aliases: 9**9 values once expanded; refused from the composed
    graph, without building any of it."""
    import tracemalloc

    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match="aliases expand to more than"):
            parse_yaml_config("\n".join(lines), "bomb.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # bytes: nothing was expanded
