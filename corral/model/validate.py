"""Checks on a Configuration beyond its shape, shared by the YAML and CIB loaders.

`validate(config, source, locator)` collects every problem before raising, so
an operator fixes a file in one pass: errors raise one `ConfigErrors` (a
`ConfigError`) listing them one per line; warnings are returned. A `Locator`
turns a model object into a place: `file:line: resources[2].ops[0]` for YAML,
`cib.xml: <op id='x'>` for a CIB (`DefaultLocator`).

Severity follows Pacemaker: what its scheduler rejects or would silently
ignore as a configuration error is an error here; what it accepts but is
probably a mistake (a location naming a node not yet defined, an unknown
cluster option) is a warning.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Literal, Protocol

from corral.model.config import (
    PROMOTED,
    STARTED,
    STOPPED,
    UNPROMOTED,
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
from corral.model.errors import ConfigError
from corral.model.rules import DateExpression, Expression, Rule, _parse_date
from corral.model.scores import INFINITY, parse_score

Key = str | tuple[str | int, ...] | None

KNOWN_ROLES = (STARTED, STOPPED, PROMOTED, UNPROMOTED)
AGENT_CLASSES = ("ocf", "lsb", "service", "systemd", "stonith", "corral", "nagios", "upstart")
ON_FAIL = ("ignore", "nothing", "block", "demote", "stop", "restart", "restart-container",
           "standby", "fence")
ORDER_ACTIONS = ("start", "stop", "promote", "demote")
ORDER_KINDS = ("Mandatory", "Optional", "Serialize")
LOSS_POLICIES = ("stop", "demote", "fence", "freeze")
NODE_KINDS = ("member", "remote", "ping", "normal")
DISCOVERY = ("always", "never", "exclusive")
EXPR_OPS = ("lt", "gt", "lte", "gte", "eq", "ne", "defined", "not_defined")
EXPR_TYPES = ("string", "integer", "number", "version")
VALUE_SOURCES = ("literal", "param", "meta")
DATE_OPS = ("in_range", "gt", "lt", "date_spec")
DATE_SPEC_KEYS = ("hours", "monthdays", "weekdays", "yeardays", "months", "weeks", "years",
                  "weekyears", "moon", "minutes", "seconds")
# XML ID rules, which Pacemaker's schema enforces; ':' is reserved for clone instances.
ID_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
PROVIDER_RE = re.compile(r"[^\s:/]+")
TYPE_RE = re.compile(r"[^\s:]+")  # '/' allowed: stonith:external/ipmi, lsb:/path/to/script


# -- value checkers: None when fine, else what is wrong --------------------------------------
def _bool(v: str) -> str | None:
    ok = v.strip().lower() in ("true", "false", "yes", "no", "on", "off", "1", "0", "y", "n")
    return None if ok else f"{v!r} is not a boolean (true or false)"


def _score(v: str) -> str | None:
    try:
        parse_score(v)
    except ValueError:
        return f"{v!r} is not a score (an integer, INFINITY or -INFINITY)"
    return None


def _int(v: str) -> str | None:
    return None if re.fullmatch(r"[+-]?\d+", v.strip()) else f"{v!r} is not an integer"


def _count(v: str) -> str | None:
    return None if v.strip().isdigit() else f"{v!r} is not a non-negative integer"


def _interval(v: str) -> str | None:
    try:
        ms = parse_interval_ms(v)
    except ValueError:
        return f"{v!r} is not a time interval (e.g. 30s, 5min, PT1M)"
    return None if ms >= 0 else f"{v!r} is negative"


def is_role(text: str) -> bool:
    """'Promoted', 'promoted', 'Master', 'started', ... are roles."""
    return normalise_role(text) in KNOWN_ROLES


def _role(v: str) -> str | None:
    return None if normalise_role(v) in KNOWN_ROLES else \
        f"{v!r} is not a role ({', '.join(KNOWN_ROLES)})"


def _one_of(*choices: str) -> Callable[[str], str | None]:
    def check(v: str) -> str | None:
        if v.strip().lower() in (c.lower() for c in choices):
            return None
        return f"{v!r} is not one of: {', '.join(choices)}"
    return check


def _any(v: str) -> str | None:
    return None


# Pacemaker 2.1 cluster options (crm_config) Corral understands or tolerates.
CLUSTER_OPTIONS: dict[str, Callable[[str], str | None]] = {
    "stonith-enabled": _bool, "symmetric-cluster": _bool, "maintenance-mode": _bool,
    "start-failure-is-fatal": _bool, "stop-all-resources": _bool, "stop-orphan-resources": _bool,
    "stop-orphan-actions": _bool, "concurrent-fencing": _bool, "startup-fencing": _bool,
    "shutdown-lock": _bool, "enable-startup-probes": _bool, "enable-acl": _bool,
    "stonith-watchdog-timeout": _any, "have-watchdog": _bool,
    "no-quorum-policy": _one_of("stop", "freeze", "ignore", "demote", "suicide"),
    "placement-strategy": _one_of("default", "utilization", "minimal", "balanced"),
    "stonith-action": _one_of("reboot", "off", "poweroff"),
    "node-health-strategy": _one_of("none", "migrate-on-red", "only-green", "progressive", "custom"),
    "node-health-base": _score, "node-health-green": _score, "node-health-yellow": _score,
    "node-health-red": _score,
    "cluster-recheck-interval": _interval, "stonith-timeout": _interval, "dc-deadtime": _interval,
    "election-timeout": _interval, "shutdown-escalation": _interval, "shutdown-lock-limit": _interval,
    "priority-fencing-delay": _interval, "cluster-delay": _interval, "join-integration-timeout": _interval,
    "join-finalization-timeout": _interval, "transition-delay": _interval, "fence-reaction": _any,
    "batch-limit": _int, "migration-limit": _int, "node-action-limit": _int, "stonith-max-attempts": _count,
    "default-resource-stickiness": _score, "is-managed-default": _bool, "default-action-timeout": _interval,
    "pe-error-series-max": _int, "pe-warn-series-max": _int, "pe-input-series-max": _int,
    "remove-after-stop": _bool, "load-threshold": _any, "node-pending-timeout": _interval,
    # Corral's own: with fencing, a member whose heartbeat is silent this long is fenced (docs/operations.md)
    "heartbeat-timeout": _interval,
    # informational, written by Pacemaker itself
    "dc-version": _any, "cluster-infrastructure": _any, "cluster-name": _any, "last-lrm-refresh": _any,
    "expected-quorum-votes": _any, "crmd-transition-delay": _interval, "cluster-ipc-limit": _any,
}

# Resource meta-attributes with a checkable type; others pass through untouched.
META_CHECKS: dict[str, Callable[[str], str | None]] = {
    "target-role": _role, "is-managed": _bool, "maintenance": _bool, "critical": _bool,
    "allow-migrate": _bool, "allow-unhealthy-nodes": _bool, "resource-stickiness": _score,
    "priority": _score, "migration-threshold": _score, "failure-timeout": _interval,
    "multiple-active": _one_of("block", "stop_only", "stop_start", "stop_unexpected"),
    "requires": _one_of("nothing", "quorum", "fencing", "unfencing"),
    "interleave": _bool, "ordered": _bool, "globally-unique": _bool, "notify": _bool,
    "promotable": _bool, "clone-max": _count, "clone-node-max": _count, "clone-min": _count,
    "promoted-max": _count, "promoted-node-max": _count, "master-max": _count, "master-node-max": _count,
}

OP_DEFAULT_CHECKS: dict[str, Callable[[str], str | None]] = {
    "timeout": _interval, "interval": _interval, "on-fail": _one_of(*ON_FAIL),
    "enabled": _bool, "record-pending": _bool, "role": _role, "start-delay": _interval,
}


# -- where problems are ---------------------------------------------------------------------
class Locator(Protocol):
    """Names the place of a model object (or a section name: 'options', 'rsc_defaults',
    'op_defaults', 'fencing_topology') and optionally one of its keys."""

    def where(self, obj: object, key: Key = None) -> str: ...


_CIB_ATTRS = {"with": "with-rsc", "with-role": "with-rsc-role", "agent": "class/provider/type",
              "meta": "meta_attributes", "op": "operation", "discovery": "resource-discovery"}
_SECTIONS = {"options": "<crm_config>", "rsc_defaults": "<rsc_defaults>",
             "op_defaults": "<op_defaults>", "fencing_topology": "<fencing-topology>"}


def _key_parts(key: Key) -> tuple[str | int, ...]:
    if key is None:
        return ()
    if isinstance(key, tuple):
        return key
    return tuple(int(p) if p.isdigit() else p for p in key.split("."))


class DefaultLocator:
    """Places as CIB elements: `cib.xml:42: <primitive id='p'> <op id='p-monitor-10s'> on-fail`.

    lines: element id -> line in the source, when the loader recorded them.
    """

    def __init__(self, config: Configuration, source: str, lines: Mapping[str, int] | None = None) -> None:
        self.source = source
        self.lines = lines or {}
        self.names: dict[int, str] = {}
        self.xml_ids: dict[int, str] = {}
        for rsc in config.resources:
            self._resource(rsc, "")
        for kind, tag in ((config.locations, "rsc_location"), (config.colocations, "rsc_colocation"),
                          (config.orders, "rsc_order"), (config.tickets, "rsc_ticket")):
            for c in kind:
                self.names[id(c)] = f"<{tag} id={c.id!r}>"
                self.xml_ids[id(c)] = c.id
        for loc in config.locations:
            for rule in loc.rules:
                self._rule(rule, self.names[id(loc)])
        for node in config.nodes.values():
            self.names[id(node)] = f"<node uname={node.name!r}>"
            self.xml_ids[id(node)] = node.id

    def _resource(self, rsc: object, outer: str) -> None:
        tag = {Primitive: "primitive", Group: "group", Clone: "clone"}.get(type(rsc), "resource")
        me = f"{outer}<{tag} id={getattr(rsc, 'id', '?')!r}>"
        self.names[id(rsc)] = me
        self.xml_ids[id(rsc)] = getattr(rsc, "id", "")
        if isinstance(rsc, Primitive):
            for op in rsc.ops:
                desc = f"id={op.id!r}" if op.id else f"name={op.name!r} interval='{op.interval_ms}ms'"
                self.names[id(op)] = f"{me} <op {desc}>"
                self.xml_ids[id(op)] = op.id or rsc.id
        elif isinstance(rsc, Group):
            for m in rsc.members:
                self._resource(m, me + " ")
        elif isinstance(rsc, Clone):
            self._resource(rsc.child, me + " ")

    def _rule(self, rule: Rule, outer: str) -> None:
        me = f"{outer} <rule id={rule.id!r}>"
        self.names[id(rule)] = me
        self.xml_ids[id(rule)] = rule.id
        for e in rule.expressions:
            self.xml_ids[id(e)] = rule.id
            if isinstance(e, Rule):
                self._rule(e, me)
            elif isinstance(e, Expression):
                self.names[id(e)] = f"{me} <expression attribute={e.attribute!r}>"
            else:
                self.names[id(e)] = f"{me} <date_expression>"

    def where(self, obj: object, key: Key = None) -> str:
        name = _SECTIONS.get(obj) if isinstance(obj, str) else self.names.get(id(obj))
        line = self.lines.get(self.xml_ids.get(id(obj), ""))
        text = f"{self.source}{f':{line}' if line else ''}: {name or type(obj).__name__}"
        parts = [str(_CIB_ATTRS.get(str(p), p)) for p in _key_parts(key)]
        return f"{text} {' '.join(parts)}" if parts else text


class ConfigErrors(ConfigError):
    """Several problems at once; `problems` holds (where, problem) pairs, one per line of
    str(), in file order when the places have line numbers."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        problems = sorted(problems, key=lambda p: _line_of(p[0]))
        self.problems = problems
        if len(problems) == 1:
            super().__init__(*problems[0])
        else:
            listed = "\n".join(f"{w}: {p}" for w, p in problems)
            super().__init__(source, f"{len(problems)} problems:\n{listed}")


class Report:
    """Collects errors and warnings with their places."""

    def __init__(self, source: str, locator: Locator, lenient: bool = False) -> None:
        self.source = source
        self.loc = locator
        self.lenient = lenient
        self.errors: list[tuple[str, str]] = []
        self.warnings: list[str] = []
        self.others: dict[str, str] = {}

    def error(self, obj: object, key: Key, problem: str, compat: bool = False) -> None:
        """compat: Pacemaker ignores this with a logged config error, so a lenient
        (CIB import) run accepts it with a warning instead of refusing the file."""
        if compat and self.lenient:
            self.warn(obj, key, f"{problem} (ignored, as Pacemaker does)")
            return
        entry = (self.loc.where(obj, key), problem)
        if entry not in self.errors:  # a set constraint expands to several pairs
            self.errors.append(entry)

    def warn(self, obj: object, key: Key, problem: str) -> None:
        text = f"{self.loc.where(obj, key)}: {problem}"
        if text not in self.warnings:
            self.warnings.append(text)

    def check(self, obj: object, key: Key, checker: Callable[[str], str | None], value: str,
              compat: bool = False) -> None:
        problem = checker(value)
        if problem:
            self.error(obj, key, problem, compat)

    def raise_if_errors(self) -> None:
        if self.errors:
            raise ConfigErrors(self.source, self.errors)


def _line_of(where: str) -> int:
    """'file.yaml:12: path' -> 12, so problems read top to bottom; 0 when there is no line."""
    m = re.match(r"^.*?:(\d+):", where)
    return int(m.group(1)) if m else 0


# -- the checks -----------------------------------------------------------------------------
def validate(config: Configuration, source: str = "config", locator: Locator | None = None, *,
             lenient: bool = False, other_ids: Mapping[str, str] | None = None,
             unsupported: Literal["error", "warn"] = "error") -> list[str]:
    """Check `config`; raise ConfigErrors listing every error; return the warnings.

    unsupported: what a setting Corral does not implement (`corral.model.support`) is --
    an error (loading a configuration: fail closed) or a warning (simulating a CIB, which
    then behaves as if the setting were unset).

    lenient: accept, with a warning, what Pacemaker's scheduler tolerates (dangling
    constraint references, a promotable group, duplicate operations) -- used for CIB
    import so that an existing cluster's CIB can be simulated. Corral's YAML is strict.
    other_ids: ids that exist in the source but not in the model (id -> kind, e.g.
    'template'); references to them warn instead of failing. Resources listed in
    `config.unsupported` (bundles, ...) are treated the same way.
    """
    r = Report(source, locator or DefaultLocator(config, source), lenient)
    ids = _check_resources(config, r)
    others = dict(other_ids or {})
    for entry in config.unsupported:
        kind, _, ident = entry.partition(" ")
        others.setdefault(ident, kind)
    r.others = others
    _check_options(config, r)
    for node in config.nodes.values():
        if not node.name:
            r.error(node, "name", "a node needs a name")
        if node.kind not in NODE_KINDS:
            r.error(node, "kind", f"unknown node type {node.kind!r} (expected one of: {', '.join(NODE_KINDS)})")
    for loc in config.locations:
        _check_location(loc, config, ids, r)
    for col in config.colocations:
        _check_colocation(col, ids, r)
    for order in config.orders:
        _check_order(order, ids, r)
    for ticket in config.tickets:
        _check_ticket(ticket, ids, r)
    _check_fencing(config, ids, r)
    _check_support(config, r, unsupported)
    r.raise_if_errors()
    return sorted(r.warnings, key=_line_of)


def _check_support(config: Configuration, r: Report, severity: Literal["error", "warn"]) -> None:
    for where, message in unsupported_settings(config, r.loc, r.source):
        if severity == "warn":
            r.warnings.append(f"{where}: {message}; simulated as if unset")
        elif (where, message) not in r.errors:
            r.errors.append((where, message))


def unsupported_settings(config: Configuration, locator: Locator, source: str) -> list[tuple[str, str]]:
    """(place, problem) for every setting of `config` that Corral does not implement."""
    from corral.model import support

    out: list[tuple[str, str]] = []
    for f in support.findings(config):
        if isinstance(f.obj, str) and f.obj.startswith("<"):  # an element the model dropped
            out.append((f"{source}: {f.obj}", f.message))
        else:
            out.append((locator.where(f.obj, f.key), f.message))
    return out


def _all_resources(config: Configuration) -> Iterable[object]:
    for rsc in config.resources:
        yield rsc
        if isinstance(rsc, Group):
            yield from rsc.members
        elif isinstance(rsc, Clone):
            yield rsc.child
            if isinstance(rsc.child, Group):
                yield from rsc.child.members


def _check_resources(config: Configuration, r: Report) -> dict[str, object]:
    ids: dict[str, object] = {}
    for rsc in _all_resources(config):
        rid = getattr(rsc, "id", "")
        if not isinstance(rid, str) or not ID_RE.fullmatch(rid):
            r.error(rsc, "id", f"{rid!r} is not a valid id (a letter or '_', then letters, digits, '.', '-', '_')")
        elif rid in ids:
            r.error(rsc, "id", f"duplicate id {rid!r}, already used at {r.loc.where(ids[rid], 'id')}")
        else:
            ids[rid] = rsc
    for rsc in config.resources:
        _check_resource(rsc, r, top=True)
    return ids


def _check_resource(rsc: object, r: Report, top: bool = False) -> None:
    if isinstance(rsc, Primitive):
        _check_primitive(rsc, r)
    elif isinstance(rsc, Group):
        if not rsc.members:
            r.error(rsc, "members", "a group needs at least one member")
        for m in rsc.members:
            if isinstance(m, Primitive):
                _check_primitive(m, r)
            else:
                r.error(m, None, f"a group can only contain primitives, not a {type(m).__name__.lower()}")
        _check_meta(rsc, rsc.meta, r)
    elif isinstance(rsc, Clone):
        if isinstance(rsc.child, Clone):
            r.error(rsc, "of", "a clone cannot contain another clone")
        elif isinstance(rsc.child, Group) and rsc.promotable:
            r.error(rsc, "of", "a promotable clone of a group is not supported; "
                    "make the promotable resource a primitive and colocate the rest with it", compat=True)
            _check_resource(rsc.child, r)
        elif isinstance(rsc.child, Primitive | Group):
            _check_resource(rsc.child, r)
        else:
            r.error(rsc, "of", "a clone must contain a primitive or a group")
        _check_meta(rsc, rsc.meta, r)
    else:
        r.error(rsc, None, f"not a resource: {type(rsc).__name__}")


def _check_primitive(p: Primitive, r: Report) -> None:
    cls = p.rsc_class
    if cls not in AGENT_CLASSES:
        r.error(p, "agent", f"unknown agent class {cls!r} (known: {', '.join(AGENT_CLASSES)})")
    elif cls == "ocf" and not p.provider:
        r.error(p, "agent", f"ocf agents need a provider: ocf:PROVIDER:{p.type or 'TYPE'}")
    elif cls != "ocf" and p.provider:
        r.error(p, "agent", f"only ocf agents have a provider; write {cls}:{p.type}")
    if not p.type or not TYPE_RE.fullmatch(p.type):
        r.error(p, "agent", f"{p.type!r} is not an agent type")
    if p.provider and not PROVIDER_RE.fullmatch(p.provider):
        r.error(p, "agent", f"{p.provider!r} is not an agent provider")
    seen: dict[tuple[str, int, str | None], Operation] = {}
    for op in p.ops:
        _check_op(p, op, r)
        ident = (op.name, op.interval_ms, normalise_role(op.role))
        if ident in seen and op.enabled and seen[ident].enabled:
            r.error(op, None, f"duplicate {op.name} operation with interval {op.interval_ms}ms "
                    f"(also at {r.loc.where(seen[ident])})", compat=True)
        seen.setdefault(ident, op)
    _check_meta(p, p.meta, r)


def _check_op(p: Primitive, op: Operation, r: Report) -> None:
    if not op.name:
        r.error(op, "name", "an operation needs a name")
    if not isinstance(op.interval_ms, int) or op.interval_ms < 0:
        r.error(op, "interval", f"interval must not be negative (got {op.interval_ms}ms)")
    elif op.interval_ms > 0 and op.name in ("start", "stop", "promote", "demote"):
        r.warn(op, "interval", f"a {op.name} operation does not recur; its interval is ignored")
    if op.timeout_ms is not None and op.timeout_ms <= 0:
        r.error(op, "timeout", f"timeout must be positive (got {op.timeout_ms}ms)")
    if op.on_fail is not None and op.on_fail.lower() not in ON_FAIL:
        r.error(op, "on-fail", f"unknown on-fail value {op.on_fail!r} (expected one of: {', '.join(ON_FAIL)})",
                compat=True)
    if op.role is not None:
        r.check(op, "role", _role, op.role)


def _check_meta(obj: object, meta: dict[str, str], r: Report) -> None:
    for name, value in meta.items():
        checker = META_CHECKS.get(name)
        if checker is not None:
            r.check(obj, ("meta", name), checker, value, compat=True)


def _check_options(config: Configuration, r: Report) -> None:
    for name, value in config.options.items():
        checker = CLUSTER_OPTIONS.get(name) or CLUSTER_OPTIONS.get(name.replace("_", "-"))
        if checker is None:
            close = difflib.get_close_matches(name, CLUSTER_OPTIONS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            r.warn("options", name, f"unknown cluster option {name!r}{hint}")
        else:
            r.check("options", name, checker, value, compat=True)
    for name, value in config.rsc_defaults.items():
        checker = META_CHECKS.get(name)
        if checker is not None:
            r.check("rsc_defaults", name, checker, value, compat=True)
    for name, value in config.op_defaults.items():
        checker = OP_DEFAULT_CHECKS.get(name)
        if checker is not None:
            r.check("op_defaults", name, checker, value, compat=True)
    stonith_on = config.option_bool("stonith-enabled", True)
    has_device = any(isinstance(x, Primitive) and x.rsc_class == "stonith" for x in _all_resources(config))
    if stonith_on and not has_device and config.resources:
        r.warn("options", "stonith-enabled", "fencing is enabled but no fence device (stonith:...) "
               "is configured: resources will not be started; add one or set stonith-enabled: false")


def _ref(obj: object, key: str, rid: str | None, ids: dict[str, object], r: Report) -> None:
    if not rid:
        r.error(obj, key, "a resource id is needed")
    elif rid in r.others:
        r.warn(obj, key, f"refers to {r.others[rid]} {rid!r}, which Corral does not support; ignored")
    elif rid not in ids:
        r.error(obj, key, f"unknown resource {rid!r}", compat=True)


def _check_role(obj: object, key: str, role: str | None, r: Report) -> None:
    if role is not None:
        r.check(obj, key, _role, role)


def _check_score(obj: object, key: str, score: object, r: Report) -> None:
    if not isinstance(score, int) or isinstance(score, bool) or not -INFINITY <= score <= INFINITY:
        r.error(obj, key, f"{score!r} is not a score (an integer between -INFINITY and INFINITY)")


def _check_location(loc: Location, config: Configuration, ids: dict[str, object], r: Report) -> None:
    if loc.rsc_pattern is not None and loc.rsc is None:
        try:
            re.compile(loc.rsc_pattern)
        except re.error as exc:
            r.error(loc, "rsc-pattern", f"not a regular expression: {exc}")
    else:
        _ref(loc, "rsc", loc.rsc, ids, r)
    if loc.node is None and not loc.rules:
        r.error(loc, None, "a location constraint needs a node or a rule")
    if loc.node is not None and loc.node not in config.nodes:
        r.warn(loc, "node", f"node {loc.node!r} is not defined (yet); the constraint waits for it")
    _check_score(loc, "score", loc.score, r)
    _check_role(loc, "role", loc.role, r)
    if loc.discovery not in DISCOVERY:
        r.error(loc, "resource-discovery", f"{loc.discovery!r} is not one of: {', '.join(DISCOVERY)}")
    for rule in loc.rules:
        _check_rule(rule, r)


def _check_rule(rule: Rule, r: Report) -> None:
    if rule.boolean_op not in ("and", "or"):
        r.error(rule, "boolean-op", f"{rule.boolean_op!r} is not 'and' or 'or'")
    if rule.score is not None:
        _check_score(rule, "score", rule.score, r)
    if rule.score is not None and rule.score_attribute:
        r.error(rule, "score-attribute", "give a rule a score or a score-attribute, not both")
    _check_role(rule, "role", rule.role, r)
    for e in rule.expressions:
        if isinstance(e, Rule):
            _check_rule(e, r)
        elif isinstance(e, Expression):
            _check_expression(e, r)
        elif isinstance(e, DateExpression):
            _check_date(e, r)
        else:
            r.error(rule, "expressions", f"not an expression: {e!r}")


def _check_expression(e: Expression, r: Report) -> None:
    if not e.attribute:
        r.error(e, "attribute", "an expression needs an attribute")
    if e.operation not in EXPR_OPS:
        r.error(e, "op", f"unknown operation {e.operation!r} (expected one of: {', '.join(EXPR_OPS)})")
    elif e.operation not in ("defined", "not_defined") and e.value is None:
        r.error(e, "value", f"operation {e.operation!r} needs a value")
    if e.value_type not in EXPR_TYPES:
        r.error(e, "type", f"unknown type {e.value_type!r} (expected one of: {', '.join(EXPR_TYPES)})")
    if e.value_source not in VALUE_SOURCES:
        r.error(e, "value-source", f"{e.value_source!r} is not one of: {', '.join(VALUE_SOURCES)}")


def _check_date(e: DateExpression, r: Report) -> None:
    if e.operation not in DATE_OPS:
        r.error(e, "date", f"unknown date operation {e.operation!r} (expected one of: {', '.join(DATE_OPS)})")
        return
    need = {"gt": ("start",), "lt": ("end",), "in_range": ("start",)}.get(e.operation, ())
    for name in need:
        if getattr(e, name) is None and not (e.operation == "in_range" and e.end):
            r.error(e, name, f"a {e.operation} date expression needs {name}")
    for name in ("start", "end"):
        value = getattr(e, name)
        if value is not None and _parse_date(value) is None:
            r.warn(e, name, f"cannot read date {value!r} (use YYYY-MM-DD [HH:MM:SS]); it never matches")
    for name, spec in e.spec.items():
        if name == "id":
            continue
        if name not in DATE_SPEC_KEYS:
            r.error(e, ("spec", name), f"unknown date_spec field {name!r}")
        elif not re.fullmatch(r"\d+(-\d+)?", str(spec)):
            r.error(e, ("spec", name), f"{spec!r} is not a number or a range like 9-17")


def _check_colocation(c: Colocation, ids: dict[str, object], r: Report) -> None:
    _ref(c, "rsc", c.rsc, ids, r)
    _ref(c, "with", c.with_rsc, ids, r)
    _check_score(c, "score", c.score, r)
    _check_role(c, "rsc-role", c.rsc_role, r)
    _check_role(c, "with-role", c.with_rsc_role, r)
    if c.rsc and c.rsc == c.with_rsc:
        r.warn(c, "with", f"{c.rsc!r} is colocated with itself; the constraint has no effect")
    if not c.node_attribute:
        r.error(c, "node-attribute", "node-attribute must not be empty")


def _check_order(o: Order, ids: dict[str, object], r: Report) -> None:
    _ref(o, "first", o.first, ids, r)
    _ref(o, "then", o.then, ids, r)
    for key, action in (("first-action", o.first_action), ("then-action", o.then_action)):
        if key == "then-action" and action == o.first_action and action not in ORDER_ACTIONS:
            continue  # already reported for first-action
        if action not in ORDER_ACTIONS:
            r.error(o, key, f"unknown action {action!r} (expected one of: {', '.join(ORDER_ACTIONS)})")
    if o.kind not in ORDER_KINDS:
        r.error(o, "kind", f"unknown kind {o.kind!r} (expected one of: {', '.join(ORDER_KINDS)})")
    if o.first and o.first == o.then and o.first_action == o.then_action:
        r.warn(o, "then", f"{o.first!r} is ordered after itself; the constraint has no effect")


def _check_ticket(t: TicketDependency, ids: dict[str, object], r: Report) -> None:
    _ref(t, "rsc", t.rsc, ids, r)
    if not t.ticket:
        r.error(t, "ticket", "a ticket dependency needs a ticket name")
    _check_role(t, "rsc-role", t.rsc_role, r)
    if t.loss_policy not in LOSS_POLICIES:
        r.error(t, "loss-policy", f"unknown loss-policy {t.loss_policy!r} (expected one of: "
                f"{', '.join(LOSS_POLICIES)})", compat=True)


def _check_fencing(config: Configuration, ids: dict[str, object], r: Report) -> None:
    for i, (target, index, devices) in enumerate(config.fencing_topology):
        if not isinstance(index, int) or index < 1:
            r.error("fencing_topology", (i, "index"), f"level index must be 1 or more (got {index!r})")
        if not target:
            r.warn("fencing_topology", (i, "target"), "a level without a target node "
                   "(target-pattern and target-attribute are not supported) is ignored")
        elif target not in config.nodes:
            r.warn("fencing_topology", (i, "target"), f"node {target!r} is not defined")
        for dev in devices:
            rsc = ids.get(dev)
            if rsc is None:
                r.error("fencing_topology", (i, "devices"), f"unknown fence device {dev!r}")
            elif not (isinstance(rsc, Primitive) and rsc.rsc_class == "stonith"):
                r.error("fencing_topology", (i, "devices"), f"{dev!r} is not a fence device (stonith:...)")

