"""The environment an agent is executed with, built the way Pacemaker's executor does."""
from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping

from corral.resource_agents.base import ResourceAgentError, ResourceSpec

DEFAULT_OCF_ROOT = "/usr/lib/ocf"
DEFAULT_RSCTMP = "/run/resource-agents"  # resource-agents' own default (ocf-directories)
RSCTMP_ENV = "CORRAL_RSCTMP"  # lets tests and unprivileged runs move HA_RSCTMP
# The feature set of Pacemaker 2.1.5, the version the shipped agents are tested with;
# a few agents (e.g. galera, rabbitmq) compare it to choose code paths.
CRM_FEATURE_SET = "3.16.2"
OCF_RA_VERSION = ("1", "1")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Variables our own process may carry (e.g. when Corral itself runs under an
# agent) that must never leak into another resource's agent.
_PRIVATE_PREFIXES = ("OCF_RESKEY_", "OCF_RESOURCE_", "OCF_RA_VERSION_", "OCF_CHECK_LEVEL")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]*$")


class InvalidParameter(ResourceAgentError):
    """A parameter name/value cannot be passed through the environment."""


def rsctmp_dir(override: str | None = None) -> str:
    """HA_RSCTMP: the constructor override, else $CORRAL_RSCTMP, else /run/resource-agents."""
    return override or os.environ.get(RSCTMP_ENV) or DEFAULT_RSCTMP


def base_environment() -> dict[str, str]:
    """Our environment minus other resources' OCF variables, with a usable PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE_PREFIXES)}
    env.setdefault("PATH", DEFAULT_PATH)
    # Corral's own Python agents (ocf:corral:*) run with the interpreter Corral runs with.
    env.setdefault("CORRAL_PYTHON", sys.executable)
    return env


def _check(spec: ResourceSpec | str, kind: str, name: str, value: str) -> None:
    rid = spec if isinstance(spec, str) else spec.id
    if not _NAME.match(name):
        raise InvalidParameter(f"resource {rid!r}: {kind} name {name!r} cannot be passed to an agent "
                               "(letters, digits, '_', '-', '.', ':' only)")
    if "\0" in value:
        raise InvalidParameter(f"resource {rid!r}: {kind} {name!r} contains a NUL byte")


def ocf_environment(spec: ResourceSpec, action: str, timeout_s: float, interval_ms: int, *,
                    ocf_root: str = DEFAULT_OCF_ROOT, rsctmp: str | None = None,
                    env_extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The OCF environment for one action of `spec` (raises InvalidParameter)."""
    env = base_environment()
    env.update({
        "OCF_ROOT": ocf_root,
        "OCF_RA_VERSION_MAJOR": OCF_RA_VERSION[0],
        "OCF_RA_VERSION_MINOR": OCF_RA_VERSION[1],
        "OCF_RESOURCE_INSTANCE": spec.id,
        "OCF_RESOURCE_TYPE": spec.type,
        "OCF_RESOURCE_PROVIDER": spec.provider or "",
        "HA_RSCTMP": rsctmp_dir(rsctmp),
    })
    for name, value in spec.params.items():
        value = str(value)
        _check(spec, "parameter", name, value)
        env[f"OCF_RESKEY_{name}"] = value
    if "OCF_CHECK_LEVEL" in spec.params:  # agents read the monitor depth unprefixed (Filesystem, ...)
        env["OCF_CHECK_LEVEL"] = str(spec.params["OCF_CHECK_LEVEL"])
    env.update(meta_environment(spec, spec.meta))
    env.update({
        "OCF_RESKEY_CRM_meta_timeout": str(max(0, round(timeout_s * 1000))),
        "OCF_RESKEY_CRM_meta_interval": str(int(interval_ms)),
        "OCF_RESKEY_CRM_meta_name": action,
        "OCF_RESKEY_crm_feature_set": CRM_FEATURE_SET,
    })
    if env_extra:
        env.update({k: str(v) for k, v in env_extra.items()})
    return env


def meta_environment(spec: ResourceSpec | str, meta: Mapping[str, str]) -> dict[str, str]:
    """Meta attributes as the agent sees them: OCF_RESKEY_CRM_meta_<name>, '-' spelled '_'
    (clone-max -> clone_max, as Pacemaker does); the controller's per-action meta (a
    notification's notify_type, notify_start_resource, ...) goes the same way."""
    out: dict[str, str] = {}
    for name, value in meta.items():
        value = str(value)
        _check(spec, "meta attribute", name, value)
        out[f"OCF_RESKEY_CRM_meta_{name.replace('-', '_')}"] = value
    return out


def ensure_dir(path: str) -> None:
    """Create HA_RSCTMP if missing; agents report their own error if they cannot."""
    try:
        os.makedirs(path, mode=0o755, exist_ok=True)
    except OSError:
        pass
