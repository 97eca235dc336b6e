"""Fixtures for the store tests: a real etcd on loopback, and an empty store of every backend."""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from corral.store import Store, open_store
from corral_lab.etcd_testing import EtcdStartError, LoopbackEtcd, etcd_available

BACKENDS = ["memory", "sqlite", pytest.param("etcd", marks=pytest.mark.etcd)]


@pytest.fixture(scope="session")
def etcd_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """host:port of a single-member etcd, started for this test session."""
    if (why := etcd_available()) is not None:
        pytest.skip(why)
    etcd = LoopbackEtcd(tmp_path_factory.mktemp("etcd"))
    try:
        try:
            etcd.start()
        except EtcdStartError as e:
            pytest.fail(str(e))
        yield etcd.endpoint
    finally:
        etcd.stop()


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
