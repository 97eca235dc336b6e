"""Running one agent process with a hard deadline.

Design choices:
- The agent gets its own session (start_new_session) so a timeout kills the
  whole process group: SIGTERM, a short grace, then SIGKILL. Children that
  daemonize into their own session are, as in Pacemaker, out of reach.
- stdout/stderr go to anonymous temp files, not pipes: an agent that leaves a
  daemon holding its stdout (common with `cmd &` in shell agents) must not
  make us wait for EOF; we only wait for the agent's own exit.
- On a normal exit nothing is killed: processes left in the group are the
  service the agent started.
"""
from __future__ import annotations

import errno
import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from corral.resource_agents.base import (
    OCF_ERR_GENERIC,
    OCF_ERR_INSTALLED,
    OCF_ERR_PERM,
    OUTPUT_TAIL_CHARS,
    OperationResult,
)

EXIT_REASON_PREFIX = "ocf-exit-reason:"
EXIT_REASON_MAX = 512
DEFAULT_KILL_GRACE_S = 1.0
_CAPTURE_MAX = 1 << 20  # bytes kept per stream (meta-data XML fits easily)


@dataclass(frozen=True)
class Completed:
    """Raw outcome of one process; status is None when it never ran or was killed."""
    status: int | None
    stdout: str
    stderr: str
    started_at: float
    duration_s: float
    timed_out: bool = False
    exec_error: OSError | None = None


def _read_tail(f: IO[bytes], limit: int) -> str:
    size = f.seek(0, os.SEEK_END)
    f.seek(max(0, size - limit))
    return f.read().decode("utf-8", errors="replace")


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _wait(proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """Wait up to timeout_s for proc to exit; True if it did.

    A pidfd wakes us the moment the agent exits; Popen.wait(timeout) polls
    with sleeps of up to 50 ms, which would add to every monitor's latency.
    """
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux >= 5.3
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


def execute(argv: Sequence[str], env: Mapping[str, str], timeout_s: float, *,
            cwd: str | None = "/", kill_grace_s: float = DEFAULT_KILL_GRACE_S,
            stdin_text: str | None = None) -> Completed:
    """Run argv to completion or until timeout_s, killing its process group on timeout.

    stdin_text (fence agents take their parameters there) goes through an unlinked
    temp file rather than a pipe, so an agent that never reads it cannot block us."""
    started_at = time.time()
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as inp, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        if stdin_text is not None:
            inp.write(stdin_text.encode())
            inp.seek(0)
        try:
            proc = subprocess.Popen(list(argv), env=dict(env), cwd=cwd,
                                    stdin=inp if stdin_text is not None else subprocess.DEVNULL,
                                    stdout=out, stderr=err, start_new_session=True, close_fds=True)
        except OSError as e:
            return Completed(None, "", "", started_at, time.monotonic() - t0, exec_error=e)
        timed_out = not _wait(proc, timeout_s)
        if timed_out:
            # The pgid stays reserved while any member lives, so killpg cannot hit a
            # recycled group even after the leader has been reaped.
            _killpg(proc.pid, signal.SIGTERM)
            _wait(proc, kill_grace_s)
            _killpg(proc.pid, signal.SIGKILL)  # also the children that outlived the leader
        proc.wait()
        duration = time.monotonic() - t0
        return Completed(None if timed_out else proc.returncode, _read_tail(out, _CAPTURE_MAX),
                         _read_tail(err, _CAPTURE_MAX), started_at, duration, timed_out)


def parse_exit_reason(stderr: str) -> str:
    """The last `ocf-exit-reason:` line of stderr (Pacemaker also keeps the last one)."""
    reason = ""
    for line in stderr.splitlines():
        idx = line.find(EXIT_REASON_PREFIX)
        if idx >= 0:
            reason = line[idx + len(EXIT_REASON_PREFIX):].strip()
    return reason[:EXIT_REASON_MAX]


def output_tail(stdout: str, stderr: str, limit: int = OUTPUT_TAIL_CHARS) -> str:
    text = stdout if not stderr else (stdout.rstrip("\n") + "\n" + stderr if stdout else stderr)
    return text[-limit:]


def to_result(done: Completed, map_status: Callable[[int], int], what: str) -> OperationResult:
    """An OperationResult from a raw outcome; map_status turns the exit status into an OCF rc.

    `what` names the agent in synthesized exit reasons.
    """
    reason = parse_exit_reason(done.stderr)
    if done.exec_error is not None:
        e = done.exec_error
        rc = OCF_ERR_PERM if e.errno in (errno.EACCES, errno.EPERM) else OCF_ERR_INSTALLED
        reason = reason or f"cannot execute {what}: {e.strerror or e}"
    elif done.timed_out:
        rc = OCF_ERR_GENERIC
        reason = reason or f"{what} timed out after {done.duration_s:.1f}s and was killed"
    elif done.status is not None and done.status < 0:
        rc = OCF_ERR_GENERIC
        reason = reason or f"{what} was killed by {_signal_name(-done.status)}"
    else:
        rc = map_status(done.status or 0)
    return OperationResult(rc=rc, exit_reason=reason, duration_s=done.duration_s,
                           started_at=done.started_at, output=output_tail(done.stdout, done.stderr),
                           timed_out=done.timed_out)
