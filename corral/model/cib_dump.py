"""Configuration -> a Pacemaker CIB (`corral config show --format xml`).

Writes the `configuration` section as Pacemaker 2.1 reads it (crm_config,
nodes, resources, constraints, rsc_defaults, op_defaults, fencing-topology)
and an empty `status`; `corral.model.cib.parse_cib` reads it back equal.
Every element gets an id, derived from its parent's as `cibadmin` does.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

from corral.model.config import Clone, Configuration, Group, Operation, Primitive
from corral.model.rules import DateExpression, Expression, Rule
from corral.model.scores import format_score


def _nvset(parent: ET.Element, tag: str, set_id: str, values: dict[str, str]) -> None:
    if not values:
        return
    s = ET.SubElement(parent, tag, id=set_id)
    for k, v in values.items():
        ET.SubElement(s, "nvpair", id=f"{set_id}-{k}", name=k, value=str(v))


def _ms(ms: int) -> str:
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _op(parent: ET.Element, p: Primitive, op: Operation) -> None:
    attrs = {"id": op.id or f"{p.id}-{op.name}-interval-{_ms(op.interval_ms)}", "name": op.name,
             "interval": _ms(op.interval_ms)}
    if op.timeout_ms is not None:
        attrs["timeout"] = _ms(op.timeout_ms)
    if op.role:
        attrs["role"] = op.role
    if op.on_fail:
        attrs["on-fail"] = op.on_fail
    if not op.enabled:
        attrs["enabled"] = "false"
    ET.SubElement(parent, "op", attrs)


def _primitive(parent: ET.Element, p: Primitive) -> None:
    attrs = {"id": p.id, "class": p.rsc_class, "type": p.type}
    if p.provider:
        attrs["provider"] = p.provider
    el = ET.SubElement(parent, "primitive", attrs)
    _nvset(el, "instance_attributes", f"{p.id}-instance_attributes", p.params)
    _nvset(el, "meta_attributes", f"{p.id}-meta_attributes", p.meta)
    _nvset(el, "utilization", f"{p.id}-utilization", p.utilization)
    if p.ops:
        ops = ET.SubElement(el, "operations")
        for op in p.ops:
            _op(ops, p, op)


def _resource(parent: ET.Element, r: Primitive | Group | Clone) -> None:
    if isinstance(r, Primitive):
        _primitive(parent, r)
        return
    if isinstance(r, Group):
        el = ET.SubElement(parent, "group", id=r.id)
        _nvset(el, "meta_attributes", f"{r.id}-meta_attributes", r.meta)
        for m in r.members:
            _primitive(el, m)
        return
    el = ET.SubElement(parent, "clone", id=r.id)
    meta = dict(r.meta)
    if r.promotable:
        meta["promotable"] = "true"
    _nvset(el, "meta_attributes", f"{r.id}-meta_attributes", meta)
    _resource(el, r.child)


def _rule(parent: ET.Element, rule: Rule, rule_id: str) -> None:
    attrs = {"id": rule.id or rule_id}
    if rule.score is not None:
        attrs["score"] = format_score(rule.score)
    if rule.score_attribute:
        attrs["score-attribute"] = rule.score_attribute
    if rule.boolean_op != "and":
        attrs["boolean-op"] = rule.boolean_op
    if rule.role:
        attrs["role"] = rule.role
    el = ET.SubElement(parent, "rule", attrs)
    for k, e in enumerate(rule.expressions):
        eid = f"{attrs['id']}-expr-{k}"
        if isinstance(e, Expression):
            ea = {"id": eid, "attribute": e.attribute, "operation": e.operation}
            if e.value is not None:
                ea["value"] = e.value
            if e.value_type != "string":
                ea["type"] = e.value_type
            if e.value_source != "literal":
                ea["value-source"] = e.value_source
            ET.SubElement(el, "expression", ea)
        elif isinstance(e, DateExpression):
            da = {"id": eid, "operation": e.operation}
            if e.start:
                da["start"] = e.start
            if e.end:
                da["end"] = e.end
            d = ET.SubElement(el, "date_expression", da)
            if e.spec:
                ET.SubElement(d, "date_spec", {"id": f"{eid}-spec",
                                               **{k: str(v) for k, v in e.spec.items() if k != "id"}})
        else:
            _rule(el, e, eid)


def dump_cib(cfg: Configuration, epoch: int = 0) -> str:
    cib = ET.Element("cib", {"validate-with": "pacemaker-3.7", "epoch": str(epoch), "num_updates": "0",
                             "admin_epoch": "0", "crm_feature_set": "3.16.2"})
    conf = ET.SubElement(cib, "configuration")
    crm = ET.SubElement(conf, "crm_config")
    _nvset(crm, "cluster_property_set", "cib-bootstrap-options", cfg.options)
    nodes = ET.SubElement(conf, "nodes")
    for n in cfg.nodes.values():
        attrs = {"id": n.id or n.name, "uname": n.name}
        if n.kind not in ("member", "normal"):
            attrs["type"] = n.kind
        el = ET.SubElement(nodes, "node", attrs)
        _nvset(el, "instance_attributes", f"nodes-{attrs['id']}", n.attrs)
        _nvset(el, "utilization", f"nodes-{attrs['id']}-utilization", n.utilization)
    resources = ET.SubElement(conf, "resources")
    for r in cfg.resources:
        _resource(resources, r)
    cons = ET.SubElement(conf, "constraints")
    for loc in cfg.locations:
        attrs = {"id": loc.id}
        if loc.rsc is not None:
            attrs["rsc"] = loc.rsc
        elif loc.rsc_pattern is not None:
            attrs["rsc-pattern"] = loc.rsc_pattern
        if loc.role:
            attrs["role"] = loc.role
        if loc.discovery != "always":
            attrs["resource-discovery"] = loc.discovery
        if not loc.rules:
            attrs["node"] = loc.node or ""
            attrs["score"] = format_score(loc.score)
        el = ET.SubElement(cons, "rsc_location", attrs)
        for j, rule in enumerate(loc.rules):
            _rule(el, rule, f"{loc.id}-rule" + (f"-{j}" if j else ""))
    for c in cfg.colocations:
        attrs = {"id": c.id, "rsc": c.rsc, "with-rsc": c.with_rsc, "score": format_score(c.score)}
        if c.rsc_role:
            attrs["rsc-role"] = c.rsc_role
        if c.with_rsc_role:
            attrs["with-rsc-role"] = c.with_rsc_role
        if not c.influence:
            attrs["influence"] = "false"
        if c.node_attribute != "#uname":
            attrs["node-attribute"] = c.node_attribute
        ET.SubElement(cons, "rsc_colocation", attrs)
    for o in cfg.orders:
        attrs = {"id": o.id, "first": o.first, "then": o.then, "first-action": o.first_action,
                 "then-action": o.then_action, "kind": o.kind}
        if o.symmetrical != (o.kind != "Serialize"):
            attrs["symmetrical"] = "true" if o.symmetrical else "false"
        if not o.require_all:
            attrs["require-all"] = "false"
        ET.SubElement(cons, "rsc_order", attrs)
    for t in cfg.tickets:
        attrs = {"id": t.id, "rsc": t.rsc, "ticket": t.ticket, "loss-policy": t.loss_policy}
        if t.rsc_role:
            attrs["rsc-role"] = t.rsc_role
        ET.SubElement(cons, "rsc_ticket", attrs)
    rd = ET.SubElement(conf, "rsc_defaults")
    _nvset(rd, "meta_attributes", "rsc-options", cfg.rsc_defaults)
    od = ET.SubElement(conf, "op_defaults")
    _nvset(od, "meta_attributes", "op-options", cfg.op_defaults)
    if cfg.fencing_topology:
        ft = ET.SubElement(conf, "fencing-topology")
        for target, index, devices in cfg.fencing_topology:
            if target:
                ET.SubElement(ft, "fencing-level", {"id": f"fl-{target}-{index}", "target": target,
                                                     "index": str(index), "devices": ",".join(devices)})
    ET.SubElement(cib, "status")
    ET.indent(cib)
    return ET.tostring(cib, encoding="unicode")
