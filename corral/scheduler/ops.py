"""Operation settings the scheduler reads from the configuration: timeouts and the
recurring monitors that apply in a role. Pure functions of the configuration; the one
implementation of these rules (the live executor reads them through view.ResourceView)."""
from __future__ import annotations

from collections.abc import Sequence

from corral.model.config import PROMOTED, Configuration, Operation, Primitive, parse_interval_ms

DEFAULT_TIMEOUT_MS = 20_000


def find_op(cfg: Primitive | None, name: str, interval_ms: int) -> Operation | None:
    if cfg is None:
        return None
    return next((o for o in cfg.ops if o.name == name and o.interval_ms == interval_ms), None)


def default_timeout_ms(config: Configuration) -> int:
    """The op defaults' timeout, else 20 s."""
    default = config.op_defaults.get("timeout")
    if default:
        try:
            return parse_interval_ms(default)
        except ValueError:
            pass
    return DEFAULT_TIMEOUT_MS


def timeout_ms(entries: Sequence[tuple[str, int, int]], default_ms: int, name: str, interval_ms: int) -> int:
    """The timeout of one operation given the configured (name, interval, timeout or 0)
    entries: its own entry's, else (a probe) a monitor's, else the default."""
    for o_name, o_interval, o_timeout in entries:
        if o_name == name and o_interval == interval_ms:
            if o_timeout:
                return o_timeout
            break
    if name == "monitor":  # a probe borrows a monitor's timeout
        for o_name, _i, o_timeout in entries:
            if o_name == "monitor" and o_timeout:
                return o_timeout
    return default_ms


def op_timeout_ms(cfg: Primitive | None, config: Configuration, name: str, interval_ms: int) -> int:
    """The configured timeout of one operation: its op entry, else op defaults, else 20 s."""
    entries = [(o.name, o.interval_ms, o.timeout_ms or 0) for o in cfg.ops] if cfg is not None else []
    return timeout_ms(entries, default_timeout_ms(config), name, interval_ms)


def recurring_applies(name: str, interval_ms: int, enabled: bool, op_role: str | None,
                      monitor_intervals: Sequence[int], role: str) -> bool:
    """Whether one configured operation is a recurring monitor to run in `role`."""
    # Two monitors with one interval are ambiguous (an operation is named by its interval):
    # Pacemaker schedules neither.
    if name != "monitor" or interval_ms <= 0 or not enabled or list(monitor_intervals).count(interval_ms) > 1:
        return False
    want = op_role or None
    return want in (None, role) or (want == "Unpromoted" and role != PROMOTED)


def recurring_monitors(cfg: Primitive | None, role: str) -> list[Operation]:
    """The enabled recurring monitors that apply to a resource in `role`."""
    if cfg is None:
        return []
    intervals = [o.interval_ms for o in cfg.ops if o.name == "monitor"]
    return [o for o in cfg.ops if recurring_applies(o.name, o.interval_ms, o.enabled, o.role, intervals, role)]
