"""The one registry of configuration settings Corral's scheduler does not implement.

A setting listed here is read from the configuration but not acted on, so a configuration
using it would silently behave differently from what it says. Validation consults this
registry: `corral load` rejects such a configuration (an error naming the file, the element
and the attribute), and `corral simulate` warns on stderr and simulates as if it were unset.

Whoever implements one of these features removes its line from `UNSUPPORTED` (and the test
in tests/model/test_support.py that names it), nothing else.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from corral.model.config import Clone, Configuration, Group, Location, Node, Order, Primitive, is_true

# What a registry entry looks at: one kind of model object, one of its settings.
Kind = str   # "clone", "primitive", "rsc_location", "rsc_order", "node", "resource" (by tag), "cluster"


@dataclass(frozen=True)
class Unsupported:
    kind: Kind
    attribute: str                       # as the user writes it (CIB attribute or meta name)
    applies: Callable[[str], bool]       # on the setting's value: is this use unsupported?
    what: str                            # what Corral would fail to do

    def message(self, value: str) -> str:
        return (f"{self.attribute}={value!r} is not implemented by Corral's scheduler "
                f"({self.what})")


def _any(_value: str) -> bool:
    return True


def _true(value: str) -> bool:
    return is_true(value)


def _false(value: str) -> bool:
    return not is_true(value)


def _one_of(*values: str) -> Callable[[str], bool]:
    return lambda value: value.lower() in values


UNSUPPORTED: tuple[Unsupported, ...] = (
    Unsupported("rsc_location", "resource-discovery", _one_of("never"),
                "agents probe every resource on every node they join"),
    Unsupported("rsc_order", "require-all", _false,
                "outside a plain order after a clone, the then-side would wait for all of the first side, "
                "not for any one"),
    Unsupported("resource", "bundle", _any, "bundles (containers) are not run"),
    Unsupported("cluster", "shutdown-lock", _true,
                "a cleanly stopped node's resources would move instead of waiting for it"),
    Unsupported("cluster", "node-health-strategy", lambda value: value.lower() not in ("", "none"),
                "node health attributes would not move resources away"),
    Unsupported("primitive", "requires", _one_of("unfencing"), "nodes are not unfenced before it starts"),
    Unsupported("primitive", "instance_attributes rule", _any,
                "agents would run with the rule-less parameters only; use ${node:NAME} for per-node values"),
)


@dataclass(frozen=True)
class Finding:
    obj: object          # the model object, for a Locator; a string names a resource's id
    key: tuple[str, ...] | str | None
    message: str


def _entries(kind: Kind) -> list[Unsupported]:
    return [u for u in UNSUPPORTED if u.kind == kind]


def _resources(config: Configuration) -> Iterator[Primitive | Group | Clone]:
    for rsc in config.resources:
        yield rsc
        if isinstance(rsc, Clone):
            yield rsc.child
            if isinstance(rsc.child, Group):
                yield from rsc.child.members
        elif isinstance(rsc, Group):
            yield from rsc.members


def _meta_findings(obj: object, kind: Kind, meta: dict[str, str], defaults: dict[str, str],
                   ) -> Iterator[Finding]:
    for entry in _entries(kind):
        value = meta.get(entry.attribute, defaults.get(entry.attribute))
        if value is not None and entry.applies(value):
            where = obj if entry.attribute in meta else "rsc_defaults"
            yield Finding(where, ("meta", entry.attribute), entry.message(value))


def findings(config: Configuration) -> list[Finding]:
    """Every use of an unsupported setting in `config`, with its place."""
    out: list[Finding] = []
    for rsc in _resources(config):
        if isinstance(rsc, Clone):
            out += _meta_findings(rsc, "clone", rsc.meta, config.rsc_defaults)
        elif isinstance(rsc, Primitive):
            out += _meta_findings(rsc, "primitive", rsc.meta, {})
            for entry in _entries("primitive"):
                if entry.attribute == "class/provider/type" and entry.applies(rsc.agent):
                    out.append(Finding(rsc, "agent", entry.message(rsc.agent)))
                if entry.attribute == "instance_attributes rule" and any(r is not None for r, _ in rsc.param_sets):
                    out.append(Finding(rsc, None, "parameters chosen by a rule (<instance_attributes> with "
                                                  f"a <rule>) are not implemented by Corral's agents ({entry.what})"))
    for entry in _entries("cluster"):
        value = config.option(entry.attribute, "")
        if value and entry.applies(value):
            out.append(Finding("<crm_config>", None, f"cluster option {entry.message(value)}"))
    for loc in config.locations:
        out += _attr_findings(loc, "rsc_location", {"resource-discovery": loc.discovery})
    clones = {r.id for r in config.resources if isinstance(r, Clone)}
    per_id = Counter(o.id for o in config.orders)
    for order in config.orders:
        # require-all=false is implemented for a plain order after a clone (any one instance
        # will do); not in sets, where it means "any one of the set's resources".
        implemented = order.first in clones and per_id[order.id] == 1
        out += _attr_findings(order, "rsc_order",
                              {"require-all": "true" if order.require_all or implemented else "false"})
    for node in config.nodes.values():
        out += _attr_findings(node, "node", {"type": node.kind})
    for entry in config.unsupported:
        tag, _, ident = entry.partition(" ")
        for u in _entries("resource"):
            if u.attribute == tag and u.applies(ident):
                out.append(Finding(f"<{tag} id={ident!r}>", None,
                                   f"<{tag}> is not implemented by Corral's scheduler ({u.what})"))
    return _unique(out)


def _attr_findings(obj: Location | Order | Node, kind: Kind, values: dict[str, str]) -> Iterator[Finding]:
    for entry in _entries(kind):
        value = values.get(entry.attribute)
        if value is not None and entry.applies(value):
            yield Finding(obj, entry.attribute, entry.message(value))


def _unique(items: list[Finding]) -> list[Finding]:
    """A set constraint expands to several model objects with one id: report it once."""
    seen: set[tuple[str, str, str]] = set()
    out: list[Finding] = []
    for f in items:
        ident = (type(f.obj).__name__, str(getattr(f.obj, "id", f.obj)), f.message)
        if ident not in seen:
            seen.add(ident)
            out.append(f)
    return out
