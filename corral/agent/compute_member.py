"""A compute host's light member (`corral agent --node HOST --role compute`).

It holds one lease and keeps `/corral/compute/members/<host>` bound to it
({"host", "since", "ttl"}): present while the host's member renews, deleted by the
store when it stops (etcd expires the lease), which is the controller's failure signal
(it watches the prefix). Nothing else:

- no controller candidacy, no /corral/members/ key: the control plane's membership,
  its scheduler's node list and everything counted for it never include compute hosts;
- no watches: renewals are the only steady traffic, so thousands of hosts fit on one
  etcd (benchmarks/compute_members_bench.py);
- no resources: nothing is placed on compute hosts yet (see docs/openstack.md).

Losing the lease is not self-fencing as on a controller node: a compute host must not
kill its instances by itself (they are the workload, and the controller only evacuates
them after it has fenced the host, so a host cut off from the store cannot cause a
double run). The member only stops claiming: it drops the lease it can no longer
prove valid, reports it, and registers again with a fresh lease and a new `since`
once the store answers. A clean stop marks the key "leaving" before revoking it, so
the controller can tell a host that left from one that failed.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable

from corral.agent.compute_leases import LeaseClient
from corral.cluster import keys
from corral.cluster.timing import Timing
from corral.store import LeaseExpired, StoreError

log = logging.getLogger("corral.agent")

ROLES = ("cluster", "compute")
RETRY_S = 0.05          # after a failed renewal, while the lease can still be proven valid
REJOIN_S = 0.5          # between attempts to register again
# A compute member's lease only tells the controller it lives: renewing once a second keeps
# 5000 hosts at 5000 small messages a second, and detection (TTL + etcd's 0.5 s expiry check)
# under 5 s. renew + 2 x store timeout < TTL holds as for every lease.
COMPUTE_TIMING = Timing(ttl=3.0, renew=1.0, store_timeout=0.8)


def parse_role(role: str) -> str:
    """The agent role, or ValueError naming it."""
    value = role.strip().lower()
    if value not in ROLES:
        raise ValueError(f"unknown role {role!r} (known roles: {', '.join(ROLES)})")
    return value


def member_key(host: str) -> str:
    return f"{keys.COMPUTE_MEMBERS}{host}"


class ComputeMember:
    """One compute host's membership; `run()` until `stop()`.

    on_lost(reason) is called when the member stops claiming (its lease expired or could
    not be renewed in time); on_joined(since) after every registration."""

    def __init__(self, host: str, leases: LeaseClient, timing: Timing = COMPUTE_TIMING, *,
                 on_lost: Callable[[str], None] | None = None,
                 on_joined: Callable[[float], None] | None = None) -> None:
        timing.check()
        self.host = host
        self.key = member_key(host)
        self.leases = leases
        self.timing = timing
        self.on_lost = on_lost
        self.on_joined = on_joined
        self.lease: int | None = None
        self.since: float | None = None
        self.state = "joining"        # joining -> member -> (lost -> joining -> member ...) -> left
        self.renewals = 0
        self.lost_count = 0
        self._last_ok = 0.0           # monotonic send time of the last good grant or renewal
        self._stale: int | None = None  # a lease we stopped claiming: revoked after the next join
        self._stop: asyncio.Event | None = None
        self._crashed = False

    def stop(self) -> None:
        """Leave cleanly (key marked leaving, lease revoked)."""
        if self._stop is not None:
            self._stop.set()

    def crash(self) -> None:
        """Stop renewing and leave nothing behind: the store expires the lease as if the host
        died (the scale benchmark and the tests kill members this way)."""
        self._crashed = True
        self.stop()

    async def run(self) -> None:
        self._stop = asyncio.Event()
        try:
            while not self._stop.is_set():
                if not await self._join():
                    await self._sleep(REJOIN_S)
                    continue
                reason = await self._hold()
                if reason is None:
                    break
                self._lost(reason)
        finally:
            if not self._crashed:
                await self._leave()
            else:
                self.state = "crashed"

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopped; True if stopped."""
        assert self._stop is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
        return self._stop.is_set()

    def _value(self, **extra: object) -> str:
        return json.dumps({"host": self.host, "since": self.since, "ttl": self.timing.ttl, **extra},
                          sort_keys=True)

    async def _join(self) -> bool:
        sent = time.monotonic()
        try:
            lease = await asyncio.wait_for(self.leases.grant(self.timing.ttl), self.timing.store_timeout)
        except (StoreError, TimeoutError) as exc:
            log.warning("%s: cannot register yet: %s", self.host, exc or "lease grant timed out")
            return False
        self.since = time.time()
        try:
            await asyncio.wait_for(self.leases.put(self.key, self._value(), lease), self.timing.store_timeout)
        except (StoreError, TimeoutError) as exc:
            log.warning("%s: cannot register yet: %s", self.host, exc or "member key put timed out")
            await self._revoke(lease)
            return False
        self.lease, self._last_ok, self.state = lease, sent, "member"
        log.info("%s: compute member (lease %x, ttl %gs)", self.host, lease, self.timing.ttl)
        # The key now lives on the new lease: the old one holds nothing, revoking it deletes nothing.
        stale, self._stale = self._stale, None
        if stale is not None:
            await self._revoke(stale)
        if self.on_joined is not None:
            self.on_joined(self.since)
        return True

    async def _hold(self) -> str | None:
        """Renew until stopped (None) or until the lease can no longer be proven valid (why)."""
        assert self.lease is not None
        wait = self.timing.renew
        while True:
            silent = time.monotonic() - self._last_ok
            limit = self.timing.self_fence_after
            if await self._sleep(max(0.0, min(wait, limit - silent))):
                return None
            silent = time.monotonic() - self._last_ok
            if silent > limit:
                return f"no lease renewal for {silent:.2f}s (limit {limit:g}s)"
            sent = time.monotonic()
            try:
                await asyncio.wait_for(self.leases.keepalive(self.lease), self.timing.store_timeout)
            except LeaseExpired:
                return "the store says our lease has expired"
            except (StoreError, TimeoutError) as exc:
                log.warning("%s: lease renewal failed: %s", self.host, exc or "timed out")
                wait = RETRY_S
                continue
            self._last_ok, wait = sent, self.timing.renew
            self.renewals += 1

    def _lost(self, reason: str) -> None:
        """Stop claiming: drop the lease, keep the instances. The controller fences the host
        before it evacuates anything; that, not this member, is what makes recovery safe."""
        self._stale, self.lease, self.state = self.lease, None, "lost"
        self.lost_count += 1
        log.error("%s: compute membership lost: %s; no longer claiming to be alive (instances left "
                  "running: the controller fences this host before recovering them); registering again",
                  self.host, reason)
        if self.on_lost is not None:
            self.on_lost(reason)

    async def _leave(self) -> None:
        lease, self.lease = self.lease, None
        self.state = "left"
        if lease is None:
            return
        try:  # "leaving" first, so the controller reads the delete that follows as a clean leave
            await asyncio.wait_for(self.leases.put(self.key, self._value(leaving=True), lease),
                                   self.timing.store_timeout)
        except (StoreError, TimeoutError) as exc:
            log.warning("%s: could not mark the member key leaving: %s", self.host, exc or "timed out")
        await self._revoke(lease)
        log.info("%s: left (lease revoked)", self.host)

    async def _revoke(self, lease: int) -> None:
        try:
            await asyncio.wait_for(self.leases.revoke(lease), self.timing.store_timeout)
        except (StoreError, TimeoutError) as exc:
            log.debug("%s: revoking lease %x: %s (it expires by itself)", self.host, lease, exc)
