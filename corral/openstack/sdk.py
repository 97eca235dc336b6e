"""`Nova` through openstacksdk (PyPI's: Debian's 0.101 cannot evacuate, docs/dependencies.md).

The connection comes from a clouds.yaml entry (`compute: cloud: NAME`, the ecosystem's OS_CLOUD
convention). openstacksdk negotiates the compute microversion; from 2.14 on Nova works out shared
storage itself (no onSharedStorage), from 2.47 a server's details embed its flavor's extra specs,
from 2.53 services are updated by id: all of them in Zed (2.93).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from corral.openstack.nova import NOVA_COMPUTE, Aggregate, ComputeService, Migration, NovaError, Server

log = logging.getLogger("corral.openstack")
T = TypeVar("T")


def connect(cloud: str) -> Any:
    """An openstack.connection.Connection for the clouds.yaml entry `cloud`."""
    try:
        import openstack
    except ImportError as exc:  # a dependency: only missing in a broken install
        raise NovaError(f"openstacksdk is not installed ({exc})") from exc
    try:
        return openstack.connect(cloud=cloud)
    except Exception as exc:  # noqa: BLE001 - openstacksdk raises many kinds for a bad clouds.yaml
        raise NovaError(f"cloud {cloud!r} (clouds.yaml / OS_CLOUD): {exc}") from exc


class SdkNova:
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._service_ids: dict[str, str] = {}

    @classmethod
    def for_cloud(cls, cloud: str) -> SdkNova:
        return cls(connect(cloud))

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except NovaError:
            raise
        except Exception as exc:  # noqa: BLE001 - keystoneauth and openstack exceptions alike
            status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
            raise NovaError(f"{what}: {exc}", status if isinstance(status, int) else None) from exc

    # --- services -------------------------------------------------------------------------
    def compute_services(self) -> list[ComputeService]:
        def run() -> list[ComputeService]:
            out = []
            for s in self.conn.compute.services(binary=NOVA_COMPUTE):
                self._service_ids[s.host] = s.id
                out.append(ComputeService(host=s.host, state=s.state or "down", status=s.status or "enabled",
                                          forced_down=bool(s.is_forced_down), disabled_reason=s.disabled_reason or "",
                                          zone=s.availability_zone or ""))
            return out
        return self._call("listing nova-compute services", run)

    def _service(self, host: str) -> str:
        if host not in self._service_ids:
            self.compute_services()
        sid = self._service_ids.get(host)
        if sid is None:
            raise NovaError(f"Nova has no nova-compute service on host {host!r}", 404)
        return sid

    def force_down(self, host: str, forced: bool) -> None:
        self._call(f"forcing {host}'s nova-compute {'down' if forced else 'up'}",
                   lambda: self.conn.compute.update_service_forced_down(self._service(host), host, NOVA_COMPUTE,
                                                                       forced))

    def disable(self, host: str, reason: str) -> None:
        self._call(f"disabling {host}'s nova-compute",
                   lambda: self.conn.compute.disable_service(self._service(host), host, NOVA_COMPUTE, reason))

    def enable(self, host: str) -> None:
        self._call(f"enabling {host}'s nova-compute",
                   lambda: self.conn.compute.enable_service(self._service(host), host, NOVA_COMPUTE))

    # --- servers --------------------------------------------------------------------------
    def servers_on(self, host: str) -> list[Server]:
        return self._call(f"listing the servers of {host}", lambda: [
            _server(s) for s in self.conn.compute.servers(details=True, all_projects=True, compute_host=host)])

    def evacuate(self, server_id: str) -> None:
        self._call(f"evacuating server {server_id}", lambda: self.conn.compute.evacuate_server(server_id))

    def server(self, server_id: str) -> Server | None:
        def run() -> Server | None:
            from openstack import exceptions

            try:
                return _server(self.conn.compute.get_server(server_id))
            except exceptions.NotFoundException:
                return None
        return self._call(f"reading server {server_id}", run)

    def servers_changed_since(self, since: float) -> list[Server]:
        # Nova's changes-since filter: ISO 8601, compared with each instance's updated_at.
        stamp = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self._call("listing the servers changed lately", lambda: [
            _server(s) for s in self.conn.compute.servers(details=True, all_projects=True, changes_since=stamp)])

    def evacuations(self, host: str) -> list[Migration]:
        return self._call(f"listing the evacuations from {host}", lambda: [
            Migration(id=str(m.id), server_id=m.server_id or "", source_host=m.source_compute or "",
                      dest_host=m.dest_compute or "", status=m.status or "", migration_type=m.migration_type or "")
            for m in self.conn.compute.migrations(source_compute=host, migration_type="evacuation")])

    def aggregates(self) -> list[Aggregate]:
        return self._call("listing aggregates", lambda: [
            Aggregate(name=a.name, hosts=tuple(a.hosts or ()), availability_zone=a.availability_zone or "")
            for a in self.conn.compute.aggregates()])

    def image_properties(self, image_id: str) -> dict[str, str]:
        def run() -> dict[str, str]:
            from openstack import exceptions

            try:
                image = self.conn.image.get_image(image_id)
            except exceptions.NotFoundException:
                return {}
            return {str(k): str(v) for k, v in (image.properties or {}).items()}
        return self._call(f"reading image {image_id}", run)


def _server(s: Any) -> Server:
    flavor = s.flavor
    specs = getattr(flavor, "extra_specs", None) or {}
    image = s.image
    image_id = (getattr(image, "id", None) or "") if image else ""
    fault = s.fault or {}
    return Server(id=s.id, name=s.name or "", status=s.status or "", host=s.compute_host or "",
                  task_state=s.task_state, project_id=s.project_id or "",
                  availability_zone=s.availability_zone or "",
                  metadata={str(k): str(v) for k, v in (s.metadata or {}).items()},
                  flavor_extra_specs={str(k): str(v) for k, v in specs.items()},
                  image_id=image_id, volume_backed=not image_id,
                  fault=str(fault.get("message", "")) if isinstance(fault, dict) else str(fault))
