"""Rules on node attributes (Pacemaker's <rule>): the one piece of logic
shared by location constraints and attribute sets."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from corral.model.scores import parse_score


@dataclass
class Expression:
    attribute: str
    operation: str
    value: str | None = None
    value_type: str = "string"
    value_source: str = "literal"


@dataclass
class DateExpression:
    operation: str  # in_range, gt, lt, date_spec
    start: str | None = None
    end: str | None = None
    spec: dict[str, str] = field(default_factory=dict)


@dataclass
class Rule:
    id: str
    boolean_op: str = "and"
    score: int | None = None
    score_attribute: str | None = None
    role: str | None = None
    expressions: list[Expression | DateExpression | Rule] = field(default_factory=list)

    def matches(self, attrs: dict[str, str], now: datetime | None = None,
                sources: RscValues | None = None) -> bool:
        """`sources`: the resource's parameters and meta attributes, which an expression
        with value-source=param/meta compares the node attribute against."""
        if not self.expressions:
            return True
        results = (_evaluate(e, attrs, now, sources) for e in self.expressions)
        return any(results) if self.boolean_op == "or" else all(results)

    def score_for(self, attrs: dict[str, str]) -> int:
        if self.score_attribute:
            return parse_score(attrs.get(self.score_attribute), default=0) if self.score_attribute in attrs else 0
        return self.score or 0


@dataclass
class RscValues:
    params: dict[str, str] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    # parameter blocks with rules, best first (Primitive.param_sets): judged per node
    param_sets: list[tuple[Rule | None, dict[str, str]]] = field(default_factory=list)

    def param(self, name: str, attrs: dict[str, str], now: datetime | None) -> str | None:
        for rule, pairs in self.param_sets:
            if name in pairs and (rule is None or rule.matches(attrs, now)):
                return pairs[name]
        return self.params.get(name)


def _evaluate(expr: Expression | DateExpression | Rule, attrs: dict[str, str], now: datetime | None,
              sources: RscValues | None) -> bool:
    if isinstance(expr, Rule):
        return expr.matches(attrs, now, sources)
    if isinstance(expr, DateExpression):
        return _evaluate_date(expr, now or datetime.now())
    have = attrs.get(expr.attribute)
    op = expr.operation
    if op == "defined":
        return have is not None
    if op == "not_defined":
        return have is None
    value = expr.value
    if expr.value_source in ("param", "meta") and value is not None:
        # the value names one of the resource's parameters (or meta attributes)
        if sources is None:
            value = None
        elif expr.value_source == "param":
            value = sources.param(value, attrs, now)
        else:
            value = sources.meta.get(value)
    if have is None or value is None:
        return op == "ne"
    cmp = _compare(have, value, expr.value_type)
    return {"eq": cmp == 0, "ne": cmp != 0, "lt": cmp < 0, "lte": cmp <= 0,
            "gt": cmp > 0, "gte": cmp >= 0}.get(op, False)


def _compare(a: str, b: str, value_type: str) -> int:
    if value_type in ("integer", "number", "int"):
        try:
            fa, fb = float(a), float(b)
            return (fa > fb) - (fa < fb)
        except ValueError:
            pass
    if value_type == "version":
        va, vb = _version(a), _version(b)
        return (va > vb) - (va < vb)
    return (a > b) - (a < b)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text))


def _parse_date(text: str) -> datetime | None:
    t = text.strip().replace("Z", "")
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%j"):
        try:
            return datetime.strptime(t, fmt)
        except ValueError:
            continue
    return None


def _evaluate_date(expr: DateExpression, now: datetime) -> bool:
    start = _parse_date(expr.start) if expr.start else None
    end = _parse_date(expr.end) if expr.end else None
    if expr.operation == "gt":
        return start is not None and now > start
    if expr.operation == "lt":
        return end is not None and now < end
    if expr.operation == "in_range":
        return (start is None or now >= start) and (end is None or now <= end)
    if expr.operation == "date_spec":
        fields = {"hours": now.hour, "monthdays": now.day, "weekdays": now.isoweekday(),
                  "yeardays": now.timetuple().tm_yday, "months": now.month, "years": now.year,
                  "minutes": now.minute, "seconds": now.second}
        for key, spec in expr.spec.items():
            if key not in fields:
                continue
            low, _, high = spec.partition("-")
            value = fields[key]
            if not (int(low) <= value <= int(high or low)):
                return False
        return True
    return False
