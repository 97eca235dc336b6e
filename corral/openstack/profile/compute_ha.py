"""`corral init --profile compute-ha`: the configuration of compute HA and the L3 mover.

What it writes (docs/openstack.md, "Compute HA profile"): the controllers as the cluster's
nodes, fencing on, fence devices for the compute hosts (one per host when a fence parameter
names `{host}` — an IPMI/Redfish address is per host — else one device for all of them), the
`compute:` section (detection, recovery, the default pets policy, gates) and the `neutron:`
section, both on the clouds.yaml entry `--cloud`. Every value is written out with a comment,
so an operator edits a file that shows what is in force.
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from corral.openstack.profile.inputs import Controller, ProfileInputError, parse_controllers

PROFILE = "compute-ha"
HOST_FIELD = "{host}"
_HOST = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,253}[a-z0-9])?$", re.IGNORECASE)
_CLOUD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_AGENT = re.compile(r"^fence_[a-z0-9_]+$")
_PARAM = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True)
class ComputeHaInputs:
    cloud: str
    controllers: tuple[Controller, ...]
    computes: tuple[str, ...]
    fence_agent: str
    fence_params: tuple[tuple[str, str], ...]


def parse_compute_ha(*, cloud: str | None, controllers: str | None, computes: str | None,
                     fence_agent: str | None, fence_params: tuple[str, ...]) -> ComputeHaInputs:
    """The profile's inputs, or ProfileInputError naming the bad one."""
    for flag, value in (("--cloud", cloud), ("--controllers", controllers), ("--computes", computes),
                        ("--fence-agent", fence_agent)):
        if not value:
            raise ProfileInputError(f"the compute-ha profile needs {flag}")
    assert cloud and controllers and computes and fence_agent
    if not _CLOUD.match(cloud):
        raise ProfileInputError(f"--cloud {cloud!r}: expected the name of a clouds.yaml entry")
    ctls = parse_controllers(controllers)
    hosts = tuple(h.strip() for h in computes.split(","))
    if not computes.strip() or any(not h for h in hosts):
        raise ProfileInputError(f"--computes {computes!r}: expected a comma-separated list of Nova's compute "
                                "service hosts (cmp1,cmp2,...)")
    for h in hosts:
        if not _HOST.match(h):
            raise ProfileInputError(f"--computes: {h!r} is not a host name (Nova's service host)")
    dup = sorted({h for h in hosts if hosts.count(h) > 1} | ({h for h in hosts} & {c.name for c in ctls}))
    if dup:
        raise ProfileInputError(f"--computes: {', '.join(dup)} named twice (or also a controller)")
    if not _AGENT.match(fence_agent):
        raise ProfileInputError(f"--fence-agent {fence_agent!r}: expected a fence agent's name (fence_ipmilan, "
                                "fence_redfish, ...)")
    params: list[tuple[str, str]] = []
    for item in fence_params:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not _PARAM.match(key):
            raise ProfileInputError(f"--fence-param {item!r}: expected KEY=VALUE (a fence agent parameter)")
        if key in ("pcmk_host_list", "pcmk_host_map"):
            raise ProfileInputError(f"--fence-param {key}: the profile writes it from --computes")
        if any(k == key for k, _ in params):
            raise ProfileInputError(f"--fence-param {key} given twice")
        if "{" in value.replace(HOST_FIELD, "") or "}" in value.replace(HOST_FIELD, ""):
            raise ProfileInputError(f"--fence-param {item!r}: the only placeholder is {HOST_FIELD}")
        params.append((key, value))
    return ComputeHaInputs(cloud, ctls, hosts, fence_agent, tuple(params))


def command_line(inp: ComputeHaInputs) -> str:
    argv = ["corral", "init", "--profile", PROFILE, "--cloud", inp.cloud,
            "--controllers", ",".join(c.name for c in inp.controllers), "--computes", ",".join(inp.computes),
            "--fence-agent", inp.fence_agent]
    for key, value in inp.fence_params:
        argv += ["--fence-param", f"{key}={value if 'passw' not in key else '...'}"]
    return shlex.join(argv)


def _flow(d: Mapping[str, str]) -> str:
    """A one-line YAML mapping with every value quoted as the string it is."""
    return yaml.safe_dump(dict(d), default_flow_style=True, width=10_000, sort_keys=False).strip()


def _scalar(v: str) -> str:
    return yaml.safe_dump(v, default_style=None).strip().removesuffix("\n...").strip()


def _devices(inp: ComputeHaInputs) -> list[str]:
    per_host = any(HOST_FIELD in v for _, v in inp.fence_params)
    out: list[str] = []
    groups = [(h, (h,)) for h in inp.computes] if per_host else [("computes", inp.computes)]
    for name, hosts in groups:
        params = {k: v.replace(HOST_FIELD, hosts[0]) for k, v in inp.fence_params}
        params["pcmk_host_list"] = ",".join(hosts)
        out += [f"  - id: fence-{name}",
                f"    agent: stonith:{inp.fence_agent}",
                f"    params: {_flow(params)}",
                "    ops: [{name: monitor, interval: 60s}]"]
    return out


def generate(inp: ComputeHaInputs) -> str:
    """The configuration text (validated by the caller through the loader)."""
    per_host = any(HOST_FIELD in v for _, v in inp.fence_params)
    lines = [
        f"# Corral configuration of compute HA (profile {PROFILE}).",
        f"# Generated by: {command_line(inp)}",
        "# Load it with: corral load FILE   (reference: docs/openstack.md, docs/configuration.md)",
        "# Every compute host runs: corral agent --node HOST --store URL --role compute",
        "# (HOST as Nova names the host's nova-compute service).",
        "version: 1",
        "",
        "cluster:",
        "  stonith-enabled: true          # a compute host is fenced before its instances are resurrected",
        "  no-quorum-policy: stop",
        "",
        "nodes:                           # the controllers: they run the controller, never instances",
        *[f"  - name: {_scalar(c.name)}" for c in inp.controllers],
        "",
        "resources:",
        ("  # one fence device per compute host (a --fence-param named {host})" if per_host
         else "  # one fence device for every compute host (pcmk_host_list)"),
        *_devices(inp),
        "",
        "compute:",
        f"{'  cloud: ' + _scalar(inp.cloud):<32} # clouds.yaml entry (OS_CLOUD) with admin credentials",
        "  poll-interval: 2s              # how often Nova's nova-compute services are read",
        "  fence-action: \"off\"            # off or reboot",
        "  nova-compute-grace: 30s        # member alive but nova-compute down this long: escalate",
        "  on-nova-compute-down: fence    # fence (then recover the host) or report",
        "  enable-returning-hosts: auto   # auto, or operator (corral compute enable HOST)",
        "  max-concurrent-evacuations: 20",
        "  evacuation-timeout: 10min      # per instance, from its request to ACTIVE elsewhere",
        "  retry: {attempts: 3, backoff: 2s, backoff-max: 30s}",
        "  gates:",
        "    max-failed-share: 0.5        # more of an AZ's or aggregate's hosts failed at once: hold back",
        "    max-hosts-per-cycle: 5",
        "    min-group-hosts: 2",
        "  reserved-hosts: []             # kept disabled, enabled when a host fails",
        "  # Instances no policy matches are recovered when HA by convention (metadata HA_Enabled=True,",
        "  # or `evacuable` on the image or flavor); the rest (cattle) are left to their orchestrator.",
        "  default-policy: {recovery: evacuate, storage: shared, priority: 0}",
        "  policies: []",
        "  # e.g. - {name: databases, match: {metadata: {role: db}}, recovery: evacuate, priority: 100}",
        "  #      - {name: batch, match: {project: [0123abcd]}, recovery: none}",
        "",
        "neutron:                         # legacy routers moved off dead L3 agents",
        f"  cloud: {_scalar(inp.cloud)}",
        "  poll-interval: 5s",
        "  agent-down-grace: 0s",
        "  max-dead-share: 0.5",
        "  min-agents: 2",
        "  max-routers-per-cycle: 100",
        "  concurrency: 4",
    ]
    return "\n".join(lines) + "\n"
