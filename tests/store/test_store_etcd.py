"""etcd backend specifics: endpoint failover, unknown write outcomes, TTL rounding."""
from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator

import pytest
from store_helpers import TcpProxy, free_port

from corral.store import Put, StoreUnavailable, open_store
from corral.store.etcd import EtcdStore

pytestmark = pytest.mark.etcd


@pytest.fixture
def etcd(etcd_endpoint: str) -> str:
    s = open_store(f"etcd://{etcd_endpoint}")
    s.delete("", prefix=True)
    s.close()
    return etcd_endpoint


def test_first_endpoint_down_fails_over(etcd: str) -> None:
    store = open_store(f"etcd://127.0.0.1:{free_port()},{etcd}")
    assert isinstance(store, EtcdStore)
    try:
        rev = store.put("k", "v")
        assert store.get("k").mod_revision == rev
        assert store.txn([], [Put("k2", "v")]).succeeded
        assert store._current == 1  # sticks to the endpoint that answered
    finally:
        store.close()


def test_all_endpoints_down(etcd: str) -> None:
    store = open_store(f"etcd://127.0.0.1:{free_port()},127.0.0.1:{free_port()}?timeout=1")
    try:
        t0 = time.monotonic()
        for call in (lambda: store.get("k"), lambda: store.put("k", "v"), lambda: store.lease_grant(1),
                     lambda: store.watch_prefix("k")):
            with pytest.raises(StoreUnavailable, match="no etcd endpoint answered"):
                call()
        assert time.monotonic() - t0 < 5
    finally:
        store.close()


def test_member_dies_mid_session_and_watch_resumes(etcd: str) -> None:
    port = int(etcd.rsplit(":", 1)[1])
    proxy = TcpProxy(port)  # stands in for a first member we can kill
    store = open_store(f"etcd://127.0.0.1:{proxy.port},{etcd}")
    try:
        start = store.put("w/1", "a")
        events = store.watch_prefix("w/", start_revision=start, timeout=5)
        assert next(events).key == "w/1"
        assert proxy.connections >= 1 and store._current == 0  # calls and the watch go through the proxy
        proxy.stop()
        assert store.get("w/1").value == "a"  # fails over to the second endpoint
        store.put("w/2", "b")
        store.delete("w/1")
        got = [(e.kind, e.key) for e in (next(events), next(events))]
        assert got == [("put", "w/2"), ("delete", "w/1")]  # reopened from its revision: nothing lost
        events.close()
    finally:
        proxy.stop()
        store.close()


class _SwallowingHandler(http.server.BaseHTTPRequestHandler):
    """Answers /version like etcd, then drops every POST after reading it: a member
    that dies while handling a write, leaving its outcome unknown."""

    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps({"etcdserver": "3.4.23", "etcdcluster": "3.4.0"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def swallowing_member() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SwallowingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_write_with_unknown_outcome_is_not_repeated(etcd: str, swallowing_member: int) -> None:
    store = open_store(f"etcd://127.0.0.1:{swallowing_member},{etcd}")
    try:
        with pytest.raises(StoreUnavailable, match="may or may not"):
            store.txn([], [Put("k", "v")])  # a resent CAS could report failure for a success
        assert store.get("k") is None  # reads are safe to resend: they fail over
        assert store.put("k", "v") > 0  # now on the healthy member
    finally:
        store.close()


def test_lease_ttl_rounds_up_to_seconds(etcd: str) -> None:
    store = open_store(f"etcd://{etcd}")
    try:
        lease = store.lease_grant(0.3)
        assert store.lease_keepalive(lease) == 1.0
        store.lease_revoke(lease)
    finally:
        store.close()


def test_watch_probes_stand_down_while_the_member_answers_other_calls(etcd: str) -> None:
    """A silent watch's member is probed about once per probe interval, unless another store of
    this process got good answers from that member meanwhile (an agent's lease renewals)."""
    watcher, renewer = open_store(f"etcd://{etcd}?timeout=0.4"), open_store(f"etcd://{etcd}?timeout=0.4")
    assert isinstance(watcher, EtcdStore)
    probes: list[float] = []
    attempt = watcher._attempt

    def counting(index: int, path: str, payload: dict, budget: float, **kw: object) -> object:
        if payload.get("count_only") and payload.get("key") == "AA==":
            probes.append(time.monotonic())
        return attempt(index, path, payload, budget, **kw)

    watcher._attempt = counting  # type: ignore[method-assign]
    events = watcher.watch_prefix("quiet/")
    stop = threading.Event()
    reader = threading.Thread(target=lambda: next(events, None), daemon=True)  # opens the stream
    try:
        reader.start()
        lease = renewer.lease_grant(2)

        def renew() -> None:
            while not stop.wait(0.1):
                renewer.lease_keepalive(lease)

        renewing = threading.Thread(target=renew, daemon=True)
        renewing.start()
        time.sleep(2.0)
        assert probes == []  # the renewals answered for the member
        stop.set()
        renewing.join()
        time.sleep(1.5)
        assert len(probes) >= 1  # nobody else asks it now: the watch's member is probed again
    finally:
        stop.set()
        watcher.close()  # ends the watch: the reader's next() returns
        reader.join(5)
        renewer.close()


def test_a_watch_that_ended_idle_hands_its_stream_to_the_next_watch_of_its_prefix(etcd: str) -> None:
    """cluster.follow re-lists and watches again every few idle seconds: the new watch takes the
    idle one's stream over (no new stream), and still sees exactly the events from its start."""
    store = open_store(f"etcd://{etcd}")
    assert isinstance(store, EtcdStore)
    try:
        first = store.watch_prefix("p/", timeout=1.5)
        first_rev = store.put("p/a", "1")
        assert [e.key for e in first] == ["p/a"]  # then it ends idle
        parked = store._parked["p/"][0]
        store.put("p/b", "2")  # between the end of the old watch and the listing of the new one
        _kvs, rev = store.get_prefix("p/")
        store.put("p/c", "3")
        second = store.watch_prefix("p/", start_revision=rev + 1, timeout=1.5)
        assert [e.key for e in second] == ["p/c"]  # not p/b: that one is in the listing
        assert store._parked["p/"][0] is parked  # the same stream, parked again
        # A watch from before what the stream delivered cannot take it over: a stream of its own.
        third = store.watch_prefix("p/", start_revision=first_rev, timeout=1.5)
        assert [e.key for e in third] == ["p/a", "p/b", "p/c"]
        assert store._parked["p/"][0] is not parked and not parked.running()
    finally:
        store.close()
