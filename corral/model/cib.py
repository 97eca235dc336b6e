"""Pacemaker CIB XML -> Corral's configuration model (the `configuration` section).

The `status` section is read by `corral.model.cib_status`.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

from corral.model.cib_defaults import AgentDefaults, split_rsc_defaults
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
    TicketDependency,
    normalise_role,
    parse_interval_ms,
)
from corral.model.errors import ConfigError
from corral.model.rules import DateExpression, Expression, Rule
from corral.model.scores import INFINITY, parse_score

MAX_CIB_BYTES = 64 * 1024 * 1024  # a 64-node, 5000-resource CIB with its status is a few MB


def read_cib(path: str | Path) -> ET.Element:
    try:
        with open(path, "rb") as f:  # bounded: /dev/zero or a wrong file must not be read forever
            data = f.read(MAX_CIB_BYTES + 1)
        if len(data) > MAX_CIB_BYTES:
            raise ConfigError(str(path), f"larger than {MAX_CIB_BYTES // (1024 * 1024)} MiB: not a CIB")
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise ConfigError(str(path), f"not well-formed XML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from exc


def _where(source: str, el: ET.Element) -> str:
    ident = el.get("id")
    return f"{source}: <{el.tag}{f' id={ident!r}' if ident else ''}>"


def nvpairs(parent: ET.Element | None, tag: str, idrefs: dict[str, ET.Element] | None = None) -> dict[str, str]:
    """Merge every <tag> block's nvpairs (rule-less blocks; rules in attribute sets are ignored).

    The value `#default` (an old CIB convention) means "unset": such a pair is left out."""
    out: dict[str, str] = {}
    if parent is None:
        return out
    for block in parent.findall(tag):
        if block.get("id-ref") and idrefs is not None:
            block = idrefs.get(block.get("id-ref", ""), block)
        for nv in block.findall("nvpair"):
            name = nv.get("name")
            if name is not None and name not in out:
                out[name] = nv.get("value", "")
        for name in [n for n, v in out.items() if v == "#default"]:
            del out[name]
    return out


def _execution_date(root: ET.Element) -> datetime:
    """The moment rules are judged at: the CIB's execution-date (as crm_simulate), else now."""
    text = root.get("execution-date") or ""
    if text.isdigit():
        return datetime.fromtimestamp(int(text))
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%SZ")
    except ValueError:
        return datetime.now()


class CibParser:
    def __init__(self, root: ET.Element, source: str = "cib") -> None:
        self.root = root
        self.source = source
        self.config = Configuration()
        self.idrefs = {el.get("id", ""): el for el in root.iter() if el.get("id")}
        self.templates: dict[str, ET.Element] = {}
        self.tags: dict[str, list[str]] = {}
        self.template_users: dict[str, list[str]] = {}  # template id -> primitives built from it
        self.warnings: list[str] = []
        self.agent_defaults: list[AgentDefaults] = []
        self.enclosing_meta: set[str] = set()   # meta names set by the group/clone being read

    def parse(self) -> Configuration:
        conf = self.root.find("configuration")
        if conf is None:
            raise ConfigError(self.source, "no <configuration> section")
        cfg = self.config
        crm = conf.find("crm_config")
        if crm is not None:
            cfg.options = nvpairs(crm, "cluster_property_set", self.idrefs)
        plain, self.agent_defaults = split_rsc_defaults(conf.find("rsc_defaults"))
        holder = ET.Element("rsc_defaults")
        holder.extend(plain)
        cfg.rsc_defaults = nvpairs(holder, "meta_attributes", self.idrefs)
        cfg.op_defaults = nvpairs(conf.find("op_defaults"), "meta_attributes", self.idrefs)
        for node in conf.findall("nodes/node"):
            self._node(node)
        tags = conf.find("tags")
        if tags is not None:
            for tag in tags.findall("tag"):
                self.tags[tag.get("id", "")] = [ref.get("id", "") for ref in tag.findall("obj_ref")]
        resources = conf.find("resources")
        if resources is not None:
            for el in resources:
                if el.tag == "template":
                    self.templates[el.get("id", "")] = el
            for el in resources:
                rsc = self._resource(el)
                if rsc is not None:
                    cfg.resources.append(rsc)
        constraints = conf.find("constraints")
        if constraints is not None:
            for el in constraints:
                self._constraint(el)
        topo = conf.find("fencing-topology")
        if topo is not None:
            for level in topo.findall("fencing-level"):
                cfg.fencing_topology.append((level.get("target", ""), int(level.get("index", "1")),
                                             level.get("devices", "").split(",")))
        cfg.warnings = self.warnings
        return cfg

    def _node(self, el: ET.Element) -> None:
        name = el.get("uname") or el.get("id")
        if not name:
            raise ConfigError(_where(self.source, el), "node has neither uname nor id")
        self.config.nodes[name] = Node(
            name=name, id=el.get("id", name),
            attrs=self._node_attrs(el),
            utilization=nvpairs(el, "utilization", self.idrefs),
            kind=el.get("type", "member") or "member")

    def _node_attrs(self, el: ET.Element) -> dict[str, str]:
        """A node's instance attributes. A block with a <rule> applies only while its
        rule holds (in practice date expressions, judged at the CIB's execution-date
        or now); among the blocks that apply, the first to set a name wins."""
        now = _execution_date(self.root)
        holder = ET.Element("node")
        for block in el.findall("instance_attributes"):
            if block.get("id-ref"):
                block = self.idrefs.get(block.get("id-ref", ""), block)
            rules = [self._rule(r) for r in block.findall("rule")]
            if all(r.matches({"#uname": el.get("uname") or el.get("id", "")}, now) for r in rules):
                holder.append(block)
        return nvpairs(holder, "instance_attributes", self.idrefs)

    # -- resources -----------------------------------------------------------------
    def _resource(self, el: ET.Element, inherited: dict[str, str] | None = None,
                  ) -> Primitive | Group | Clone | None:
        """`inherited`: the instance attributes of the enclosing group or clone, which its
        primitives receive unless they set their own (Pacemaker passes them down)."""
        inherited = dict(inherited or {})
        if el.tag in ("group", "clone", "master"):
            inherited.update(nvpairs(el, "instance_attributes", self.idrefs))
            outer = set(self.enclosing_meta)
            self.enclosing_meta |= set(nvpairs(el, "meta_attributes", self.idrefs))
            try:
                return self._container(el, inherited)
            finally:
                self.enclosing_meta = outer
        return self._container(el, inherited)

    def _container(self, el: ET.Element, inherited: dict[str, str]) -> Primitive | Group | Clone | None:
        if el.tag == "primitive":
            return self._primitive(el, inherited)
        if el.tag == "group":
            members = [self._primitive(m, inherited) for m in el if m.tag == "primitive"]
            return Group(id=el.get("id", ""), members=members, meta=nvpairs(el, "meta_attributes", self.idrefs))
        if el.tag in ("clone", "master"):
            child_el = next((c for c in el if c.tag in ("primitive", "group")), None)
            if child_el is None:
                raise ConfigError(_where(self.source, el), "clone has no primitive or group inside")
            child = self._resource(child_el, inherited)
            assert isinstance(child, Primitive | Group)
            meta = nvpairs(el, "meta_attributes", self.idrefs)
            promotable = el.tag == "master" or meta.get("promotable", "false").lower() == "true"
            return Clone(id=el.get("id", ""), child=child, meta=meta, promotable=promotable)
        if el.tag == "template":
            return None
        self.config.unsupported.append(f"{el.tag} {el.get('id')}")
        return None

    def _primitive(self, el: ET.Element, inherited: dict[str, str] | None = None) -> Primitive:
        tmpl = self.templates.get(el.get("template", "")) if el.get("template") else None
        base = tmpl if tmpl is not None else el
        if tmpl is not None:
            self.template_users.setdefault(el.get("template", ""), []).append(el.get("id", ""))
        rsc_class = el.get("class") or base.get("class")
        rtype = el.get("type") or base.get("type")
        if not rsc_class or not rtype:
            raise ConfigError(_where(self.source, el), "primitive needs class and type")
        params = dict(inherited or {})
        if tmpl is not None:
            params.update(nvpairs(base, "instance_attributes", self.idrefs))
        params.update(nvpairs(el, "instance_attributes", self.idrefs))
        meta = nvpairs(base, "meta_attributes", self.idrefs) if tmpl is not None else {}
        meta.update(nvpairs(el, "meta_attributes", self.idrefs))
        for block in self.agent_defaults:
            if block.applies(rsc_class, el.get("provider") or base.get("provider"), rtype):
                for name, value in block.values.items():
                    if name not in meta and name not in self.enclosing_meta:
                        meta[name] = value
        ops = [self._op(op) for op in el.findall("operations/op")]
        if tmpl is not None:
            have = {(o.name, o.interval_ms) for o in ops}
            ops += [o for o in (self._op(op) for op in tmpl.findall("operations/op"))
                    if (o.name, o.interval_ms) not in have]
        return Primitive(id=el.get("id", ""), rsc_class=rsc_class, type=rtype,
                         provider=el.get("provider") or base.get("provider"),
                         params=params, meta=meta, ops=ops,
                         utilization=nvpairs(el, "utilization", self.idrefs),
                         param_sets=self._param_sets(el))

    def _param_sets(self, el: ET.Element) -> list[tuple[Rule | None, dict[str, str]]]:
        blocks = [self.idrefs.get(b.get("id-ref", ""), b) if b.get("id-ref") else b
                  for b in el.findall("instance_attributes")]
        if not any(b.find("rule") is not None for b in blocks):
            return []
        ranked = sorted(blocks, key=lambda b: -parse_score(b.get("score"), 0))  # stable: ties keep order
        out: list[tuple[Rule | None, dict[str, str]]] = []
        for b in ranked:
            rule = b.find("rule")
            holder = ET.Element("p")
            holder.append(b)
            out.append((self._rule(rule) if rule is not None else None, nvpairs(holder, "instance_attributes")))
        return out

    def _op(self, el: ET.Element) -> Operation:
        meta = nvpairs(el, "meta_attributes", self.idrefs)
        try:
            interval = parse_interval_ms(el.get("interval", "0"))
            timeout = parse_interval_ms(el.get("timeout")) if el.get("timeout") else None
        except ValueError as exc:
            # Pacemaker ignores an operation whose interval it cannot read; so do we, loudly.
            self.warnings.append(f"{_where(self.source, el)}: {exc}; operation ignored")
            return Operation(name=el.get("name", ""), enabled=False, id=el.get("id", ""))
        return Operation(name=el.get("name", ""), interval_ms=interval, timeout_ms=timeout,
                         role=normalise_role(el.get("role")),
                         on_fail=el.get("on-fail") or meta.get("on-fail"),
                         enabled=(el.get("enabled", meta.get("enabled", "true")).lower() != "false"),
                         id=el.get("id", ""), params=nvpairs(el, "instance_attributes", self.idrefs),
                         meta=meta)

    # -- constraints ---------------------------------------------------------------
    def _is_collection(self, rid: str) -> bool:
        return rid in self.tags or rid in self.templates

    def _expand(self, rid: str) -> list[str]:
        """A constraint's resource reference: a tag stands for its members, a resource
        template for every primitive built from it (in configuration order)."""
        refs = self.tags.get(rid, [rid])
        return [r for ref in refs for r in (self.template_users.get(ref, []) if ref in self.templates else [ref])]

    def _sets(self, el: ET.Element) -> list[ET.Element]:
        return [s if not s.get("id-ref") else self.idrefs.get(s.get("id-ref", ""), s)
                for s in el.findall("resource_set")]

    def _set_members(self, s: ET.Element) -> list[str]:
        out: list[str] = []
        for ref in s.findall("resource_ref"):
            out += self._expand(ref.get("id", ""))
        return out

    def _constraint(self, el: ET.Element) -> None:
        where = _where(self.source, el)
        try:
            if el.tag == "rsc_location":
                self._location(el)
            elif el.tag == "rsc_colocation":
                self._colocation(el)
            elif el.tag == "rsc_order":
                self._order(el)
            elif el.tag == "rsc_ticket":
                self._ticket(el)
            else:
                self.config.unsupported.append(f"{el.tag} {el.get('id')}")
        except ValueError as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(where, str(exc)) from exc

    def _location(self, el: ET.Element) -> None:
        cid = el.get("id", "")
        rules = [self._rule(r) for r in el.findall("rule")]
        role = normalise_role(el.get("role"))
        discovery = el.get("resource-discovery", "always")
        score = parse_score(el.get("score"), 0) if el.get("score") is not None else 0
        if el.get("score-attribute"):
            pass
        targets: list[str | None]
        if self._sets(el):
            targets = [r for s in self._sets(el) for r in self._set_members(s)]
            if not role:
                role = normalise_role(self._sets(el)[0].get("role"))
        elif el.get("rsc-pattern"):
            self.config.locations.append(Location(id=cid, rsc=None, rsc_pattern=el.get("rsc-pattern"),
                                                  node=el.get("node"), score=score, rules=rules,
                                                  role=role, discovery=discovery))
            return
        else:
            targets = list(self._expand(el.get("rsc", "")))
        for rsc in targets:
            self.config.locations.append(Location(id=cid, rsc=rsc, node=el.get("node"), score=score,
                                                  rules=rules, role=role, discovery=discovery))

    def _ticket(self, el: ET.Element) -> None:
        policy = el.get("loss-policy", "stop")
        targets: list[tuple[str, str | None]] = []
        if self._sets(el):
            for s in self._sets(el):
                targets += [(r, normalise_role(s.get("role"))) for r in self._set_members(s)]
        else:
            targets = [(r, normalise_role(el.get("rsc-role"))) for r in self._expand(el.get("rsc", ""))]
        for rsc, role in targets:
            self.config.tickets.append(TicketDependency(id=el.get("id", ""), rsc=rsc, ticket=el.get("ticket", ""),
                                                        rsc_role=role, loss_policy=policy))

    def _rule(self, el: ET.Element) -> Rule:
        if el.get("id-ref"):
            el = self.idrefs.get(el.get("id-ref", ""), el)
        score = el.get("score")
        rule = Rule(id=el.get("id", ""), boolean_op=el.get("boolean-op", "and"),
                    score=parse_score(score) if score is not None else None,
                    score_attribute=el.get("score-attribute"), role=normalise_role(el.get("role")))
        for child in el:
            if child.tag == "expression":
                rule.expressions.append(Expression(
                    attribute=child.get("attribute", ""), operation=child.get("operation", "eq"),
                    value=child.get("value"), value_type=child.get("type") or _default_type(child),
                    value_source=child.get("value-source", "literal")))
            elif child.tag == "date_expression":
                spec_el = child.find("date_spec")
                rule.expressions.append(DateExpression(
                    operation=child.get("operation", "in_range"), start=child.get("start"),
                    end=child.get("end"), spec=dict(spec_el.attrib) if spec_el is not None else {}))
            elif child.tag == "rule":
                rule.expressions.append(self._rule(child))
        return rule

    def _colocation(self, el: ET.Element) -> None:
        cid = el.get("id", "")
        score = parse_score(el.get("score"), INFINITY) if el.get("score") is not None else INFINITY
        influence = el.get("influence", "true").lower() != "false"
        attr = el.get("node-attribute", "#uname")
        sets = self._sets(el)
        add = self.config.colocations.append
        if not sets:
            if self._is_collection(el.get("rsc", "")) and self._is_collection(el.get("with-rsc", "")):
                # Pacemaker 2.1.5 applies nothing when both sides name a tag or template
                self.warnings.append(f"{_where(self.source, el)}: both sides name a tag or template; "
                                     "the colocation has no effect (as in Pacemaker)")
                return
            for rsc in self._expand(el.get("rsc", "")):
                for with_rsc in self._expand(el.get("with-rsc", "")):
                    add(Colocation(id=cid, rsc=rsc, with_rsc=with_rsc, score=score,
                                   rsc_role=normalise_role(el.get("rsc-role")),
                                   with_rsc_role=normalise_role(el.get("with-rsc-role")),
                                   influence=influence, node_attribute=attr))
            return
        # Within a sequential set each member goes with the one before it; across
        # sets, each set goes with the set after it.
        for s in sets:
            members = self._set_members(s)
            role = normalise_role(s.get("role"))
            set_score = parse_score(s.get("score"), score) if s.get("score") else score
            if s.get("sequential", "true").lower() != "false":
                for prev, cur in zip(members, members[1:], strict=False):
                    add(Colocation(id=cid, rsc=cur, with_rsc=prev, score=set_score, rsc_role=role,
                                   with_rsc_role=role, influence=influence, node_attribute=attr))
        for s1, s2 in zip(sets, sets[1:], strict=False):
            m1, m2 = self._set_members(s1), self._set_members(s2)
            if not m1 or not m2:
                continue
            seq2 = s2.get("sequential", "true").lower() != "false"
            primaries = [m2[-1]] if seq2 else m2
            dependents = m1 if s1.get("sequential", "true").lower() == "false" else [m1[0]]
            for dep in dependents:
                for prim in primaries:
                    add(Colocation(id=cid, rsc=dep, with_rsc=prim, score=score,
                                   rsc_role=normalise_role(s1.get("role")),
                                   with_rsc_role=normalise_role(s2.get("role")),
                                   influence=influence, node_attribute=attr))

    def _order(self, el: ET.Element) -> None:
        cid = el.get("id", "")
        kind = el.get("kind")
        if kind is None:
            score = el.get("score")
            kind = "Optional" if score is not None and parse_score(score) == 0 else "Mandatory"
        kind = kind.capitalize()
        symmetrical = el.get("symmetrical", "true" if kind != "Serialize" else "false").lower() != "false"
        sets = self._sets(el)
        add = self.config.orders.append
        if not sets:
            for first in self._expand(el.get("first", "")):
                for then in self._expand(el.get("then", "")):
                    add(Order(id=cid, first=first, then=then,
                              first_action=el.get("first-action", "start"),
                              then_action=el.get("then-action", el.get("first-action", "start")),
                              kind=kind, symmetrical=symmetrical,
                              require_all=el.get("require-all", "true").lower() != "false"))
            return
        require_all_flags = []
        for s in sets:
            members = self._set_members(s)
            action = s.get("action", "start")
            require_all_flags.append(s.get("require-all", "true").lower() != "false")
            if s.get("sequential", "true").lower() != "false":
                for prev, cur in zip(members, members[1:], strict=False):
                    add(Order(id=cid, first=prev, then=cur, first_action=action, then_action=action,
                              kind=kind, symmetrical=symmetrical))
        for i, (s1, s2) in enumerate(zip(sets, sets[1:], strict=False)):
            m1, m2 = self._set_members(s1), self._set_members(s2)
            if not m1 or not m2:
                continue
            seq1 = s1.get("sequential", "true").lower() != "false"
            seq2 = s2.get("sequential", "true").lower() != "false"
            firsts = [m1[-1]] if seq1 else m1
            thens = [m2[0]] if seq2 else m2
            for first in firsts:
                for then in thens:
                    add(Order(id=cid, first=first, then=then, first_action=s1.get("action", "start"),
                              then_action=s2.get("action", "start"), kind=kind, symmetrical=symmetrical,
                              require_all=require_all_flags[i]))


def _default_type(expr: ET.Element) -> str:
    """An untyped comparison (lt, gt, lte, gte) is numeric when its value is a number, as
    Pacemaker compares them: a decimal as a number, else as an integer; anything else, and
    eq/ne, as strings. (A node value that is no number falls back to a string comparison.)"""
    value = (expr.get("value") or "").strip()
    if expr.get("operation", "eq") not in ("lt", "gt", "lte", "gte"):
        return "string"
    try:
        float(value)
    except ValueError:
        return "string"
    return "number" if "." in value else "integer"


def parse_cib(root: ET.Element, source: str = "cib") -> Configuration:
    return CibParser(root, source).parse()
