"""Running one fence agent process: parameters on stdin, a hard deadline, group kill.

The process handling is corral.resource_agents.execute's (stdin and outputs
through temp files, own session, SIGTERM then SIGKILL of the group on
timeout); this module gives fence agents their environment and their result
type.
"""
from __future__ import annotations

import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from corral.resource_agents.execute import DEFAULT_KILL_GRACE_S, execute


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


def agent_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Our environment minus OCF variables (no resource's parameters leak into a fence agent)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCF_", "CORRAL_RSCTMP"))}
    env.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    env.update(extra or {})
    return env


def run_agent(argv: Sequence[str], stdin_text: str, timeout_s: float, *,
              env: Mapping[str, str] | None = None,
              kill_grace_s: float = DEFAULT_KILL_GRACE_S) -> AgentRun:
    """Run argv with stdin_text until it exits or timeout_s passes; on timeout kill its group
    (its own session: also whatever it spawned, ipmitool, ssh, curl)."""
    done = execute(argv, env if env is not None else agent_env(), max(0.0, timeout_s), cwd="/",
                   kill_grace_s=kill_grace_s, stdin_text=stdin_text)
    if done.exec_error is not None:
        e = done.exec_error
        return AgentRun(None, "", "", done.duration_s, error=f"cannot execute {argv[0]}: {e.strerror or e}")
    if done.timed_out:
        return AgentRun(None, done.stdout, done.stderr, done.duration_s, True,
                        f"timed out after {done.duration_s:.1f}s and was killed")
    rc = done.status if done.status is not None else -1
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return AgentRun(None, done.stdout, done.stderr, done.duration_s, error=f"killed by {name}")
    return AgentRun(rc, done.stdout, done.stderr, done.duration_s)
