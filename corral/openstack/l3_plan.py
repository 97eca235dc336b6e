"""Which routers move off which dead L3 agents, to where: a pure function of what Neutron shows.

- An agent is dead when Neutron says it is not alive and has said so for `agent-down-grace`.
- Gate: more than `max-dead-share` of the L3 agents (of at least `min-agents`) dead at once moves
  nothing: when neutron-server or its message bus fails, every agent looks dead at once, and
  unscheduling every router of the cloud would turn a reporting fault into an outage.
- HA routers are left alone (VRRP between their agents fails them over; Neutron reschedules
  them itself), and so are the routers of `dvr` / `dvr_no_external` agents (they serve only
  their own compute host). Legacy routers and the SNAT part of distributed routers on
  `dvr_snat` agents move to a live agent of the same mode.
- A router with availability-zone hints goes only to an agent in one of those zones.
- Targets are the least loaded live agents (routers counted as they are assigned).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from corral.model.yaml_neutron import NeutronYaml
from corral.openstack.neutron import L3Agent, Router

MOVABLE_MODES = ("legacy", "dvr_snat")


@dataclass(frozen=True)
class Move:
    router: Router
    source: L3Agent
    target: L3Agent


@dataclass
class Plan:
    dead: list[L3Agent] = field(default_factory=list)     # agents whose routers are to move
    moves: list[Move] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)    # agent host or router id -> why it waits
    waiting: int = 0                                      # moves left for a later cycle (the limit)


def dead_agents(agents: Iterable[L3Agent], down_since: Mapping[str, float], grace: float,
                now: float) -> list[L3Agent]:
    return [a for a in agents if not a.alive and now - down_since.get(a.id, now) >= grace]


def pick_target(router: Router, source: L3Agent, agents: Iterable[L3Agent],
                load: Mapping[str, int]) -> L3Agent | None:
    """The least loaded live agent that may host the router (None: none may)."""
    fit = [a for a in agents if a.takes_routers and a.id != source.id and a.agent_mode == source.agent_mode
           and (not router.availability_zone_hints or a.availability_zone in router.availability_zone_hints)]
    return min(fit, key=lambda a: (load.get(a.id, 0), a.host, a.id), default=None)


def plan(agents: list[L3Agent], hosted: Mapping[str, list[Router]], down_since: Mapping[str, float],
         settings: NeutronYaml, now: float, busy: frozenset[str] | set[str] = frozenset()) -> Plan:
    """hosted: the routers of each dead agent (by agent id); busy: routers already being moved."""
    out = Plan(dead=dead_agents(agents, down_since, settings.agent_down_grace, now))
    if not out.dead:
        return out
    if len(agents) >= settings.min_agents and len(out.dead) > settings.max_dead_share * len(agents):
        why = (f"{len(out.dead)} of {len(agents)} L3 agents are dead at once (more than max-dead-share "
               f"{settings.max_dead_share:g}): neutron-server or its message bus is the likelier cause; "
               f"no router is moved")
        out.held = {a.host or a.id: why for a in out.dead}
        return out
    load = {a.id: len(hosted.get(a.id, ())) for a in agents}
    for source in sorted(out.dead, key=lambda a: (a.host, a.id)):
        if source.agent_mode not in MOVABLE_MODES:
            out.held[source.host or source.id] = (f"a {source.agent_mode} agent serves only its own host: "
                                                  f"its routers are not moved")
            continue
        for router in sorted(hosted.get(source.id, ()), key=lambda r: r.id):
            if router.ha or router.id in busy:
                continue
            if len(out.moves) >= settings.max_routers_per_cycle:
                out.waiting += 1
                continue
            target = pick_target(router, source, agents, load)
            if target is None:
                zones = f" in zone {', '.join(router.availability_zone_hints)}" if router.availability_zone_hints else ""
                out.held[router.id] = f"no live {source.agent_mode} L3 agent{zones} to take router {router.id}"
                continue
            load[target.id] = load.get(target.id, 0) + 1
            out.moves.append(Move(router, source, target))
    return out
