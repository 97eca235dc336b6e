"""SQLite backend specifics: WAL, the busy timeout, reaping by readers, persistence."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corral.store import StoreUnavailable, open_store
from corral.store.sqlite import SqliteStore


def test_wal_and_persistence(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/c.db"
    s = open_store(url)
    rev = s.put("a", "1")
    s.close()
    with sqlite3.connect(tmp_path / "c.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    s = open_store(url)
    try:
        assert s.get("a").mod_revision == rev
        assert s.put("b", "2") == rev + 1  # the revision counter survives a restart
    finally:
        s.close()


def test_busy_writer_gives_store_unavailable_but_reads_go_on(tmp_path: Path) -> None:
    s = SqliteStore(str(tmp_path / "c.db"), timeout=0.2)
    s.put("a", "1")
    blocker = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailable, match="busy"):
            s.put("a", "2")
        assert 0.15 < time.monotonic() - t0 < 2
        assert s.get("a").value == "1"  # WAL: readers are not blocked by the writer
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert s.put("a", "3") > 0
    s.close()


def test_reader_reaps_expired_lease_in_its_transaction(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    writer = SqliteStore(str(path))
    lease = writer.lease_grant(0.2)
    writer.put("n/1", "up", lease=lease)
    writer.close()  # the lease holder is gone; nobody writes any more
    time.sleep(0.3)
    reader = SqliteStore(str(path))
    assert reader.get_prefix("n/")[0] == []
    reader.close()
    with sqlite3.connect(path) as raw:  # the read really removed them, and logged the delete
        assert raw.execute("SELECT count(*) FROM kv").fetchone()[0] == 0
        assert raw.execute("SELECT count(*) FROM leases").fetchone()[0] == 0
        assert raw.execute("SELECT kind, key FROM events ORDER BY id DESC LIMIT 1").fetchone() == ("delete", "n/1")


def test_event_log_is_bounded(tmp_path: Path) -> None:
    s = SqliteStore(str(tmp_path / "c.db"), history=8)
    for i in range(100):
        s.put("k", str(i))
    s.close()
    with sqlite3.connect(tmp_path / "c.db") as raw:
        assert raw.execute("SELECT count(*) FROM events").fetchone()[0] <= 8 + 8 // 4


OPEN_AND_PUT = """
import sys
from corral.store import open_store
s = open_store(sys.argv[1])
s.put("who/" + sys.argv[2], "here")
s.close()
"""


def test_processes_create_a_fresh_file_together(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/fresh.db"
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_AND_PUT, url, str(i)]) for i in range(4)]
    assert [p.wait(timeout=30) for p in procs] == [0, 0, 0, 0]
    s = open_store(url)
    kvs, rev = s.get_prefix("who/")
    assert [kv.key for kv in kvs] == [f"who/{i}" for i in range(4)] and rev == 5
    s.close()
