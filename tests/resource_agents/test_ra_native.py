"""The native runner's contract with misbehaving agents, and the runner registry."""
from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from corral.resource_agents import (
    OCF_ERR_GENERIC,
    OCF_SUCCESS,
    AgentRunner,
    OperationResult,
    ResourceSpec,
    register_runner,
    runner_for,
)
from corral.resource_agents import base as ra_base
from corral.resource_agents.lsb import LSBRunner
from corral.resource_agents.metadata import AgentMetadata
from corral.resource_agents.native import NATIVE_AGENTS, ActionOutcome, NativeAgent, NativeRunner
from corral.resource_agents.systemd import systemd_booted


class BrokenAgent(NativeAgent):
    name = "broken"

    def metadata(self) -> AgentMetadata:
        return AgentMetadata("broken")

    def execute(self, action: str, env: Mapping[str, str], deadline: float) -> ActionOutcome:
        if action == "start":
            raise RuntimeError("bug in agent")
        if action == "monitor":
            time.sleep(max(0.0, deadline - time.monotonic()) + 0.05)  # ignores its deadline
        return ActionOutcome(OCF_SUCCESS, output=env["OCF_RESKEY_word"])


@pytest.fixture
def broken(monkeypatch: pytest.MonkeyPatch) -> ResourceSpec:
    monkeypatch.setitem(NATIVE_AGENTS, "broken", f"{__name__}:BrokenAgent")
    return ResourceSpec("b", "corral", "broken", params={"word": "hello"})


def test_agent_exception_is_a_failed_operation(rsctmp: Path, broken: ResourceSpec) -> None:
    res = NativeRunner().run(broken, "start", 5)
    assert res.rc == OCF_ERR_GENERIC and "RuntimeError: bug in agent" in res.exit_reason
    assert "Traceback" in res.output


def test_agent_overrunning_its_deadline_is_a_timeout(rsctmp: Path, broken: ResourceSpec) -> None:
    res = NativeRunner().run(broken, "monitor", 0.2)
    assert res.timed_out and res.rc == OCF_ERR_GENERIC


def test_agent_gets_the_ocf_environment(rsctmp: Path, broken: ResourceSpec) -> None:
    res = NativeRunner().run(broken, "stop", 5)
    assert res.rc == OCF_SUCCESS and res.output == "hello"


def test_wrong_provider_for_native_agent() -> None:
    with pytest.raises(Exception, match=r"'p'.*only 'corral'"):
        runner_for(ResourceSpec("p", "corral", "process", provider="heartbeat"))


@pytest.mark.skipif(systemd_booted(), reason="not applicable: the host runs systemd")
def test_service_class_falls_back_to_lsb() -> None:
    spec = ResourceSpec("s", "service", "procps")
    if not Path("/etc/init.d/procps").exists():
        pytest.skip("no /etc/init.d/procps")
    assert isinstance(runner_for(spec), LSBRunner)


class FakeRunner(AgentRunner):
    def run(self, spec: ResourceSpec, action: str, timeout_s: float, interval_ms: int = 0,
            env_extra: Mapping[str, str] | None = None) -> OperationResult:
        return OperationResult(rc=OCF_SUCCESS, exit_reason="fake")

    def metadata(self, spec: ResourceSpec) -> AgentMetadata | None:
        return None


def test_register_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ra_base, "_factories", dict(ra_base._factories))
    monkeypatch.setattr(ra_base, "_instances", {})
    register_runner("testclass", FakeRunner)
    spec = ResourceSpec("t", "testclass", "anything")
    assert runner_for(spec).run(spec, "start", 1).exit_reason == "fake"
