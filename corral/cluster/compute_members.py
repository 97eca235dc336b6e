"""The controller's view of the compute members: one watch on their prefix, a map in memory.

A compute member's key (/corral/compute/members/<host>, corral.agent.compute_member) is
bound to its lease; when the host dies etcd expires the lease and deletes the key, and
that delete event is the failure signal. Nothing is polled: the prefix is listed once,
then watched; it is listed again only after trouble (a lost store, compacted history)
or a long silence, and a host that vanished meanwhile is reported from the difference.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from corral.cluster import keys
from corral.cluster.follow import follow
from corral.cluster.records import loads
from corral.store import Store

log = logging.getLogger("corral.cluster")

RELIST_S = 60.0  # a quiet fleet is re-listed at most this often (a watch is the steady path)


@dataclass(frozen=True)
class Departure:
    host: str
    info: dict        # the member's last value as this view knew it
    clean: bool       # the member marked itself leaving before its key went


class ComputeMembers:
    """Follows the compute members until `close()`; `on_gone(Departure)` for each host whose
    key went (clean=False: its lease expired or was revoked without leaving: a failed host),
    `on_joined(host, info)` for each new registration (a new `since` is a new incarnation)."""

    def __init__(self, store: Store, on_gone: Callable[[Departure], None],
                 on_joined: Callable[[str, dict], None] | None = None, relist_s: float = RELIST_S) -> None:
        self.store = store
        self.on_gone = on_gone
        self.on_joined = on_joined
        self.relist_s = relist_s
        self.members: dict[str, dict] = {}
        self.events = 0
        self._listing: set[str] | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self.listed = threading.Event()   # the first listing is in the map
        self._thread = threading.Thread(target=self._follow, name="compute-members", daemon=True)

    def start(self) -> ComputeMembers:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stopped.set()

    def _follow(self) -> None:
        follow(self.store, keys.COMPUTE_MEMBERS, self._on_event, self._stopped, relist_s=self.relist_s,
               on_listed=self._on_listed)

    def _on_event(self, key: str, value: str | None, _rev: int, initial: bool) -> None:
        host = key[len(keys.COMPUTE_MEMBERS):]
        if not host or "/" in host:
            return
        self.events += 1
        if initial:
            if self._listing is None:
                self._listing = set()
            self._listing.add(host)
        if value is None:
            with self._lock:
                info = self.members.pop(host, None)
            if info is not None:
                self._gone(host, info)
            return
        info = loads(value, {}) or {}
        with self._lock:
            old = self.members.get(host)
            self.members[host] = info
        if self.on_joined is not None and (old is None or old.get("since") != info.get("since")):
            self.on_joined(host, info)

    def _on_listed(self) -> None:
        """After a (re)listing: hosts in the map that the listing no longer has went meanwhile."""
        listed, self._listing = self._listing or set(), None
        with self._lock:
            vanished = {h: i for h, i in self.members.items() if h not in listed}
            for host in vanished:
                del self.members[host]
        for host, info in vanished.items():
            self._gone(host, info)
        self.listed.set()

    def _gone(self, host: str, info: dict) -> None:
        try:
            self.on_gone(Departure(host, info, bool(info.get("leaving"))))
        except Exception:
            log.exception("compute member %s gone: handler failed", host)
