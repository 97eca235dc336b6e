"""Return codes, recovery classes, durations, meta-data XML and the runner registry."""
from __future__ import annotations

from pathlib import Path

import pytest

from corral.resource_agents import (
    OCF_ERR_CONFIGURED,
    OCF_ERR_INSTALLED,
    OCF_NOT_RUNNING,
    AgentNotFound,
    AgentUnavailable,
    MetadataError,
    OperationResult,
    RecoveryClass,
    ResourceSpec,
    UnknownAgentClass,
    parse_duration_ms,
    rc_name,
    recovery_class,
    runner_for,
)
from corral.resource_agents.environment import ocf_environment
from corral.resource_agents.metadata import (
    ActionInfo,
    AgentMetadata,
    ParameterInfo,
    parse_metadata_xml,
    render_metadata_xml,
)
from corral.resource_agents.ocf import OCFRunner
from corral.resource_agents.systemd import systemd_booted


@pytest.mark.parametrize("rc,cls", [
    (0, RecoveryClass.SOFT), (1, RecoveryClass.SOFT), (2, RecoveryClass.HARD), (3, RecoveryClass.HARD),
    (4, RecoveryClass.HARD), (5, RecoveryClass.HARD), (6, RecoveryClass.FATAL), (7, RecoveryClass.SOFT),
    (8, RecoveryClass.SOFT), (9, RecoveryClass.SOFT), (42, RecoveryClass.SOFT),
])
def test_recovery_class_follows_pacemaker_explained(rc: int, cls: RecoveryClass) -> None:
    assert recovery_class(rc) is cls


def test_rc_names_and_result_helpers() -> None:
    assert rc_name(OCF_NOT_RUNNING) == "OCF_NOT_RUNNING" and rc_name(77) == "rc=77"
    assert OperationResult(rc=0).ok and not OperationResult(rc=1, timed_out=True).ok
    assert OperationResult(rc=OCF_ERR_CONFIGURED).recovery is RecoveryClass.FATAL


@pytest.mark.parametrize("text,ms", [("20s", 20000), ("20", 20000), ("500ms", 500), ("2min", 120000),
                                     ("1m", 60000), ("1h", 3600000), ("PT1M30S", 90000), (" 10 s ", 10000)])
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


def test_parse_duration_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration_ms("soon")


def test_metadata_round_trip_and_errors() -> None:
    md = AgentMetadata("x", "1.0", "short", "long & <odd>",
                       [ParameterInfo("a", required=True, unique=True, default='q"v')],
                       [ActionInfo("monitor", 20.0, interval_ms=10000, depth=0, role="Promoted")])
    back = parse_metadata_xml(render_metadata_xml(md))
    assert back.parameters == md.parameters and back.actions == md.actions
    assert back.longdesc == "long & <odd>" and back.required_parameters == ["a"]
    with pytest.raises(MetadataError, match="not well-formed"):
        parse_metadata_xml("<resource-agent", source="ocf:x:y")
    with pytest.raises(MetadataError, match="expected <resource-agent>"):
        parse_metadata_xml("<other/>")
    with pytest.raises(MetadataError, match="action 'start'"):
        parse_metadata_xml('<resource-agent><actions><action name="start" timeout="x"/></actions></resource-agent>')


def test_environment_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCF_RESKEY_leaked", "from-parent")  # must not reach another resource's agent
    monkeypatch.setenv("CORRAL_RSCTMP", "/somewhere/rsctmp")
    spec = ResourceSpec("db:1", "ocf", "Dummy", "heartbeat", params={"state": "/x"},
                        meta={"clone-max": "3", "target-role": "Started"})
    env = ocf_environment(spec, "monitor", 20.5, 10000, env_extra={"OCF_CHECK_LEVEL": "10"})
    assert "OCF_RESKEY_leaked" not in env
    assert env["OCF_ROOT"] == "/usr/lib/ocf" and env["HA_RSCTMP"] == "/somewhere/rsctmp"
    assert env["OCF_RESOURCE_INSTANCE"] == "db:1" and env["OCF_RESOURCE_TYPE"] == "Dummy"
    assert env["OCF_RESOURCE_PROVIDER"] == "heartbeat" and env["OCF_RESKEY_state"] == "/x"
    assert env["OCF_RESKEY_CRM_meta_timeout"] == "20500" and env["OCF_RESKEY_CRM_meta_interval"] == "10000"
    assert env["OCF_RESKEY_CRM_meta_clone_max"] == "3" and env["OCF_RESKEY_crm_feature_set"]
    assert env["OCF_CHECK_LEVEL"] == "10" and env["PATH"]


def test_runner_for_known_agents() -> None:
    assert isinstance(runner_for(ResourceSpec("d", "ocf", "Dummy", "heartbeat")), OCFRunner)
    runner_for(ResourceSpec("p", "corral", "process"))


@pytest.mark.parametrize("spec,exc,words", [
    (ResourceSpec("r1", "heartbeat", "Dummy"), UnknownAgentClass, ["'r1'", "'heartbeat'", "known classes"]),
    (ResourceSpec("r2", "ocf", "NoSuchAgent", "heartbeat"), AgentNotFound,
     ["'r2'", "ocf:heartbeat:NoSuchAgent", "/usr/lib/ocf/resource.d/heartbeat/NoSuchAgent"]),
    (ResourceSpec("r3", "ocf", "Dummy"), AgentNotFound, ["'r3'", "needs a provider"]),
    (ResourceSpec("r4", "ocf", "../../../bin/sh", "heartbeat"), AgentNotFound, ["'r4'", "invalid"]),
    (ResourceSpec("r5", "corral", "nope"), AgentNotFound, ["'r5'", "corral:nope", "corral:process"]),
    (ResourceSpec("r6", "lsb", "no-such-script"), AgentNotFound, ["'r6'", "/etc/init.d/no-such-script"]),
    (ResourceSpec("r7", "stonith", "fence_ipmilan"), UnknownAgentClass, ["'r7'", "fencing"]),
])
def test_runner_for_names_resource_and_what_is_missing(spec: ResourceSpec, exc: type, words: list[str]) -> None:
    with pytest.raises(exc) as info:
        runner_for(spec)
    for word in words:
        assert word in str(info.value)


@pytest.mark.skipif(systemd_booted(), reason="not applicable: the host runs systemd")
def test_runner_for_systemd_without_systemd_is_a_clear_error() -> None:
    with pytest.raises(AgentUnavailable, match=r"'api'.*systemd as the init system"):
        runner_for(ResourceSpec("api", "systemd", "nova-api"))


def test_missing_agent_run_is_not_installed(workdir: Path) -> None:
    runner = OCFRunner(ocf_root=str(workdir))
    res = runner.run(ResourceSpec("x", "ocf", "Gone", "test"), "start", 5)
    assert res.rc == OCF_ERR_INSTALLED and "not found" in res.exit_reason


def test_invalid_parameter_name_is_fatal_config_error() -> None:
    res = OCFRunner().run(ResourceSpec("x", "ocf", "Dummy", "heartbeat", params={"a=b": "1"}), "start", 5)
    assert res.rc == OCF_ERR_CONFIGURED and "'x'" in res.exit_reason
