"""Which members have gone silent: failure detection faster than lease expiry.

A member's lease proves it alive to the store, but the store only drops the
member key once the lease has run out (TTL, plus etcd's expiry tick). With
fencing enabled that wait is not needed for safety: a node that is fenced is
known stopped, whatever its lease says. So, like Corosync's token timeout, the
controller watches every member's heartbeat key (rewritten after each lease
renewal, corral.agent.membership) and calls a member *silent* once no
heartbeat has arrived for `heartbeat-timeout`; the controller then treats it as
lost, fences it and, once the fence is confirmed, recovers its resources.

Guards against fencing a healthy node for our own or the store's delays:
- the timeout is never shorter than two of the member's own heartbeat intervals;
- nobody is silent while this controller's own heartbeat, which travels the
  same path (agent -> store -> our watch), is overdue too: then the delay is
  ours or the store's, not theirs;
- and a member is silent only once at least OWN_BEATS of our own heartbeats
  have come through since its last one: after a stall of the store, every
  node's heartbeats resume together, and ours alone must not condemn them.

Times are local monotonic arrival times of watch events; a member first seen
(or seen again after it rejoined) starts with a fresh grace period.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from corral.cluster.records import loads
from corral.model.config import Configuration
from corral.resource_agents.metadata import parse_duration_ms

OWN_BEATS = 3


@dataclass
class _Seen:
    at: float           # monotonic arrival of the last heartbeat (or of the member)
    every: float = 0.0  # the member's heartbeat interval, as it publishes it
    own_mark: int = 0   # how many of our own heartbeats we had heard by then
    revision: int = 0   # the store revision of that heartbeat (0: not a heartbeat we heard)


class Liveness:
    def __init__(self, own_node: str) -> None:
        self.own = own_node
        self._seen: dict[str, _Seen] = {}
        self._own_beats = 0
        self._lock = threading.Lock()

    def beat(self, node: str, value: str | None, now: float | None = None, revision: int = 0) -> None:
        """A heartbeat key changed (value None: it is gone with the lease), at store `revision`."""
        now = time.monotonic() if now is None else now
        info = loads(value, {}) or {} if value is not None else {}
        with self._lock:
            if value is None:
                self._seen.pop(node, None)
                return
            every = info.get("every", 0.0) if isinstance(info, dict) else 0.0
            if node == self.own:
                self._own_beats += 1
            self._seen[node] = _Seen(now, float(every) if isinstance(every, int | float) else 0.0,
                                     self._own_beats, revision)

    def silent(self, members: Iterable[str], timeout: float, now: float | None = None) -> dict[str, float]:
        """{member: seconds since its last heartbeat} for members silent longer than the
        timeout (stretched to two of their own intervals). Unknown members start their
        grace period now. Empty while our own heartbeat is overdue."""
        if timeout <= 0:
            return {}
        now = time.monotonic() if now is None else now
        out: dict[str, float] = {}
        with self._lock:
            names = list(members)
            for name in names:
                self._seen.setdefault(name, _Seen(now, own_mark=self._own_beats))
            own = self._seen.get(self.own)
            if own is None or now - own.at > _limit(own, timeout):
                return {}
            for name in names:
                seen = self._seen[name]
                if name != self.own and now - seen.at > _limit(seen, timeout) \
                        and self._own_beats - seen.own_mark >= OWN_BEATS:
                    out[name] = now - seen.at
        return out

    def heard(self, node: str) -> int:
        """The store revision of the last heartbeat of node we heard (0: none). A heartbeat key
        written later is one our watch has not delivered yet: node is not silent after all."""
        with self._lock:
            seen = self._seen.get(node)
            return seen.revision if seen is not None else 0

    def known(self) -> list[str]:
        """Nodes whose heartbeat key exists (their lease is alive)."""
        with self._lock:
            return sorted(self._seen)

    def forget(self, node: str) -> None:
        with self._lock:
            self._seen.pop(node, None)


def _limit(seen: _Seen, timeout: float) -> float:
    return max(timeout, 2 * seen.every)


def heartbeat_timeout(cfg: Configuration) -> float:
    """`heartbeat-timeout` in seconds when fencing is enabled, else 0 (wait for the lease)."""
    raw = cfg.option("heartbeat-timeout", "")
    if not raw or not cfg.option_bool("stonith-enabled", True):
        return 0.0
    try:
        return parse_duration_ms(str(raw)) / 1000.0
    except ValueError:
        return 0.0  # validation reported it when the configuration was loaded
