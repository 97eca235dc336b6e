"""Gates: when compute HA holds back from acting on its own, and says why.

- Mass failure: if more than `gates.max-failed-share` of the hosts of an availability zone or
  an aggregate (of at least `gates.min-group-hosts` hosts) are failed at once -- newly failed or
  still being recovered -- no new recovery starts in it: a rack's power, a switch or the store
  itself is the likelier cause, and evacuating half a zone onto the other half makes it worse.
- At most `gates.max-hosts-per-cycle` new recoveries start per cycle; the rest wait their turn.
- (The store majority gate is the controller's: every recovery write is an epoch-fenced
  transaction, which a store without its majority refuses; see corral.openstack.engine.)

Held hosts are listed with their reason in `corral compute status` and logged.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from corral.model.yaml_compute import GatesYaml


@dataclass
class GateResult:
    allowed: list[str] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)   # host -> why it waits


def groups_of(host: str, zone_of: Mapping[str, str], aggregates: Mapping[str, Iterable[str]]) -> list[str]:
    out = [f"availability zone {zone_of[host]}"] if zone_of.get(host) else []
    return out + [f"aggregate {name}" for name, hosts in sorted(aggregates.items()) if host in hosts]


def gate(newly_failed: list[str], recovering: set[str], managed: set[str], zone_of: Mapping[str, str],
         aggregates: Mapping[str, Iterable[str]], gates: GatesYaml) -> GateResult:
    out = GateResult()
    failing = set(newly_failed) | recovering
    members: dict[str, set[str]] = {}
    for host in managed | failing:
        for g in groups_of(host, zone_of, aggregates):
            members.setdefault(g, set()).add(host)
    for host in sorted(newly_failed):
        why = ""
        for g in groups_of(host, zone_of, aggregates):
            total = members[g]
            if len(total) < gates.min_group_hosts:
                continue
            down = len(total & failing)
            if down / len(total) > gates.max_failed_share:
                why = (f"mass failure: {down} of {len(total)} hosts of {g} failed at once, more than "
                       f"max-failed-share {gates.max_failed_share:g}: no automatic recovery (recover by hand, "
                       "or raise the share)")
                break
        if why:
            out.held[host] = why
        elif len(out.allowed) >= gates.max_hosts_per_cycle:
            out.held[host] = (f"max-hosts-per-cycle {gates.max_hosts_per_cycle}: "
                              "waits for the next cycle")
        else:
            out.allowed.append(host)
    return out
