"""Corral's YAML configuration format -> Configuration (and back).

Three stages, each reporting every problem as `file:line: path: problem`:
1. `read_yaml`: YAML text -> plain data plus a map from path to line, using the
   composed node tree (PyYAML marks). YAML 1.2 core scalars only, so `on`, `no`
   and `0755` stay strings (the YAML 1.1 "Norway problem" bites node attributes
   and params otherwise); duplicate keys are errors, not silent overrides.
2. pydantic models (`ConfigYaml`) check the shape; their error locations are
   paths that the line map turns into lines.
3. `_ConfigBuilder` makes the dataclasses, remembering each object's path so
   `corral.model.validate` (shared with the CIB loader) can name lines too.

The format is documented in docs/configuration.md.
"""
from __future__ import annotations

import difflib
import math
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    AliasGenerator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

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
    normalise_role,
    parse_interval_ms,
)
from corral.model.config import Node as ClusterNode
from corral.model.errors import ConfigError
from corral.model.rules import DateExpression, Expression, Rule
from corral.model.scores import INFINITY, format_score, parse_score
from corral.model.validate import ConfigErrors, DefaultLocator, Key, validate

PathT = tuple[str | int, ...]

# --------------------------------------------------------------------------------------------
# 1. YAML with line numbers
# --------------------------------------------------------------------------------------------
_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader with YAML 1.2 core-schema implicit types."""


_Loader.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
              r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+0123456789."),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("merge", r"^(?:<<)$", "<"),
):
    _Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_regexp), list(_first))

_MAX_NODES = 2_000_000  # guards against alias expansion bombs


class RawInt(int):
    """An int that remembers how it was written: `mode: 0755` and `v: 1.10` stay
    '0755' and '1.10' where a string is wanted (params, meta, attributes)."""
    raw: str

    def __new__(cls, value: int, raw: str) -> RawInt:
        obj = super().__new__(cls, value)
        obj.raw = raw
        return obj


class RawFloat(float):
    raw: str

    def __new__(cls, value: float, raw: str) -> RawFloat:
        obj = super().__new__(cls, value)
        obj.raw = raw
        return obj


def format_path(path: PathT) -> str:
    """('resources', 2, 'ops', 0, 'interval') -> 'resources[2].ops[0].interval'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_#-]+", part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out or "(top level)"


@dataclass
class YamlDoc:
    """Loaded YAML data with the line (1-based) of every value and mapping key."""
    source: str
    data: Any
    lines: dict[PathT, int] = field(default_factory=dict)
    key_lines: dict[PathT, int] = field(default_factory=dict)

    def line(self, path: PathT) -> int | None:
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return None

    def where(self, path: PathT, *, at_key: bool = False, line_of: PathT | None = None) -> str:
        line = self.key_lines.get(path) if at_key else None
        line = line or self.line(path if line_of is None else line_of)
        return f"{self.source}:{line}: {format_path(path)}" if line else f"{self.source}: {format_path(path)}"


class _Builder:
    def __init__(self, doc: YamlDoc, loader: Any) -> None:
        self.doc = doc
        self.loader = loader
        self.errors: list[tuple[str, str]] = []
        self.count = 0

    def build(self, node: Node, path: PathT, stack: tuple[int, ...] = ()) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            raise ConfigError(self.doc.source, "document too large (aliases expand to too many values)")
        self.doc.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if id(node) in stack:
            self.errors.append((self.doc.where(path), "an alias refers to itself"))
            return None
        stack = (*stack, id(node))
        if isinstance(node, SequenceNode):
            return [self.build(child, (*path, i), stack) for i, child in enumerate(node.value)]
        assert isinstance(node, MappingNode)
        out: dict[str, Any] = {}
        merges: list[Node] = []
        for knode, vnode in node.value:
            if knode.tag == "tag:yaml.org,2002:merge":
                merges.append(vnode)
                continue
            key = self.key(knode, path)
            if key is None:
                continue
            kpath = (*path, key)
            if key in out:
                first = self.doc.key_lines.get(kpath)
                self.errors.append((f"{self.doc.source}:{knode.start_mark.line + 1}: {format_path(kpath)}",
                                    f"duplicate key {key!r} (first given at line {first})"))
                continue
            self.doc.key_lines[kpath] = knode.start_mark.line + 1
            out[key] = self.build(vnode, kpath, stack)
        # `<<: *anchor` merges: explicit keys win, then earlier merged mappings.
        for merged in merges:
            for m in (merged.value if isinstance(merged, SequenceNode) else [merged]):
                value = self.build(m, path, stack)
                if isinstance(value, dict):
                    for k, v in value.items():
                        out.setdefault(k, v)
                else:
                    self.errors.append((self.doc.where(path), "'<<' can only merge mappings"))
        return out

    def key(self, knode: Node, path: PathT) -> str | None:
        if not isinstance(knode, ScalarNode):
            self.errors.append((self.doc.where(path), f"line {knode.start_mark.line + 1}: a key must be a "
                                "plain value, not a list or mapping"))
            return None
        value = self.scalar(knode, path)
        if value is None:
            self.errors.append((f"{self.doc.source}:{knode.start_mark.line + 1}: {format_path(path)}",
                                "empty key"))
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def scalar(self, node: ScalarNode, path: PathT) -> Any:
        tag, v = node.tag, node.value
        if tag == "tag:yaml.org,2002:str":
            return v
        if tag == "tag:yaml.org,2002:null":
            return None
        if tag == "tag:yaml.org,2002:bool":
            return v.lower() == "true"
        if tag == "tag:yaml.org,2002:int" and not node.style and re.fullmatch(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", v):
            number = int(v[2:], 8) if v.startswith("0o") else int(v[2:], 16) if v.startswith("0x") else int(v)
            return RawInt(number, v)
        if tag == "tag:yaml.org,2002:float" and not node.style:
            t = v.lower().lstrip("+")
            if t in (".inf", "-.inf", ".nan"):
                return RawFloat({".inf": math.inf, "-.inf": -math.inf}.get(t, math.nan), v)
            return RawFloat(float(v), v)
        try:  # explicit tags such as !!str or !!int
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.errors.append((self.doc.where(path), f"cannot read value: {getattr(exc, 'problem', exc)}"))
            return None


def read_yaml(text: str, source: str) -> YamlDoc:
    """Parse YAML text into a YamlDoc; syntax errors and duplicate keys raise ConfigErrors."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        doc = YamlDoc(source, None)
        if root is None:
            return doc
        builder = _Builder(doc, loader)
        doc.data = builder.build(root, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigErrors(source, [(where, f"invalid YAML: {problem}")]) from exc
    except yaml.YAMLError as exc:
        raise ConfigErrors(source, [(source, f"invalid YAML: {exc}")]) from exc
    finally:
        loader.dispose()
    if builder.errors:
        raise ConfigErrors(source, builder.errors)
    return doc


# --------------------------------------------------------------------------------------------
# 2. The shape, as pydantic models
# --------------------------------------------------------------------------------------------
def _text(v: Any) -> str:
    """A scalar as Pacemaker's nvpair text: booleans as true/false, numbers as written."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, RawInt | RawFloat):
        return v.raw
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return format_score(INFINITY if v > 0 else -INFINITY) if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return v
    if v is None:
        raise ValueError("a value is needed here (write '' for an empty string)")
    raise ValueError(f"must be a single value, not a {'list' if isinstance(v, list) else 'mapping'}")


def _name(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, str | int):
        raise ValueError(f"must be a name, not {_describe(v)}")
    if v == "":
        raise ValueError("must not be empty")
    return v.raw if isinstance(v, RawInt) else str(v)


def _score(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise ValueError(f"{_describe(v)} is not a score (an integer, INFINITY or -INFINITY)")
    if isinstance(v, float):
        if math.isinf(v):
            return INFINITY if v > 0 else -INFINITY
        if not v.is_integer():
            raise ValueError(f"{v!r} is not a score (scores are whole numbers)")
        v = int(v)
    try:
        return parse_score(v)
    except ValueError:
        raise ValueError(f"{v!r} is not a score (an integer, INFINITY or -INFINITY)") from None


def _interval(v: Any) -> int:
    """Milliseconds. Bare numbers are seconds, as in Pacemaker."""
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise ValueError(f"{_describe(v)} is not a time interval")
    if isinstance(v, int | float):
        return int(v * 1000)
    try:
        return parse_interval_ms(v)
    except ValueError:
        raise ValueError(f"{v!r} is not a time interval (e.g. 10s, 500ms, 2min, 1h, PT1M; "
                         "a bare number is seconds)") from None


def _role(v: Any) -> str | None:
    if not isinstance(v, str):
        raise ValueError(f"{_describe(v)} is not a role")
    return normalise_role(v)


_AGENT_HELP = ("write CLASS:PROVIDER:TYPE (ocf:heartbeat:IPaddr2) or CLASS:TYPE "
               "(systemd:haproxy, corral:process, stonith:fence_ipmilan)")


def _agent(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"{_describe(v)} is not an agent; {_AGENT_HELP}")
    parts = v.split(":")
    if len(parts) not in (2, 3) or not all(p.strip() for p in parts):
        raise ValueError(f"{v!r} is not an agent; {_AGENT_HELP}")
    return v


def _describe(v: Any) -> str:
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a mapping"
    if v is None:
        return "an empty value"
    return repr(v)


Text = Annotated[str, BeforeValidator(_text)]
Name = Annotated[str, BeforeValidator(_name)]
Score = Annotated[int, BeforeValidator(_score)]
Interval = Annotated[int, BeforeValidator(_interval)]
Role = Annotated[str, BeforeValidator(_role)]
Agent = Annotated[str, BeforeValidator(_agent)]
Attrs = dict[Name, Text]


def _aliases(name: str) -> AliasChoices:
    """Pacemaker spells keys with hyphens (on-fail); underscores are accepted too."""
    hyphen = name.rstrip("_").replace("_", "-")
    return AliasChoices(hyphen, name) if hyphen != name else AliasChoices(name)


class _Yaml(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True,
                              alias_generator=AliasGenerator(validation_alias=_aliases))


def _keys(*names: str, default: Any = None) -> Any:
    """A field with several accepted spellings; the first is the documented one."""
    return Field(default=default, validation_alias=AliasChoices(*names))


class OperationYaml(_Yaml):
    name: Name
    interval: Interval = 0
    timeout: Interval | None = None
    role: Role | None = None
    on_fail: Text | None = None
    enabled: bool = True
    id: Name | None = None


class PrimitiveYaml(_Yaml):
    id: Name
    agent: Agent
    params: Attrs = {}
    meta: Attrs = {}
    ops: list[OperationYaml] = []
    utilization: Attrs = {}


def _only_primitive(v: Any) -> Any:
    if isinstance(v, dict):
        for kind in ("group", "clone", "promotable"):
            if kind in v:
                raise ValueError(f"a group can only contain primitives, not a {kind}")
    return v


class GroupYaml(_Yaml):
    group: Name
    members: list[Annotated[PrimitiveYaml, BeforeValidator(_only_primitive)]]
    meta: Attrs = {}


def _child_kind(v: Any) -> str | None:
    if isinstance(v, dict):
        if "group" in v:
            return "<group>"
        if "id" in v or "agent" in v:
            return "<primitive>"
    return None


def _no_clone_in_clone(v: Any) -> Any:
    if isinstance(v, dict) and ("clone" in v or "promotable" in v):
        raise ValueError("a clone cannot contain another clone")
    return v


CloneChild = Annotated[
    Annotated[Annotated[PrimitiveYaml, Tag("<primitive>")] | Annotated[GroupYaml, Tag("<group>")],
              Discriminator(_child_kind, custom_error_type="resource_kind",
                            custom_error_message="a clone contains a primitive (id, agent) or a group "
                                                 "(group, members)")],
    BeforeValidator(_no_clone_in_clone)]


class CloneYaml(_Yaml):
    clone: Name
    of: CloneChild
    meta: Attrs = {}


class PromotableYaml(_Yaml):
    promotable: Name
    of: CloneChild
    meta: Attrs = {}


def _resource_kind(v: Any) -> str | None:
    if isinstance(v, dict):
        for kind in ("group", "clone", "promotable"):
            if kind in v:
                return f"<{kind}>"
        if "id" in v or "agent" in v:
            return "<primitive>"
    return None


ResourceYaml = Annotated[
    Annotated[PrimitiveYaml, Tag("<primitive>")] | Annotated[GroupYaml, Tag("<group>")]
    | Annotated[CloneYaml, Tag("<clone>")] | Annotated[PromotableYaml, Tag("<promotable>")],
    Discriminator(_resource_kind, custom_error_type="resource_kind",
                  custom_error_message="a resource needs 'id' and 'agent' (a primitive), or one of "
                                       "'group', 'clone', 'promotable'")]


class NodeYaml(_Yaml):
    name: Name
    id: Name | None = None
    kind: Text = _keys("type", "kind", default="member")
    attributes: Attrs = _keys("attributes", "attrs", default={})
    utilization: Attrs = {}


class DefaultsYaml(_Yaml):
    resource: Attrs = {}
    op: Attrs = {}


class ExpressionYaml(_Yaml):
    attribute: Name
    op: Text = _keys("op", "operation")
    value: Text | None = None
    type: Text = "string"
    value_source: Text = "literal"


class DateExpressionYaml(_Yaml):
    date: Text
    start: Text | None = None
    end: Text | None = None
    spec: Attrs = {}


def _expr_kind(v: Any) -> str | None:
    if isinstance(v, dict):
        if "attribute" in v:
            return "<expression>"
        if "date" in v:
            return "<date>"
        if "expressions" in v:
            return "<rule>"
    return None


class RuleYaml(_Yaml):
    id: Name | None = None
    score: Score | None = None
    score_attribute: Name | None = None
    boolean_op: Text = "and"
    role: Role | None = None
    expressions: list[RuleItem] = []


RuleItem = Annotated[
    Annotated[ExpressionYaml, Tag("<expression>")] | Annotated[DateExpressionYaml, Tag("<date>")]
    | Annotated[RuleYaml, Tag("<rule>")],
    Discriminator(_expr_kind, custom_error_type="expression_kind",
                  custom_error_message="an expression needs 'attribute' (a node attribute test), "
                                       "'date' (a date test) or 'expressions' (a nested rule)")]
RuleYaml.model_rebuild()


class LocationYaml(_Yaml):
    id: Name | None = None
    rsc: Name | None = None
    rsc_pattern: Text | None = None
    node: Name | None = None
    score: Score | None = None
    rule: RuleYaml | None = None
    rules: list[RuleYaml] = []
    role: Role | None = None
    resource_discovery: Text = _keys("resource-discovery", "resource_discovery", "discovery", default="always")

    @model_validator(mode="after")
    def _one_target(self) -> LocationYaml:
        if (self.rsc is None) == (self.rsc_pattern is None):
            raise ValueError("give exactly one of 'rsc' and 'rsc-pattern'")
        has_rules = self.rule is not None or bool(self.rules)
        if self.node is not None and has_rules:
            raise ValueError("give either 'node' (with a score) or a 'rule', not both")
        if self.node is None and not has_rules:
            raise ValueError("a location needs a 'node' (with a score) or a 'rule'")
        if has_rules and self.score is not None:
            raise ValueError("with a rule, the score goes inside the rule")
        return self


class ColocationYaml(_Yaml):
    id: Name | None = None
    rsc: Name
    with_: Name = Field(validation_alias=AliasChoices("with", "with-rsc", "with_rsc"))
    score: Score = INFINITY
    rsc_role: Role | None = None
    with_role: Role | None = _keys("with-role", "with-rsc-role", "with_role", "with_rsc_role")
    influence: bool = True
    node_attribute: Text = "#uname"


def _kind(v: Any) -> Any:
    return v.capitalize() if isinstance(v, str) else v


Kind = Annotated[str, BeforeValidator(_kind)]


class OrderYaml(_Yaml):
    id: Name | None = None
    first: Name
    then: Name
    first_action: Text = "start"
    then_action: Text | None = None
    kind: Kind = "Mandatory"
    symmetrical: bool | None = None
    require_all: bool = True


class ColocationSetMembersYaml(_Yaml):
    id: Name | None = None
    resources: list[Name] = Field(min_length=1)
    sequential: bool = True
    role: Role | None = None
    score: Score | None = None


class OrderSetMembersYaml(_Yaml):
    id: Name | None = None
    resources: list[Name] = Field(min_length=1)
    sequential: bool = True
    action: Text = "start"
    require_all: bool = True


class ColocationSetYaml(_Yaml):
    id: Name | None = None
    sets: list[ColocationSetMembersYaml] = Field(min_length=1)
    score: Score = INFINITY
    influence: bool = True
    node_attribute: Text = "#uname"


class OrderSetYaml(_Yaml):
    id: Name | None = None
    sets: list[OrderSetMembersYaml] = Field(min_length=1)
    kind: Kind = "Mandatory"
    symmetrical: bool | None = None


class TicketYaml(_Yaml):
    id: Name | None = None
    rsc: Name
    ticket: Name
    rsc_role: Role | None = None
    loss_policy: Text = "stop"


CONSTRAINT_KINDS = ("location", "colocation", "order", "colocation-set", "order-set", "ticket")


class ConstraintYaml(_Yaml):
    location: LocationYaml | None = None
    colocation: ColocationYaml | None = None
    order: OrderYaml | None = None
    colocation_set: ColocationSetYaml | None = None
    order_set: OrderSetYaml | None = None
    ticket: TicketYaml | None = None

    @model_validator(mode="before")
    @classmethod
    def _exactly_one(cls, v: Any) -> Any:
        if not isinstance(v, dict) or len(v) != 1:
            raise ValueError(f"a constraint is a mapping with exactly one key: {', '.join(CONSTRAINT_KINDS)}")
        return v


class FencingLevelYaml(_Yaml):
    target: Name
    index: int | None = Field(default=None, ge=1)
    devices: list[Name] | Name


class ConfigYaml(_Yaml):
    version: Literal[1] = 1
    cluster: Attrs = {}
    nodes: list[NodeYaml] = []
    defaults: DefaultsYaml = DefaultsYaml()
    resources: list[ResourceYaml] = []
    constraints: list[ConstraintYaml] = []
    fencing_topology: list[FencingLevelYaml] = []


_TAGGED: dict[str, type[BaseModel]] = {
    "<primitive>": PrimitiveYaml, "<group>": GroupYaml, "<clone>": CloneYaml,
    "<promotable>": PromotableYaml, "<expression>": ExpressionYaml, "<date>": DateExpressionYaml,
    "<rule>": RuleYaml,
}


def _alias_names(info: Any, name: str) -> list[str]:
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(c) for c in alias.choices]
    return [name]


def _all_models() -> Iterable[type[BaseModel]]:
    seen: set[type] = set()
    todo: list[type[BaseModel]] = [ConfigYaml, *_TAGGED.values()]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        yield m
        for info in m.model_fields.values():
            todo += [t for t in _types_in(info.annotation) if isinstance(t, type) and issubclass(t, BaseModel)]


def _types_in(t: Any) -> list[Any]:
    args = typing.get_args(t)
    return [t, *(x for a in args for x in _types_in(a))]


# Every spelling of a key -> all its spellings; lets a locator find what the user wrote.
SPELLINGS: dict[str, list[str]] = {}
for _m in _all_models():
    for _n, _info in _m.model_fields.items():
        _names = _alias_names(_info, _n)
        for _a in _names:
            SPELLINGS.setdefault(_a, [])
            SPELLINGS[_a] += [x for x in _names if x not in SPELLINGS[_a]]


def _unwrap(t: Any) -> Any:
    while True:
        origin = typing.get_origin(t)
        if origin is Annotated:
            t = typing.get_args(t)[0]
        elif origin in (typing.Union, types.UnionType):
            rest = [a for a in typing.get_args(t) if a is not type(None)]
            if len(rest) != 1:
                return t
            t = rest[0]
        else:
            return t


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model that validated the mapping at pydantic location `loc`."""
    t: Any = root
    for part in loc:
        if isinstance(part, str) and part.startswith("<"):
            t = _TAGGED.get(part)
            continue
        t = _unwrap(t)
        if isinstance(t, type) and issubclass(t, BaseModel):
            info = next((i for n, i in t.model_fields.items() if part in _alias_names(i, n)), None)
            if info is None:
                return None
            t = info.annotation
        elif typing.get_origin(t) is list:
            t = typing.get_args(t)[0]
        elif typing.get_origin(t) is dict:
            t = typing.get_args(t)[1]
        else:
            return None
    t = _unwrap(t)
    return t if isinstance(t, type) and issubclass(t, BaseModel) else None


def _unknown_key_problem(root: type[BaseModel], loc: tuple[Any, ...], key: str) -> str:
    model = _model_at(root, loc[:-1])
    if model is None:
        return f"unknown key {key!r}"
    known = [_alias_names(i, n)[0] for n, i in model.model_fields.items()]
    close = difflib.get_close_matches(key.replace("_", "-"), known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key {key!r}{hint} (expected: {', '.join(known)})"


def pydantic_problems(exc: ValidationError, doc: YamlDoc, root: type[BaseModel] | None = None,
                      ) -> list[tuple[str, str]]:
    """Pydantic errors of `root` (default ConfigYaml) as (where, problem), where = file:line: path."""
    out: list[tuple[int, str, str]] = []
    for err in exc.errors(include_url=False):
        raw = tuple(err["loc"])
        path: PathT = tuple(p for p in raw if not (isinstance(p, str) and p.startswith("<")))
        kind = err["type"]
        if kind == "missing":
            where = doc.where(path[:-1])
            problem = f"missing required key {path[-1]!r}"
        elif kind == "extra_forbidden":
            where = doc.where(path, at_key=True)
            problem = _unknown_key_problem(root or ConfigYaml, raw, str(path[-1]))
        elif kind == "value_error":
            where = doc.where(path)
            problem = str(err.get("ctx", {}).get("error", err["msg"]))
        else:
            where = doc.where(path)
            msg = err["msg"]
            problem = msg[0].lower() + msg[1:]
            value = err.get("input")
            if isinstance(value, str | int | float | bool) and kind not in ("resource_kind", "expression_kind"):
                problem += f", got {value!r}"
        out.append((doc.line(path) or 0, where, problem))
    out.sort(key=lambda x: x[0])
    return [(w, p) for _, w, p in out]


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


def _ms_text(ms: int) -> str:
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def op_id(rsc: str, name: str, interval_ms: int, role: str | None) -> str:
    """pcs-style operation id: vip-monitor-interval-10s[-promoted]."""
    return f"{rsc}-{name}-interval-{_ms_text(interval_ms)}" + (f"-{role.lower()}" if role else "")


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
                           id=o.id or op_id(p.id, o.name, o.interval, o.role))
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


def _read_text(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"not UTF-8 text: {exc.reason} at byte {exc.start}") from exc


# --------------------------------------------------------------------------------------------
# Configuration -> YAML (CIB import, `corral config show`)
# --------------------------------------------------------------------------------------------
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

