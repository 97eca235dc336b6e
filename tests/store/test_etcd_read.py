"""The read-only etcd client of one-shot commands (corral/store/etcd_read.py): it reads what
EtcdStore reads, refuses to write, and fails over and gives up as EtcdStore's reads do."""
from __future__ import annotations

import time

import pytest
from store_helpers import free_port

from corral.store import Put, StoreError, StoreUnavailable, open_store
from corral.store.etcd import EtcdStore
from corral.store.etcd_read import EtcdReader

pytestmark = pytest.mark.etcd


@pytest.fixture
def etcd(etcd_endpoint: str) -> str:
    s = open_store(f"etcd://{etcd_endpoint}")
    s.delete("", prefix=True)
    s.close()
    return etcd_endpoint


def test_factory_gives_the_reader_only_when_asked(etcd: str) -> None:
    full, reader = open_store(f"etcd://{etcd}"), open_store(f"etcd://{etcd}?timeout=2", read_only=True)
    try:
        assert isinstance(full, EtcdStore) and isinstance(reader, EtcdReader)
        assert reader.timeout == 2
    finally:
        full.close()
        reader.close()


def test_reads_what_the_full_client_reads(etcd: str) -> None:
    full, reader = open_store(f"etcd://{etcd}"), open_store(f"etcd://{etcd}", read_only=True)
    try:
        lease = full.lease_grant(5)
        full.txn([], [Put("/corral/a", "1"), Put("/corral/b/ünï", "ключ", lease), Put("/corral/c", ""),
                      Put("/corralx", "outside"), Put("/corral\xff", "edge")])
        full.put("/corral/a", "2")
        # Answers larger than a few kB come chunked from the gateway.
        full.txn([], [Put(f"/corral/big/{i:03}", "x" * 3000 + str(i)) for i in range(60)])
        assert reader.get_prefix("/corral/") == full.get_prefix("/corral/")
        assert reader.get_prefix("/corral/") == full.get_prefix("/corral/")  # again, on the kept connection
        assert reader.get_prefix("") == full.get_prefix("")
        assert reader.get("/corral/b/ünï") == full.get("/corral/b/ünï")
        assert reader.get("/corral/b/ünï").lease == lease
        assert reader.get("/nothing") is None
    finally:
        full.close()
        reader.close()


def test_refuses_writes_and_watches(etcd: str) -> None:
    reader = open_store(f"etcd://{etcd}", read_only=True)
    try:
        for call in (lambda: reader.put("k", "v"), lambda: reader.delete("k"), lambda: reader.txn([], []),
                     lambda: reader.lease_grant(1), lambda: reader.lease_keepalive(1),
                     lambda: reader.lease_revoke(1), lambda: reader.watch_prefix("k")):
            with pytest.raises(StoreError, match="read-only"):
                call()
    finally:
        reader.close()
    probe = open_store(f"etcd://{etcd}")
    try:
        assert probe.get("k") is None
    finally:
        probe.close()


def test_fails_over_past_a_dead_endpoint(etcd: str) -> None:
    full = open_store(f"etcd://{etcd}")
    full.put("/corral/k", "v")
    full.close()
    reader = open_store(f"etcd://127.0.0.1:{free_port()},{etcd}?timeout=1", read_only=True)
    try:
        kvs, _rev = reader.get_prefix("/corral/")
        assert [(kv.key, kv.value) for kv in kvs] == [("/corral/k", "v")]
    finally:
        reader.close()


def test_all_endpoints_down_within_the_timeout() -> None:
    reader = open_store(f"etcd://127.0.0.1:{free_port()},127.0.0.1:{free_port()}?timeout=0.5", read_only=True)
    try:
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailable, match="no etcd endpoint answered"):
            reader.get_prefix("/corral/")
        assert time.monotonic() - t0 < 1.5
    finally:
        reader.close()
