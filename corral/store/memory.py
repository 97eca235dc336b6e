"""In-process store for unit tests: `memory://` (private) or `memory://NAME` (shared by name).

Several MemoryStore handles may share one _State (like several clients of one
etcd), each with its own close(). Leases expire by `clock` (time.monotonic
unless a test injects a fake clock); expired leases are reaped lazily, under
the lock, before every operation and by every watch poll.
"""
from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Iterator

from corral.store._common import check_ttl, compare_holds, validate_txn
from corral.store.base import (
    Compare,
    Delete,
    KeyValue,
    Lazy,
    LeaseExpired,
    Put,
    RevisionCompacted,
    Store,
    StoreError,
    TxnResult,
    WatchEvent,
)

WATCH_POLL = 0.02  # watches wake at least this often to reap leases and see close()


class _State:
    def __init__(self, clock: Callable[[], float], history: int) -> None:
        self.cond = threading.Condition(threading.RLock())
        self.clock = clock
        self.history_limit = history
        self.revision = 1  # like a fresh etcd
        self.kv: dict[str, KeyValue] = {}
        self.leases: dict[int, tuple[float, float]] = {}  # id -> (ttl, expires_at)
        self.lease_keys: dict[int, set[str]] = {}
        self.next_lease = 1
        self.events: list[WatchEvent] = []
        self.compacted = 1  # events before this revision are gone

    # All methods below run with self.cond held.

    def reap(self) -> None:
        now = self.clock()
        for lease_id in [i for i, (_, exp) in self.leases.items() if exp <= now]:
            self.drop_lease(lease_id)

    def drop_lease(self, lease_id: int) -> None:
        keys = sorted(self.lease_keys.pop(lease_id, ()))
        del self.leases[lease_id]
        if keys:
            self.apply([Delete(k) for k in keys])

    def apply(self, ops: list[Put | Delete]) -> list[object]:
        for op in ops:  # check first so that a txn is all or nothing
            if isinstance(op, Put) and op.lease is not None and op.lease not in self.leases:
                raise LeaseExpired(f"lease {op.lease} has expired or never existed")
        rev = self.revision + 1
        events: list[WatchEvent] = []
        responses: list[object] = []
        for op in ops:
            if isinstance(op, Put):
                old = self.kv.get(op.key)
                self._unlink(old)
                self.kv[op.key] = KeyValue(op.key, op.value, rev, old.create_revision if old else rev, op.lease)
                if op.lease is not None:
                    self.lease_keys.setdefault(op.lease, set()).add(op.key)
                events.append(WatchEvent("put", op.key, op.value, rev))
                responses.append(rev)
            else:
                keys = self.match(op.key, op.prefix)
                for key in keys:
                    self._unlink(self.kv.pop(key))
                    events.append(WatchEvent("delete", key, None, rev))
                responses.append(len(keys))
        if events:
            self.revision = rev
            self.events.extend(events)
            self._compact()
            self.cond.notify_all()
        return responses

    def match(self, key: str, prefix: bool) -> list[str]:
        if prefix:
            return sorted(k for k in self.kv if k.startswith(key))
        return [key] if key in self.kv else []

    def _unlink(self, kv: KeyValue | None) -> None:
        if kv is not None and kv.lease is not None:
            self.lease_keys.get(kv.lease, set()).discard(kv.key)

    def _compact(self) -> None:
        excess = len(self.events) - self.history_limit
        if excess > 0:
            # Never split a revision: drop whole revisions only.
            cut = bisect.bisect_right(self.events, self.events[excess - 1].mod_revision,
                                      key=lambda e: e.mod_revision)
            self.compacted = self.events[cut - 1].mod_revision + 1
            del self.events[:cut]


_shared: dict[str, _State] = {}
_shared_lock = threading.Lock()


class MemoryStore(Store):
    timeout = 0.0  # never waits

    def __init__(self, name: str | None = None, *, clock: Callable[[], float] = time.monotonic,
                 history: int = 10000) -> None:
        if name:
            with _shared_lock:
                state = _shared.get(name)
                if state is None:
                    state = _shared[name] = _State(clock, history)
        else:
            state = _State(clock, history)
        self._s = state
        self._closed = False

    def _enter(self) -> _State:
        if self._closed:
            raise StoreError("memory store is closed")
        self._s.reap()
        return self._s

    def get(self, key: str) -> KeyValue | None:
        with self._s.cond:
            return self._enter().kv.get(key)

    def get_prefix(self, prefix: str) -> tuple[list[KeyValue], int]:
        with self._s.cond:
            s = self._enter()
            return [s.kv[k] for k in s.match(prefix, True)], s.revision

    def put(self, key: str, value: str, lease: int | None = None) -> int:
        return self.txn([], [Put(key, value, lease)]).revision

    def delete(self, key: str, prefix: bool = False) -> int:
        return self.txn([], [Delete(key, prefix)]).revision

    def txn(self, compares: list[Compare], success: list[Put | Delete],
            failure: list[Put | Delete] | None = None) -> TxnResult:
        failure = failure or []
        validate_txn(compares, success, failure)
        with self._s.cond:
            s = self._enter()
            ok = all(compare_holds(c, s.kv.get(c.key)) for c in compares)
            responses = s.apply(success if ok else failure)
            return TxnResult(ok, s.revision, responses)

    def lease_grant(self, ttl: float) -> int:
        check_ttl(ttl)
        with self._s.cond:
            s = self._enter()
            lease_id = s.next_lease
            s.next_lease += 1
            s.leases[lease_id] = (ttl, s.clock() + ttl)
            return lease_id

    def lease_keepalive(self, lease: int) -> float:
        with self._s.cond:
            s = self._enter()
            if lease not in s.leases:
                raise LeaseExpired(f"lease {lease} has expired or never existed")
            ttl = s.leases[lease][0]
            s.leases[lease] = (ttl, s.clock() + ttl)
            return ttl

    def lease_revoke(self, lease: int) -> None:
        with self._s.cond:
            s = self._enter()
            if lease in s.leases:
                s.drop_lease(lease)

    def watch_prefix(self, prefix: str, start_revision: int | None = None,
                     timeout: float | None = None, *, lazy: Lazy | None = None) -> Iterator[WatchEvent]:
        with self._s.cond:
            s = self._enter()
            cursor = s.revision + 1 if start_revision is None else max(start_revision, 1)
        return self._watch(prefix, cursor, timeout)

    def _watch(self, prefix: str, cursor: int, timeout: float | None) -> Iterator[WatchEvent]:
        s = self._s
        idle_since = time.monotonic()
        while True:
            with s.cond:
                if self._closed:
                    return
                s.reap()
                if cursor < s.compacted:
                    raise RevisionCompacted(s.compacted)
                start = bisect.bisect_left(s.events, cursor, key=lambda e: e.mod_revision)
                batch = [e for e in s.events[start:] if e.key.startswith(prefix)]
                cursor = s.revision + 1
                if not batch:
                    wait = WATCH_POLL
                    if timeout is not None:
                        left = timeout - (time.monotonic() - idle_since)
                        if left <= 0:
                            return
                        wait = min(wait, left)
                    s.cond.wait(wait)
                    continue
            for event in batch:
                yield event
                idle_since = time.monotonic()

    def close(self) -> None:
        with self._s.cond:
            self._closed = True
            self._s.cond.notify_all()
