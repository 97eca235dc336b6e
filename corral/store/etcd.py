"""etcd backend through etcd's v3 JSON gateway: `etcd://host:port[,host:port...]`.

We use etcd3gw (maintained by OpenStack, used by tooz; pure Python over
requests, so no grpc/protobuf version pins) for its per-endpoint client: the
HTTP session, the base URL and the discovery of the API path (/v3/, /v3beta/,
/v3alpha/). Requests themselves are posted with that session, because we need
what etcd3gw hides: the exact connection error (to know whether a write may
have reached the server), the gateway's error text (lease not found,
compaction), and a watch stream we can stop and resume on another endpoint.

Failover: calls go to the endpoint that answered last. A request that never
left (connection refused, connect timeout) moves on to the next endpoint; so
does any failure of a read or lease call, which are safe to repeat. A write
whose outcome is unknown is not repeated (a repeated CAS could report failure
for a write that succeeded): it raises StoreUnavailable.
"""
from __future__ import annotations

import base64
import codecs
import json
import math
import queue
import threading
from collections.abc import Iterator
from typing import Any

import etcd3gw
import requests
import urllib3.exceptions
from etcd3gw import exceptions as gw_exceptions

from corral.store._common import check_ttl, validate_compare, validate_txn
from corral.store.base import (
    Compare,
    Delete,
    KeyValue,
    LeaseExpired,
    Put,
    RevisionCompacted,
    Store,
    StoreError,
    StoreUnavailable,
    TxnResult,
    WatchEvent,
)

#: A watch stream silent this long is reopened (from its last revision, so
#: nothing is lost): the only way to notice a peer that vanished without a FIN.
WATCH_IDLE_REOPEN = 30.0

_RESULTS = {"==": "EQUAL", "!=": "NOT_EQUAL", "<": "LESS", ">": "GREATER"}
_TARGETS = {"value": "VALUE", "mod_revision": "MOD", "create_revision": "CREATE"}
_CLOSED = object()


def _b64(data: str | bytes) -> str:
    # etcd3gw's own encoder uses latin-1 for str; keys and values here are UTF-8.
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def _unb64(data: str) -> str:
    return base64.b64decode(data).decode()


def _range(key: str, prefix: bool) -> dict[str, str]:
    """Request fields selecting one key, or every key under a prefix ("" = all keys)."""
    if not prefix:
        return {"key": _b64(key)}
    raw = bytearray(key.encode())
    while raw and raw[-1] == 0xFF:
        raw.pop()
    if not raw:  # "\0" .. "\0" means every key
        return {"key": _b64(b"\0"), "range_end": _b64(b"\0")}
    end = bytearray(raw)
    end[-1] += 1
    return {"key": _b64(key), "range_end": _b64(bytes(end))}


def _kv(d: dict[str, Any]) -> KeyValue:
    # proto3 JSON omits zero values: an empty value, lease 0.
    return KeyValue(
        key=_unb64(d["key"]), value=_unb64(d.get("value", "")),
        mod_revision=int(d.get("mod_revision", 0)), create_revision=int(d.get("create_revision", 0)),
        lease=int(d.get("lease", 0)) or None,
    )


def _compare(c: Compare) -> dict[str, Any]:
    validate_compare(c)
    d: dict[str, Any] = {"key": _b64(c.key)}
    if c.target == "exists":  # exists == create_revision > 0
        exists = c.value if c.op == "==" else not c.value
        d.update(target="CREATE", result="GREATER" if exists else "EQUAL", create_revision=0)
    elif c.target == "value":
        d.update(target="VALUE", result=_RESULTS[c.op], value=_b64(str(c.value)))
    else:
        d.update(target=_TARGETS[c.target], result=_RESULTS[c.op], **{c.target: c.value})
    return d


def _op(op: Put | Delete) -> dict[str, Any]:
    if isinstance(op, Put):
        put: dict[str, Any] = {"key": _b64(op.key), "value": _b64(op.value)}
        if op.lease is not None:
            put["lease"] = op.lease
        return {"request_put": put}
    return {"request_delete_range": _range(op.key, op.prefix)}


def _never_sent(exc: BaseException) -> bool:
    """True if the request surely did not reach the server (safe to send elsewhere)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, (urllib3.exceptions.NewConnectionError, ConnectionRefusedError)):
            return True
        todo += [e.__cause__, e.__context__, getattr(e, "reason", None)]
        todo += [a for a in e.args if isinstance(a, BaseException)]
    return False


def _error_text(resp: requests.Response) -> str:
    try:
        body = resp.json()
        return str(body.get("error") or body.get("message") or body)
    except ValueError:
        return resp.text.strip() or resp.reason


class EtcdStore(Store):
    def __init__(self, endpoints: list[tuple[str, int]], *, timeout: float = 5.0) -> None:
        if not endpoints:
            raise ValueError("EtcdStore needs at least one endpoint")
        self.timeout = timeout
        self.endpoints = list(endpoints)
        self._clients = [etcd3gw.client(host=h, port=p, timeout=timeout) for h, p in endpoints]
        self._current = 0
        self._closed = False
        self._watches: set[_Watch] = set()
        self._lock = threading.Lock()

    # --- HTTP with failover -------------------------------------------------

    def _url(self, index: int, path: str) -> str:
        client = self._clients[index]
        try:
            return client.get_url(path)  # discovers the API path on first use
        except gw_exceptions.Etcd3Exception as e:
            # Discovery is a GET of /version: always safe to try elsewhere.
            raise requests.exceptions.ConnectionError(f"{client.base_url}/version: {e.detail_text or e}") from e

    def _post(self, path: str, payload: dict[str, Any], *, retry: bool) -> dict[str, Any]:
        """POST to the current endpoint, failing over. retry: safe to resend after any failure."""
        if self._closed:
            raise StoreError("etcd store is closed")
        failures = []
        start = self._current
        for i in range(len(self._clients)):
            index = (start + i) % len(self._clients)
            client = self._clients[index]
            try:
                url = self._url(index, path)
            except requests.RequestException as e:  # API discovery failed: nothing was sent
                failures.append(str(e))
                continue
            try:
                resp = client.session.post(url, json=payload, timeout=self.timeout)
            except requests.RequestException as e:
                if not (retry or _never_sent(e)):
                    raise StoreUnavailable(f"etcd {client.base_url}: {e}; the write may or may not "
                                           "have been applied") from e
                failures.append(f"{client.base_url}: {e}")
                continue
            if resp.status_code in (502, 503, 504) and retry:  # no leader, timeout: another member may do
                failures.append(f"{client.base_url}: HTTP {resp.status_code} {_error_text(resp)}")
                continue
            self._current = index
            return self._check(resp, client.base_url)
        raise StoreUnavailable("no etcd endpoint answered: " + "; ".join(failures))

    @staticmethod
    def _check(resp: requests.Response, where: str) -> dict[str, Any]:
        if resp.status_code == 200:
            return resp.json()
        text = _error_text(resp)
        if "lease not found" in text:
            raise LeaseExpired(text)
        if "duplicate key" in text:
            raise ValueError(text)
        if resp.status_code in (502, 503, 504) or "timed out" in text or "no leader" in text:
            raise StoreUnavailable(f"etcd {where}: {text}")
        raise StoreError(f"etcd {where}: HTTP {resp.status_code}: {text}")

    # --- the Store interface ------------------------------------------------

    def get(self, key: str) -> KeyValue | None:
        kvs = self._post("/kv/range", _range(key, False), retry=True).get("kvs", [])
        return _kv(kvs[0]) if kvs else None

    def get_prefix(self, prefix: str) -> tuple[list[KeyValue], int]:
        r = self._post("/kv/range", _range(prefix, True), retry=True)  # etcd sorts by key
        return [_kv(d) for d in r.get("kvs", [])], int(r["header"]["revision"])

    def put(self, key: str, value: str, lease: int | None = None) -> int:
        return self.txn([], [Put(key, value, lease)]).revision

    def delete(self, key: str, prefix: bool = False) -> int:
        return self.txn([], [Delete(key, prefix)]).revision

    def txn(self, compares: list[Compare], success: list[Put | Delete],
            failure: list[Put | Delete] | None = None) -> TxnResult:
        failure = failure or []
        validate_txn(compares, success, failure)
        r = self._post("/kv/txn", {
            "compare": [_compare(c) for c in compares],
            "success": [_op(op) for op in success],
            "failure": [_op(op) for op in failure],
        }, retry=False)
        revision = int(r["header"]["revision"])
        responses: list[object] = []
        for item in r.get("responses", []):
            if "response_delete_range" in item:
                responses.append(int(item["response_delete_range"].get("deleted", 0)))
            else:
                responses.append(revision)
        return TxnResult(bool(r.get("succeeded", False)), revision, responses)

    def lease_grant(self, ttl: float) -> int:
        # etcd counts whole seconds (and may raise ttl to its minimum, 1.5 x election timeout).
        check_ttl(ttl)
        r = self._post("/lease/grant", {"TTL": max(1, math.ceil(ttl)), "ID": 0}, retry=True)
        if r.get("error"):
            raise StoreError(f"etcd lease grant: {r['error']}")
        return int(r["ID"])

    def lease_keepalive(self, lease: int) -> float:
        r = self._post("/lease/keepalive", {"ID": lease}, retry=True).get("result", {})
        ttl = int(r.get("TTL", 0))
        if ttl <= 0:  # etcd answers TTL 0 (omitted) for a lease it no longer has
            raise LeaseExpired(f"lease {lease} has expired or never existed")
        return float(ttl)

    def lease_revoke(self, lease: int) -> None:
        try:
            self._post("/kv/lease/revoke", {"ID": lease}, retry=True)
        except LeaseExpired:
            pass

    def watch_prefix(self, prefix: str, start_revision: int | None = None,
                     timeout: float | None = None) -> Iterator[WatchEvent]:
        if start_revision is None:  # "from now" means from this call, not from the first next()
            start_revision = int(self._post("/kv/range", {**_range(prefix, True), "count_only": True},
                                            retry=True)["header"]["revision"]) + 1
        return self._iterate(_Watch(self, prefix, max(1, start_revision)), timeout)

    def _iterate(self, watch: _Watch, timeout: float | None) -> Iterator[WatchEvent]:
        # The stream opens on the first next(): a watch never iterated holds no
        # thread, and nothing is missed since it starts from a fixed revision.
        with self._lock:
            if self._closed:
                return
            self._watches.add(watch)
        watch.start()
        try:
            while True:
                try:
                    item = watch.queue.get(timeout=timeout)
                except queue.Empty:
                    return
                if item is _CLOSED:
                    return
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, WatchEvent)
                yield item
        finally:
            watch.stop()
            with self._lock:
                self._watches.discard(watch)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            watches, self._watches = list(self._watches), set()
        for w in watches:
            w.stop()
        for client in self._clients:
            client.session.close()


class _Watch:
    """One watch: a thread reads the gateway's stream into a queue, reopening it
    from the next unseen revision on another endpoint when the stream breaks."""

    def __init__(self, store: EtcdStore, prefix: str, start_revision: int) -> None:
        self.store = store
        self.prefix = prefix
        self.cursor = start_revision
        self.queue: queue.Queue[object] = queue.Queue()
        self._stopped = threading.Event()
        self._resp: requests.Response | None = None
        self._index = store._current
        self._thread = threading.Thread(target=self._run, name=f"etcd-watch {prefix!r}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        resp = self._resp
        if resp is not None:
            _abort(resp)
        self.queue.put(_CLOSED)

    def _run(self) -> None:
        failures: list[str] = []
        n = len(self.store._clients)
        while not self._stopped.is_set():
            try:
                self._stream(failures)
                failures.append("stream ended")
            except (RevisionCompacted, StoreError) as e:
                self.queue.put(e)
                return
            except Exception as e:  # any transport failure: reopen elsewhere
                if self._stopped.is_set():
                    return
                failures.append(f"{self.store._clients[self._index].base_url}: {e}")
            if len(failures) >= 2 * n:  # every endpoint failed twice without a working stream
                self.queue.put(StoreUnavailable("etcd watch lost every endpoint: " + "; ".join(failures)))
                return
            self._index = (self._index + 1) % n
            self._stopped.wait(0.05 * len(failures))

    def _stream(self, failures: list[str]) -> None:
        client = self.store._clients[self._index]
        body = {"create_request": {**_range(self.prefix, True), "start_revision": self.cursor}}
        resp = client.session.post(self.store._url(self._index, "/watch"), json=body, stream=True,
                                   timeout=(self.store.timeout, WATCH_IDLE_REOPEN))
        self._resp = resp
        try:
            if self._stopped.is_set():
                return
            if resp.status_code != 200:
                raise requests.exceptions.ConnectionError(f"HTTP {resp.status_code}: {_error_text(resp)}")
            decoder = json.JSONDecoder()
            text = codecs.getincrementaldecoder("utf-8")()
            buf = ""
            for chunk in resp.iter_content(chunk_size=None):
                buf += text.decode(chunk)
                while True:  # messages are JSON objects, newline-separated; chunks may split them
                    buf = buf.lstrip()
                    try:
                        msg, end = decoder.raw_decode(buf)
                    except json.JSONDecodeError:
                        break
                    buf = buf[end:]
                    if self._handle(msg):
                        failures.clear()
        finally:
            resp.close()

    def _handle(self, msg: dict[str, Any]) -> bool:
        """Queue the events of one message; True once the watch is established."""
        if "error" in msg:
            raise requests.exceptions.ConnectionError(f"watch stream error: {msg['error']}")
        result = msg.get("result", {})
        if int(result.get("compact_revision", 0)) > 0:
            raise RevisionCompacted(int(result["compact_revision"]))
        if result.get("canceled"):
            raise requests.exceptions.ConnectionError(f"watch canceled: {result.get('cancel_reason', '')}")
        events = result.get("events", [])
        last = self.cursor - 1
        for ev in events:
            kv = ev["kv"]
            last = int(kv["mod_revision"])
            if ev.get("type") == "DELETE":
                self.queue.put(WatchEvent("delete", _unb64(kv["key"]), None, last))
            else:
                self.queue.put(WatchEvent("put", _unb64(kv["key"]), _unb64(kv.get("value", "")), last))
        self.cursor = last + 1  # a revision's events come in one message: resume after it
        return bool(result.get("created") or events)


def _abort(resp: requests.Response) -> None:
    """Unblock a thread reading resp: shut its socket down (close() alone does not wake a recv)."""
    import socket

    sock = getattr(getattr(resp.raw, "_connection", None), "sock", None)
    if sock is None:
        try:
            sock = resp.raw._fp.fp.raw._sock  # type: ignore[union-attr]
        except AttributeError:
            sock = None
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    try:
        resp.close()
    except Exception:  # noqa: BLE001 - best effort: the reader thread may be closing it too
        pass

