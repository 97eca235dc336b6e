"""systemd units through `systemctl`, and the `service` class that picks systemd or LSB.

Mapping:
- start: `systemctl start UNIT` (waits for the job) 0 -> OCF_SUCCESS; unit not
  found (systemctl exit 4/5) -> OCF_ERR_INSTALLED; anything else -> OCF_ERR_GENERIC.
- stop: 0 -> OCF_SUCCESS; unit not found -> OCF_SUCCESS (it cannot be running,
  as Pacemaker also decides); anything else -> OCF_ERR_GENERIC.
- monitor/status: `systemctl is-active UNIT`: active/reloading -> OCF_SUCCESS;
  inactive/failed/unknown -> OCF_NOT_RUNNING; activating/deactivating are
  transitions, polled until they settle or the timeout expires.
Without systemd as PID 1, check() raises AgentUnavailable and run() returns
OCF_ERR_INSTALLED (hard: the resource moves to a node that has systemd).
"""
from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import replace

from corral.resource_agents.base import (
    OCF_ERR_GENERIC,
    OCF_ERR_INSTALLED,
    OCF_ERR_UNIMPLEMENTED,
    OCF_NOT_RUNNING,
    OCF_SUCCESS,
    AgentRunner,
    AgentUnavailable,
    OperationResult,
    ResourceSpec,
)
from corral.resource_agents.environment import base_environment
from corral.resource_agents.execute import DEFAULT_KILL_GRACE_S, execute, output_tail, to_result
from corral.resource_agents.lsb import LSBRunner
from corral.resource_agents.metadata import ActionInfo, AgentMetadata

UNIT_SUFFIXES = (".service", ".socket", ".target", ".timer", ".mount", ".path", ".slice", ".scope")
ACTIVE_STATES = {"active": OCF_SUCCESS, "reloading": OCF_SUCCESS, "inactive": OCF_NOT_RUNNING,
                 "failed": OCF_NOT_RUNNING, "unknown": OCF_NOT_RUNNING, "dead": OCF_NOT_RUNNING}
TRANSITION_STATES = ("activating", "deactivating", "refreshing")
_UNIT_NOT_FOUND = (4, 5)  # systemctl: "no such unit" / "unit not loaded/found"
POLL_INTERVAL_S = 0.2


def systemd_booted() -> bool:
    """sd_booted(): systemd is PID 1 iff /run/systemd/system exists."""
    return os.path.isdir("/run/systemd/system")


def unit_name(rsc_type: str) -> str:
    return rsc_type if rsc_type.endswith(UNIT_SUFFIXES) else f"{rsc_type}.service"


def map_is_active(state: str) -> int | None:
    """OCF rc for an `is-active` state; None while the unit is in transition."""
    if state in TRANSITION_STATES:
        return None
    return ACTIVE_STATES.get(state, OCF_ERR_GENERIC)


class SystemdRunner(AgentRunner):
    rsc_class = "systemd"

    def __init__(self, systemctl: str = "systemctl", require_booted: bool = True,
                 kill_grace_s: float = DEFAULT_KILL_GRACE_S) -> None:
        self.systemctl = systemctl
        self.require_booted = require_booted  # tests use a fake systemctl without systemd
        self.kill_grace_s = kill_grace_s

    def _problem(self, spec: ResourceSpec) -> str | None:
        if not spec.type or "/" in spec.type:
            return f"invalid systemd unit name {spec.type!r}"
        if self.require_booted and not systemd_booted():
            return (f"{spec.agent} needs systemd as the init system (PID 1), but this host does not "
                    "run systemd (/run/systemd/system is missing); use an lsb: or corral:process "
                    "resource here instead")
        if shutil.which(self.systemctl) is None:
            return f"{spec.agent}: {self.systemctl!r} not found on PATH"
        return None

    def check(self, spec: ResourceSpec) -> None:
        problem = self._problem(spec)
        if problem:
            raise AgentUnavailable(f"resource {spec.id!r}: {problem}")

    def run(self, spec: ResourceSpec, action: str, timeout_s: float, interval_ms: int = 0,
            env_extra: Mapping[str, str] | None = None) -> OperationResult:
        problem = self._problem(spec)
        if problem:
            return OperationResult(rc=OCF_ERR_INSTALLED, exit_reason=problem)
        unit = unit_name(spec.type)
        env = base_environment()
        env.update(env_extra or {})
        deadline = time.monotonic() + timeout_s
        if action in ("start", "stop"):
            done = execute([self.systemctl, "--no-ask-password", action, unit], env, timeout_s,
                           kill_grace_s=self.kill_grace_s)

            def mapping(status: int) -> int:
                if status == 0:
                    return OCF_SUCCESS
                if status in _UNIT_NOT_FOUND:
                    return OCF_SUCCESS if action == "stop" else OCF_ERR_INSTALLED
                return OCF_ERR_GENERIC

            result = to_result(done, mapping, f"systemctl {action} {unit}")
            if result.rc != OCF_SUCCESS and not result.exit_reason:
                last = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.status}"]
                result = replace(result, exit_reason=f"systemctl {action} {unit}: {last[0]}")
            return result
        if action in ("monitor", "status"):
            return self._monitor(unit, env, deadline, timeout_s)
        return OperationResult(rc=OCF_ERR_UNIMPLEMENTED,
                               exit_reason=f"systemd units have no {action!r} action")

    def _monitor(self, unit: str, env: dict[str, str], deadline: float, timeout_s: float) -> OperationResult:
        started_at, t0 = time.time(), time.monotonic()
        while True:
            done = execute([self.systemctl, "is-active", unit], env, max(0.0, deadline - time.monotonic()),
                           kill_grace_s=self.kill_grace_s)
            if done.timed_out or done.exec_error or done.status is None:
                return to_result(done, lambda s: OCF_ERR_GENERIC, f"systemctl is-active {unit}")
            state = (done.stdout.strip().splitlines() or [""])[0].strip()
            rc = map_is_active(state)
            if rc is not None:
                reason = "" if rc in (OCF_SUCCESS, OCF_NOT_RUNNING) else f"{unit}: unexpected state {state!r}"
                return OperationResult(rc=rc, exit_reason=reason, duration_s=time.monotonic() - t0,
                                       started_at=started_at, output=output_tail(done.stdout, done.stderr))
            if time.monotonic() + POLL_INTERVAL_S >= deadline:
                return OperationResult(rc=OCF_ERR_GENERIC, timed_out=True, started_at=started_at,
                                       duration_s=time.monotonic() - t0,
                                       exit_reason=f"{unit} still {state} after {timeout_s:g}s")
            time.sleep(POLL_INTERVAL_S)

    def metadata(self, spec: ResourceSpec) -> AgentMetadata | None:
        """Synthesized like Pacemaker's: no parameters, 100 s start/stop, 60 s monitor."""
        return AgentMetadata(
            name=spec.type, version="1.0", shortdesc=f"systemd unit file for {unit_name(spec.type)}",
            actions=[ActionInfo("start", 100.0), ActionInfo("stop", 100.0), ActionInfo("status", 100.0),
                     ActionInfo("monitor", 100.0, interval_ms=60000), ActionInfo("meta-data", 5.0)])


def service_runner() -> AgentRunner:
    """The `service` class: systemd where systemd runs, LSB otherwise (as in Pacemaker)."""
    return SystemdRunner() if systemd_booted() else LSBRunner()
