"""The profile's layout as a commented Corral YAML configuration (docs/configuration.md).

Written by hand rather than dumped, so that each resource carries its comment and the file
reads like one an operator would write. Scalars are plain where YAML 1.2 reads them back as the
same text, double-quoted (JSON escapes, a subset of YAML's) otherwise.
"""
from __future__ import annotations

import json
import re

from corral.openstack.profile.layout import Constraint, Layout, Op, Resource

_PLAIN = re.compile(r"^[A-Za-z0-9_/][A-Za-z0-9_./@+-]*$|^-INFINITY$")
_PLAIN_BLOCK = re.compile(r"^[A-Za-z0-9_/][A-Za-z0-9_./@+:-]*$")   # `a:b` is plain outside flow mappings
_NOT_TEXT = {"null", "~", "nan", ".nan", "inf", ".inf"}  # YAML 1.2 would read these as null or a float


def scalar(value: str, *, block: bool = False) -> str:
    """VALUE as YAML that Corral's reader gives back as the same text (numbers keep their spelling)."""
    plain = (_PLAIN_BLOCK if block else _PLAIN).match(value) and not value.endswith(":")
    if plain and value.lower() not in _NOT_TEXT:
        return value
    return json.dumps(value)


def _flow(mapping: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}: {scalar(v)}" for k, v in mapping.items()) + "}"


def _op(op: Op) -> str:
    fields = {"name": op.name}
    if op.interval not in ("", "0"):
        fields["interval"] = op.interval
    if op.timeout:
        fields["timeout"] = op.timeout
    if op.role:
        fields["role"] = op.role
    if op.on_fail:
        fields["on-fail"] = op.on_fail
    return _flow(fields)


def _primitive(rsc: Resource, indent: str, first: str) -> list[str]:
    lines = [f"{first}id: {rsc.id}", f"{indent}agent: {scalar(rsc.agent, block=True)}"]
    if rsc.params:
        lines.append(f"{indent}params:")
        lines += [f"{indent}  {k}: {scalar(v, block=True)}" for k, v in rsc.params.items()]
    if rsc.ops:
        lines.append(f"{indent}ops:")
        lines += [f"{indent}  - {_op(op)}" for op in rsc.ops]
    return lines


def _resource(rsc: Resource) -> list[str]:
    lines = [f"  # {c}" for c in rsc.comment]
    if not rsc.clone:
        return lines + _primitive(rsc, "    ", "  - ")
    lines.append(f"  - {'promotable' if rsc.promotable else 'clone'}: {rsc.clone}")
    if rsc.meta:
        lines.append(f"    meta: {_flow(rsc.meta)}")
    lines.append("    of:")
    return lines + _primitive(rsc, "      ", "      ")


def _constraint(c: Constraint) -> str:
    return f"  - {c.kind}: {_flow(c.fields)}"


def render(layout: Layout, header: str) -> str:
    out = [f"# {line}" if line else "#" for line in header.splitlines()]
    out += ["version: 1", "", "cluster:"]
    out += [f"  {k}: {scalar(v, block=True)}" for k, v in layout.cluster.items()]
    if not layout.fencing:
        out += ["# No fence device was given (setting fencing.agent, e.g. stonith:fence_ipmilan, and",
                "# fencing.params.*): with stonith-enabled true nothing starts until one is configured, because",
                "# a lost controller's services must never start elsewhere before it is powered off."]
    out += ["", "nodes:"]
    out += [f"  - {{name: {scalar(name)}, attributes: {_flow(attrs)}}}" for name, attrs in layout.nodes]
    if layout.defaults:
        out += ["", "defaults:", f"  resource: {_flow(layout.defaults)}"]
    out += ["", "resources:"]
    for i, rsc in enumerate(layout.resources):
        if i:
            out.append("")
        out += _resource(rsc)
    out += ["", "constraints:"]
    for comment, group in layout.constraints:
        out.append(f"  # {comment}")
        out += [_constraint(c) for c in group]
    return "\n".join(out) + "\n"
