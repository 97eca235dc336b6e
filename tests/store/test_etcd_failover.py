"""etcd endpoint failover: the order of endpoints and how one call's deadline is shared.

The first part drives EtcdStore's failover with scripted endpoints (no network): each
behaves as a member that answers, answers "no leader", cannot be connected to, or is
silent (accepted, never answers, until the attempt's own deadline). The second puts real
loopback sockets in front of a real etcd: a port whose connects hang (a host that lost
power), a server that accepts and never answers (a frozen host), and a proxy that goes
silent under an open watch.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests
from store_helpers import DeadHost, SilentServer, TcpProxy

from corral.store import Put, StoreUnavailable, open_store
from corral.store.etcd import SUSPECT_S, EtcdStore

# --- scripted endpoints --------------------------------------------------------------------------

Behaviour = Callable[[float], requests.Response]


def _response(status: int, body: str) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = body.encode()
    return r


def ok(_budget: float) -> requests.Response:
    return _response(200, '{"header": {"revision": "7"}, "kvs": []}')


def no_leader(_budget: float) -> requests.Response:
    return _response(503, '{"error": "etcdserver: no leader", "code": 14}')


def silent(budget: float) -> requests.Response:  # accepted, sent, never answered
    time.sleep(budget)
    raise requests.exceptions.ReadTimeout("no answer")


def gone(_budget: float) -> requests.Response:  # nothing could be sent
    raise requests.exceptions.ConnectTimeout("connect timed out")


class Scripted:
    """An EtcdStore whose attempts (one endpoint each) are scripted; its clock can be moved on."""

    def __init__(self, n: int = 3, timeout: float = 0.3) -> None:
        self.store = EtcdStore([("192.0.2.1", 2379 + i) for i in range(n)], timeout=timeout)
        self.offset = 0.0
        self.store._clock = lambda: time.monotonic() + self.offset
        self.behaviour: dict[int, Behaviour] = {i: ok for i in range(n)}
        self.attempts: list[tuple[int, float, float]] = []  # (endpoint, start, budget), store clock
        self._lock = threading.Lock()
        self.store._attempt = self._attempt  # type: ignore[method-assign]

    def _attempt(self, index: int, path: str, payload: object, budget: float, **kw: object) -> requests.Response:
        assert budget > 0
        with self._lock:
            self.attempts.append((index, self.store._clock(), budget))
        return self.behaviour[index](budget)

    def tried(self) -> list[int]:
        with self._lock:
            return [i for i, _, _ in self.attempts]

    def clear(self) -> None:
        with self._lock:
            self.attempts.clear()


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    s = Scripted()
    yield s
    s.store.close()


def test_silent_members_share_one_deadline(scripted: Scripted) -> None:
    scripted.behaviour = {i: silent for i in range(3)}
    t0 = scripted.store._clock()
    with pytest.raises(StoreUnavailable, match="no etcd endpoint answered"):
        scripted.store.get("k")
    tried = scripted.tried()
    assert tried[:3] == [0, 1, 2]  # a silent member does not keep the others from being asked
    assert max(tried.count(i) for i in range(3)) <= 2  # and each is asked afresh at most once
    ends = [start + budget for _, start, budget in scripted.attempts]
    assert max(ends) - min(ends) < 0.01  # every attempt ends at the call's one deadline...
    assert max(ends) <= t0 + scripted.store.timeout + 0.01  # ...which is the store timeout


def test_a_silent_member_does_not_hold_up_an_answer(scripted: Scripted) -> None:
    scripted.behaviour[0] = silent
    assert scripted.store.get("k") is None  # answered by endpoint 1 while 0 was still silent
    assert scripted.tried() == [0, 1]
    scripted.clear()
    assert scripted.store.get("k") is None
    assert scripted.tried() == [1]  # the one that answered is asked first


def test_a_stuck_attempt_is_repeated_afresh() -> None:
    # A follower asked just before its leader died forwards the request to the dead leader and
    # stays stuck; the same request asked again after the election is answered.
    s = Scripted(n=1, timeout=1.0)
    first = threading.Event()

    def stuck_once(budget: float) -> requests.Response:
        if not first.is_set():
            first.set()
            return silent(budget)
        return ok(budget)

    s.behaviour[0] = stuck_once
    try:
        assert s.store.get("k") is None
        assert s.tried() == [0, 0]
    finally:
        s.store.close()


def test_a_failed_endpoint_is_tried_last_until_it_answers(scripted: Scripted) -> None:
    scripted.behaviour[0] = gone
    scripted.store.get("k")
    assert scripted.tried() == [0, 1]
    scripted.clear()
    scripted.behaviour[1] = gone  # now 1 is lost too: 2 before the recently failed 0
    scripted.store.get("k")
    assert scripted.tried() == [1, 2]
    scripted.clear()
    scripted.behaviour[2] = gone
    scripted.behaviour[0] = ok
    scripted.store.get("k")
    assert scripted.tried() == [2, 0]  # of two failed ones, the longest-failed first
    scripted.clear()
    scripted.offset += SUSPECT_S + 1  # failures are forgotten after a while; the one that answers stays first
    scripted.store.get("k")
    assert scripted.tried() == [0]


def test_every_endpoint_down_fails_at_once(scripted: Scripted) -> None:
    scripted.behaviour = {i: gone for i in range(3)}
    with pytest.raises(StoreUnavailable, match="connect timed out"):
        scripted.store.get("k")
    assert scripted.tried() == [0, 1, 2]  # each once: nothing to wait for


def test_no_leader_is_asked_again_until_the_deadline() -> None:
    s = Scripted(timeout=2.0)
    answers = iter([no_leader, no_leader, no_leader])

    def electing(budget: float) -> requests.Response:
        return next(answers, ok)(budget)

    s.behaviour = {0: electing, 1: gone, 2: no_leader}
    try:
        assert s.store.get("k") is None  # answered once the election was over
        assert s.tried().count(0) == 4 and s.tried().count(1) == 1  # the lost one is not asked again
    finally:
        s.store.close()


def test_a_write_is_sent_once_and_never_resent(scripted: Scripted) -> None:
    scripted.behaviour = {0: gone, 1: silent, 2: ok}
    with pytest.raises(StoreUnavailable, match="may or may not"):
        scripted.store.put("k", "v")
    assert scripted.tried() == [0, 1]  # 0 never got it, 1 did: 2 must not


def test_a_write_moves_on_only_while_nothing_was_sent(scripted: Scripted) -> None:
    scripted.behaviour = {0: gone, 1: gone, 2: lambda b: _response(
        200, '{"header": {"revision": "9"}, "succeeded": true, "responses": [{"response_put": {}}]}')}
    assert scripted.store.put("k", "v") == 9
    assert scripted.tried() == [0, 1, 2]
    scripted.clear()
    scripted.behaviour[2] = no_leader  # an answer, but the write's fate is the member's: not resent
    with pytest.raises(StoreUnavailable):
        scripted.store.put("k", "v")
    assert scripted.tried() == [2]


def test_connect_timeout_is_a_share_of_the_deadline() -> None:
    for n, timeout in ((1, 0.4), (3, 0.4), (3, 5.0), (2, 0.02)):
        store = EtcdStore([("192.0.2.1", 2379)] * n, timeout=timeout)
        assert store.connect_timeout <= timeout
        assert store.connect_timeout <= max(timeout / (n + 1), 0.05)
        store.close()


# --- real sockets in front of a real etcd ----------------------------------------------------------

@pytest.fixture
def etcd(etcd_endpoint: str) -> str:
    s = open_store(f"etcd://{etcd_endpoint}")
    s.delete("", prefix=True)
    s.close()
    return etcd_endpoint


@pytest.fixture
def dead_host() -> Iterator[DeadHost]:
    d = DeadHost()
    yield d
    d.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    s = SilentServer()
    yield s
    s.close()


@pytest.mark.etcd
def test_calls_skip_a_dead_host_within_the_deadline(etcd: str, dead_host: DeadHost) -> None:
    store = open_store(f"etcd://127.0.0.1:{dead_host.port},{etcd}?timeout=1")
    try:
        t0 = time.monotonic()
        assert store.put("k", "v") > 0  # nothing reached the dead host: the write went on to etcd
        # The store's contract: one call never takes longer than its timeout, failover included
        # (the connect to the dead host gets a share of it, not all of it).
        assert time.monotonic() - t0 < store.timeout
        lease = store.lease_grant(1)
        assert store.lease_keepalive(lease) >= 1
        assert store.get("k").value == "v"
    finally:
        store.close()


@pytest.mark.etcd
def test_a_silent_member_costs_a_share_of_one_call_then_is_avoided(etcd: str, silent_server: SilentServer) -> None:
    store = open_store(f"etcd://127.0.0.1:{silent_server.port},{etcd}?timeout=1")
    try:
        t0 = time.monotonic()
        lease = store.lease_grant(1)  # safe to repeat: the silent member gets half the deadline, not all
        assert time.monotonic() - t0 < store.timeout
        assert silent_server.connections == 1
        for _ in range(5):
            assert store.lease_keepalive(lease) >= 1
            store.put("k", "v")  # a write goes first to the member that answers
        assert silent_server.connections == 1  # never asked again
    finally:
        store.close()


@pytest.mark.etcd
def test_every_endpoint_silent_fails_within_the_deadline(silent_server: SilentServer, dead_host: DeadHost) -> None:
    store = open_store(f"etcd://127.0.0.1:{silent_server.port},127.0.0.1:{dead_host.port}?timeout=0.5")
    try:
        for call in (lambda: store.get("k"), lambda: store.lease_keepalive(1)):
            t0 = time.monotonic()
            with pytest.raises(StoreUnavailable, match="no etcd endpoint answered"):
                call()
            assert time.monotonic() - t0 < 2 * store.timeout  # bounded by one timeout, not one per endpoint
    finally:
        store.close()


@pytest.mark.etcd
def test_watch_leaves_a_member_that_went_silent(etcd: str) -> None:
    port = int(etcd.rsplit(":", 1)[1])
    proxy = TcpProxy(port)
    store = open_store(f"etcd://127.0.0.1:{proxy.port},{etcd}?timeout=0.5")
    other = open_store(f"etcd://{etcd}")
    try:
        start = store.put("w/0", "a")
        events = store.watch_prefix("w/", start_revision=start, timeout=10)
        assert next(events).key == "w/0"  # the stream runs through the proxy
        proxy.freeze()  # no FIN, no RST: only asking the member can tell
        other.put("w/1", "b")
        other.put("w/2", "c")
        got = [next(events).key, next(events).key]
        assert got == ["w/1", "w/2"]  # resumed on the other member, from where it was
        events.close()
    finally:
        store.close()
        other.close()
        proxy.stop()


@pytest.mark.etcd
def test_write_to_a_frozen_member_is_not_resent(etcd: str) -> None:
    port = int(etcd.rsplit(":", 1)[1])
    proxy = TcpProxy(port)
    store = open_store(f"etcd://127.0.0.1:{proxy.port},{etcd}?timeout=0.5")
    try:
        assert store.put("k", "1") > 0
        proxy.freeze()
        with pytest.raises(StoreUnavailable, match="may or may not"):
            store.txn([], [Put("k", "2")])
        assert store.get("k").value == "1"  # the read went on to the other member; the write was not resent
    finally:
        store.close()
        proxy.stop()
