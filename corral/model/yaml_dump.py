"""Configuration -> canonical Corral YAML (CIB import, `corral config show`, the store).

`dump_yaml_config` writes what `corral.model.yaml_config.parse_yaml_config` reads
back equal: defaults are left out, strings the loader would read as something else
are quoted, and what has no YAML form is listed in leading comments.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

from corral.model.config import Clone, Configuration, Group, Primitive
from corral.model.rules import DateExpression, Expression, Rule
from corral.model.scores import INFINITY, format_score
from corral.model.yaml_schema import _ms_text, op_id


class _Dumper(yaml.SafeDumper):
    """Quotes every string that our loader would read as something else."""


_Dumper.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^0o[0-7]+$"), list("0"))


def _plain(value: str) -> Any:
    """'true' -> True, '3' -> 3 when that survives a round trip; the rest stays text."""
    if value in ("true", "false"):
        return value == "true"
    if re.fullmatch(r"-?[1-9][0-9]{0,17}|0", value):
        return int(value)
    return value


def _attrs(d: dict[str, str]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in d.items()}


def _score_out(score: int) -> int | str:
    return format_score(score) if abs(score) >= INFINITY else score


def _put(out: dict[str, Any], key: str, value: Any, default: Any = None) -> None:
    if value != default and value not in ({}, []):
        out[key] = value


def _primitive_dict(p: Primitive) -> dict[str, Any]:
    out: dict[str, Any] = {"id": p.id, "agent": p.agent}
    _put(out, "params", _attrs(p.params))
    _put(out, "meta", _attrs(p.meta))
    ops = []
    for o in p.ops:
        od: dict[str, Any] = {"name": o.name}
        _put(od, "interval", _ms_text(o.interval_ms) if o.interval_ms else None)
        _put(od, "timeout", _ms_text(o.timeout_ms) if o.timeout_ms is not None else None)
        _put(od, "role", o.role)
        _put(od, "on-fail", o.on_fail)
        _put(od, "enabled", o.enabled, True)
        _put(od, "id", o.id, op_id(p.id, o.name, o.interval_ms, o.role))
        _put(od, "params", _attrs(o.params))
        _put(od, "meta", _attrs(o.meta))
        ops.append(od)
    _put(out, "ops", ops)
    _put(out, "utilization", _attrs(p.utilization))
    return out


def _resource_dict(r: Primitive | Group | Clone) -> dict[str, Any]:
    if isinstance(r, Primitive):
        return _primitive_dict(r)
    if isinstance(r, Group):
        out: dict[str, Any] = {"group": r.id, "members": [_primitive_dict(m) for m in r.members]}
        _put(out, "meta", _attrs(r.meta))
        return out
    out = {("promotable" if r.promotable else "clone"): r.id, "of": _resource_dict(r.child)}
    _put(out, "meta", _attrs(r.meta))
    return out


def _rule_dict(rule: Rule, auto_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "id", rule.id, auto_id)
    _put(out, "score", _score_out(rule.score) if rule.score is not None else None)
    _put(out, "score-attribute", rule.score_attribute)
    _put(out, "boolean-op", rule.boolean_op, "and")
    _put(out, "role", rule.role)
    exprs: list[dict[str, Any]] = []
    for k, e in enumerate(rule.expressions):
        if isinstance(e, Expression):
            ed: dict[str, Any] = {"attribute": e.attribute, "op": e.operation}
            _put(ed, "value", e.value)
            _put(ed, "type", e.value_type, "string")
            _put(ed, "value-source", e.value_source, "literal")
        elif isinstance(e, DateExpression):
            ed = {"date": e.operation}
            _put(ed, "start", e.start)
            _put(ed, "end", e.end)
            _put(ed, "spec", dict(e.spec))
        else:
            ed = _rule_dict(e, f"{rule.id}-{k}")
            ed.setdefault("expressions", [])
        exprs.append(ed)
    out["expressions"] = exprs
    return out


def config_to_dict(cfg: Configuration) -> dict[str, Any]:
    """The YAML-shaped data of a Configuration; `parse_yaml_config` reads it back equal."""
    out: dict[str, Any] = {}
    _put(out, "cluster", _attrs(cfg.options))
    nodes = []
    for n in cfg.nodes.values():
        nd: dict[str, Any] = {"name": n.name}
        _put(nd, "id", n.id, n.name)
        _put(nd, "type", n.kind, "member")
        _put(nd, "attributes", _attrs(n.attrs))
        _put(nd, "utilization", _attrs(n.utilization))
        nodes.append(nd)
    _put(out, "nodes", nodes)
    defaults: dict[str, Any] = {}
    _put(defaults, "resource", _attrs(cfg.rsc_defaults))
    _put(defaults, "op", _attrs(cfg.op_defaults))
    _put(out, "defaults", defaults)
    _put(out, "resources", [_resource_dict(r) for r in cfg.resources])
    constraints: list[dict[str, Any]] = []
    for loc in cfg.locations:
        ld: dict[str, Any] = {"id": loc.id}
        _put(ld, "rsc", loc.rsc)
        _put(ld, "rsc-pattern", loc.rsc_pattern if loc.rsc is None else None)
        if loc.rules:
            ld["rules"] = [_rule_dict(r, f"{loc.id}-rule" + (f"-{j}" if j else "")) for j, r in enumerate(loc.rules)]
        else:
            _put(ld, "node", loc.node)
            ld["score"] = _score_out(loc.score)
        _put(ld, "role", loc.role)
        _put(ld, "resource-discovery", loc.discovery, "always")
        constraints.append({"location": ld})
    for c in cfg.colocations:
        cd: dict[str, Any] = {"id": c.id, "rsc": c.rsc, "with": c.with_rsc, "score": _score_out(c.score)}
        _put(cd, "rsc-role", c.rsc_role)
        _put(cd, "with-role", c.with_rsc_role)
        _put(cd, "influence", c.influence, True)
        _put(cd, "node-attribute", c.node_attribute, "#uname")
        constraints.append({"colocation": cd})
    for o in cfg.orders:
        od: dict[str, Any] = {"id": o.id, "first": o.first, "then": o.then}
        _put(od, "first-action", o.first_action, "start")
        _put(od, "then-action", o.then_action, o.first_action)
        _put(od, "kind", o.kind, "Mandatory")
        _put(od, "symmetrical", o.symmetrical, o.kind != "Serialize")
        _put(od, "require-all", o.require_all, True)
        constraints.append({"order": od})
    for t in cfg.tickets:
        td: dict[str, Any] = {"id": t.id, "rsc": t.rsc, "ticket": t.ticket}
        _put(td, "rsc-role", t.rsc_role)
        _put(td, "loss-policy", t.loss_policy, "stop")
        constraints.append({"ticket": td})
    _put(out, "constraints", constraints)
    _put(out, "fencing-topology", [{"target": t, "index": i, "devices": list(d)}
                                   for t, i, d in cfg.fencing_topology if t])
    if cfg.compute is not None:
        out["compute"] = cfg.compute
    if cfg.neutron is not None:
        out["neutron"] = cfg.neutron
    return out


def dump_yaml_config(cfg: Configuration, header: str | None = None) -> str:
    """Configuration -> Corral YAML text; what could not be converted is listed as comments."""
    lines = [f"# {line}" for line in (header or "").splitlines()]
    lines += [f"# not converted (unsupported): {u}" for u in cfg.unsupported]
    lines += [f"# not converted: fencing level {i} for devices {','.join(d)} has no target node "
              "(target-pattern / target-attribute)" for t, i, d in cfg.fencing_topology if not t]
    body = yaml.dump(config_to_dict(cfg), Dumper=_Dumper, sort_keys=False, default_flow_style=None,
                     width=100, allow_unicode=True)
    return "\n".join(lines) + ("\n" if lines else "") + body
