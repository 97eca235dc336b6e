"""The lease calls a compute member makes, over whichever client serves the store.

A compute member needs four calls: grant a lease, put its member key on it, renew it,
revoke it. `LeaseClient` is that narrow interface, asynchronous so one process can hold
many members (the scale benchmark) and a member's renewals never queue behind anything.

- `GrpcLeaseClient` (corral.store.etcd_grpc): etcd's native API, renewals on one
  LeaseKeepAlive stream: the default on etcd (keepalive="stream").
- `StoreLeaseClient`: any `Store` (memory, SQLite, etcd through its JSON gateway), one
  store call per renewal, run on a thread pool (keepalive="request").
"""
from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from typing import Protocol

from corral.store import Store, open_store

KEEPALIVES = ("stream", "request")


class LeaseClient(Protocol):
    timeout: float

    async def grant(self, ttl: float) -> int: ...
    async def put(self, key: str, value: str, lease: int) -> None: ...
    async def keepalive(self, lease: int) -> int: ...
    async def revoke(self, lease: int) -> None: ...
    async def close(self) -> None: ...


class StoreLeaseClient:
    """A `Store`'s blocking lease calls, each on a thread of `executor` (the loop's default
    pool if None)."""

    def __init__(self, store: Store, executor: Executor | None = None, *, own_store: bool = False) -> None:
        self.store = store
        self.timeout = store.timeout
        self.executor = executor
        self._own_store = own_store

    async def _call(self, fn, *args):  # type: ignore[no-untyped-def]
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def grant(self, ttl: float) -> int:
        return int(await self._call(self.store.lease_grant, ttl))

    async def put(self, key: str, value: str, lease: int) -> None:
        await self._call(self.store.put, key, value, lease)

    async def keepalive(self, lease: int) -> int:
        return int(await self._call(self.store.lease_keepalive, lease))

    async def revoke(self, lease: int) -> None:
        await self._call(self.store.lease_revoke, lease)

    async def close(self) -> None:
        if self._own_store:
            await self._call(self.store.close)


def lease_client_for(url: str, keepalive: str | None = None) -> LeaseClient:
    """The lease client of a store URL: the gRPC stream on etcd unless keepalive="request";
    ValueError for an unknown keepalive, or "stream" on a store that is not etcd."""
    is_etcd = url.lower().startswith("etcd://")
    if keepalive is None:
        keepalive = "stream" if is_etcd else "request"
    if keepalive not in KEEPALIVES:
        raise ValueError(f"unknown keepalive {keepalive!r} (known: {', '.join(KEEPALIVES)})")
    if keepalive == "request":
        return StoreLeaseClient(open_store(url), own_store=True)
    if not is_etcd:
        raise ValueError(f"keepalive 'stream' needs an etcd:// store, not {url.split('?')[0]!r} "
                         "(use keepalive 'request')")
    try:
        from corral.store.etcd_grpc import GrpcEtcd, GrpcLeaseClient
    except ImportError as exc:
        raise ValueError(f"keepalive 'stream' needs etcd's gRPC client ({exc}): pip install 'corral[compute]', "
                         "or renew by request (keepalive 'request')") from None
    from corral.store.factory import etcd_endpoints

    endpoints, timeout = etcd_endpoints(url)
    return GrpcLeaseClient(GrpcEtcd(endpoints, timeout), own_channel=True)
