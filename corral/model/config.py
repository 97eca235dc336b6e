"""The configuration model: what the operator asked for.

One model whichever way it came in (Corral YAML or a Pacemaker CIB); both
loaders produce these classes and `corral.model.validate` checks them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from corral.model.rules import Rule

STOPPED, STARTED, UNPROMOTED, PROMOTED = "Stopped", "Started", "Unpromoted", "Promoted"
ROLE_ALIASES = {"master": PROMOTED, "slave": UNPROMOTED, "promoted": PROMOTED,
                "unpromoted": UNPROMOTED, "started": STARTED, "stopped": STOPPED}


def normalise_role(text: str | None) -> str | None:
    if text is None or text == "":
        return None
    return ROLE_ALIASES.get(text.lower(), text)


def parse_interval_ms(text: str | None) -> int:
    """'10s', '1m', '500ms', 'PT10S', '10000' (ms when bare... Pacemaker: seconds) -> ms."""
    if text is None or text == "":
        return 0
    t = text.strip().lower()
    if t.startswith("p"):
        return _iso_duration_ms(t)
    units = (("ms", 1), ("msec", 1), ("us", 0.001), ("s", 1000), ("sec", 1000), ("m", 60_000),
             ("min", 60_000), ("h", 3_600_000), ("hr", 3_600_000))
    for suffix, factor in sorted(units, key=lambda u: -len(u[0])):
        if t.endswith(suffix) and t[: -len(suffix)].strip().replace(".", "", 1).isdigit():
            return int(float(t[: -len(suffix)]) * factor)
    try:
        return int(float(t) * 1000)
    except ValueError as exc:
        raise ValueError(f"not a time interval: {text!r}") from exc


def _iso_duration_ms(t: str) -> int:
    import re

    m = re.fullmatch(r"p(?:(\d+)d)?t?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?", t)
    if not m:
        raise ValueError(f"not an ISO 8601 duration: {t!r}")
    d, h, mi, s = m.groups()
    return int(((int(d or 0) * 24 + int(h or 0)) * 60 + int(mi or 0)) * 60_000 + float(s or 0) * 1000)


@dataclass
class Operation:
    name: str
    interval_ms: int = 0
    timeout_ms: int | None = None
    role: str | None = None
    on_fail: str | None = None
    enabled: bool = True
    id: str = ""
    params: dict[str, str] = field(default_factory=dict)  # the operation's own instance attributes
    meta: dict[str, str] = field(default_factory=dict)


@dataclass
class Primitive:
    id: str
    rsc_class: str
    type: str
    provider: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    ops: list[Operation] = field(default_factory=list)
    utilization: dict[str, str] = field(default_factory=dict)
    # Only when some instance_attributes block has a rule: every block as (rule or None,
    # pairs), highest block score first; rules comparing with value-source=param read the
    # parameters per node from these (`params` stays the rule-less merge). Derived from the
    # CIB only (the YAML form has no ruled blocks), hence left out of equality.
    param_sets: list[tuple[Rule | None, dict[str, str]]] = field(default_factory=list, compare=False)

    @property
    def agent(self) -> str:
        if self.provider:
            return f"{self.rsc_class}:{self.provider}:{self.type}"
        return f"{self.rsc_class}:{self.type}"


@dataclass
class Group:
    id: str
    members: list[Primitive]
    meta: dict[str, str] = field(default_factory=dict)


@dataclass
class Clone:
    id: str
    child: Primitive | Group
    meta: dict[str, str] = field(default_factory=dict)
    promotable: bool = False


Resource = Primitive | Group | Clone


@dataclass
class Node:
    name: str
    id: str = ""
    attrs: dict[str, str] = field(default_factory=dict)
    utilization: dict[str, str] = field(default_factory=dict)
    kind: str = "member"  # "member" or "remote"


@dataclass
class Location:
    id: str
    rsc: str | None
    node: str | None = None
    score: int = 0
    rules: list[Rule] = field(default_factory=list)
    role: str | None = None
    discovery: str = "always"
    rsc_pattern: str | None = None


@dataclass
class Colocation:
    id: str
    rsc: str
    with_rsc: str
    score: int
    rsc_role: str | None = None
    with_rsc_role: str | None = None
    influence: bool = True
    node_attribute: str = "#uname"


@dataclass
class Order:
    id: str
    first: str
    then: str
    first_action: str = "start"
    then_action: str = "start"
    kind: str = "Mandatory"  # Mandatory, Optional, Serialize
    symmetrical: bool = True
    require_all: bool = True


@dataclass
class TicketDependency:
    """rsc_ticket: a resource may run only while the cluster holds a ticket."""
    id: str
    rsc: str
    ticket: str
    rsc_role: str | None = None
    loss_policy: str = "stop"


@dataclass
class Configuration:
    nodes: dict[str, Node] = field(default_factory=dict)
    resources: list[Resource] = field(default_factory=list)
    locations: list[Location] = field(default_factory=list)
    colocations: list[Colocation] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    tickets: list[TicketDependency] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)
    rsc_defaults: dict[str, str] = field(default_factory=dict)
    op_defaults: dict[str, str] = field(default_factory=dict)
    fencing_topology: list[tuple[str, int, list[str]]] = field(default_factory=list)
    # The `compute:` section (compute HA) as canonical YAML data (corral.model.yaml_compute), or None.
    compute: dict[str, object] | None = None
    # The `neutron:` section (L3 routers off dead agents; corral.model.yaml_neutron), or None.
    neutron: dict[str, object] | None = None
    unsupported: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def option(self, name: str, default: str) -> str:
        return self.options.get(name, self.options.get(name.replace("-", "_"), default))

    def option_bool(self, name: str, default: bool) -> bool:
        return is_true(self.option(name, "true" if default else "false"))


def is_true(text: str | None) -> bool:
    return (text or "").strip().lower() in ("true", "yes", "on", "1", "y")
