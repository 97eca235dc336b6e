"""OCF resource agents: OCF_ROOT/resource.d/PROVIDER/TYPE ACTION, e.g. ocf:heartbeat:IPaddr2."""
from __future__ import annotations

import os
import threading
from collections.abc import Mapping

from corral.resource_agents.base import (
    OCF_DEGRADED,
    OCF_DEGRADED_PROMOTED,
    OCF_ERR_CONFIGURED,
    OCF_ERR_GENERIC,
    OCF_ERR_INSTALLED,
    OCF_ERR_UNIMPLEMENTED,
    OCF_FAILED_PROMOTED,
    AgentNotFound,
    AgentRunner,
    OperationResult,
    ResourceSpec,
)
from corral.resource_agents.environment import (
    DEFAULT_OCF_ROOT,
    InvalidParameter,
    base_environment,
    ensure_dir,
    ocf_environment,
    rsctmp_dir,
)
from corral.resource_agents.execute import DEFAULT_KILL_GRACE_S, execute, parse_exit_reason, to_result
from corral.resource_agents.metadata import AgentMetadata, MetadataError, parse_metadata_xml

METADATA_TIMEOUT_S = 10.0
# Corral's own OCF agents (ocf:corral:*) ship inside the package, laid out like OCF_ROOT/resource.d,
# so a node agent finds them without an install step; they take precedence over OCF_ROOT's.
BUNDLED_RESOURCE_D = os.path.join(os.path.dirname(os.path.abspath(__file__)), "resource.d")


def map_ocf_status(status: int) -> int:
    """OCF exit statuses pass through; anything outside the OCF table is a generic error."""
    if 0 <= status <= OCF_FAILED_PROMOTED or status in (OCF_DEGRADED, OCF_DEGRADED_PROMOTED):
        return status
    return OCF_ERR_GENERIC


def _bad_component(name: str | None) -> bool:
    return not name or "/" in name or name in (".", "..") or "\0" in name


class OCFRunner(AgentRunner):
    rsc_class = "ocf"

    def __init__(self, ocf_root: str = DEFAULT_OCF_ROOT, rsctmp: str | None = None,
                 kill_grace_s: float = DEFAULT_KILL_GRACE_S) -> None:
        self.ocf_root = ocf_root
        self._rsctmp = rsctmp  # None: $CORRAL_RSCTMP or /run/resource-agents, read per call
        self.kill_grace_s = kill_grace_s
        self._md_cache: dict[tuple[str, int], AgentMetadata | None] = {}
        self._md_lock = threading.Lock()

    def agent_path(self, spec: ResourceSpec) -> str:
        bundled = os.path.join(BUNDLED_RESOURCE_D, spec.provider or "", spec.type)
        if not _bad_component(spec.provider) and not _bad_component(spec.type) and os.path.isfile(bundled):
            return bundled
        return os.path.join(self.ocf_root, "resource.d", spec.provider or "", spec.type)

    def _problem(self, spec: ResourceSpec) -> str | None:
        """Why spec's agent cannot be executed here, or None."""
        if _bad_component(spec.provider):
            return f"OCF resource {spec.agent} needs a provider (e.g. ocf:heartbeat:{spec.type})"
        if _bad_component(spec.type):
            return f"invalid OCF agent type {spec.type!r}"
        path = self.agent_path(spec)
        if not os.path.isfile(path):
            return f"OCF agent {spec.agent} not found: {path} does not exist"
        if not os.access(path, os.X_OK):
            return f"OCF agent {spec.agent} is not executable: {path}"
        return None

    def check(self, spec: ResourceSpec) -> None:
        problem = self._problem(spec)
        if problem:
            raise AgentNotFound(f"resource {spec.id!r}: {problem}")

    def run(self, spec: ResourceSpec, action: str, timeout_s: float, interval_ms: int = 0,
            env_extra: Mapping[str, str] | None = None) -> OperationResult:
        problem = self._problem(spec)
        if problem:
            # What Pacemaker reports for a missing agent: hard failure on this node.
            return OperationResult(rc=OCF_ERR_INSTALLED, exit_reason=problem)
        rsctmp = rsctmp_dir(self._rsctmp)
        try:
            env = ocf_environment(spec, action, timeout_s, interval_ms, ocf_root=self.ocf_root,
                                  rsctmp=rsctmp, env_extra=env_extra)
        except InvalidParameter as e:
            return OperationResult(rc=OCF_ERR_CONFIGURED, exit_reason=str(e))
        ensure_dir(rsctmp)
        done = execute([self.agent_path(spec), action], env, timeout_s, kill_grace_s=self.kill_grace_s)
        return to_result(done, map_ocf_status, f"{spec.agent} {action}")

    def metadata(self, spec: ResourceSpec) -> AgentMetadata | None:
        """Parsed meta-data, cached per agent file version; None if the agent has none (rc 3)."""
        problem = self._problem(spec)
        if problem:
            raise AgentNotFound(f"resource {spec.id!r}: {problem}")
        path = self.agent_path(spec)
        key = (path, os.stat(path).st_mtime_ns)
        with self._md_lock:
            if key in self._md_cache:
                return self._md_cache[key]
        md = self._fetch_metadata(spec, path)
        with self._md_lock:
            self._md_cache[key] = md
        return md

    def _fetch_metadata(self, spec: ResourceSpec, path: str) -> AgentMetadata | None:
        # Meta-data describes the agent, not an instance: like Pacemaker, run it
        # without instance parameters so the result can be cached per agent.
        rsctmp = rsctmp_dir(self._rsctmp)
        env = base_environment()
        env.update({"OCF_ROOT": self.ocf_root, "HA_RSCTMP": rsctmp,
                    "OCF_RESOURCE_TYPE": spec.type, "OCF_RESOURCE_PROVIDER": spec.provider or "",
                    "OCF_RESKEY_CRM_meta_timeout": str(int(METADATA_TIMEOUT_S * 1000))})
        done = execute([path, "meta-data"], env, METADATA_TIMEOUT_S, kill_grace_s=self.kill_grace_s)
        if done.status == OCF_ERR_UNIMPLEMENTED:
            return None
        if done.status != 0:
            why = parse_exit_reason(done.stderr) or done.stderr.strip()[-300:]
            state = ("timed out" if done.timed_out else f"cannot execute: {done.exec_error}"
                     if done.exec_error else f"exit status {done.status}")
            raise MetadataError(f"{spec.agent} meta-data failed ({state}): {why}")
        return parse_metadata_xml(done.stdout, source=spec.agent)
