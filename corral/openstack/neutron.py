"""The few Neutron calls the L3 mover makes, behind one small interface (`Neutron`).

As with Nova (corral.openstack.nova): the mover talks to Neutron only through this protocol,
tests drive it with a fake (tests/openstack/fake_neutron.py), production with openstacksdk
(corral.openstack.neutron_sdk); values are plain frozen dataclasses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

L3_AGENT = "L3 agent"


class NeutronError(Exception):
    """Neutron refused a request or could not be reached; `status` is the HTTP code if known."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class L3Agent:
    id: str
    host: str
    alive: bool                  # Neutron's view: a report within its agent_down_time
    admin_state_up: bool = True  # an agent set down by an operator takes no new routers
    availability_zone: str = ""
    agent_mode: str = "legacy"   # legacy, dvr_snat, dvr, dvr_no_external

    @property
    def takes_routers(self) -> bool:
        """Alive and enabled: a target for routers."""
        return self.alive and self.admin_state_up


@dataclass(frozen=True)
class Router:
    id: str
    name: str = ""
    ha: bool = False             # VRRP between agents: Neutron fails it over by itself
    distributed: bool = False
    availability_zone_hints: tuple[str, ...] = ()


class Neutron(Protocol):
    def l3_agents(self) -> list[L3Agent]:
        """Every L3 agent Neutron knows."""

    def routers_on(self, agent_id: str) -> list[Router]:
        """The routers scheduled to the agent."""

    def agents_of(self, router_id: str) -> list[str]:
        """The ids of the L3 agents the router is scheduled to ([] if none; NeutronError 404 if
        the router is gone)."""

    def remove_router(self, agent_id: str, router_id: str) -> None:
        """Unschedule the router from the agent."""

    def add_router(self, agent_id: str, router_id: str) -> None:
        """Schedule the router to the agent."""
