"""etcd backend through etcd's v3 JSON gateway: `etcd://host:port[,host:port...]`.

We use etcd3gw (maintained by OpenStack, used by tooz; pure Python over
requests, so no grpc/protobuf version pins) for its per-endpoint client: the
HTTP session, the base URL and the discovery of the API path (/v3/, /v3beta/,
/v3alpha/). Requests themselves are posted with that session, because we need
what etcd3gw hides: the exact connection error (to know whether a write may
have reached the server), the gateway's error text (lease not found,
compaction), and a watch stream we can stop and resume on another endpoint.
The short calls (everything but watch streams) go over our own keep-alive
connections (store/http1.py): requests cost about 1 ms of CPU per call, which
was most of an idle agent's cost; their failures are reported as the
requests exceptions they replace, so the failover logic below is the same.

Failover, all within the store timeout (one call never takes longer): calls go
to the endpoint that answered last, then the others, then those that failed
recently. Connects get a short timeout (a host that is gone answers nothing, not
even a RST). A call that is safe to repeat (reads, lease calls) is hedged: while
nothing answers it asks the next endpoint, or one already asked afresh, every
quarter of the timeout, and asks again members that answer "no leader" (an
election). A write goes to one member, once: if its outcome is unknown it is not
repeated (a repeated CAS could report failure for a write that succeeded) and
raises StoreUnavailable. A silent watch stream has its member probed, and moves
to another member when that one is gone. docs/store.md has the details.
"""
from __future__ import annotations

import base64
import codecs
import json
import math
import queue
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import etcd3gw
import requests
import urllib3
import urllib3.exceptions
from etcd3gw import exceptions as gw_exceptions

from corral.store._common import check_ttl, validate_compare, validate_txn
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
    StoreUnavailable,
    TxnResult,
    WatchEvent,
)
from corral.store.http1 import Http1Connection

#: A watch stream silent this long is reopened (from its last revision, so nothing is lost): a
#: backstop for a stream broken on the way while its member is fine (probes catch a member gone).
WATCH_IDLE_REOPEN = 30.0
#: Bounds of the per-endpoint connect timeout (a share of the store timeout). A live member on a
#: LAN accepts in well under a millisecond; a lost SYN is resent only after 1 s anyway.
CONNECT_TIMEOUT_MIN = 0.05
CONNECT_TIMEOUT_MAX = 1.0
#: A call safe to repeat also asks the next endpoint when those asked have not answered within
#: this share of the store timeout (at least MIN_SLICE); nothing asked is given up before the deadline.
HEDGE_SHARE = 0.25
MIN_SLICE = 0.05
#: A member that answered "no leader" (an election) is asked again after this pause.
ROUND_PAUSE_S = 0.05
#: How long the stream of a watch that ended idle waits for a new watch of its prefix to take it over.
PARK_S = 10.0
MAX_PENDING = 2  # attempts of one call under way at one endpoint (a fresh one next to a stuck one)
MAX_STEPS = 10000  # a bound on the failover loop's steps (the deadline ends it long before)
#: Threads running the attempts of calls safe to repeat (per store, started as needed, until close()).
POOL_WORKERS = 16
#: Idle keep-alive connections kept per endpoint (concurrent calls each need their own).
IDLE_CONNECTIONS = 4
#: An endpoint that failed this recently is tried after the others.
SUSPECT_S = 10.0
#: Bounds of how long a watch stream may be silent before its member is probed (the store timeout).
WATCH_PROBE_MIN = 0.2
WATCH_PROBE_MAX = 2.0
#: Answers of a member that is alive but cannot serve now (election, overload): another may.
_UNREADY = ("no leader", "leader changed", "timed out", "too many requests", "proposal dropped")

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


#: When a short call to each member (host, port) last got a good answer, from any EtcdStore of this
#: process (the monotonic time the call started). Every call here needs the member to reach the
#: quorum (linearizable reads, writes, lease calls), so such an answer proves what a watch probe
#: would: a member that answered since a watch's last sign of life needs no probe for it (an
#: agent's lease renewals, on a store of their own, thus stand in for its watches' probes).
_ANSWERED: dict[tuple[str, int], float] = {}
_ANSWERED_LOCK = threading.Lock()


def _note_answer(endpoint: tuple[str, int], started: float) -> None:
    with _ANSWERED_LOCK:
        if started > _ANSWERED.get(endpoint, -math.inf):
            _ANSWERED[endpoint] = started


def _answered_at(endpoint: tuple[str, int]) -> float:
    with _ANSWERED_LOCK:
        return _ANSWERED.get(endpoint, -math.inf)


class _DiscoveryFailed(requests.exceptions.ConnectionError):
    """The GET of /version (API path discovery) failed: the request itself was never sent."""


class _ConnectFailed(requests.exceptions.ConnectionError):
    """Our connection to the member could not be opened (refused, unreachable): nothing was sent."""


class _Reply:
    """The answer of one short call, with the parts of requests.Response that _answer reads."""

    def __init__(self, status: int, content: bytes) -> None:
        self.status_code = status
        self.content = content
        self.reason = ""

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)

    def close(self) -> None:
        pass


def _never_sent(exc: BaseException) -> bool:
    """True if the request surely did not reach the server (safe to send elsewhere)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, (_DiscoveryFailed, _ConnectFailed, requests.exceptions.ConnectTimeout,
                          urllib3.exceptions.ConnectTimeoutError,
                          urllib3.exceptions.ClosedPoolError, ConnectionRefusedError)):
            return True  # (urllib3's NewConnectionError is a ConnectTimeoutError)
        todo += [e.__cause__, e.__context__, getattr(e, "reason", None)]
        todo += [a for a in e.args if isinstance(a, BaseException)]
    return False


def _error_text(resp: requests.Response | _Reply) -> str:
    try:
        body = resp.json()
        err = body.get("error") or body.get("message") or body
        return str(err.get("message") or err) if isinstance(err, dict) else str(err)
    except (ValueError, AttributeError):
        return resp.text.strip() or resp.reason


def _answer(resp: requests.Response | _Reply) -> tuple[int, dict[str, Any] | None, str]:
    """(HTTP status, body if it is a good answer, error text otherwise)."""
    if resp.status_code == 200:
        try:
            body = resp.json()
        except ValueError:
            return 500, None, f"unreadable answer: {resp.text[:200]!r}"
        err = body.get("error") if isinstance(body, dict) else None
        if err is None:
            return 200, body, ""
        # A gateway stream that failed after sending its header carries the error in the body.
        code = int(err.get("http_code", 500)) if isinstance(err, dict) else 500
        return code, None, str(err.get("message") or err) if isinstance(err, dict) else str(err)
    return resp.status_code, None, _error_text(resp)


def _unready(status: int, text: str) -> bool:
    return status >= 500 or any(m in text.lower() for m in _UNREADY)


def _error(status: int, text: str, where: str) -> Exception:
    if "lease not found" in text:
        return LeaseExpired(text)
    if "duplicate key" in text:
        return ValueError(text)
    if status in (502, 503, 504) or "timed out" in text or "no leader" in text:
        return StoreUnavailable(f"etcd {where}: {text}")
    return StoreError(f"etcd {where}: HTTP {status}: {text}")


def _brief(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "no answer in time"
    if _never_sent(exc):
        return "connection refused"
    return str(exc)[:200]


@dataclass
class _Outcome:
    """How one attempt ended. kind: "ok" (body), "error" (a definite answer to raise), or a
    failure: "down" (nothing sent), "timeout" (no answer in time), "answer" (the member cannot
    serve now), "late" (never tried)."""
    index: int
    kind: str
    text: str = ""
    body: dict[str, Any] | None = None
    error: Exception | None = None


class EtcdStore(Store):
    def __init__(self, endpoints: list[tuple[str, int]], *, timeout: float = 5.0) -> None:
        if not endpoints:
            raise ValueError("EtcdStore needs at least one endpoint")
        self.timeout = timeout
        self.endpoints = list(endpoints)
        n = len(endpoints)
        #: Per-endpoint connect timeout: a share of the deadline, so that a host that is gone
        #: (SYNs unanswered) leaves time for the others.
        self.connect_timeout = min(timeout, CONNECT_TIMEOUT_MAX, max(CONNECT_TIMEOUT_MIN, timeout / (n + 1)))
        #: A watch whose stream has been silent this long has its member asked whether it is alive.
        self.watch_probe_after = min(WATCH_PROBE_MAX, max(WATCH_PROBE_MIN, timeout))
        self._clients = [etcd3gw.client(host=h, port=p, timeout=timeout) for h, p in endpoints]
        self._idle: list[list[Http1Connection]] = [[] for _ in endpoints]  # keep-alive, per endpoint
        self._discovery = [threading.Lock() for _ in endpoints]
        self._current = 0
        self._failed_at: list[float | None] = [None] * n
        self._clock: Callable[[], float] = time.monotonic
        self._closed = False
        self._closing = threading.Event()
        self._watches: set[_Watch] = set()
        #: Streams of watches that ended idle, by prefix: (watch, last revision delivered, since when)
        self._parked: dict[str, tuple[_Watch, int, float]] = {}
        self._monitor: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    # --- endpoints: order, health, one attempt ------------------------------

    def _order(self) -> list[int]:
        """Endpoints in the order to try: the one that answered last, the others in list order,
        then those that failed in the last SUSPECT_S seconds, the longest-failed first."""
        now = self._clock()
        with self._lock:
            n = len(self._clients)
            rotated = [(self._current + i) % n for i in range(n)]
            recent = {i: t for i, t in enumerate(self._failed_at) if t is not None and now - t < SUSPECT_S}
        return [i for i in rotated if i not in recent] + sorted(recent, key=recent.__getitem__)

    def _succeeded(self, index: int) -> None:
        with self._lock:
            self._failed_at[index] = None
            self._current = index

    def _failed(self, index: int, kind: str, since: float) -> None:
        """Remember a failure of an attempt started at `since`. kind: "down" (nothing could be sent:
        refused, connect timeout), "timeout" (sent, no answer in time) or "answer" (the member
        answered that it cannot serve now)."""
        with self._lock:
            self._failed_at[index] = self._clock()
        if kind == "answer":
            return
        # Pooled connections to a member that went silent would each cost a read timeout (no RST
        # comes from a host that is gone): start over with fresh ones, which fail at connect.
        client = self._clients[index]
        old, client.session = client.session, requests.Session()
        old.close()  # idle connections only; requests under way finish on theirs
        self._drop_idle(index)
        if kind == "down":  # its watch streams are as dead, unless they heard from it since
            self._interrupt_watches(index, since)

    def _timeout(self, budget: float) -> urllib3.Timeout:
        # total bounds connect + read together (urllib3 gives the read what the connect left).
        return urllib3.Timeout(connect=min(self.connect_timeout, budget), read=budget, total=budget)

    def _url(self, index: int, path: str, budget: float) -> str:
        client = self._clients[index]
        # The API path is discovered by a GET of /version on first use; bound it by our budget.
        if not self._discovery[index].acquire(timeout=max(0.0, budget)):
            raise requests.exceptions.ConnectTimeout(f"{client.base_url}: API discovery still under way")
        try:
            client.timeout = self._timeout(budget)  # type: ignore[assignment]
            return client.get_url(path)
        except gw_exceptions.Etcd3Exception as e:
            # Discovery is a GET of /version: always safe to try elsewhere.
            raise _DiscoveryFailed(f"{client.base_url}/version: {e.detail_text or e}") from e
        finally:
            self._discovery[index].release()

    def _attempt(self, index: int, path: str, payload: dict[str, Any], budget: float, *,
                 stream: bool = False) -> Any:
        """One POST to one endpoint, all of it (API discovery, connect, answer) within budget seconds:
        a requests.Response for a stream, else a _Reply."""
        start = self._clock()
        url = self._url(index, path, budget)
        left = budget - (self._clock() - start)
        if left <= 0:
            raise requests.exceptions.ConnectTimeout(f"{self._clients[index].base_url}: no time left")
        if stream:
            return self._clients[index].session.post(url, json=payload, stream=True, timeout=self._timeout(left))
        return self._short_call(index, url[len(self._clients[index].base_url):], json.dumps(payload).encode(), left)

    def _short_call(self, index: int, path: str, body: bytes, budget: float) -> _Reply:
        """A POST on a kept connection (or a new one), failing as requests would: ConnectTimeout or
        _ConnectFailed when nothing was sent, ReadTimeout or ConnectionError once it may have been."""
        deadline = time.monotonic() + budget
        base = self._clients[index].base_url
        conn = self._take_idle(index)
        if conn is None:
            host, port = self.endpoints[index]
            try:
                conn = Http1Connection(host, port, min(self.connect_timeout, budget))
            except TimeoutError as e:
                raise requests.exceptions.ConnectTimeout(f"{base}: connect timed out") from e
            except OSError as e:
                raise _ConnectFailed(f"{base}: {e}") from e
        try:
            status, content = conn.request("POST", path, body, deadline)
        except TimeoutError as e:
            conn.close()
            raise requests.exceptions.ReadTimeout(f"{base}: no answer in time") from e
        except (OSError, ValueError) as e:
            conn.close()
            raise requests.exceptions.ConnectionError(f"{base}: {e}") from e
        self._keep_idle(index, conn)
        if status == 200:
            _note_answer(self.endpoints[index], deadline - budget)
        return _Reply(status, content)

    def _take_idle(self, index: int) -> Http1Connection | None:
        while True:
            with self._lock:
                if not self._idle[index]:
                    return None
                conn = self._idle[index].pop()
            if not conn.dropped():
                return conn
            conn.close()

    def _keep_idle(self, index: int, conn: Http1Connection) -> None:
        with self._lock:
            if conn.reusable and not self._closed and len(self._idle[index]) < IDLE_CONNECTIONS:
                self._idle[index].append(conn)
                return
        conn.close()

    def _drop_idle(self, index: int) -> None:
        with self._lock:
            idle, self._idle[index] = self._idle[index], []
        for conn in idle:
            conn.close()

    # --- HTTP with failover -------------------------------------------------

    def _post(self, path: str, payload: dict[str, Any], *, retry: bool) -> dict[str, Any]:
        """POST with failover, all within the store timeout. retry: safe to resend after any failure."""
        if self._closed:
            raise StoreError("etcd store is closed")
        deadline = self._clock() + self.timeout
        return self._post_hedged(path, payload, deadline) if retry else self._post_write(path, payload, deadline)

    def _post_write(self, path: str, payload: dict[str, Any], deadline: float) -> dict[str, Any]:
        """A write goes to the first endpoint (in _order()) that accepts the connection, with all
        that is left of the deadline; it moves on only while nothing was sent, and is never resent."""
        failures: list[str] = []
        for index in self._order():
            client = self._clients[index]
            started = self._clock()
            if deadline - started <= 0:
                break
            try:
                resp = self._attempt(index, path, payload, deadline - started)
            except requests.RequestException as e:
                down = _never_sent(e)
                self._failed(index, "down" if down else "timeout", started)
                if not down:
                    raise StoreUnavailable(f"etcd {client.base_url}: {e}; the write may or may not "
                                           "have been applied") from e
                failures.append(f"{client.base_url}: {_brief(e)}")
                continue
            status, body, text = _answer(resp)
            if status == 200 and body is not None:
                self._succeeded(index)
                return body
            if _unready(status, text):  # alive but cannot serve now: others first next time
                self._failed(index, "answer", started)
            else:
                self._succeeded(index)  # a definite answer: the member works
            raise _error(status, text, client.base_url)
        raise StoreUnavailable(f"no etcd endpoint answered within {self.timeout:g}s: "
                               + ("; ".join(failures) or "no time to try one"))

    def _try(self, index: int, path: str, payload: dict[str, Any], deadline: float) -> _Outcome:
        """One attempt of a call safe to repeat, run in the pool; records its own failure, since the
        caller may have moved on by the time it ends."""
        client = self._clients[index]
        started = self._clock()
        if deadline - started <= 0:  # waited in the pool's queue past the deadline: not the member's fault
            return _Outcome(index, "late", f"{client.base_url}: not tried in time")
        try:
            resp = self._attempt(index, path, payload, deadline - started)
        except requests.RequestException as e:
            kind = "down" if _never_sent(e) else "timeout"
            self._failed(index, kind, started)
            return _Outcome(index, kind, f"{client.base_url}: {_brief(e)}")
        status, body, text = _answer(resp)
        if status == 200 and body is not None:
            return _Outcome(index, "ok", body=body)
        if _unready(status, text):
            self._failed(index, "answer", started)
            return _Outcome(index, "answer", f"{client.base_url}: HTTP {status} {text}")
        return _Outcome(index, "error", error=_error(status, text, client.base_url))

    def _post_hedged(self, path: str, payload: dict[str, Any], deadline: float) -> dict[str, Any]:
        """A call safe to repeat: ask the endpoints in _order(), and whenever nothing has answered
        for HEDGE_SHARE of the timeout, ask again: the next endpoint not yet asked, else one asked
        earlier, afresh. Nothing asked is given up (each attempt may run until the deadline) and
        the first good answer wins. Fresh attempts matter: a follower asked before it noticed
        that its leader died forwards the request to the dead leader and stays stuck, while the
        same request sent after the election is answered at once. A member that answers "no
        leader" / 5xx is asked again ROUND_PAUSE_S later; one that cannot be connected to is not
        asked again in this call."""
        pending: dict[Future[_Outcome], int] = {}
        asked_at: dict[int, float] = {}  # the latest attempt at each endpoint
        again_at: dict[int, float] = {}  # when an endpoint that failed may be asked again
        failures: dict[int, str] = {}
        hedge_after = max(MIN_SLICE, self.timeout * HEDGE_SHARE)
        next_ask = self._clock()
        pool = self._pool()
        for _ in range(MAX_STEPS):
            now = self._clock()
            if now >= deadline or self._closed:
                break
            if now >= next_ask:
                busy = Counter(pending.values())
                askable = [i for i in self._order() if again_at.get(i, now) <= now and busy[i] < MAX_PENDING]
                ready = [i for i in askable if not busy[i] or now - asked_at[i] >= hedge_after]
                ready.sort(key=lambda i: busy[i] > 0)  # (stable) endpoints not being asked first
                if ready:
                    try:
                        fut = pool.submit(self._try, ready[0], path, payload, deadline)
                    except RuntimeError:  # the store was closed meanwhile (its pool shut down)
                        break
                    pending[fut] = ready[0]
                    asked_at[ready[0]] = now
                    next_ask = now + hedge_after
                else:  # when one being asked may be asked afresh
                    next_ask = min((asked_at[i] + hedge_after for i in askable), default=deadline)
            wake = [t for t in again_at.values() if now < t < deadline]
            if pending:
                wake.append(max(next_ask, now))
            elif not wake:
                break  # nothing under way and nobody to ask again: every endpoint is down
            wait_s = max(0.0, min(min(wake), deadline) - now)
            if not pending:  # (wait() returns at once on no futures)
                self._closing.wait(wait_s)
                next_ask = min(next_ask, self._clock())
                continue
            done, _ = wait(pending, timeout=wait_s, return_when=FIRST_COMPLETED)
            for fut in done:
                del pending[fut]
                out = fut.result()
                if out.kind == "ok":
                    self._succeeded(out.index)
                    assert out.body is not None
                    return out.body
                if out.kind == "error":
                    self._succeeded(out.index)  # a definite answer: the member works
                    assert out.error is not None
                    raise out.error
                failures[out.index] = out.text
                again_at[out.index] = deadline if out.kind == "down" else self._clock() + ROUND_PAUSE_S
                next_ask = self._clock()  # an attempt ended: the next may start now
        if self._closed:
            raise StoreError("etcd store is closed")
        raise StoreUnavailable(f"no etcd endpoint answered within {self.timeout:g}s: "
                               + ("; ".join(failures.values()) or "no answer yet"))

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                # Attempts outlive the call that gave up waiting for them (until its deadline).
                self._executor = ThreadPoolExecutor(max_workers=POOL_WORKERS, thread_name_prefix="etcd-call")
            return self._executor

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
                     timeout: float | None = None, *, lazy: Lazy | None = None) -> Iterator[WatchEvent]:
        if start_revision is None:  # "from now" means from this call, not from the first next()
            start_revision = int(self._post("/kv/range", {**_range(prefix, True), "count_only": True},
                                            retry=True)["header"]["revision"]) + 1
        start = max(1, start_revision)
        return self._iterate(self._adopt(prefix, start) or _Watch(self, prefix, start), timeout, start)

    def _adopt(self, prefix: str, start: int) -> _Watch | None:
        """The parked stream of `prefix`, if it holds every event from revision `start` on: it has
        delivered nothing at or past `start`, and runs still (see _iterate)."""
        with self._lock:
            parked = self._parked.pop(prefix, None)
        if parked is None:
            return None
        watch, delivered, _since = parked
        if start > delivered and watch.running():
            return watch
        self._retire(watch)
        return None

    def _retire(self, watch: _Watch) -> None:
        watch.stop()
        with self._lock:
            self._watches.discard(watch)

    def _iterate(self, watch: _Watch, timeout: float | None, start: int) -> Iterator[WatchEvent]:
        # The stream opens on the first next(): a watch never iterated holds no
        # thread, and nothing is missed since it starts from a fixed revision.
        with self._lock:
            if self._closed:
                return
            self._watches.add(watch)
            if self._monitor is None:
                self._monitor = threading.Thread(target=self._monitor_watches, name="etcd-watch-probe",
                                                 daemon=True)
                self._monitor.start()
        watch.start()
        delivered = start - 1
        idle = False
        try:
            quiet_since = time.monotonic()
            while True:
                wait_s = None if timeout is None else timeout - (time.monotonic() - quiet_since)
                try:
                    if wait_s is not None and wait_s <= 0:
                        raise queue.Empty
                    item = watch.queue.get(timeout=wait_s)
                except queue.Empty:
                    idle = True
                    return
                if item is _CLOSED:
                    return
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, WatchEvent)
                if item.mod_revision < start:  # an adopted stream's event from before this watch
                    continue
                delivered = item.mod_revision
                quiet_since = time.monotonic()
                yield item
        finally:
            if idle:
                self._park(watch, delivered)
            else:
                self._retire(watch)

    def _park(self, watch: _Watch, delivered: int) -> None:
        """A watch that ended for want of events keeps its stream open for a while: a caller that
        re-lists and watches the same prefix again at once (cluster.follow, every few seconds)
        then takes it over (_adopt) instead of opening a stream, and its thread, anew."""
        with self._lock:
            if self._closed or not watch.running():
                old: _Watch | None = watch
            else:
                entry = self._parked.pop(watch.prefix, None)
                old = entry[0] if entry is not None else None
                self._parked[watch.prefix] = (watch, delivered, time.monotonic())
        if old is not None:
            self._retire(old)

    def _retire_parked(self, older_than: float) -> None:
        now = time.monotonic()
        with self._lock:
            stale = [p for p, (_w, _d, since) in self._parked.items() if now - since >= older_than]
            retired = [self._parked.pop(p)[0] for p in stale]
        for watch in retired:
            self._retire(watch)

    def _interrupt_watches(self, index: int, since: float) -> None:
        """Break the streams on endpoint index that have heard nothing since `since`: they reopen elsewhere."""
        with self._lock:
            watches = [w for w in self._watches if w.index == index and w.alive_at < since]
        for w in watches:
            w.interrupt(index)

    def _monitor_watches(self) -> None:
        """Probe the member of every watch stream silent for watch_probe_after: a member whose host
        is gone sends neither data nor FIN, so only asking tells. A linearizable read is the probe,
        so a member cut off from the quorum (whose watches see nothing) fails it too. A member that
        answered another call of this process since then is not asked again (_ANSWERED)."""
        while not self._closing.wait(self.watch_probe_after / 2):
            self._retire_parked(PARK_S)
            now = self._clock()
            with self._lock:
                silent: dict[int, list[_Watch]] = {}
                for w in self._watches:
                    if w.index is not None and now - w.alive_at >= self.watch_probe_after:
                        silent.setdefault(w.index, []).append(w)
            for index in silent:
                started = self._clock()
                since = time.monotonic() - _answered_at(self.endpoints[index])
                if since < self.watch_probe_after:  # it answered a call meanwhile: as good as a probe
                    with self._lock:
                        for w in silent[index]:
                            w.alive_at = max(w.alive_at, started - since)
                    continue
                try:
                    resp = self._attempt(index, "/kv/range", {"key": _b64("\0"), "count_only": True}, self.timeout)
                    ok = _answer(resp)[0] == 200
                    kind = "answer"
                except requests.RequestException as e:
                    ok, kind = False, "down" if _never_sent(e) else "timeout"
                if self._closing.is_set():
                    return
                if ok:
                    with self._lock:
                        for w in silent[index]:
                            w.alive_at = max(w.alive_at, started)
                else:
                    self._failed(index, kind, started)
                    self._interrupt_watches(index, started)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            watches, self._watches = list(self._watches), set()
            self._parked.clear()  # (their watches are among self._watches)
        self._closing.set()
        for w in watches:
            w.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        for client in self._clients:
            client.session.close()
        for index in range(len(self._clients)):
            self._drop_idle(index)


class _Watch:
    """One watch: a thread reads the gateway's stream into a queue, reopening it
    from the next unseen revision on another endpoint when the stream breaks."""

    def __init__(self, store: EtcdStore, prefix: str, start_revision: int) -> None:
        self.store = store
        self.prefix = prefix
        self.cursor = start_revision
        self.queue: queue.Queue[object] = queue.Queue()
        self.index: int | None = None  # the endpoint of the open stream
        self.alive_at = 0.0  # when the stream last proved alive: data received, or its member answered a probe
        self._stopped = threading.Event()
        self._resp: requests.Response | None = None
        self._thread = threading.Thread(target=self._run, name=f"etcd-watch {prefix!r}", daemon=True)
        self._started = False

    def start(self) -> None:
        if not self._thread.is_alive() and not self._started:
            self._started = True
            self._thread.start()

    def running(self) -> bool:
        """Whether its stream still runs: not stopped, and not ended by an error it queued."""
        return not self._stopped.is_set() and (not self._started or self._thread.is_alive())

    def stop(self) -> None:
        self._stopped.set()
        resp = self._resp
        if resp is not None:
            _abort(resp)
        self.queue.put(_CLOSED)

    def interrupt(self, index: int) -> None:
        resp = self._resp
        if self.index == index and resp is not None:
            _abort(resp)

    def _run(self) -> None:
        failures: list[str] = []
        n = len(self.store._clients)
        index = self.store._order()[0]
        while not self._stopped.is_set():
            started = self.store._clock()
            try:
                self._stream(index, failures)
                failures.append("stream ended")
            except (RevisionCompacted, StoreError) as e:
                self.queue.put(e)
                return
            except Exception as e:  # any transport failure: reopen elsewhere
                if self._stopped.is_set():
                    return
                failures.append(f"{self.store._clients[index].base_url}: {e}")
                if isinstance(e, requests.RequestException) and _never_sent(e):
                    kind = "down"
                elif isinstance(e, requests.exceptions.Timeout):  # the member never confirmed the watch
                    kind = "timeout"
                else:
                    kind = "answer"
                self.store._failed(index, kind, started)
            finally:
                self.index, self._resp = None, None
            if len(failures) >= 2 * n:  # every endpoint failed twice without a working stream
                self.queue.put(StoreUnavailable("etcd watch lost every endpoint: " + "; ".join(failures)))
                return
            order = self.store._order()
            index = next((i for i in order if i != index), index)
            # At once the first time (the stream resumes quickly), then backing off.
            self._stopped.wait(0.01 + 0.05 * (len(failures) - 1))

    def _stream(self, index: int, failures: list[str]) -> None:
        store = self.store
        body = {"create_request": {**_range(self.prefix, True), "start_revision": self.cursor}}
        self.index = index
        # The member must confirm the watch (its first message) within the store timeout; then the
        # stream may stay silent as long as there are no events (the probes watch over it).
        resp = store._attempt(index, "/watch", body, store.timeout, stream=True)
        self._resp = resp
        self.alive_at = store._clock()
        try:
            if self._stopped.is_set():
                return
            if resp.status_code != 200:
                raise requests.exceptions.ConnectionError(f"HTTP {resp.status_code}: {_error_text(resp)}")
            sock = _socket(resp)
            if sock is not None:
                sock.settimeout(WATCH_IDLE_REOPEN)
            decoder = json.JSONDecoder()
            text = codecs.getincrementaldecoder("utf-8")()
            buf = ""
            for chunk in resp.iter_content(chunk_size=None):
                self.alive_at = store._clock()
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


def _socket(resp: requests.Response) -> socket.socket | None:
    """The socket under a streamed response (None if urllib3 hides it)."""
    conn = getattr(resp.raw, "connection", None) or getattr(resp.raw, "_connection", None)
    sock = getattr(conn, "sock", None)
    if sock is None:
        try:
            sock = resp.raw._fp.fp.raw._sock  # type: ignore[union-attr]
        except AttributeError:
            sock = None
    return sock if isinstance(sock, socket.socket) else None


def _abort(resp: requests.Response) -> None:
    """Unblock a thread reading resp: shut its socket down (close() alone does not wake a recv)."""
    sock = _socket(resp)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    try:
        resp.close()
    except Exception:  # noqa: BLE001 - best effort: the reader thread may be closing it too
        pass
