"""Fixtures for the store tests: a real etcd on loopback, and an empty store of every backend."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from store_helpers import free_port

from corral.store import Store, open_store

ETCD = "/usr/bin/etcd"
BACKENDS = ["memory", "sqlite", pytest.param("etcd", marks=pytest.mark.etcd)]


@pytest.fixture(scope="session")
def etcd_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """host:port of a single-member etcd, started for this test session."""
    if not os.path.exists(ETCD):
        pytest.skip(f"{ETCD} is absent (apt-get install etcd-server)")
    client, peer = free_port(), free_port()
    root = tmp_path_factory.mktemp("etcd")
    log = (root / "etcd.log").open("wb")
    proc = subprocess.Popen(
        [ETCD, "--name", "default", "--data-dir", str(root / "data"),
         "--listen-client-urls", f"http://127.0.0.1:{client}",
         "--advertise-client-urls", f"http://127.0.0.1:{client}",
         "--listen-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"default=http://127.0.0.1:{peer}",
         # Fast raft ticks lower etcd's minimum lease TTL (1.5 x election timeout) to 1 s.
         "--heartbeat-interval", "10", "--election-timeout", "100"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                pytest.fail(f"etcd exited with {proc.returncode}:\n{(root / 'etcd.log').read_text()[-3000:]}")
            try:
                if requests.get(f"http://127.0.0.1:{client}/health", timeout=1).json().get("health") == "true":
                    break
            except (requests.RequestException, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"etcd not healthy after 20 s:\n{(root / 'etcd.log').read_text()[-3000:]}")
            time.sleep(0.05)
        yield f"127.0.0.1:{client}"
    finally:
        proc.kill()
        proc.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty store of each backend."""
    if request.param == "memory":
        return f"memory://{uuid.uuid4().hex}"
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/cluster.db"
    endpoint = request.getfixturevalue("etcd_endpoint")
    # One etcd serves the whole session: start every test from no keys.
    s = open_store(f"etcd://{endpoint}")
    s.delete("", prefix=True)
    s.close()
    return f"etcd://{endpoint}"


@pytest.fixture
def connect(store_url: str) -> Iterator[Callable[[], Store]]:
    """Opens more handles (clients) on the same store; all closed at the end."""
    opened: list[Store] = []

    def _open() -> Store:
        opened.append(open_store(store_url))
        return opened[-1]

    yield _open
    for s in opened:
        s.close()


@pytest.fixture
def store(connect: Callable[[], Store]) -> Store:
    return connect()
