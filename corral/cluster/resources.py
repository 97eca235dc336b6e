"""From configured primitives to what an executor runs: ids, specs, timeouts.

Node attribute references: a parameter value may contain `${node:NAME}`, replaced
on each node by that node's attribute NAME (configured or transient; `#uname` is
the node name). This gives per-node values (a port, an interface) to one clone
definition, the way Pacemaker does with rules in instance_attributes.
"""
from __future__ import annotations

import re

from corral.cluster.records import AgentSpec
from corral.model.config import Configuration, Primitive
from corral.resource_agents import ResourceSpec
from corral.scheduler import ResourceView
from corral.scheduler.ops import op_timeout_ms

NODE_REF = re.compile(r"\$\{node:([^}]+)\}")


class MissingNodeAttribute(ValueError):
    pass


def exec_id(view: ResourceView) -> str:
    """The id the node's executor knows the resource by (ResourceView.exec_id)."""
    return view.exec_id


def spec_of(view: ResourceView, task: str | None = None, interval_ms: int = 0) -> AgentSpec:
    """The agent, parameters and meta attributes one operation runs with: the primitive's
    parameters, plus the operation's own (ResourceView.params_for)."""
    if not view.has_agent:
        return AgentSpec(rsc_class="", type="")
    return AgentSpec(rsc_class=view.rsc_class, type=view.type, provider=view.provider,
                     params=view.params_for(task, interval_ms), meta=dict(view.meta))


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
    """The configured timeout of one operation: its op entry, else op defaults, else 20 s
    (the scheduler's rule, corral.scheduler.ops)."""
    return op_timeout_ms(cfg, config, op, interval_ms) / 1000
