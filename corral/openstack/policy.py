"""Which instances of a failed host are recovered, how, and in what order (pets and cattle).

The first policy (in configuration order) whose `match` holds for an instance decides its
recovery, priority and storage. An instance no policy matches is HA by convention -- metadata
`HA_Enabled=True` (Masakari's) or `evacuable` set true on its image or flavor (Instance HA's)
-- and then gets `default-policy`; otherwise it is left alone (`none`: cattle, whose
orchestrator replaces them).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from corral.model.yaml_compute import ComputeYaml, MatchYaml
from corral.openstack.nova import Server

HA_METADATA = "HA_Enabled"
EVACUABLE = "evacuable"
TRUE = ("true", "yes", "1", "on")


@dataclass(frozen=True)
class Decision:
    recovery: str       # evacuate, rebuild, none
    priority: int
    storage: str
    policy: str         # the policy's name, "default" (HA by convention) or "not HA"


@dataclass(frozen=True)
class Placement:
    """Where the failed host sits: its availability zone and aggregates."""
    zone: str = ""
    aggregates: frozenset[str] = frozenset()


def is_ha_by_convention(server: Server, image_properties: Mapping[str, str]) -> bool:
    return (_true(server.metadata.get(HA_METADATA)) or _true(server.flavor_extra_specs.get(EVACUABLE))
            or _true(image_properties.get(EVACUABLE)))


def decide(settings: ComputeYaml, server: Server, where: Placement,
           image_properties: Callable[[str], Mapping[str, str]]) -> Decision:
    """The recovery of one instance. image_properties(image_id) is called only when needed."""
    cache: dict[str, Mapping[str, str]] = {}

    def props() -> Mapping[str, str]:
        if not server.image_id:
            return {}
        if server.image_id not in cache:
            cache[server.image_id] = image_properties(server.image_id)
        return cache[server.image_id]

    for policy in settings.policies:
        if matches(policy.match, server, where, props):
            return Decision(policy.recovery, policy.priority, policy.storage, policy.name)
    if is_ha_by_convention(server, props()):
        d = settings.default_policy
        return Decision(d.recovery, d.priority, d.storage, "default")
    return Decision("none", 0, "shared", "not HA")


def matches(m: MatchYaml, server: Server, where: Placement,
            image_properties: Callable[[], Mapping[str, str]]) -> bool:
    zone = server.availability_zone or where.zone
    if m.availability_zone and zone not in m.availability_zone:
        return False
    if m.aggregate and not where.aggregates & set(m.aggregate):
        return False
    if m.project and server.project_id not in m.project:
        return False
    if not _has_all(server.metadata, m.metadata) or not _has_all(server.flavor_extra_specs, m.flavor_extra_spec):
        return False
    return not m.image_property or _has_all(image_properties(), m.image_property)


def order(decisions: Mapping[str, Decision]) -> list[str]:
    """Instance ids to recover, highest priority first (ties by id, for a stable order)."""
    wanted = [i for i, d in decisions.items() if d.recovery != "none"]
    return sorted(wanted, key=lambda i: (-decisions[i].priority, i))


def _has_all(have: Mapping[str, str], want: Mapping[str, str]) -> bool:
    # Values compare as Nova stores them; booleans are written True/False by convention but
    # not always, so true-ish and false-ish spellings compare equal among themselves.
    return all(k in have and _same(have[k], v) for k, v in want.items())


def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    la, lb = a.strip().lower(), b.strip().lower()
    falsy = ("false", "no", "0", "off")
    return (la in TRUE and lb in TRUE) or (la in falsy and lb in falsy)


def _true(v: str | None) -> bool:
    return v is not None and v.strip().lower() in TRUE
