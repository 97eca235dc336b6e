"""`rsc_defaults` blocks whose rule selects resources by agent (`rsc_expression`).

Pacemaker applies such a block only to the resources whose class, provider and type match
(each attribute given must match; several expressions combine by the rule's boolean-op).
The CIB reader resolves them per primitive: a matching block's values become that
primitive's meta attributes unless the primitive, or a group or clone around it, sets them.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

AGENT_KEYS = ("class", "provider", "type")


@dataclass(frozen=True)
class AgentDefaults:
    matchers: tuple[dict[str, str], ...]   # each: class/provider/type that must all match
    any_of: bool                          # boolean-op="or"
    values: dict[str, str]

    def applies(self, rsc_class: str, provider: str | None, rtype: str) -> bool:
        agent = {"class": rsc_class, "provider": provider or "", "type": rtype}

        def one(m: dict[str, str]) -> bool:
            return all(agent[k] == v for k, v in m.items())

        results = [one(m) for m in self.matchers]
        return any(results) if self.any_of else all(results)


def agent_rule(block: ET.Element) -> tuple[tuple[dict[str, str], ...], bool] | None:
    """The block's rule as agent matchers, if it is made only of rsc_expressions."""
    rules = block.findall("rule")
    if len(rules) != 1:
        return None
    rule = rules[0]
    exprs = list(rule)
    if not exprs or any(e.tag != "rsc_expression" for e in exprs):
        return None
    matchers = tuple({k: e.get(k, "") for k in AGENT_KEYS if e.get(k) is not None} for e in exprs)
    return matchers, rule.get("boolean-op", "and").lower() == "or"


def split_rsc_defaults(section: ET.Element | None) -> tuple[list[ET.Element], list[AgentDefaults]]:
    """(blocks that apply to every resource, blocks that apply by agent)."""
    if section is None:
        return [], []
    plain: list[ET.Element] = []
    by_agent: list[AgentDefaults] = []
    for block in section.findall("meta_attributes"):
        rule = agent_rule(block)
        if rule is None:
            plain.append(block)
            continue
        values = {nv.get("name", ""): nv.get("value", "") for nv in block.findall("nvpair") if nv.get("name")}
        by_agent.append(AgentDefaults(matchers=rule[0], any_of=rule[1], values=values))
    return plain, by_agent
