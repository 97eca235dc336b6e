"""`Neutron` through openstacksdk (the cloud from clouds.yaml, as for Nova: corral.openstack.sdk)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from corral.openstack.neutron import L3_AGENT, L3Agent, Neutron, NeutronError, Router
from corral.openstack.nova import NovaError
from corral.openstack.sdk import connect

T = TypeVar("T")


class SdkNeutron:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    @classmethod
    def for_cloud(cls, cloud: str) -> Neutron:
        try:
            return cls(connect(cloud))
        except NovaError as exc:  # connect() speaks for Nova; the same clouds.yaml fault here
            raise NeutronError(str(exc)) from exc

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - keystoneauth and openstack exceptions alike
            status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
            raise NeutronError(f"{what}: {exc}", status if isinstance(status, int) else None) from exc

    def l3_agents(self) -> list[L3Agent]:
        def run() -> list[L3Agent]:
            return [L3Agent(id=a.id, host=a.host or "", alive=bool(a.is_alive),
                            admin_state_up=bool(a.is_admin_state_up),
                            availability_zone=a.availability_zone or "",
                            agent_mode=str((a.configuration or {}).get("agent_mode", "legacy")))
                    for a in self.conn.network.agents(agent_type=L3_AGENT)]
        return self._call("listing the L3 agents", run)

    def routers_on(self, agent_id: str) -> list[Router]:
        def run() -> list[Router]:
            return [Router(id=r.id, name=r.name or "", ha=bool(r.is_ha), distributed=bool(r.is_distributed),
                           availability_zone_hints=tuple(r.availability_zone_hints or ()))
                    for r in self.conn.network.agent_hosted_routers(agent_id)]
        return self._call(f"listing the routers of L3 agent {agent_id}", run)

    def agents_of(self, router_id: str) -> list[str]:
        return self._call(f"listing the L3 agents of router {router_id}",
                          lambda: [a.id for a in self.conn.network.routers_hosting_l3_agents(router_id)])

    def remove_router(self, agent_id: str, router_id: str) -> None:
        self._call(f"removing router {router_id} from L3 agent {agent_id}",
                   lambda: self.conn.network.remove_router_from_agent(agent_id, router_id))

    def add_router(self, agent_id: str, router_id: str) -> None:
        self._call(f"adding router {router_id} to L3 agent {agent_id}",
                   lambda: self.conn.network.add_router_to_agent(agent_id, router_id))
