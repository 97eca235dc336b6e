"""Fixtures of the live tests: real agents as processes on SQLite or a real etcd.

Every agent and every service it started is killed, and every temporary
directory removed, in finalizers that run even when a test fails.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from live_helpers import Cluster, free_port

from corral.cluster.timing import Timing
from corral.store import open_store

ETCD = "/usr/bin/etcd"
BACKENDS = ["sqlite", pytest.param("etcd", marks=pytest.mark.etcd)]


@pytest.fixture(scope="session")
def live_etcd() -> Iterator[str]:
    """host:port of a single-member etcd on loopback, for this session."""
    if not os.path.exists(ETCD):
        pytest.skip(f"{ETCD} is absent (apt-get install etcd-server)")
    client, peer = free_port(), free_port()
    root = Path(tempfile.mkdtemp(prefix="corral-live-etcd-"))
    log = (root / "etcd.log").open("wb")
    proc = subprocess.Popen(
        [ETCD, "--name", "default", "--data-dir", str(root / "data"),
         "--listen-client-urls", f"http://127.0.0.1:{client}",
         "--advertise-client-urls", f"http://127.0.0.1:{client}",
         "--listen-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"default=http://127.0.0.1:{peer}",
         "--heartbeat-interval", "10", "--election-timeout", "100"],
        stdout=log, stderr=subprocess.STDOUT)
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
                pytest.fail("etcd not healthy after 20 s")
            time.sleep(0.05)
        yield f"127.0.0.1:{client}"
    finally:
        proc.kill()
        proc.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def make_cluster(request: pytest.FixtureRequest) -> Iterator[Callable[[str], Cluster]]:
    """make_cluster(backend) -> an empty Cluster (no agents yet) on a fresh store."""
    made: list[tuple[Cluster, Path]] = []

    def make(backend: str) -> Cluster:
        work = Path(tempfile.mkdtemp(prefix="corral-live-"))
        if backend == "sqlite":
            url = f"sqlite://{work}/cluster.db"
        else:
            url = f"etcd://{request.getfixturevalue('live_etcd')}"
        cluster = Cluster(url, work, Timing(ttl=2.0, renew=0.2, store_timeout=0.5))
        if os.environ.get("CORRAL_LIVE_DEBUG"):
            cluster.agent_args = ["--log-level", "debug"]
        made.append((cluster, work))
        cluster.store = open_store(url)
        cluster.store.delete("/corral/", prefix=True)  # one etcd serves every test
        return cluster

    yield make
    for cluster, work in made:
        try:
            cluster.stop_all(timeout=5)
        finally:
            cluster.kill_everything()
            cluster.store.close()
            shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param
