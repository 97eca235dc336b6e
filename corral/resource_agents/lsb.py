"""LSB init scripts: /etc/init.d/NAME start|stop|status, exit codes mapped to OCF.

Mapping (LSB core spec, "Init Script Actions"; the same as Pacemaker's):
- status (and monitor, which runs `status`): 0 -> OCF_SUCCESS; 1 (dead, pid file
  left), 2 (dead, lock file left), 3 (not running) -> OCF_NOT_RUNNING;
  4 (unknown) and anything else -> OCF_ERR_GENERIC; 150/151 (Pacemaker's
  "not installed"/"insufficient privilege" extensions) -> OCF_ERR_INSTALLED/OCF_ERR_PERM.
- other actions: 0-7 mean the same in LSB and OCF and pass through;
  anything else -> OCF_ERR_GENERIC.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

from corral.resource_agents.base import (
    OCF_ERR_GENERIC,
    OCF_ERR_INSTALLED,
    OCF_ERR_PERM,
    OCF_ERR_UNIMPLEMENTED,
    OCF_NOT_RUNNING,
    OCF_SUCCESS,
    AgentNotFound,
    AgentRunner,
    OperationResult,
    ResourceSpec,
)
from corral.resource_agents.environment import base_environment
from corral.resource_agents.execute import DEFAULT_KILL_GRACE_S, execute, to_result
from corral.resource_agents.metadata import ActionInfo, AgentMetadata

LSB_STATUS_TO_OCF = {0: OCF_SUCCESS, 1: OCF_NOT_RUNNING, 2: OCF_NOT_RUNNING, 3: OCF_NOT_RUNNING,
                     4: OCF_ERR_GENERIC, 150: OCF_ERR_INSTALLED, 151: OCF_ERR_PERM}
LSB_ACTIONS = ("start", "stop", "status", "restart", "force-reload", "reload")
_STATUS_ACTIONS = ("status", "monitor")


def map_lsb_status(action: str, status: int) -> int:
    if action in _STATUS_ACTIONS:
        return LSB_STATUS_TO_OCF.get(status, OCF_ERR_GENERIC)
    return status if 0 <= status <= OCF_NOT_RUNNING else OCF_ERR_GENERIC


def _lsb_header(path: str) -> dict[str, str]:
    """Fields of the '### BEGIN INIT INFO' block (Short-Description, Description, ...)."""
    fields: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(16384)
    except OSError:
        return fields
    inside = False
    for line in text.splitlines():
        if line.startswith("### BEGIN INIT INFO"):
            inside = True
        elif line.startswith("### END INIT INFO"):
            break
        elif inside and line.startswith("#") and ":" in line:
            key, _, value = line[1:].partition(":")
            fields[key.strip()] = value.strip()
    return fields


class LSBRunner(AgentRunner):
    rsc_class = "lsb"

    def __init__(self, init_dir: str = "/etc/init.d", kill_grace_s: float = DEFAULT_KILL_GRACE_S) -> None:
        self.init_dir = init_dir
        self.kill_grace_s = kill_grace_s

    def script_path(self, spec: ResourceSpec) -> str:
        return os.path.join(self.init_dir, spec.type)

    def _problem(self, spec: ResourceSpec) -> str | None:
        if not spec.type or "/" in spec.type or spec.type in (".", ".."):
            return f"invalid LSB script name {spec.type!r}"
        path = self.script_path(spec)
        if not os.path.isfile(path):
            return f"LSB init script for {spec.agent} not found: {path} does not exist"
        if not os.access(path, os.X_OK):
            return f"LSB init script {path} is not executable"
        return None

    def check(self, spec: ResourceSpec) -> None:
        problem = self._problem(spec)
        if problem:
            raise AgentNotFound(f"resource {spec.id!r}: {problem}")

    def run(self, spec: ResourceSpec, action: str, timeout_s: float, interval_ms: int = 0,
            env_extra: Mapping[str, str] | None = None) -> OperationResult:
        problem = self._problem(spec)
        if problem:
            return OperationResult(rc=OCF_ERR_INSTALLED, exit_reason=problem)
        verb = "status" if action == "monitor" else action
        if verb not in LSB_ACTIONS:
            return OperationResult(rc=OCF_ERR_UNIMPLEMENTED,
                                   exit_reason=f"LSB scripts have no {action!r} action")
        env = base_environment()  # LSB scripts take no parameters
        env.update(env_extra or {})
        done = execute([self.script_path(spec), verb], env, timeout_s, kill_grace_s=self.kill_grace_s)
        return to_result(done, lambda status: map_lsb_status(verb, status), f"{spec.agent} {verb}")

    def metadata(self, spec: ResourceSpec) -> AgentMetadata | None:
        """Synthesized like Pacemaker's: no parameters, 15 s default timeouts."""
        header = _lsb_header(self.script_path(spec))
        t = 15.0
        return AgentMetadata(
            name=spec.type, version="1.0", shortdesc=header.get("Short-Description", spec.type),
            longdesc=header.get("Description", ""),
            actions=[ActionInfo("start", t), ActionInfo("stop", t), ActionInfo("status", t),
                     ActionInfo("restart", t), ActionInfo("force-reload", t),
                     ActionInfo("monitor", t, interval_ms=15000), ActionInfo("meta-data", 5.0)])
