"""Lease timing of agents and controllers (safety rule 2, checked at startup)."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

DEFAULT_TTL = 3.0
DEFAULT_RENEW = 0.5
DEFAULT_STORE_TIMEOUT = 1.0


@dataclass(frozen=True)
class Timing:
    ttl: float = DEFAULT_TTL                      # lease TTL, membership and leadership
    renew: float = DEFAULT_RENEW                  # keepalive interval
    store_timeout: float = DEFAULT_STORE_TIMEOUT  # longest one store call may take

    def check(self) -> None:
        """ValueError unless renew + 2 x store timeout < ttl."""
        from corral.store import check_lease_timing

        check_lease_timing(self.renew, self.store_timeout, self.ttl)

    @property
    def self_fence_after(self) -> float:
        """Seconds after the last good renewal was *sent* at which the agent can no
        longer prove its lease valid and starts stopping everything."""
        return self.renew + 2 * self.store_timeout

    @property
    def stop_budget(self) -> float:
        """What is left of the TTL for those stops once self-fencing starts."""
        return self.ttl - self.self_fence_after


def with_store_timeout(url: str, timeout: float) -> str:
    """The store URL with `timeout=` set, unless the URL already gives one (memory:// has none)."""
    if url.startswith("memory:"):
        return url
    base, _, query = url.partition("?")
    if any(k == "timeout" for k, _ in parse_qsl(query)):
        return url
    sep = "&" if query else ""
    return f"{base}?{query}{sep}timeout={timeout:g}"
