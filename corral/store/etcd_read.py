"""A read-only etcd client for one-shot commands (`corral status`), on the standard library.

Why not EtcdStore (etcd.py): importing etcd3gw and requests costs a short command
most of its run (about 100 ms of a 150 ms budget), and one range read needs none of
their machinery. This client posts the same JSON-gateway request (/v3/kv/range, a
linearizable read, keys and values base64) over a plain socket (store/http1.py),
so the command reads exactly what EtcdStore.get_prefix() would.

Failover within the store timeout, as for EtcdStore's reads (a read is safe to
repeat): the endpoints in the order given, each with a share of what is left (the
same connect timeout as EtcdStore); a member that answers "no leader" or 5xx is
asked again after a short pause while time is left; a member that cannot be
connected to is not asked again. The API path is /v3/ (etcd 3.4 and later); a
member that answers 404 there has its path found from GET /version, as etcd3gw
does (/v3beta/ for 3.3, /v3alpha/ before).

Only reads: every write method raises StoreError (the command that opened it must
not write).
"""
from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

from corral.store.base import (
    Compare,
    Delete,
    KeyValue,
    Lazy,
    Put,
    Store,
    StoreError,
    StoreUnavailable,
    TxnResult,
    WatchEvent,
)
from corral.store.http1 import Http1Connection

# The same bounds as EtcdStore's (etcd.py), so both clients give up on a member alike.
CONNECT_TIMEOUT_MIN = 0.05
CONNECT_TIMEOUT_MAX = 1.0
ROUND_PAUSE_S = 0.05
_UNREADY = ("no leader", "leader changed", "timed out", "too many requests", "proposal dropped")
MAX_ROUNDS = 1000  # a bound on the retry loop (the deadline ends it long before)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def range_request(key: str, prefix: bool) -> dict[str, str]:
    """The gateway's range fields for one key or every key under a prefix (as etcd.py's _range)."""
    if not prefix:
        return {"key": _b64(key.encode())}
    raw = bytearray(key.encode())
    while raw and raw[-1] == 0xFF:
        raw.pop()
    if not raw:
        return {"key": _b64(b"\0"), "range_end": _b64(b"\0")}
    end = bytearray(raw)
    end[-1] += 1
    return {"key": _b64(key.encode()), "range_end": _b64(bytes(end))}


def _kv(d: dict[str, Any]) -> KeyValue:
    return KeyValue(key=base64.b64decode(d["key"]).decode(), value=base64.b64decode(d.get("value", "")).decode(),
                    mod_revision=int(d.get("mod_revision", 0)), create_revision=int(d.get("create_revision", 0)),
                    lease=int(d.get("lease", 0)) or None)


class _Unready(Exception):
    """The member answered but cannot serve now (election, overload): ask again soon."""


class _Down(Exception):
    """Nothing could be sent to the member (refused, connect timeout): not asked again."""


def _error_text(status: int, body: bytes) -> str:
    try:
        data = json.loads(body)
        err = data.get("error") or data.get("message") or data
        return str(err.get("message") or err) if isinstance(err, dict) else str(err)
    except (ValueError, AttributeError):
        return body.decode(errors="replace").strip() or f"HTTP {status}"


class EtcdReader(Store):
    def __init__(self, endpoints: list[tuple[str, int]], *, timeout: float = 5.0) -> None:
        if not endpoints:
            raise ValueError("EtcdReader needs at least one endpoint")
        self.timeout = timeout
        self.endpoints = list(endpoints)
        self.connect_timeout = min(timeout, CONNECT_TIMEOUT_MAX,
                                   max(CONNECT_TIMEOUT_MIN, timeout / (len(endpoints) + 1)))
        self._api = ["/v3/"] * len(endpoints)
        self._conns: list[Http1Connection | None] = [None] * len(endpoints)
        self._closed = False

    def _base(self, index: int) -> str:
        host, port = self.endpoints[index]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def _request(self, index: int, method: str, path: str, body: bytes | None, budget: float) -> tuple[int, bytes]:
        conn = self._conns[index]
        if conn is None:
            host, port = self.endpoints[index]
            try:
                conn = Http1Connection(host, port, min(self.connect_timeout, budget))
            except OSError as exc:
                raise _Down(f"{self._base(index)}: {'connect timed out' if isinstance(exc, TimeoutError) else exc}") \
                    from exc
            self._conns[index] = conn
        try:
            answer = conn.request(method, path, body, time.monotonic() + budget)
            if not conn.reusable:
                conn.close()
                self._conns[index] = None
            return answer
        except (OSError, ValueError) as exc:
            conn.close()
            self._conns[index] = None
            what = "no answer in time" if isinstance(exc, TimeoutError) else str(exc)[:200]
            raise StoreUnavailable(f"{self._base(index)}: {what}") from exc

    def _discover(self, index: int, budget: float) -> None:
        status, body = self._request(index, "GET", "/version", None, budget)
        try:
            version = tuple(int(p) for p in json.loads(body)["etcdserver"].split(".", 2))
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"etcd {self._base(index)}: unreadable /version answer (HTTP {status})") from exc
        self._api[index] = "/v3/" if version >= (3, 4) else "/v3beta/" if version >= (3, 3) else "/v3alpha/"

    def _ask(self, index: int, path: str, payload: bytes, deadline: float) -> dict[str, Any]:
        for _ in range(2):  # a second time only after finding the API path
            status, body = self._request(index, "POST", self._api[index] + path, payload,
                                         max(0.001, deadline - time.monotonic()))
            if status == 404 and self._api[index] == "/v3/":
                self._discover(index, max(0.001, deadline - time.monotonic()))
                continue
            break
        if status == 200:
            try:
                data = json.loads(body)
            except ValueError as exc:
                raise _Unready(f"{self._base(index)}: unreadable answer: {body[:200]!r}") from exc
            err = data.get("error") if isinstance(data, dict) else None
            if err is None:
                return data
            status = int(err.get("http_code", 500)) if isinstance(err, dict) else 500
            text = str(err.get("message") or err) if isinstance(err, dict) else str(err)
        else:
            text = _error_text(status, body)
        if status >= 500 or any(m in text.lower() for m in _UNREADY):
            raise _Unready(f"{self._base(index)}: HTTP {status} {text}")
        raise StoreError(f"etcd {self._base(index)}: HTTP {status}: {text}")

    def _read(self, path: str, request: dict[str, str]) -> dict[str, Any]:
        if self._closed:
            raise StoreError("etcd store is closed")
        payload = json.dumps(request).encode()
        deadline = time.monotonic() + self.timeout
        failures: dict[int, str] = {}
        down: set[int] = set()
        for _ in range(MAX_ROUNDS):
            asked = False
            for index in range(len(self.endpoints)):
                left = deadline - time.monotonic()
                if index in down or left <= 0:
                    continue
                asked = True
                # A member that accepts but does not answer (a follower cut from its leader) may keep
                # only its share of what is left, so the others are asked in time.
                untried = sum(1 for i in range(index, len(self.endpoints)) if i not in down)
                try:
                    return self._ask(index, path, payload, time.monotonic() + left / untried)
                except _Down as exc:
                    down.add(index)
                    failures[index] = str(exc)
                except (_Unready, StoreUnavailable) as exc:
                    failures[index] = str(exc)
            if not asked or time.monotonic() + ROUND_PAUSE_S >= deadline:
                break
            time.sleep(ROUND_PAUSE_S)
        raise StoreUnavailable(f"no etcd endpoint answered within {self.timeout:g}s: "
                               + ("; ".join(failures.values()) or "no time to try one"))

    # --- the Store interface: reads ---------------------------------------------------------------

    def get(self, key: str) -> KeyValue | None:
        kvs = self._read("kv/range", range_request(key, False)).get("kvs", [])
        return _kv(kvs[0]) if kvs else None

    def get_prefix(self, prefix: str) -> tuple[list[KeyValue], int]:
        r = self._read("kv/range", range_request(prefix, True))  # etcd sorts by key
        return [_kv(d) for d in r.get("kvs", [])], int(r["header"]["revision"])

    def close(self) -> None:
        self._closed = True
        for conn in self._conns:
            if conn is not None:
                conn.close()
        self._conns = [None] * len(self.endpoints)

    # --- writes and watches: refused ----------------------------------------------------------------

    def _read_only(self, what: str) -> StoreError:
        return StoreError(f"etcd store opened read-only: {what} refused")

    def put(self, key: str, value: str, lease: int | None = None) -> int:
        raise self._read_only("put")

    def delete(self, key: str, prefix: bool = False) -> int:
        raise self._read_only("delete")

    def txn(self, compares: list[Compare], success: list[Put | Delete],
            failure: list[Put | Delete] | None = None) -> TxnResult:
        raise self._read_only("txn")

    def lease_grant(self, ttl: float) -> int:
        raise self._read_only("lease grant")

    def lease_keepalive(self, lease: int) -> float:
        raise self._read_only("lease keepalive")

    def lease_revoke(self, lease: int) -> None:
        raise self._read_only("lease revoke")

    def watch_prefix(self, prefix: str, start_revision: int | None = None,
                     timeout: float | None = None, *, lazy: Lazy | None = None) -> Iterator[WatchEvent]:
        raise self._read_only("watch")
