"""Fixtures that guarantee cleanup: every process a test starts is killed and
every file it writes is removed, also when the test fails."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.resource_agents.procfs import proc_info


def alive(pid: int) -> bool:
    """True while pid exists and is not a zombie (zombies are dead for our purposes)."""
    info = proc_info(pid)
    return info is not None and info.alive


def wait_dead(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def write_script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(0o755)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Reaper:
    """Kills what it is told about, and any process group recorded in a pidfile under root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pids: list[int] = []
        self.popens: list[subprocess.Popen[bytes]] = []

    def track(self, pid: int) -> int:
        self.pids.append(pid)
        return pid

    def track_file(self, path: Path) -> None:
        """A file the test's processes wrote their pids into, one per line."""
        if path.exists():
            self.pids.extend(int(x) for x in path.read_text().split() if x.isdigit())

    def popen(self, argv: list[str], **kw: object) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)  # type: ignore[call-overload]
        self.popens.append(p)
        return p

    def cleanup(self) -> None:
        for pidfile in self.root.rglob("*.pid"):
            try:
                self.pids.append(int(json.loads(pidfile.read_text())["pid"]))
            except (OSError, ValueError, KeyError, TypeError):
                pass
        for dump in self.root.rglob("*.pids"):
            self.track_file(dump)
        targets = self.pids + [p.pid for p in self.popens]
        for pid in targets:
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        for p in self.popens:
            p.wait(timeout=5)
        for pid in targets:
            wait_dead(pid, 2.0)


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Our own directory (not tmp_path, which pytest keeps around) so nothing outlives the test.
    d = Path(tempfile.mkdtemp(prefix="corral-ra-test-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def reaper(workdir: Path) -> Iterator[Reaper]:
    r = Reaper(workdir)
    try:
        yield r
    finally:
        r.cleanup()


@pytest.fixture
def rsctmp(workdir: Path, reaper: Reaper, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HA_RSCTMP inside workdir, through the CORRAL_RSCTMP override."""
    path = workdir / "rsctmp"
    monkeypatch.setenv("CORRAL_RSCTMP", str(path))
    return path
