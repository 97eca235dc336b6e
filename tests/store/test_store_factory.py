"""open_store URLs and the lease-timing rule."""
from __future__ import annotations

from pathlib import Path

import pytest

from corral.store import check_lease_timing, open_store
from corral.store.base import open_store as base_open_store
from corral.store.etcd import EtcdStore
from corral.store.memory import MemoryStore
from corral.store.sqlite import SqliteStore


@pytest.mark.parametrize(("url", "problem"), [
    ("", "empty"),
    ("cluster.db", "no scheme"),
    ("redis://localhost", "unknown scheme 'redis'"),
    ("sqlite://relative.db", "absolute path"),
    ("sqlite:///", "directory"),
    ("sqlite:///no/such/dir/c.db", "directory /no/such/dir does not exist"),
    ("sqlite:///tmp/c.db?timeout=abc", "not a number"),
    ("sqlite:///tmp/c.db?timeout=-1", "positive"),
    ("sqlite:///tmp/c.db?history=2.5", "whole number"),
    ("sqlite:///tmp/c.db?colour=red", "unknown option 'colour'"),
    ("etcd://", "no etcd endpoint"),
    ("etcd://a:1,,b:2", "empty endpoint"),
    ("etcd://host:99999", "port '99999'"),
    ("etcd://host:http", "port 'http'"),
    ("etcd://:2379", "no host"),
    ("etcd://::1:2379", "brackets"),
    ("etcd://user:pw@host:2379", "credentials"),
    ("etcd://host:2379/v3", "no path"),
    ("etcd://host:2379?history=5", "unknown option 'history'"),
    ("memory://a/b", "name, not a path"),
])
def test_bad_urls_name_the_url_and_the_problem(url: str, problem: str) -> None:
    with pytest.raises(ValueError) as err:
        open_store(url)
    assert repr(url) in str(err.value)
    assert problem in str(err.value)


def test_good_urls(tmp_path: Path) -> None:
    s = open_store(f"sqlite://{tmp_path}/c.db?timeout=0.5&history=100")
    assert isinstance(s, SqliteStore) and s.timeout == 0.5 and s.history == 100
    s.close()
    e = open_store("etcd://10.0.0.1:2379,[::1]:2380,etcd-3?timeout=2")
    assert isinstance(e, EtcdStore) and e.timeout == 2
    assert e.endpoints == [("10.0.0.1", 2379), ("::1", 2380), ("etcd-3", 2379)]
    e.close()
    a, b, c = open_store("memory://x"), base_open_store("memory://x"), open_store("memory://")
    assert isinstance(a, MemoryStore)
    a.put("k", "shared")
    assert b.get("k").value == "shared" and c.get("k") is None
    a.close()
    assert b.get("k").value == "shared"  # each handle closes on its own


def test_lease_timing_rule() -> None:
    check_lease_timing(renew_interval=0.1, store_timeout=0.2, ttl=0.6)
    with pytest.raises(ValueError, match=r"0.1s \+ 2 x store timeout 0.3s = 0.7s must be less than the lease TTL 0.6s"):
        check_lease_timing(renew_interval=0.1, store_timeout=0.3, ttl=0.6)
    with pytest.raises(ValueError, match="must be less"):
        check_lease_timing(1, 1, 3)  # equal is not enough
    with pytest.raises(ValueError, match="positive"):
        check_lease_timing(0, 1, 10)
