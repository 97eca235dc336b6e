"""Running one fence agent process: stdin from a file, a hard deadline, group kill.

Like corral.resource_agents.execute, but fence agents take their parameters on
stdin. The input goes through an unlinked temp file rather than a pipe, so an
agent that never reads it cannot block us, and the outputs go to temp files so
a helper it leaves behind holding stdout cannot make us wait for EOF.
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO

DEFAULT_KILL_GRACE_S = 1.0
_CAPTURE_MAX = 1 << 20


@dataclass(frozen=True)
class AgentRun:
    """One agent process. status is None when it could not start or was killed for its timeout."""
    status: int | None
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    error: str = ""  # why it did not run (exec failure) or how it died

    @property
    def ok(self) -> bool:
        return self.status == 0


def _tail(f: IO[bytes]) -> str:
    size = f.seek(0, os.SEEK_END)
    f.seek(max(0, size - _CAPTURE_MAX))
    return f.read().decode("utf-8", errors="replace")


def _wait(proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """True if proc exited within timeout_s; a pidfd wakes us at once instead of polling."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        try:
            proc.wait(timeout=max(0.0, timeout_s))
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll(max(0, int(timeout_s * 1000)))
    finally:
        os.close(fd)
    return proc.poll() is not None


def _killpg(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def agent_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Our environment minus OCF variables (no resource's parameters leak into a fence agent)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCF_", "CORRAL_RSCTMP"))}
    env.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    env.update(extra or {})
    return env


def run_agent(argv: Sequence[str], stdin_text: str, timeout_s: float, *,
              env: Mapping[str, str] | None = None,
              kill_grace_s: float = DEFAULT_KILL_GRACE_S) -> AgentRun:
    """Run argv with stdin_text until it exits or timeout_s passes; on timeout kill its group."""
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as inp, tempfile.TemporaryFile() as out, \
            tempfile.TemporaryFile() as err:
        inp.write(stdin_text.encode())
        inp.seek(0)
        try:
            # Own session: a timeout kills the agent and whatever it spawned (ipmitool, ssh, curl).
            proc = subprocess.Popen(list(argv), env=dict(env if env is not None else agent_env()),
                                    cwd="/", stdin=inp, stdout=out, stderr=err,
                                    start_new_session=True, close_fds=True)
        except OSError as e:
            return AgentRun(None, "", "", time.monotonic() - t0,
                            error=f"cannot execute {argv[0]}: {e.strerror or e}")
        timed_out = not _wait(proc, max(0.0, timeout_s))
        if timed_out:
            _killpg(proc.pid, signal.SIGTERM)
            _wait(proc, kill_grace_s)
            _killpg(proc.pid, signal.SIGKILL)  # also children that outlived the leader
        proc.wait()
        duration = time.monotonic() - t0
        stdout, stderr = _tail(out), _tail(err)
    if timed_out:
        return AgentRun(None, stdout, stderr, duration, True,
                        f"timed out after {duration:.1f}s and was killed")
    rc = proc.returncode
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return AgentRun(None, stdout, stderr, duration, error=f"killed by {name}")
    return AgentRun(rc, stdout, stderr, duration)
