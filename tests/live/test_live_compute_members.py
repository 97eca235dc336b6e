"""Compute members as real `corral agent --role compute` processes on a real etcd, and the
controller's watch of their prefix (corral.cluster.compute_members)."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from corral.cluster import keys
from corral.cluster.compute_members import ComputeMembers, Departure
from corral.store import open_store

pytestmark = pytest.mark.etcd

TTL, RENEW, STORE_TIMEOUT = 2.0, 0.5, 0.6


@pytest.fixture
def members(live_etcd: str) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    procs: dict[str, subprocess.Popen[bytes]] = {}
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def start(procs: dict[str, subprocess.Popen[bytes]], url: str, host: str, *extra: str) -> None:
    procs[host] = subprocess.Popen(
        [sys.executable, "-m", "corral.cli.main", "agent", "--node", host, "--store", url, "--role", "compute",
         "--ttl", str(TTL), "--renew", str(RENEW), "--store-timeout", str(STORE_TIMEOUT), *extra],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait(what: str, check, limit: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if (got := check()):
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_members_register_a_killed_one_is_detected_a_stopped_one_leaves_cleanly(
        live_etcd: str, members: dict[str, subprocess.Popen[bytes]]) -> None:
    url = f"etcd://{live_etcd}"
    store = open_store(url)
    store.delete("/corral/", prefix=True)
    gone: list[tuple[float, Departure]] = []
    lock = threading.Lock()

    def on_gone(d: Departure) -> None:
        with lock:
            gone.append((time.monotonic(), d))

    view = ComputeMembers(store, on_gone).start()
    try:
        start(members, url, "cmp1")
        start(members, url, "cmp2")
        start(members, url, "cmp3", "--keepalive", "request")  # through etcd's JSON gateway
        wait("three members in the controller's map", lambda: set(view.members) == {"cmp1", "cmp2", "cmp3"})
        for host, info in view.members.items():
            assert info["host"] == host and info["ttl"] == TTL and info["since"] > 0
        # Light members: no control-plane membership, no candidacy.
        assert not store.get_prefix(keys.MEMBERS)[0] and store.get(keys.LEADER) is None

        members["cmp1"].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        departure = wait("cmp1's key to vanish", lambda: next((d for t, d in gone if d.host == "cmp1"), None))
        assert not departure.clean
        detected = next(t for t, d in gone if d.host == "cmp1") - killed
        assert detected < TTL + 2.0, f"detected after {detected:.2f}s"

        time.sleep(2 * TTL)  # the others' renewals keep them (both keep-alive paths)
        assert set(view.members) == {"cmp2", "cmp3"}
        assert [d.host for _, d in gone] == ["cmp1"]

        members["cmp3"].send_signal(signal.SIGTERM)
        assert members["cmp3"].wait(timeout=10) == 0
        departure = wait("cmp3's clean leave", lambda: next((d for t, d in gone if d.host == "cmp3"), None))
        assert departure.clean
        assert set(view.members) == {"cmp2"}
    finally:
        view.close()
        store.delete("/corral/", prefix=True)
        store.close()
