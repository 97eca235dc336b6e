"""A fake Nova for the compute-HA unit tests: services, servers, evacuations, in memory.

It keeps Nova's rules that matter to the engine: an evacuation is refused unless the source
host's nova-compute is down (forced or silent), it creates an evacuation migration record, and
the instance becomes ACTIVE on another enabled, up host after `rebuild_polls` reads of it (so
tests see it in flight); forcing a service up is refused while its evacuations are `done`.
"""
from __future__ import annotations

import itertools
import threading
from dataclasses import replace

from corral.openstack.nova import Aggregate, ComputeService, Migration, NovaError, Server


class FakeNova:
    def __init__(self, hosts: list[str], zone: str = "nova") -> None:
        self.services = {h: ComputeService(host=h, state="up", zone=zone) for h in hosts}
        self.silent: set[str] = set()          # nova-compute stopped reporting (killed)
        self.servers: dict[str, Server] = {}
        self.migrations: list[Migration] = []
        self.aggs: list[Aggregate] = []
        self.images: dict[str, dict[str, str]] = {}
        self.calls: list[tuple[str, ...]] = []
        self.evacuate_errors: dict[str, list[str]] = {}  # server -> results of its rebuilds ("ERROR")
        self.refuse_evacuate: set[str] = set()
        self.rebuild_polls = 1
        self._polls: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._rr = 0
        self._pending: dict[str, tuple[str, str]] = {}   # server -> (target, migration) while rebuilding
        self._was: dict[str, str] = {}

    # --- set-up ---------------------------------------------------------------------------
    def boot(self, host: str, n: int, prefix: str = "vm", **fields: object) -> list[str]:
        ids = []
        for _ in range(n):
            i = f"{prefix}{next(self._ids):03d}"
            self.servers[i] = Server(id=i, name=i, host=host, availability_zone=self.services[host].zone,
                                     **fields)  # type: ignore[arg-type]
            ids.append(i)
        return ids

    def kill(self, host: str) -> None:
        self.silent.add(host)
        self._refresh(host)

    def _refresh(self, host: str) -> None:
        s = self.services[host]
        self.services[host] = replace(s, state="down" if s.forced_down or host in self.silent else "up")

    def restart(self, host: str) -> None:
        """nova-compute starts again: it cleans up its evacuated instances (done -> completed)."""
        self.silent.discard(host)
        self.migrations = [replace(m, status="completed") if m.source_host == host and m.status == "done" else m
                           for m in self.migrations]
        self._refresh(host)

    # --- the interface ----------------------------------------------------------------------
    def compute_services(self) -> list[ComputeService]:
        self.calls.append(("compute_services",))
        return list(self.services.values())

    def force_down(self, host: str, forced: bool) -> None:
        self.calls.append(("force_down", host, str(forced)))
        if not forced and any(m.source_host == host and m.status == "done" for m in self.migrations):
            raise NovaError(f"Unable to force up {host}: evacuations are not completed", 400)
        self.services[host] = replace(self.services[host], forced_down=forced)
        self._refresh(host)

    def disable(self, host: str, reason: str) -> None:
        self.calls.append(("disable", host, reason))
        self.services[host] = replace(self.services[host], status="disabled", disabled_reason=reason)

    def enable(self, host: str) -> None:
        self.calls.append(("enable", host))
        self.services[host] = replace(self.services[host], status="enabled", disabled_reason="")

    def servers_on(self, host: str) -> list[Server]:
        self.calls.append(("servers_on", host))
        return [s for s in self.servers.values() if s.host == host]

    def evacuate(self, server_id: str) -> None:
        with self._lock:
            self.calls.append(("evacuate", server_id))
            s = self.servers.get(server_id)
            if s is None:
                raise NovaError(f"server {server_id} not found", 404)
            if server_id in self.refuse_evacuate:
                raise NovaError(f"evacuating {server_id}: refused", 409)
            if self.services[s.host].state == "up":
                raise NovaError(f"Compute service of {s.host} is still in use.", 400)
            targets = [h for h, svc in sorted(self.services.items())
                       if h != s.host and svc.state == "up" and svc.status == "enabled"]
            mig = Migration(id=str(len(self.migrations) + 1), server_id=server_id, source_host=s.host,
                            status="accepted")
            if not targets:
                self.migrations.append(replace(mig, status="error"))
                self.servers[server_id] = replace(s, status="ERROR", fault="No valid host was found.")
                return
            self._rr += 1
            target = targets[self._rr % len(targets)]
            self.migrations.append(replace(mig, dest_host=target))
            self._was[server_id] = s.status if s.status in ("ACTIVE", "SHUTOFF") else "ACTIVE"
            self.servers[server_id] = replace(s, status="REBUILD", task_state="rebuilding")
            self._polls[server_id] = 0
            self._pending[server_id] = (target, mig.id)

    def server(self, server_id: str) -> Server | None:
        with self._lock:
            self.calls.append(("server", server_id))
            s = self.servers.get(server_id)
            pending = self._pending
            if s is not None and server_id in pending:
                self._polls[server_id] += 1
                if self._polls[server_id] >= self.rebuild_polls:
                    target, mig_id = pending.pop(server_id)
                    outcomes = self.evacuate_errors.get(server_id, [])
                    failed = bool(outcomes) and outcomes.pop(0) == "ERROR"
                    status = "ERROR" if failed else self._was.pop(server_id, "ACTIVE")
                    # A failed rebuild leaves the instance where it was (Nova reverts the host).
                    s = replace(s, status=status, task_state=None, host=s.host if failed else target,
                                fault="rebuild failed" if failed else "")
                    self.servers[server_id] = s
                    self.migrations = [replace(m, status="error" if failed else "done") if m.id == mig_id else m
                                       for m in self.migrations]
            return s

    def servers_changed_since(self, since: float) -> list[Server]:
        """Every server, each read as `server()` reads it (the fake keeps no change times)."""
        self.calls.append(("servers_changed_since", str(since)))
        return [s for i in list(self.servers) if (s := self.server(i)) is not None]

    def evacuations(self, host: str) -> list[Migration]:
        self.calls.append(("evacuations", host))
        return [m for m in self.migrations if m.source_host == host and m.migration_type == "evacuation"]

    def aggregates(self) -> list[Aggregate]:
        return list(self.aggs)

    def image_properties(self, image_id: str) -> dict[str, str]:
        self.calls.append(("image_properties", image_id))
        return dict(self.images.get(image_id, {}))

    # --- what tests look at -----------------------------------------------------------------
    def evacuate_calls(self, server_id: str | None = None) -> int:
        return sum(1 for c in self.calls if c[0] == "evacuate" and (server_id is None or c[1] == server_id))
