"""Fixtures of the live tests: real agents as processes on SQLite or a real etcd.

Every agent and every service it started is killed, and every temporary
directory removed, in finalizers that run even when a test fails.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from live_helpers import Cluster

from corral.cluster.timing import Timing
from corral.store import open_store
from corral_lab.etcd_testing import EtcdStartError, LoopbackEtcd, etcd_available

BACKENDS = ["sqlite", pytest.param("etcd", marks=pytest.mark.etcd)]


@pytest.fixture(scope="session")
def live_etcd() -> Iterator[str]:
    """host:port of a single-member etcd on loopback, for this session."""
    if (why := etcd_available()) is not None:
        pytest.skip(why)
    etcd = LoopbackEtcd()
    try:
        try:
            etcd.start()
        except EtcdStartError as e:
            pytest.fail(str(e))
        yield etcd.endpoint
    finally:
        etcd.stop()


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
