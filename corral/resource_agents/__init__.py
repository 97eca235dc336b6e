"""Executing resource agent actions: OCF, LSB, systemd and Corral's native Python agents.

    spec = ResourceSpec("vip", "ocf", "IPaddr2", provider="heartbeat", params={"ip": "10.0.0.5"})
    result = runner_for(spec).run(spec, "start", timeout_s=20)

The native modules (native, process) are not imported here, so that
`python -m corral.resource_agents.process` runs without a duplicate import.
"""
from corral.resource_agents.base import (
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
    AgentNotFound,
    AgentRunner,
    AgentUnavailable,
    OperationResult,
    RecoveryClass,
    ResourceAgentError,
    ResourceSpec,
    UnknownAgentClass,
    rc_name,
    recovery_class,
    register_runner,
    runner_for,
)
from corral.resource_agents.metadata import (
    ActionInfo,
    AgentMetadata,
    MetadataError,
    ParameterInfo,
    parse_duration_ms,
)

__all__ = [
    "OCF_DEGRADED", "OCF_DEGRADED_PROMOTED", "OCF_ERR_ARGS", "OCF_ERR_CONFIGURED", "OCF_ERR_GENERIC",
    "OCF_ERR_INSTALLED", "OCF_ERR_PERM", "OCF_ERR_UNIMPLEMENTED", "OCF_FAILED_PROMOTED",
    "OCF_NOT_RUNNING", "OCF_RUNNING_PROMOTED", "OCF_SUCCESS", "ActionInfo", "AgentMetadata",
    "AgentNotFound", "AgentRunner", "AgentUnavailable", "MetadataError", "OperationResult",
    "ParameterInfo", "RecoveryClass", "ResourceAgentError", "ResourceSpec", "UnknownAgentClass",
    "parse_duration_ms", "rc_name", "recovery_class", "register_runner", "runner_for",
]
