"""From configured primitives to what an executor runs: ids, specs, timeouts.

Node attribute references: a parameter value may contain `${node:NAME}`, replaced
on each node by that node's attribute NAME (configured or transient; `#uname` is
the node name). This gives per-node values (a port, an interface) to one clone
definition, the way Pacemaker does with rules in instance_attributes.
"""
from __future__ import annotations

import re

from corral.cluster.records import AgentSpec
from corral.model.config import Configuration, Primitive, parse_interval_ms
from corral.resource_agents import ResourceSpec
from corral.scheduler.resources import Prim

DEFAULT_TIMEOUT_S = 20.0
NODE_REF = re.compile(r"\$\{node:([^}]+)\}")


class MissingNodeAttribute(ValueError):
    pass


def exec_id(prim: Prim) -> str:
    """The id the node's executor knows the resource by: the base id for anonymous clone
    instances (one per node; the scheduler maps them back), else the instance id."""
    clone = prim.clone
    if clone is not None and not clone.unique:
        return prim.base
    return prim.id


def spec_of(prim: Prim, task: str | None = None, interval_ms: int = 0) -> AgentSpec:
    """The agent, parameters and meta attributes one operation runs with: the primitive's
    parameters, plus the operation's own (an `op` with instance attributes, such as a deeper
    monitor's OCF_CHECK_LEVEL), which apply to that operation only."""
    cfg = prim.cfg
    if cfg is None:
        return AgentSpec(rsc_class="", type="")
    params = dict(cfg.params)
    if task is not None:
        for op in cfg.ops:
            if op.name == task and op.interval_ms == interval_ms:
                params.update(op.params)
                break
    return AgentSpec(rsc_class=cfg.rsc_class, type=cfg.type, provider=cfg.provider,
                     params=params, meta=dict(prim.meta))


def spec_of_primitive(cfg: Primitive, meta: dict[str, str]) -> AgentSpec:
    return AgentSpec(rsc_class=cfg.rsc_class, type=cfg.type, provider=cfg.provider,
                     params=dict(cfg.params), meta=dict(meta))


def expand(value: str, attrs: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in attrs:
            raise MissingNodeAttribute(f"parameter refers to node attribute {name!r}, which this node "
                                       "does not have")
        return attrs[name]

    return NODE_REF.sub(sub, value)


def resource_spec(rid: str, spec: AgentSpec, node_attrs: dict[str, str]) -> ResourceSpec:
    """The runner's ResourceSpec, node attribute references expanded (MissingNodeAttribute)."""
    params = {k: expand(v, node_attrs) for k, v in spec.params.items()}
    return ResourceSpec(rid, spec.rsc_class, spec.type, provider=spec.provider, params=params,
                        meta=dict(spec.meta))


def op_timeout_s(cfg: Primitive | None, config: Configuration, op: str, interval_ms: int) -> float:
    """The configured timeout of one operation: its op entry, else op defaults, else 20 s."""
    if cfg is not None:
        for o in cfg.ops:
            if o.name == op and o.interval_ms == interval_ms and o.timeout_ms:
                return o.timeout_ms / 1000
        if op == "monitor":  # a probe borrows a monitor's timeout
            for o in cfg.ops:
                if o.name == "monitor" and o.timeout_ms:
                    return o.timeout_ms / 1000
    default = config.op_defaults.get("timeout")
    if default:
        try:
            return parse_interval_ms(default) / 1000
        except ValueError:
            pass
    return DEFAULT_TIMEOUT_S


def recurring_monitors(cfg: Primitive | None, role: str) -> list[tuple[int, str | None]]:
    """(interval_ms, op role) of the configured recurring monitors that apply in `role`."""
    out: list[tuple[int, str | None]] = []
    if cfg is None:
        return out
    for o in cfg.ops:
        if o.name != "monitor" or o.interval_ms <= 0 or not o.enabled:
            continue
        want = o.role or None
        if want in (None, role) or (want == "Unpromoted" and role != "Promoted"):
            out.append((o.interval_ms, want))
    return out
