"""Native Python agents shipped with Corral: class "corral", e.g. corral:process.

A native agent sees exactly what an OCF script sees: an action name and the
OCF environment (OCF_RESKEY_*, HA_RSCTMP, CRM_meta_timeout, ...), and answers
with an OCF rc and an exit reason. So each one runs three ways, identically:
- in-process (NativeRunner, the default): no fork/exec on every monitor; the
  agent must honour the deadline it is given, since a thread cannot be killed;
- isolated (NativeRunner(isolate=True)): `python -m corral.resource_agents.native
  MODULE:CLASS ACTION` under the same executor as OCF scripts (hard timeouts);
- standalone, by hand or by Pacemaker: `python -m corral.resource_agents.process ACTION`.
"""
from __future__ import annotations

import importlib
import os
import sys
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from corral.resource_agents.base import (
    OCF_ERR_ARGS,
    OCF_ERR_CONFIGURED,
    OCF_ERR_GENERIC,
    OCF_ERR_INSTALLED,
    OCF_SUCCESS,
    AgentNotFound,
    AgentRunner,
    OperationResult,
    ResourceSpec,
)
from corral.resource_agents.environment import (
    DEFAULT_OCF_ROOT,
    InvalidParameter,
    ensure_dir,
    ocf_environment,
    rsctmp_dir,
)
from corral.resource_agents.execute import (
    DEFAULT_KILL_GRACE_S,
    EXIT_REASON_PREFIX,
    execute,
    output_tail,
    to_result,
)
from corral.resource_agents.metadata import AgentMetadata, render_metadata_xml
from corral.resource_agents.ocf import map_ocf_status

NATIVE_PROVIDER = "corral"
DEFAULT_TIMEOUT_S = 20.0  # when a standalone run gets no OCF_RESKEY_CRM_meta_timeout


@dataclass(frozen=True)
class ActionOutcome:
    rc: int
    exit_reason: str = ""
    output: str = ""


class NativeAgent(ABC):
    """A resource agent written in Python; stateless, all state lives on disk like OCF agents."""

    name: ClassVar[str]

    @abstractmethod
    def metadata(self) -> AgentMetadata: ...

    @abstractmethod
    def execute(self, action: str, env: Mapping[str, str], deadline: float) -> ActionOutcome:
        """Run `action` with an OCF environment; return before time.monotonic() reaches deadline."""


# name -> "module:Class"; imported on first use so unused agents cost nothing.
NATIVE_AGENTS: dict[str, str] = {"process": "corral.resource_agents.process:ProcessAgent"}


def register_native_agent(name: str, target: str) -> None:
    """Make corral:NAME available; target is 'package.module:ClassName'."""
    NATIVE_AGENTS[name] = target


def _import_target(target: str) -> NativeAgent:
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)()


def load_native_agent(name: str) -> NativeAgent | None:
    target = NATIVE_AGENTS.get(name)
    return _import_target(target) if target else None


def ocf_main(agent: NativeAgent, argv: list[str] | None = None) -> int:
    """Run a native agent as an OCF script: action in argv, parameters in os.environ."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(f"usage: {agent.name} {{start|stop|monitor|validate-all|meta-data}}", file=sys.stderr)
        return OCF_ERR_ARGS
    action = argv[0]
    if action == "meta-data":
        sys.stdout.write(render_metadata_xml(agent.metadata()))
        return OCF_SUCCESS
    try:
        timeout_s = int(os.environ.get("OCF_RESKEY_CRM_meta_timeout", "")) / 1000
    except ValueError:
        timeout_s = DEFAULT_TIMEOUT_S
    outcome = agent.execute(action, os.environ, time.monotonic() + timeout_s)
    if outcome.output:
        sys.stdout.write(outcome.output if outcome.output.endswith("\n") else outcome.output + "\n")
    if outcome.exit_reason:
        print(f"{EXIT_REASON_PREFIX}{outcome.exit_reason}", file=sys.stderr)
    return outcome.rc


class NativeRunner(AgentRunner):
    rsc_class = "corral"

    def __init__(self, rsctmp: str | None = None, isolate: bool = False,
                 kill_grace_s: float = DEFAULT_KILL_GRACE_S) -> None:
        self._rsctmp = rsctmp
        self.isolate = isolate
        self.kill_grace_s = kill_grace_s

    def _problem(self, spec: ResourceSpec) -> str | None:
        if spec.provider not in (None, "", NATIVE_PROVIDER):
            return f"native agent {spec.agent} has provider {spec.provider!r}; only {NATIVE_PROVIDER!r} exists"
        if spec.type not in NATIVE_AGENTS:
            return (f"no native agent corral:{spec.type}; available: "
                    + ", ".join(f"corral:{n}" for n in sorted(NATIVE_AGENTS)))
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
        rsctmp = rsctmp_dir(self._rsctmp)
        native_spec = ResourceSpec(spec.id, spec.rsc_class, spec.type, NATIVE_PROVIDER, spec.params, spec.meta)
        try:
            env = ocf_environment(native_spec, action, timeout_s, interval_ms, ocf_root=DEFAULT_OCF_ROOT,
                                  rsctmp=rsctmp, env_extra=env_extra)
        except InvalidParameter as e:
            return OperationResult(rc=OCF_ERR_CONFIGURED, exit_reason=str(e))
        ensure_dir(rsctmp)
        if self.isolate:
            argv = [sys.executable, "-m", "corral.resource_agents.native", NATIVE_AGENTS[spec.type], action]
            done = execute(argv, env, timeout_s, kill_grace_s=self.kill_grace_s)
            return to_result(done, map_ocf_status, f"{spec.agent} {action}")
        return self._run_in_process(spec, action, env, timeout_s)

    def _run_in_process(self, spec: ResourceSpec, action: str, env: dict[str, str],
                        timeout_s: float) -> OperationResult:
        started_at, t0 = time.time(), time.monotonic()
        agent = load_native_agent(spec.type)
        assert agent is not None  # _problem() checked the registry
        try:
            if action == "meta-data":
                outcome = ActionOutcome(OCF_SUCCESS, output=render_metadata_xml(agent.metadata()))
            else:
                outcome = agent.execute(action, env, t0 + timeout_s)
        except Exception as e:  # an agent bug is a failed operation, not a crashed node agent
            outcome = ActionOutcome(OCF_ERR_GENERIC, f"{spec.agent} {action} raised {type(e).__name__}: {e}",
                                    traceback.format_exc())
        duration = time.monotonic() - t0
        if duration > timeout_s:
            # Same contract as a killed OCF agent: the outcome is not trusted.
            return OperationResult(rc=OCF_ERR_GENERIC, timed_out=True, started_at=started_at,
                                   duration_s=duration, output=output_tail(outcome.output, ""),
                                   exit_reason=f"{spec.agent} {action} overran its {timeout_s:g}s timeout")
        return OperationResult(rc=outcome.rc, exit_reason=outcome.exit_reason, duration_s=duration,
                               started_at=started_at, output=output_tail(outcome.output, ""))

    def metadata(self, spec: ResourceSpec) -> AgentMetadata | None:
        self.check(spec)
        agent = load_native_agent(spec.type)
        return agent.metadata() if agent else None


if __name__ == "__main__":
    # python -m corral.resource_agents.native MODULE:CLASS ACTION (what isolate=True runs)
    if len(sys.argv) != 3 or ":" not in sys.argv[1]:
        print("usage: python -m corral.resource_agents.native MODULE:CLASS ACTION", file=sys.stderr)
        sys.exit(OCF_ERR_ARGS)
    sys.exit(ocf_main(_import_target(sys.argv[1]), sys.argv[2:]))
