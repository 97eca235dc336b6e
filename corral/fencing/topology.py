"""Choosing and driving fence devices for one node: topology levels, fallback, deadline.

With a topology for the target (Configuration.fencing_topology entries
(target, index, [device ids])), levels are tried by index; a level succeeds
only if every one of its devices succeeds, in order; a failed level falls back
to the next. Without one, every device whose host check accepts the target is
tried alone, highest `priority` first. A whole pass may be repeated (`rounds`)
while the overall deadline allows.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from corral.fencing.device import DEFAULT_TIMEOUT_S, DeviceResult, FenceDevice, devices_from_config
from corral.fencing.protocol import FENCING_ACTIONS
from corral.model.config import Configuration
from corral.resource_agents.metadata import parse_duration_ms

log = logging.getLogger(__name__)

#: Pacemaker stretches the sum of device timeouts by this much for the whole operation.
DEADLINE_FACTOR = 1.2
FENCE_REQUEST_ACTIONS = ("reboot", "off", "on")


@dataclass(frozen=True)
class FenceResult:
    node: str
    action: str
    ok: bool
    device: str | None        # the device(s) of the level that did it, comma-separated
    level: int | None         # its topology index; None without topology
    attempts: int             # agent runs in all (every try of every device)
    started: float            # wall clock (time.time())
    finished: float
    error: str = ""
    results: tuple[DeviceResult, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Level:
    index: int | None
    devices: tuple[str, ...]


class Fencer:
    """Fences nodes with a set of devices and an optional topology."""

    def __init__(self, devices: Mapping[str, FenceDevice] | Iterable[FenceDevice],
                 topology: Iterable[tuple[str, int, list[str]]] = (), *, deadline_s: float | None = None,
                 rounds: int = 2, round_pause_s: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.devices = dict(devices) if isinstance(devices, Mapping) else {d.id: d for d in devices}
        self.topology = list(topology)
        self.deadline_s = deadline_s
        self.rounds = max(1, rounds)
        self.round_pause_s = round_pause_s
        self.sleep = sleep
        self.warnings = [f"fencing level {i} for devices {','.join(d)} has no target node "
                         "(target-pattern / target-attribute are not supported) and is ignored"
                         for t, i, d in self.topology if not t]

    @classmethod
    def from_config(cls, cfg: Configuration, **kw: object) -> Fencer:
        """Devices from the stonith primitives, topology from cfg; stonith-timeout is the device default."""
        timeout = cfg.option("stonith-timeout", "60s")
        devices = devices_from_config(cfg.resources, default_timeout_s=parse_duration_ms(timeout) / 1000.0)
        return cls(devices, cfg.fencing_topology, **kw)  # type: ignore[arg-type]

    def levels_for(self, node: str) -> list[Level]:
        """The plan: the node's topology levels by index, or every capable device alone."""
        levels = sorted((i, tuple(d)) for t, i, d in self.topology if t == node)
        if levels:
            return [Level(i, d) for i, d in levels]
        capable = [d for d in self.devices.values() if d.can_fence(node)]
        capable.sort(key=lambda d: (-d.priority, d.id))
        return [Level(None, (d.id,)) for d in capable]

    def _deadline_s(self, action: str, plan: list[Level]) -> float:
        if self.deadline_s is not None:
            return self.deadline_s
        total = 0.0
        for dev_id in {d for lvl in plan for d in lvl.devices}:
            dev = self.devices.get(dev_id)
            if dev is not None:
                total += dev.timeout_for(action) * dev.tries_for(action) + max(dev.delay_max, dev.delay_base)
        return max(total, DEFAULT_TIMEOUT_S) * DEADLINE_FACTOR

    def fence(self, node: str, action: str = "reboot", deadline_s: float | None = None) -> FenceResult:
        """Fence node; never raises for device failures (they are in the result)."""
        if action not in FENCE_REQUEST_ACTIONS:
            raise ValueError(f"fence action {action!r} is not one of {', '.join(FENCE_REQUEST_ACTIONS)}")
        started = time.time()
        t0 = time.monotonic()
        plan = self.levels_for(node)
        deadline = t0 + (deadline_s if deadline_s is not None else self._deadline_s(action, plan))
        results: list[DeviceResult] = []
        errors: list[str] = []

        def done(ok: bool, level: Level | None, error: str = "") -> FenceResult:
            return FenceResult(node=node, action=action, ok=ok,
                               device=",".join(level.devices) if level else None,
                               level=level.index if level else None,
                               attempts=sum(r.tries for r in results), started=started,
                               finished=time.time(), error=error, results=tuple(results))

        if not plan:
            return done(False, None, f"no fence device can fence {node}")
        for round_no in range(self.rounds):
            if round_no:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if self.round_pause_s > 0:
                    self.sleep(min(self.round_pause_s, left))
            for level in plan:
                if time.monotonic() >= deadline:
                    break
                err = self._run_level(node, action, level, deadline, results)
                if not err:
                    log.info("fenced %s (%s) with %s", node, action, ",".join(level.devices))
                    return done(True, level)
                where = f"level {level.index}" if level.index is not None else f"device {level.devices[0]}"
                errors.append(f"{where}: {err}")
                log.warning("fencing %s (%s): %s failed: %s", node, action, where, err)
        if time.monotonic() >= deadline:
            errors.append("deadline passed")
        return done(False, None, "; ".join(errors[-6:]))

    def _run_level(self, node: str, action: str, level: Level, deadline: float,
                   results: list[DeviceResult]) -> str:
        """'' if every device of the level did action, else why not."""
        for dev_id in level.devices:
            dev = self.devices.get(dev_id)
            if dev is None:
                return f"unknown fence device {dev_id!r}"
            if level.index is not None and not dev.can_fence(node):
                return f"device {dev_id} cannot fence {node} (host check {dev.effective_host_check()})"
        # A reboot through several devices (two PDUs feeding two power supplies) must cut
        # every feed before restoring any, as Pacemaker does: all off, then all on.
        steps = ["off", "on"] if action == "reboot" and len(level.devices) > 1 else [action]
        for step in steps:
            for dev_id in level.devices:
                # Each device's own pcmk_delay_* applies to its off/reboot, as in Pacemaker.
                r = self.devices[dev_id].execute(step, node, deadline, delay=step in FENCING_ACTIONS)
                results.append(r)
                if not r.ok:
                    if step == "on" and action == "reboot":
                        # Every feed was cut: the node is fenced, even if it does not come back.
                        log.warning("fencing %s: %s: turning it back on failed: %s", node, dev_id, r.error)
                        continue
                    return f"{dev_id}: {r.agent_action} failed: {r.error}"
        return ""
