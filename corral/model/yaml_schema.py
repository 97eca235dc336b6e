"""The shape of Corral's YAML configuration, as pydantic models (`ConfigYaml`).

The field types (Name, Text, Score, Interval, ...) accept what `read_yaml` gives and
say what they reject; `pydantic_problems` turns pydantic's error locations, which are
paths, into `file:line: path: problem` through a YamlDoc's line map. The state format
(corral.model.yaml_state) reuses the field types, `_Yaml` and `pydantic_problems`.
"""
from __future__ import annotations

import difflib
import math
import types
import typing
from collections.abc import Iterable
from typing import Annotated, Any, Literal

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

from corral.model.config import normalise_role, parse_interval_ms
from corral.model.scores import INFINITY, format_score, parse_score
from corral.model.yaml_compute import ComputeYaml
from corral.model.yaml_neutron import NeutronYaml
from corral.model.yaml_reader import PathT, RawFloat, RawInt, YamlDoc


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
    params: Attrs = {}   # the operation's own instance attributes (e.g. OCF_CHECK_LEVEL)
    meta: Attrs = {}


# An operation's default id lives with the schema: the builder fills it in when `id`
# is left out, and the dumper leaves out an id equal to it.
def _ms_text(ms: int) -> str:
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def op_id(rsc: str, name: str, interval_ms: int, role: str | None) -> str:
    """pcs-style operation id: vip-monitor-interval-10s[-promoted]."""
    return f"{rsc}-{name}-interval-{_ms_text(interval_ms)}" + (f"-{role.lower()}" if role else "")


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
    compute: ComputeYaml | None = None   # compute HA (corral.model.yaml_compute, docs/openstack.md)
    neutron: NeutronYaml | None = None   # L3 routers off dead agents (corral.model.yaml_neutron)


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
