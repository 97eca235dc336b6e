"""Fence devices: one configured fence agent, run with the fence-agents contract.

A device is built from a `stonith` primitive of the configuration. Its
Pacemaker `pcmk_*` parameters say which nodes it can fence and how
(host map/list/check, delays, action remapping, timeouts, tries); every other
parameter goes to the agent on stdin. See docs/fencing.md.
"""
from __future__ import annotations

import os
import random
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from corral.fencing.protocol import (
    FENCING_ACTIONS,
    STATUS_OFF,
    STATUS_ON,
    format_stdin,
    parse_list_output,
)
from corral.fencing.runner import DEFAULT_KILL_GRACE_S, AgentRun, run_agent
from corral.model.config import Primitive
from corral.resource_agents.metadata import (
    AgentMetadata,
    MetadataError,
    parse_duration_ms,
    parse_metadata_xml,
)

DEFAULT_AGENT_DIR = "/usr/sbin"
DEFAULT_TIMEOUT_S = 60.0   # Pacemaker's stonith-timeout default
DEFAULT_TRIES = 2          # Pacemaker's pcmk_<action>_retries default
DEFAULT_LIST_CACHE_S = 60.0
HOST_CHECKS = ("static-list", "dynamic-list", "status", "none")
#: Fence agents of installed Python packages (the lab's fence_corral_netns, from corral-lab):
#: entry points name -> module, run as `python -m module` by this interpreter (no install step
#: into /usr/sbin). Looked up only for a name that is neither a path nor shipped by fence-agents.
PLUGIN_AGENT_GROUP = "corral.fence_agents"
METADATA_CACHE_S = 600.0  # an agent's meta-data only changes with its package
_METADATA_CACHE: dict[tuple[tuple[str, ...], tuple[tuple[str, str], ...], int],
                      tuple[float, AgentMetadata | None]] = {}


def plugin_agent_argv(name: str) -> list[str] | None:
    """How to run the fence agent `name` of an installed package, or None."""
    import importlib.metadata

    for ep in importlib.metadata.entry_points(group=PLUGIN_AGENT_GROUP, name=name):
        return [sys.executable, "-m", ep.value]
    return None


def clear_metadata_cache() -> None:
    """Forget every agent's cached meta-data (tests that rewrite an agent in place)."""
    _METADATA_CACHE.clear()


def _mtime(path: str) -> int:
    """The agent file's modification time: an upgraded agent is asked again."""
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0
_REMAPPABLE = ("on", "off", "reboot", "status", "list", "monitor")
_SEP = re.compile(r"[;,\s]+")


class FenceDeviceError(ValueError):
    """A stonith resource cannot be used as a fence device; the message names it."""


@dataclass(frozen=True)
class DeviceResult:
    """What one device did for one request (after its tries)."""
    device: str
    action: str          # what was asked (reboot)
    agent_action: str    # what the agent was told (pcmk_reboot_action may make it off)
    target: str | None
    plug: str | None
    ok: bool
    rc: int | None
    tries: int
    duration_s: float
    delay_s: float = 0.0
    timed_out: bool = False
    error: str = ""
    output: str = ""


def parse_host_map(text: str) -> dict[str, str]:
    """`node1:plug1;node2:plug2` (Pacemaker also accepts `=` and `,`/space separators)."""
    out: dict[str, str] = {}
    for entry in _SEP.split(text.strip()):
        if not entry:
            continue
        m = re.match(r"^([^:=]+)[:=](.*)$", entry)
        if not m or not m.group(2):
            raise ValueError(f"pcmk_host_map entry {entry!r} is not node:plug")
        out[m.group(1)] = m.group(2)
    return out


def parse_host_list(text: str) -> list[str]:
    return [n for n in _SEP.split(text.strip()) if n]


def _seconds(text: str) -> float:
    return parse_duration_ms(text) / 1000.0


def _delay_base(text: str) -> tuple[float, dict[str, float]]:
    """pcmk_delay_base is `5s`, or per node `node1:0s;node2:5s` (Pacemaker 2.1)."""
    if ":" not in text:
        return _seconds(text), {}
    return 0.0, {node: _seconds(v) for node, v in parse_host_map(text).items()}


@dataclass
class FenceDevice:
    id: str
    agent: str                                  # fence_ipmilan, an absolute path, or a built-in
    params: dict[str, str] = field(default_factory=dict)   # passed to the agent
    host_map: dict[str, str] = field(default_factory=dict)
    host_list: list[str] | None = None
    host_check: str | None = None               # None: decided as Pacemaker does (effective_host_check)
    host_argument: str | None = None            # None: plug and/or port, from the metadata; "none": neither
    delay_base: float = 0.0
    delay_base_map: dict[str, float] = field(default_factory=dict)
    delay_max: float = 0.0
    action_map: dict[str, str] = field(default_factory=dict)   # pcmk_reboot_action=off -> {"reboot": "off"}
    timeout_s: float = DEFAULT_TIMEOUT_S
    action_timeouts: dict[str, float] = field(default_factory=dict)
    tries: int = DEFAULT_TRIES                  # runs of the agent per request, at most
    action_tries: dict[str, int] = field(default_factory=dict)
    priority: int = 0                           # without topology, higher goes first
    agent_dir: str = DEFAULT_AGENT_DIR
    list_cache_s: float = DEFAULT_LIST_CACHE_S
    kill_grace_s: float = DEFAULT_KILL_GRACE_S
    env: Mapping[str, str] | None = None        # None: ours minus OCF_* variables
    warnings: list[str] = field(default_factory=list)
    # Injectable for tests: the random delay and the sleeping.
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    _metadata: AgentMetadata | None = field(default=None, init=False, repr=False, compare=False)
    _metadata_tried: bool = field(default=False, init=False, repr=False, compare=False)
    _list_cache: tuple[float, set[str]] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.host_check is not None and self.host_check not in HOST_CHECKS:
            raise FenceDeviceError(f"fence device {self.id}: pcmk_host_check {self.host_check!r} is not one of "
                                   f"{', '.join(HOST_CHECKS)}")
        if self.tries < 1 or any(t < 1 for t in self.action_tries.values()):
            raise FenceDeviceError(f"fence device {self.id}: retries must be at least 1")
        if self.delay_base < 0 or self.delay_max < 0:
            raise FenceDeviceError(f"fence device {self.id}: delays cannot be negative")
        # The action is ours to choose, never a device parameter (copy: the caller's dict stays as it was).
        self.params = {k: v for k, v in self.params.items() if k != "action"}

    # -- construction -----------------------------------------------------------------------------------
    @classmethod
    def from_primitive(cls, prim: Primitive, *, default_timeout_s: float = DEFAULT_TIMEOUT_S,
                       agent_dir: str = DEFAULT_AGENT_DIR, **kw: object) -> FenceDevice:
        """A device from a `stonith` primitive: pcmk_* from params (or meta), the rest for the agent."""
        if prim.rsc_class != "stonith":
            raise FenceDeviceError(f"resource {prim.id}: class {prim.rsc_class!r} is not a fence device "
                                   "(expected class stonith)")
        pcmk = {k: v for k, v in prim.meta.items() if k.startswith("pcmk_")}
        pcmk.update({k: v for k, v in prim.params.items() if k.startswith("pcmk_")})
        params = {k: v for k, v in prim.params.items() if not k.startswith("pcmk_")}
        where = f"stonith resource {prim.id}"
        warnings: list[str] = []
        if "action" in params:
            warnings.append(f"{where}: parameter 'action' is ignored (the fencer chooses the action)")
        args: dict[str, object] = {"timeout_s": default_timeout_s}
        action_map: dict[str, str] = {}
        action_timeouts: dict[str, float] = {}
        action_tries: dict[str, int] = {}
        for op in prim.ops:
            if op.timeout_ms is not None and op.name in _REMAPPABLE:
                action_timeouts[op.name] = op.timeout_ms / 1000.0
        try:
            for key, value in pcmk.items():
                m = re.fullmatch(r"pcmk_(on|off|reboot|status|list|monitor)_(action|timeout|retries)", key)
                if key == "pcmk_host_map":
                    args["host_map"] = parse_host_map(value)
                elif key == "pcmk_host_list":
                    args["host_list"] = parse_host_list(value)
                elif key == "pcmk_host_check":
                    args["host_check"] = value.strip()
                elif key == "pcmk_host_argument":
                    args["host_argument"] = value.strip()
                elif key == "pcmk_delay_base":
                    args["delay_base"], args["delay_base_map"] = _delay_base(value)
                elif key == "pcmk_delay_max":
                    args["delay_max"] = _seconds(value)
                elif m and m.group(2) == "action":
                    action_map[m.group(1)] = value.strip()
                elif m and m.group(2) == "timeout":
                    action_timeouts[m.group(1)] = _seconds(value)
                elif m and m.group(2) == "retries":
                    action_tries[m.group(1)] = int(value)
                else:
                    warnings.append(f"{where}: {key} is not supported and is ignored")
        except ValueError as e:
            raise FenceDeviceError(f"{where}: {key}={value!r}: {e}") from None
        priority = prim.meta.get("priority", "0")
        try:
            args["priority"] = int(priority)
        except ValueError:
            raise FenceDeviceError(f"{where}: meta priority={priority!r} is not an integer") from None
        args.update(kw)
        try:
            return cls(id=prim.id, agent=prim.type, params=params, action_map=action_map,
                       action_timeouts=action_timeouts, action_tries=action_tries, agent_dir=agent_dir,
                       warnings=warnings, **args)  # type: ignore[arg-type]
        except FenceDeviceError as e:
            raise FenceDeviceError(str(e).replace(f"fence device {prim.id}", where)) from None

    # -- the agent ----------------------------------------------------------------------------------------
    def argv(self) -> list[str]:
        if os.path.isabs(self.agent):
            return [self.agent]
        if (plugin := plugin_agent_argv(self.agent)) is not None:
            return plugin
        if "/" in self.agent or not self.agent:
            raise FenceDeviceError(f"fence device {self.id}: agent {self.agent!r} must be a name or an absolute path")
        return [os.path.join(self.agent_dir, self.agent)]

    def check(self) -> None:
        """Raise FenceDeviceError unless the agent is installed and executable."""
        path = self.argv()[0]
        if not os.access(path, os.X_OK):
            raise FenceDeviceError(f"fence device {self.id}: agent {path} is not installed or not executable "
                                   "(Debian: apt-get install fence-agents)")

    def plug_for(self, node: str) -> str:
        return self.host_map.get(node, node)

    def agent_action(self, action: str) -> str:
        return self.action_map.get(action, action)

    def timeout_for(self, action: str) -> float:
        return self.action_timeouts.get(action, self.timeout_s)

    def tries_for(self, action: str) -> int:
        return self.action_tries.get(action, self.tries)

    def _host_argument_names(self) -> list[str]:
        if self.host_argument is not None:
            return [] if self.host_argument == "none" else [self.host_argument]
        md = self.metadata()
        if md is None:
            return ["plug", "port"]
        # Send only what the agent declares: fence_dummy and friends have neither.
        return [n for n in ("plug", "port") if md.parameter(n) is not None]

    def stdin_params(self, agent_action: str, node: str | None) -> dict[str, str]:
        """The key=value lines for one run, in order: action, host arguments, nodename, device params."""
        out = {"action": agent_action}
        if node is not None and agent_action not in ("metadata", "list", "list-status", "monitor"):
            plug = self.plug_for(node)
            for name in self._host_argument_names():
                if name not in self.params:  # a device configured with its own port keeps it
                    out[name] = plug
            out["nodename"] = node
        out.update(self.params)
        return out

    def run(self, agent_action: str, node: str | None = None, timeout_s: float | None = None) -> AgentRun:
        """One run of the agent with the contract's stdin; no retries, no delay."""
        stdin = format_stdin(self.stdin_params(agent_action, node))
        timeout = self.timeout_for(agent_action) if timeout_s is None else timeout_s
        return run_agent(self.argv(), stdin, timeout, env=self.env, kill_grace_s=self.kill_grace_s)

    def metadata(self) -> AgentMetadata | None:
        """The agent's parsed meta-data, fetched once; None if it has none usable. Kept per
        agent for METADATA_CACHE_S across devices, because devices are made anew for every
        fence and running the agent once more would delay each fence by its start-up."""
        if not self._metadata_tried:
            self._metadata_tried = True
            argv = self.argv()
            key = (tuple(argv), tuple(sorted(self.env.items())) if self.env else (), _mtime(argv[0]))
            cached = _METADATA_CACHE.get(key)
            if cached is not None and time.monotonic() - cached[0] < METADATA_CACHE_S:
                self._metadata = cached[1]
                return self._metadata
            run = run_agent(self.argv(), "action=metadata\n", min(self.timeout_s, 10.0), env=self.env,
                            kill_grace_s=self.kill_grace_s)
            if run.ok:
                try:
                    self._metadata = parse_metadata_xml(run.stdout, self.agent)
                except MetadataError:
                    self._metadata = None
                _METADATA_CACHE[key] = (time.monotonic(), self._metadata)
        return self._metadata

    # -- which nodes ----------------------------------------------------------------------------------
    def effective_host_check(self) -> str:
        """Pacemaker's default: a static list if one is configured, else what the agent supports."""
        if self.host_check is not None:
            return self.host_check
        if self.host_map or self.host_list is not None:
            return "static-list"
        md = self.metadata()
        if md is None:
            return "dynamic-list"  # an agent we cannot question fences nothing (fails closed)
        if md.action("list") is not None:
            return "dynamic-list"
        if md.action("status") is not None:
            return "status"
        return "none"

    def list_targets(self, refresh: bool = False) -> set[str] | None:
        """Plugs the agent's `list` reports (cached list_cache_s); None if list failed."""
        now = time.monotonic()
        if not refresh and self._list_cache and now - self._list_cache[0] < self.list_cache_s:
            return self._list_cache[1]
        run = self.run(self.agent_action("list"), None, self.timeout_for("list"))
        if not run.ok:
            return None
        names = parse_list_output(run.stdout)
        self._list_cache = (now, names)
        return names

    def can_fence(self, node: str) -> bool:
        check = self.effective_host_check()
        if check == "none":
            return True
        if check == "static-list":
            return node in self.host_map or node in (self.host_list or [])
        if check == "dynamic-list":
            names = self.list_targets()
            return names is not None and (node in names or self.plug_for(node) in names)
        return self.power_status(node) in ("on", "off")

    def power_status(self, node: str, timeout_s: float | None = None) -> str:
        """'on', 'off' or 'unknown' by the agent's status action (0 on, 2 off)."""
        run = self.run(self.agent_action("status"), node,
                       self.timeout_for("status") if timeout_s is None else timeout_s)
        return {STATUS_ON: "on", STATUS_OFF: "off"}.get(run.status if run.status is not None else -1,
                                                         "unknown")

    def delay_for(self, node: str) -> float:
        """Pacemaker's delay: the base (per node if mapped) plus a random part keeping the sum <= max."""
        base = self.delay_base_map.get(node, self.delay_base)
        if self.delay_max > base:
            return base + self.rng.uniform(0.0, self.delay_max - base)
        return base

    # -- doing it ---------------------------------------------------------------------------------------
    def execute(self, action: str, node: str, deadline: float | None = None, *,
                delay: bool = True) -> DeviceResult:
        """Run action for node with the device's tries, within deadline (a time.monotonic() value).

        Off and reboot first wait the configured delay (so two nodes fencing each other in a
        split do not both succeed). Success is the agent's exit status 0.
        """
        t0 = time.monotonic()
        if deadline is None:
            deadline = t0 + self.timeout_for(action) * self.tries_for(action) + self.delay_max + self.delay_base
        agent_action = self.agent_action(action)
        plug = self.plug_for(node)
        waited = 0.0
        if delay and action in FENCING_ACTIONS:
            want = self.delay_for(node)
            waited = max(0.0, min(want, deadline - time.monotonic()))
            if waited > 0:
                self.sleep(waited)
        tries, last, error = 0, None, ""
        while tries < self.tries_for(action):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                error = error or "deadline passed"
                break
            tries += 1
            last = self.run(agent_action, node, min(self.timeout_for(action), remaining))
            if last.ok:
                error = ""
                break
            error = last.error or f"{agent_action} exited with status {last.status}"
        if last is None and not error:
            error = "not run"
        output = (last.stdout + last.stderr)[-4096:] if last else ""
        return DeviceResult(device=self.id, action=action, agent_action=agent_action, target=node, plug=plug,
                            ok=bool(last and last.ok), rc=last.status if last else None, tries=tries,
                            duration_s=time.monotonic() - t0, delay_s=waited,
                            timed_out=bool(last and last.timed_out), error=error, output=output)


def devices_from_config(resources: Iterable[object], **kw: object) -> dict[str, FenceDevice]:
    """Every stonith primitive of a configuration's resource list, by id (clones/groups looked into)."""
    out: dict[str, FenceDevice] = {}

    def walk(r: object) -> None:
        if isinstance(r, Primitive):
            if r.rsc_class == "stonith":
                out[r.id] = FenceDevice.from_primitive(r, **kw)  # type: ignore[arg-type]
            return
        for child in getattr(r, "members", None) or []:
            walk(child)
        child = getattr(r, "child", None)
        if child is not None:
            walk(child)

    for r in resources:
        walk(r)
    return out
