"""Corral's YAML configuration format -> Configuration.

Three stages, each reporting every problem as `file:line: path: problem`:
1. `read_yaml` (corral.model.yaml_reader): YAML text -> plain data plus a map from
   path to line.
2. pydantic models (`ConfigYaml`, corral.model.yaml_schema) check the shape; their
   error locations are paths that the line map turns into lines.
3. `_ConfigBuilder` (here) makes the dataclasses, remembering each object's path so
   `corral.model.validate` (shared with the CIB loader) can name lines too.

The way back, Configuration -> YAML, is corral.model.yaml_dump. The format is
documented in docs/configuration.md.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from corral.model.config import (
    Clone,
    Colocation,
    Configuration,
    Group,
    Location,
    Operation,
    Order,
    Primitive,
    TicketDependency,
)
from corral.model.config import Node as ClusterNode
from corral.model.errors import ConfigError
from corral.model.rules import DateExpression, Expression, Rule
from corral.model.scores import INFINITY, format_score
from corral.model.validate import ConfigErrors, DefaultLocator, Key, validate
from corral.model.yaml_compute import canonical
from corral.model.yaml_dump import dump_yaml_config
from corral.model.yaml_reader import PathT, YamlDoc, format_path, read_yaml
from corral.model.yaml_schema import (
    SPELLINGS,
    Attrs,
    CloneYaml,
    ColocationSetYaml,
    ColocationYaml,
    ConfigYaml,
    ConstraintYaml,
    DateExpressionYaml,
    ExpressionYaml,
    GroupYaml,
    Interval,
    LocationYaml,
    Name,
    OrderSetYaml,
    OrderYaml,
    PrimitiveYaml,
    PromotableYaml,
    RuleYaml,
    Text,
    _Yaml,
    op_id,
    pydantic_problems,
)

# This module's API plus the names other code imported from here before the split
# (the reader, schema and dumper moved out); new code imports them from their homes.
__all__ = [
    "Attrs", "Interval", "Name", "PathT", "Text", "YamlDoc", "YamlLocator", "_Yaml",
    "dump_yaml_config", "format_path", "load_yaml_config", "parse_yaml_config",
    "pydantic_problems", "read_yaml",
]


# --------------------------------------------------------------------------------------------
# 3. Building the Configuration, remembering where each object came from
# --------------------------------------------------------------------------------------------
class YamlLocator:
    """Places model objects at their YAML path and line, for corral.model.validate."""

    def __init__(self, doc: YamlDoc, fallback: DefaultLocator | None = None) -> None:
        self.doc = doc
        self.paths: dict[int, PathT] = {}
        self.overrides: dict[tuple[int, str], PathT] = {}
        self.fallback = fallback
        self._keep: list[object] = []  # keeps ids stable for sections and tuples

    _SECTIONS: dict[str, PathT] = {"options": ("cluster",), "rsc_defaults": ("defaults", "resource"),
                                    "op_defaults": ("defaults", "op"), "fencing_topology": ("fencing-topology",)}

    def add(self, obj: object, path: PathT, **overrides: PathT) -> None:
        self.paths[id(obj)] = path
        self._keep.append(obj)
        for key, p in overrides.items():
            self.overrides[(id(obj), key.rstrip("_").replace("_", "-"))] = p

    def resolve(self, path: PathT) -> PathT:
        """The path as the user spelled it (on_fail for on-fail, with-rsc for with, ...)."""
        done: PathT = ()
        for i, part in enumerate(path):
            options = [part] + ([s for s in SPELLINGS.get(part, []) if s != part] if isinstance(part, str) else [])
            found = next((o for o in options if (*done, o) in self.doc.lines), None)
            if found is None:
                return (*done, *path[i:])
            done = (*done, found)
        return done

    def where(self, obj: object, key: Key = None) -> str:
        parts: PathT
        if isinstance(key, str):
            parts = tuple(int(p) if p.isdigit() else p for p in key.split("."))
        else:
            parts = key or ()
        if isinstance(obj, str) and obj in self._SECTIONS:
            base = self._SECTIONS[obj]
        elif id(obj) in self.paths:
            base = self.paths[id(obj)]
            if parts and (id(obj), str(parts[0])) in self.overrides:
                base, parts = self.overrides[(id(obj), str(parts[0]))], parts[1:]
        elif self.fallback is not None:
            return self.fallback.where(obj, key)
        else:
            return f"{self.doc.source}: {type(obj).__name__}"
        return self.doc.where(self.resolve((*base, *parts)))


def _clean(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


class _Ids:
    """Auto-generated constraint ids: readable, unique, never clashing with given ones."""

    def __init__(self, given: Iterable[str]) -> None:
        self.used = set(given)

    def make(self, wanted: str | None, base: str) -> str:
        if wanted:
            return wanted
        ident, n = _clean(base), 1
        while ident in self.used:
            n += 1
            ident = f"{_clean(base)}-{n}"
        self.used.add(ident)
        return ident


class _ConfigBuilder:
    def __init__(self, doc: YamlDoc, model: ConfigYaml) -> None:
        self.doc = doc
        self.m = model
        self.cfg = Configuration()
        self.loc = YamlLocator(doc)
        self.errors: list[tuple[str, str]] = []
        self.ids = _Ids(())

    def build(self) -> Configuration:
        m, cfg = self.m, self.cfg
        cfg.options = dict(m.cluster)
        cfg.rsc_defaults = dict(m.defaults.resource)
        cfg.op_defaults = dict(m.defaults.op)
        for i, n in enumerate(m.nodes):
            path: PathT = ("nodes", i)
            if n.name in cfg.nodes:
                first = self.loc.where(cfg.nodes[n.name], "name")
                self.errors.append((self.loc.doc.where(self.loc.resolve((*path, "name"))),
                                    f"duplicate node {n.name!r}, already defined at {first}"))
                continue
            node = ClusterNode(name=n.name, id=n.id or n.name, attrs=dict(n.attributes),
                               utilization=dict(n.utilization), kind=n.kind)
            cfg.nodes[n.name] = node
            self.loc.add(node, path)
        for i, r in enumerate(m.resources):
            cfg.resources.append(self.resource(r, ("resources", i)))
        given = [getattr(c, k).id for c in m.constraints for k in ConstraintYaml.model_fields
                 if getattr(c, k) is not None and getattr(c, k).id]
        self.ids = _Ids(given)
        for i, c in enumerate(m.constraints):
            self.constraint(c, ("constraints", i), i + 1)
        targets: dict[str, int] = {}
        for lvl in m.fencing_topology:
            targets[lvl.target] = targets.get(lvl.target, 0) + 1
            devices = lvl.devices if isinstance(lvl.devices, list) else lvl.devices.split(",")
            cfg.fencing_topology.append((lvl.target, lvl.index or targets[lvl.target],
                                         [d.strip() for d in devices]))
        if m.compute is not None:
            cfg.compute = canonical(m.compute)
        if m.neutron is not None:
            cfg.neutron = canonical(m.neutron)
        return cfg

    # -- resources ---------------------------------------------------------------------
    def resource(self, r: Any, path: PathT) -> Primitive | Group | Clone:
        if isinstance(r, PrimitiveYaml):
            return self.primitive(r, path)
        if isinstance(r, GroupYaml):
            g = Group(id=r.group, members=[self.primitive(p, (*path, "members", j))
                                           for j, p in enumerate(r.members)], meta=dict(r.meta))
            self.loc.add(g, path, id=(*path, "group"))
            return g
        ident = r.clone if isinstance(r, CloneYaml) else r.promotable
        child = self.resource(r.of, (*path, "of"))
        assert isinstance(child, Primitive | Group)
        promotable = isinstance(r, PromotableYaml) or r.meta.get("promotable", "false").lower() == "true"
        c = Clone(id=ident, child=child, meta=dict(r.meta), promotable=promotable)
        self.loc.add(c, path, id=(*path, "clone" if isinstance(r, CloneYaml) else "promotable"))
        return c

    def primitive(self, p: PrimitiveYaml, path: PathT) -> Primitive:
        parts = p.agent.split(":")
        cls, provider, rtype = (parts[0], parts[1], parts[2]) if len(parts) == 3 else (parts[0], None, parts[1])
        prim = Primitive(id=p.id, rsc_class=cls, type=rtype, provider=provider, params=dict(p.params),
                         meta=dict(p.meta), utilization=dict(p.utilization))
        for j, o in enumerate(p.ops):
            op = Operation(name=o.name, interval_ms=o.interval, timeout_ms=o.timeout, role=o.role,
                           on_fail=o.on_fail, enabled=o.enabled,
                           id=o.id or op_id(p.id, o.name, o.interval, o.role),
                           params=dict(o.params), meta=dict(o.meta))
            prim.ops.append(op)
            self.loc.add(op, (*path, "ops", j))
        self.loc.add(prim, path)
        return prim

    # -- constraints -------------------------------------------------------------------
    def constraint(self, c: ConstraintYaml, path: PathT, n: int) -> None:
        if c.location is not None:
            self.location(c.location, (*path, "location"))
        elif c.colocation is not None:
            self.colocation(c.colocation, (*path, "colocation"))
        elif c.order is not None:
            self.order(c.order, (*path, "order"))
        elif c.colocation_set is not None:
            self.colocation_set(c.colocation_set, (*path, "colocation-set"), n)
        elif c.order_set is not None:
            self.order_set(c.order_set, (*path, "order-set"), n)
        elif c.ticket is not None:
            t = c.ticket
            dep = TicketDependency(id=self.ids.make(t.id, f"ticket-{t.ticket}-{t.rsc}"), rsc=t.rsc,
                                   ticket=t.ticket, rsc_role=t.rsc_role, loss_policy=t.loss_policy)
            self.cfg.tickets.append(dep)
            self.loc.add(dep, (*path, "ticket"))

    def location(self, y: LocationYaml, path: PathT) -> None:
        what = y.rsc or "pattern"
        base = f"location-{what}-{y.node}-{format_score(y.score or INFINITY)}" if y.node else f"location-{what}"
        ident = self.ids.make(y.id, base)
        rules: list[Rule] = []
        if y.rule is not None:
            rules.append(self.rule(y.rule, (*path, "rule"), f"{ident}-rule"))
        for j, ry in enumerate(y.rules):
            rules.append(self.rule(ry, (*path, "rules", j), f"{ident}-rule" + (f"-{j}" if j else "")))
        score = (INFINITY if y.score is None else y.score) if y.node is not None else 0
        loc = Location(id=ident, rsc=y.rsc, node=y.node, score=score, rules=rules, role=y.role,
                       discovery=y.resource_discovery, rsc_pattern=y.rsc_pattern)
        self.cfg.locations.append(loc)
        self.loc.add(loc, path)

    def rule(self, y: RuleYaml, path: PathT, ident: str) -> Rule:
        rule = Rule(id=y.id or ident, boolean_op=y.boolean_op, score=y.score,
                    score_attribute=y.score_attribute, role=y.role)
        for k, e in enumerate(y.expressions):
            epath = (*path, "expressions", k)
            item: Expression | DateExpression | Rule
            if isinstance(e, ExpressionYaml):
                item = Expression(attribute=e.attribute, operation=e.op, value=e.value,
                                  value_type=e.type, value_source=e.value_source)
            elif isinstance(e, DateExpressionYaml):
                item = DateExpression(operation=e.date, start=e.start, end=e.end, spec=dict(e.spec))
            else:
                item = self.rule(e, epath, f"{rule.id}-{k}")
            rule.expressions.append(item)
            self.loc.add(item, epath)
        self.loc.add(rule, path)
        return rule

    def colocation(self, y: ColocationYaml, path: PathT) -> None:
        ident = self.ids.make(y.id, f"colocation-{y.rsc}-{y.with_}-{format_score(y.score)}")
        col = Colocation(id=ident, rsc=y.rsc, with_rsc=y.with_, score=y.score, rsc_role=y.rsc_role,
                         with_rsc_role=y.with_role, influence=y.influence, node_attribute=y.node_attribute)
        self.cfg.colocations.append(col)
        self.loc.add(col, path)

    def order(self, y: OrderYaml, path: PathT) -> None:
        ident = self.ids.make(y.id, f"order-{y.first}-{y.then}-{y.kind.lower()}")
        sym = y.symmetrical if y.symmetrical is not None else y.kind != "Serialize"
        o = Order(id=ident, first=y.first, then=y.then, first_action=y.first_action,
                  then_action=y.then_action or y.first_action, kind=y.kind, symmetrical=sym,
                  require_all=y.require_all)
        self.cfg.orders.append(o)
        self.loc.add(o, path)

    # Sets expand into pairwise constraints exactly as corral.model.cib does for
    # <resource_set>, so a YAML set and its CIB twin schedule identically.
    def colocation_set(self, y: ColocationSetYaml, path: PathT, n: int) -> None:
        ident = self.ids.make(y.id, f"colocation-set-{n}")

        def add(dep: tuple[int, int], prim: tuple[int, int], score: int, dep_role: str | None,
                prim_role: str | None) -> None:
            (i1, j1), (i2, j2) = dep, prim
            col = Colocation(id=ident, rsc=y.sets[i1].resources[j1], with_rsc=y.sets[i2].resources[j2],
                             score=score, rsc_role=dep_role, with_rsc_role=prim_role,
                             influence=y.influence, node_attribute=y.node_attribute)
            self.cfg.colocations.append(col)
            ref = (*path, "sets")
            self.loc.add(col, path, rsc=(*ref, i1, "resources", j1), with_=(*ref, i2, "resources", j2),
                         rsc_role=(*ref, i1, "role"), with_role=(*ref, i2, "role"))

        for i, s in enumerate(y.sets):
            score = s.score if s.score is not None else y.score
            if s.sequential:
                for j in range(1, len(s.resources)):
                    add((i, j), (i, j - 1), score, s.role, s.role)
        for i in range(len(y.sets) - 1):
            s1, s2 = y.sets[i], y.sets[i + 1]
            primaries = [len(s2.resources) - 1] if s2.sequential else range(len(s2.resources))
            dependents = range(len(s1.resources)) if not s1.sequential else [0]
            for d in dependents:
                for p in primaries:
                    add((i, d), (i + 1, p), y.score, s1.role, s2.role)

    def order_set(self, y: OrderSetYaml, path: PathT, n: int) -> None:
        ident = self.ids.make(y.id, f"order-set-{n}")
        sym = y.symmetrical if y.symmetrical is not None else y.kind != "Serialize"
        ref = (*path, "sets")

        def add(first: tuple[int, int], then: tuple[int, int], require_all: bool) -> None:
            (i1, j1), (i2, j2) = first, then
            s1, s2 = y.sets[i1], y.sets[i2]
            o = Order(id=ident, first=s1.resources[j1], then=s2.resources[j2], first_action=s1.action,
                      then_action=s2.action, kind=y.kind, symmetrical=sym, require_all=require_all)
            self.cfg.orders.append(o)
            self.loc.add(o, path, first=(*ref, i1, "resources", j1), then=(*ref, i2, "resources", j2),
                         first_action=(*ref, i1, "action"), then_action=(*ref, i2, "action"))

        for i, s in enumerate(y.sets):
            if s.sequential:
                for j in range(1, len(s.resources)):
                    add((i, j - 1), (i, j), True)
        for i in range(len(y.sets) - 1):
            s1, s2 = y.sets[i], y.sets[i + 1]
            firsts = [len(s1.resources) - 1] if s1.sequential else range(len(s1.resources))
            thens = [0] if s2.sequential else range(len(s2.resources))
            for f in firsts:
                for t in thens:
                    add((i, f), (i + 1, t), s1.require_all)


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------
def parse_yaml_config(text: str, source: str = "<config>") -> tuple[Configuration, YamlLocator]:
    """YAML text -> (Configuration, locator); shape errors raise ConfigErrors. Not yet validated."""
    doc = read_yaml(text, source)
    if doc.data is None:
        raise ConfigErrors(source, [(source, "the configuration is empty")])
    if not isinstance(doc.data, dict):
        raise ConfigErrors(source, [(doc.where(()), "the configuration must be a mapping "
                                     "(cluster:, nodes:, resources:, constraints:, ...)")])
    # Top-level `x-...` keys hold YAML anchors for reuse (as in docker-compose); not config.
    data = {k: v for k, v in doc.data.items() if not k.startswith("x-")}
    try:
        model = ConfigYaml.model_validate(data)
    except ValidationError as exc:
        raise ConfigErrors(source, pydantic_problems(exc, doc)) from None
    builder = _ConfigBuilder(doc, model)
    cfg = builder.build()
    if builder.errors:
        raise ConfigErrors(source, builder.errors)
    return cfg, builder.loc


def load_yaml_config(path: str | Path) -> Configuration:
    """Read, shape-check and validate a Corral YAML configuration file.

    Raises ConfigError (a ConfigErrors listing every problem); warnings are left
    in `config.warnings`.
    """
    text = _read_text(path)
    cfg, locator = parse_yaml_config(text, str(path))
    cfg.warnings.extend(validate(cfg, str(path), locator))
    return cfg


MAX_FILE_BYTES = 16 * 1024 * 1024  # a configuration is kilobytes; /dev/zero or a wrong file is not


def _read_text(path: str | Path) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise ConfigError(str(path), f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB: not a configuration file")
        return data.decode("utf-8-sig")
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
