"""Leases on etcd over its native gRPC API, with the keep-alive as one long-lived stream.

Why a second etcd client next to the JSON gateway one (etcd.py): a compute fleet has
thousands of members, each renewing its lease every second. Through the gateway every
renewal is an HTTP/1.1 request with its JSON encoding and base64 (and, with etcd3gw's
session, a TCP connection per concurrent caller); etcd's own LeaseKeepAlive is a
bidirectional gRPC stream on which one renewal is one small protobuf message each way
(docs/store.md, "Compute members"; benchmarks/compute_members_bench.py measures both).

Only what a light member needs: grant, put bound to a lease, streamed keep-alive,
revoke. Every call is bounded by `timeout`; errors are the store's (`StoreUnavailable`,
`LeaseExpired`). The messages and stubs are those generated from etcd's protos by the
aetcd package (its `aetcd.rpc`); the calls are made here, on grpcio's asyncio API.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Sequence

import grpc
from aetcd import rpc

from corral.store.base import LeaseExpired, StoreError, StoreUnavailable

log = logging.getLogger("corral.store")

_UNAVAILABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED,
                grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.RESOURCE_EXHAUSTED)


def _store_error(exc: grpc.aio.AioRpcError, what: str) -> StoreError:
    details = exc.details() or ""
    if "lease not found" in details:
        return LeaseExpired(f"{what}: {details}")
    if exc.code() in _UNAVAILABLE:
        return StoreUnavailable(f"{what}: etcd gRPC {exc.code().name}: {details}")
    return StoreError(f"{what}: etcd gRPC {exc.code().name}: {details}")


class GrpcEtcd:
    """One gRPC channel (one HTTP/2 connection) to one of the etcd endpoints; on an error
    that says the member is out of reach, the next call goes to the next endpoint.
    Several lease clients may share it: each gets its own keep-alive stream on it."""

    def __init__(self, endpoints: Sequence[tuple[str, int]], timeout: float) -> None:
        if not endpoints:
            raise ValueError("no etcd endpoint")
        self.endpoints = list(endpoints)
        self.timeout = timeout
        self._index = 0
        self._channel: grpc.aio.Channel | None = None
        self.lease: rpc.LeaseStub
        self.kv: rpc.KVStub

    @property
    def target(self) -> str:
        host, port = self.endpoints[self._index]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def ready(self) -> None:
        """Open the channel (lazily: it needs the running event loop)."""
        if self._channel is None:
            # A dead host answers nothing: gRPC's own keepalive pings notice a silent connection.
            self._channel = grpc.aio.insecure_channel(self.target, options=[
                ("grpc.keepalive_time_ms", max(1000, int(self.timeout * 2000))),
                ("grpc.keepalive_timeout_ms", max(500, int(self.timeout * 1000))),
                ("grpc.keepalive_permit_without_calls", 1)])
            self.lease = rpc.LeaseStub(self._channel)
            self.kv = rpc.KVStub(self._channel)

    def failed(self, exc: grpc.aio.AioRpcError) -> None:
        """A call failed: if the member is out of reach, move on to the next endpoint."""
        if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) \
                and len(self.endpoints) > 1 and self._channel is not None:
            old, self._channel = self._channel, None
            self._index = (self._index + 1) % len(self.endpoints)
            asyncio.get_running_loop().create_task(old.close())
            log.info("etcd gRPC: moving to %s (%s)", self.target, exc.code().name)

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()


class GrpcLeaseClient:
    """The lease calls of one member, its keep-alives on one bidirectional stream
    (opened at the first renewal, reopened after it breaks)."""

    def __init__(self, etcd: GrpcEtcd, *, own_channel: bool = False) -> None:
        self.etcd = etcd
        self.timeout = etcd.timeout
        self._own_channel = own_channel
        self._queue: asyncio.Queue[rpc.LeaseKeepAliveRequest | None] | None = None
        self._pump: asyncio.Task[None] | None = None
        self._waiting: dict[int, list[asyncio.Future[int]]] = {}

    async def grant(self, ttl: float) -> int:
        self.etcd.ready()
        try:
            resp = await self.etcd.lease.LeaseGrant(rpc.LeaseGrantRequest(TTL=max(1, math.ceil(ttl))),
                                                    timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            self.etcd.failed(exc)
            raise _store_error(exc, "lease grant") from None
        if resp.error:
            raise StoreError(f"lease grant: {resp.error}")
        return int(resp.ID)

    async def put(self, key: str, value: str, lease: int) -> None:
        self.etcd.ready()
        try:
            await self.etcd.kv.Put(rpc.PutRequest(key=key.encode(), value=value.encode(), lease=lease),
                                   timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            self.etcd.failed(exc)
            raise _store_error(exc, f"put {key}") from None

    async def revoke(self, lease: int) -> None:
        self.etcd.ready()
        try:
            await self.etcd.lease.LeaseRevoke(rpc.LeaseRevokeRequest(ID=lease), timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            err = _store_error(exc, f"revoke lease {lease}")
            if not isinstance(err, LeaseExpired):  # already gone: not an error (as Store.lease_revoke)
                self.etcd.failed(exc)
                raise err from None

    async def keepalive(self, lease: int) -> int:
        """Renew `lease` on the stream; its new TTL. LeaseExpired if etcd no longer has it."""
        if self._pump is None or self._pump.done():
            self._open_stream()
        assert self._queue is not None
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(lease, []).append(fut)
        self._queue.put_nowait(rpc.LeaseKeepAliveRequest(ID=lease))
        try:
            ttl = await asyncio.wait_for(fut, self.timeout)
        except TimeoutError:
            raise StoreUnavailable(f"lease keep-alive {lease}: no answer on the stream within "
                                   f"{self.timeout:g}s ({self.etcd.target})") from None
        finally:
            waiting = self._waiting.get(lease)
            if waiting is not None and fut in waiting:
                waiting.remove(fut)
                if not waiting:
                    del self._waiting[lease]
        if ttl <= 0:  # etcd answers TTL 0 for a lease it does not have
            raise LeaseExpired(f"lease {lease} has expired")
        return ttl

    def _open_stream(self) -> None:
        self.etcd.ready()
        queue: asyncio.Queue[rpc.LeaseKeepAliveRequest | None] = asyncio.Queue()
        self._queue = queue
        self._pump = asyncio.get_running_loop().create_task(self._run_stream(queue))

    async def _run_stream(self, queue: asyncio.Queue[rpc.LeaseKeepAliveRequest | None]) -> None:
        async def requests() -> AsyncIterator[rpc.LeaseKeepAliveRequest]:
            while (req := await queue.get()) is not None:
                yield req

        call = self.etcd.lease.LeaseKeepAlive(requests())
        failure: StoreError = StoreUnavailable(f"lease keep-alive stream to {self.etcd.target} ended")
        try:
            async for resp in call:
                for fut in self._waiting.pop(int(resp.ID), []):
                    if not fut.done():
                        fut.set_result(int(resp.TTL))
        except grpc.aio.AioRpcError as exc:
            self.etcd.failed(exc)
            failure = _store_error(exc, "lease keep-alive stream")
            log.debug("%s", failure)
        finally:
            call.cancel()
            # Whoever waits on this stream learns now, not at its timeout; the next call reopens.
            for futs in self._waiting.values():
                for fut in futs:
                    if not fut.done():
                        fut.set_exception(failure)
            self._waiting.clear()

    async def close(self) -> None:
        if self._queue is not None:
            self._queue.put_nowait(None)
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, StoreError):
                await self._pump
            self._pump = None
        if self._own_channel:
            await self.etcd.close()
