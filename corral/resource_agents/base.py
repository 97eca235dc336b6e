"""The resource agent contract: OCF return codes, operation results, runners.

Every agent class (OCF, LSB, systemd, native Python) is executed through an
`AgentRunner` and reports an `OperationResult` whose `rc` is always in OCF
terms, so the executor and the scheduler only ever reason about OCF codes.
"""
from __future__ import annotations

import enum
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from corral.model.ocf_codes import (  # noqa: F401 (re-exported)
    OCF_DEGRADED,
    OCF_DEGRADED_PROMOTED,
    OCF_ERR_ARGS,
    OCF_ERR_CONFIGURED,
    OCF_ERR_GENERIC,
    OCF_ERR_INSTALLED,
    OCF_ERR_PERM,
    OCF_ERR_UNIMPLEMENTED,
    OCF_FAILED_PROMOTED,
    OCF_NOT_RUNNING,
    OCF_RUNNING_PROMOTED,
    OCF_SUCCESS,
    RC_NAMES,
    rc_name,
)
from corral.resource_agents.metadata import AgentMetadata


class RecoveryClass(enum.Enum):
    """What the cluster does when an operation's rc is not the expected one.

    soft:  transient; restart in place or move (fail count +1).
    hard:  node-specific; move away and ban the resource from this node.
    fatal: cluster-wide (bad configuration); stop it and start it nowhere.
    """
    SOFT = "soft"
    HARD = "hard"
    FATAL = "fatal"


# Pacemaker Explained, "OCF Return Codes". 0, 7 and 8 are soft only when they
# were not the expected result (e.g. a probe expects 7, a promoted monitor 8).
RECOVERY_CLASS: dict[int, RecoveryClass] = {
    OCF_SUCCESS: RecoveryClass.SOFT,
    OCF_ERR_GENERIC: RecoveryClass.SOFT,
    OCF_ERR_ARGS: RecoveryClass.HARD,
    OCF_ERR_UNIMPLEMENTED: RecoveryClass.HARD,
    OCF_ERR_PERM: RecoveryClass.HARD,
    OCF_ERR_INSTALLED: RecoveryClass.HARD,
    OCF_ERR_CONFIGURED: RecoveryClass.FATAL,
    OCF_NOT_RUNNING: RecoveryClass.SOFT,
    OCF_RUNNING_PROMOTED: RecoveryClass.SOFT,
    OCF_FAILED_PROMOTED: RecoveryClass.SOFT,
    OCF_DEGRADED: RecoveryClass.SOFT,
    OCF_DEGRADED_PROMOTED: RecoveryClass.SOFT,
}


def recovery_class(rc: int) -> RecoveryClass:
    """Recovery for an unexpected rc; custom codes outside the table are soft, like Pacemaker."""
    return RECOVERY_CLASS.get(rc, RecoveryClass.SOFT)


@dataclass(frozen=True)
class OperationResult:
    """One finished execution of an agent action, rc in OCF terms.

    A timeout is rc=OCF_ERR_GENERIC with timed_out=True: the agent was killed,
    so its real outcome is unknown; recovery is soft (like Pacemaker's
    on-fail=restart default) except that a timed-out stop must be escalated
    to fencing by the caller, since the resource may still be active.
    """
    rc: int
    exit_reason: str = ""
    duration_s: float = 0.0
    started_at: float = 0.0  # time.time() when the action was launched
    output: str = ""  # tail of stdout then stderr, at most OUTPUT_TAIL_CHARS
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.rc == OCF_SUCCESS and not self.timed_out

    @property
    def rc_name(self) -> str:
        return rc_name(self.rc)

    @property
    def recovery(self) -> RecoveryClass:
        return recovery_class(self.rc)


OUTPUT_TAIL_CHARS = 4096

RSC_CLASSES = ("ocf", "lsb", "systemd", "service", "corral", "stonith")


@dataclass(frozen=True)
class ResourceSpec:
    """What a runner needs to know about one primitive resource."""
    id: str
    rsc_class: str  # one of RSC_CLASSES
    type: str
    provider: str | None = None  # required for "ocf"; "corral" for native agents
    params: Mapping[str, str] = field(default_factory=dict)
    meta: Mapping[str, str] = field(default_factory=dict)

    @property
    def agent(self) -> str:
        """Pacemaker's standard:provider:type notation, e.g. 'ocf:heartbeat:Dummy'."""
        if self.provider and self.rsc_class == "ocf":
            return f"{self.rsc_class}:{self.provider}:{self.type}"
        return f"{self.rsc_class}:{self.type}"


class ResourceAgentError(Exception):
    """A resource cannot be run at all (as opposed to an action that failed)."""


class UnknownAgentClass(ResourceAgentError):
    pass


class AgentNotFound(ResourceAgentError):
    pass


class AgentUnavailable(ResourceAgentError):
    """The class is known but cannot work on this host (e.g. systemd not PID 1)."""


class AgentRunner(ABC):
    """Executes actions of one agent class; implementations are thread-safe."""

    rsc_class: str = ""

    @abstractmethod
    def run(self, spec: ResourceSpec, action: str, timeout_s: float, interval_ms: int = 0,
            env_extra: Mapping[str, str] | None = None) -> OperationResult:
        """Run `action` and return its result; never raises for agent failures.

        interval_ms is the recurring monitor interval (0: one-shot, a probe if
        the action is monitor). env_extra is added to the agent's environment.
        """

    @abstractmethod
    def metadata(self, spec: ResourceSpec) -> AgentMetadata | None:
        """The agent's parameters and actions; None if the agent provides none."""

    def check(self, spec: ResourceSpec) -> None:
        """Raise AgentNotFound/AgentUnavailable if `spec` cannot run here."""
        return None  # optional hook: a runner without preconditions accepts every spec


RunnerFactory = Callable[[], AgentRunner]
_factories: dict[str, RunnerFactory] = {}
_instances: dict[str, AgentRunner] = {}
_builtins_loaded = False
_lock = threading.Lock()


def register_runner(rsc_class: str, factory: RunnerFactory) -> None:
    """Install (or replace, e.g. in tests) the runner factory of a class."""
    with _lock:
        _factories[rsc_class] = factory
        _instances.pop(rsc_class, None)


def _builtin_factories() -> dict[str, RunnerFactory]:
    # Imported here: the runner modules import this one.
    from corral.resource_agents.lsb import LSBRunner
    from corral.resource_agents.native import NativeRunner
    from corral.resource_agents.ocf import OCFRunner
    from corral.resource_agents.systemd import SystemdRunner, service_runner

    return {"ocf": OCFRunner, "lsb": LSBRunner, "systemd": SystemdRunner,
            "service": service_runner, "corral": NativeRunner}


def runner_for(spec: ResourceSpec) -> AgentRunner:
    """The runner for `spec`, after checking that its agent exists on this host.

    Raises UnknownAgentClass, AgentNotFound or AgentUnavailable with a message
    naming the resource and what is missing.
    """
    if spec.rsc_class == "stonith":
        raise UnknownAgentClass(
            f"resource {spec.id!r}: class 'stonith' ({spec.agent}) is executed by the fencing "
            "subsystem (corral.fencing), not by a resource agent runner")
    global _builtins_loaded
    with _lock:
        if not _builtins_loaded:
            for name, builtin in _builtin_factories().items():
                _factories.setdefault(name, builtin)  # register_runner() may have come first
            _builtins_loaded = True
        runner = _instances.get(spec.rsc_class)
        if runner is None:
            factory = _factories.get(spec.rsc_class)
            if factory is None:
                known = ", ".join(sorted(set(_factories) | {"stonith"}))
                raise UnknownAgentClass(
                    f"resource {spec.id!r}: unknown resource class {spec.rsc_class!r} "
                    f"(agent {spec.agent}); known classes: {known}")
            runner = _instances[spec.rsc_class] = factory()
    runner.check(spec)
    return runner
