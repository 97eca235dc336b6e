"""A Neutron that keeps its L3 agents and router schedule in memory, and fails when told to."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

from corral.openstack.neutron import L3Agent, NeutronError, Router


@dataclass
class FakeNeutron:
    agents: dict[str, L3Agent] = field(default_factory=dict)
    routers: dict[str, Router] = field(default_factory=dict)
    hosting: dict[str, set[str]] = field(default_factory=dict)   # router id -> agent ids
    calls: list[tuple[str, str, str]] = field(default_factory=list)
    down: bool = False                 # every call fails (neutron-server unreachable)
    fail_add: int = 0                  # the next `fail_add` add_router calls fail (HTTP 500)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def agent(self, agent_id: str, host: str, *, alive: bool = True, zone: str = "", mode: str = "legacy",
              admin_state_up: bool = True) -> None:
        self.agents[agent_id] = L3Agent(agent_id, host, alive, admin_state_up, zone, mode)

    def router(self, router_id: str, on: str | None, *, ha: bool = False, zones: tuple[str, ...] = ()) -> None:
        self.routers[router_id] = Router(router_id, router_id, ha=ha, availability_zone_hints=zones)
        self.hosting[router_id] = {on} if on else set()

    def kill(self, agent_id: str) -> None:
        self.agents[agent_id] = replace(self.agents[agent_id], alive=False)

    def where(self, router_id: str) -> set[str]:
        return set(self.hosting[router_id])

    def _check(self) -> None:
        if self.down:
            raise NeutronError("connection refused")

    def l3_agents(self) -> list[L3Agent]:
        self._check()
        return list(self.agents.values())

    def routers_on(self, agent_id: str) -> list[Router]:
        self._check()
        with self.lock:
            return [self.routers[r] for r, on in sorted(self.hosting.items()) if agent_id in on]

    def agents_of(self, router_id: str) -> list[str]:
        self._check()
        if router_id not in self.routers:
            raise NeutronError(f"router {router_id} not found", 404)
        with self.lock:
            return sorted(self.hosting[router_id])

    def remove_router(self, agent_id: str, router_id: str) -> None:
        self._check()
        with self.lock:
            self.calls.append(("remove", agent_id, router_id))
            if agent_id not in self.hosting.get(router_id, set()):
                raise NeutronError(f"router {router_id} is not hosted by agent {agent_id}", 404)
            self.hosting[router_id].discard(agent_id)

    def add_router(self, agent_id: str, router_id: str) -> None:
        self._check()
        with self.lock:
            self.calls.append(("add", agent_id, router_id))
            if self.fail_add > 0:
                self.fail_add -= 1
                raise NeutronError("internal server error", 500)
            if self.hosting[router_id] and not self.routers[router_id].ha:
                raise NeutronError(f"router {router_id} is already hosted by another L3 agent", 409)
            self.hosting[router_id].add(agent_id)
