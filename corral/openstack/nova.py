"""The few Nova calls compute HA makes, behind one small interface (`Nova`).

The engine only ever talks to Nova through this protocol, so that unit tests drive it with a
fake (tests/compute_ha/fake_nova.py) and production with openstacksdk (corral.openstack.sdk).
Every value is a plain frozen dataclass: nothing of openstacksdk leaks into the engine.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

NOVA_COMPUTE = "nova-compute"


class NovaError(Exception):
    """Nova refused a request or could not be reached; `status` is the HTTP code if known."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ComputeService:
    host: str
    state: str                  # Nova's view: "up" or "down" (forced down reads "down")
    status: str = "enabled"     # "enabled" or "disabled"
    forced_down: bool = False
    disabled_reason: str = ""
    zone: str = ""              # its availability zone

    @property
    def up(self) -> bool:
        return self.state == "up"


@dataclass(frozen=True)
class Server:
    id: str
    name: str = ""
    status: str = "ACTIVE"      # ACTIVE, SHUTOFF, ERROR, REBUILD, ...
    host: str = ""              # OS-EXT-SRV-ATTR:host
    task_state: str | None = None
    project_id: str = ""
    availability_zone: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    flavor_extra_specs: dict[str, str] = field(default_factory=dict)
    image_id: str = ""          # "" when booted from a volume
    volume_backed: bool = False
    fault: str = ""


@dataclass(frozen=True)
class Migration:
    id: str
    server_id: str
    source_host: str
    dest_host: str = ""
    status: str = ""            # evacuations: accepted, pre-migrating, done, completed, error, failed
    migration_type: str = "evacuation"


@dataclass(frozen=True)
class Aggregate:
    name: str
    hosts: tuple[str, ...] = ()
    availability_zone: str = ""


class Nova(Protocol):
    def compute_services(self) -> list[ComputeService]:
        """Every nova-compute service."""

    def force_down(self, host: str, forced: bool) -> None:
        """Set (or clear) forced_down of the host's nova-compute service."""

    def disable(self, host: str, reason: str) -> None:
        """Disable the host's nova-compute service (the scheduler places nothing there)."""

    def enable(self, host: str) -> None: ...

    def servers_on(self, host: str) -> list[Server]:
        """Every server (all projects) Nova has on the host, with details."""

    def evacuate(self, server_id: str) -> None:
        """Resurrect the server elsewhere; Nova's scheduler picks the target."""

    def server(self, server_id: str) -> Server | None:
        """The server now, None if it no longer exists."""

    def servers_changed_since(self, since: float) -> list[Server]:
        """Every server (all projects) changed at or after `since` (wall clock), in one request;
        deleted ones have status DELETED. How instances in flight are followed: one request a
        round instead of one per instance, which on a busy Nova slows its own rebuilds."""

    def evacuations(self, host: str) -> list[Migration]:
        """Evacuation migration records whose source is the host."""

    def aggregates(self) -> list[Aggregate]: ...

    def image_properties(self, image_id: str) -> dict[str, str]:
        """An image's properties ({} if it is gone)."""
