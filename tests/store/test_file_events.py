"""The change feed's wake-up: writes to the database's files wake it, others do not."""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from corral.store.file_events import FileEvents

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="not applicable: inotify is Linux's")


def _write_later(path: Path, delay: float) -> threading.Thread:
    t = threading.Thread(target=lambda: (time.sleep(delay), path.write_text("x")))
    t.start()
    return t


def test_a_write_to_a_matching_file_wakes_at_once(tmp_path: Path) -> None:
    ev = FileEvents(str(tmp_path), "cluster.db")
    try:
        assert ev.available
        t = _write_later(tmp_path / "cluster.db-wal", 0.1)
        t0 = time.monotonic()
        assert ev.wait(5.0)
        assert time.monotonic() - t0 < 2.0
        t.join()
    finally:
        ev.close()


def test_other_files_and_silence_do_not_wake(tmp_path: Path) -> None:
    ev = FileEvents(str(tmp_path), "cluster.db")
    try:
        t = _write_later(tmp_path / "other.db-wal", 0.05)
        assert not ev.wait(0.5)
        t.join()
        assert not ev.wait(0.1)
    finally:
        ev.close()


def test_without_a_directory_it_falls_back_to_polling(tmp_path: Path) -> None:
    ev = FileEvents(str(tmp_path / "missing"), "cluster.db")
    assert not ev.available
    t0 = time.monotonic()
    assert not ev.wait(0.05)
    assert time.monotonic() - t0 < 0.5
    ev.close()
