"""Operation settings the scheduler reads from the configuration: timeouts and the
recurring monitors that apply in a role. Pure functions of the configuration."""
from __future__ import annotations

from corral.model.config import PROMOTED, Configuration, Operation, Primitive, parse_interval_ms

DEFAULT_TIMEOUT_MS = 20_000


def find_op(cfg: Primitive | None, name: str, interval_ms: int) -> Operation | None:
    if cfg is None:
        return None
    return next((o for o in cfg.ops if o.name == name and o.interval_ms == interval_ms), None)


def op_timeout_ms(cfg: Primitive | None, config: Configuration, name: str, interval_ms: int) -> int:
    """The configured timeout of one operation: its op entry, else op defaults, else 20 s.

    The same rule as the live executor's (corral/cluster/resources.py `op_timeout_s`).
    """
    op = find_op(cfg, name, interval_ms)
    if op is not None and op.timeout_ms:
        return op.timeout_ms
    if cfg is not None and name == "monitor":  # a probe borrows a monitor's timeout
        for o in cfg.ops:
            if o.name == "monitor" and o.timeout_ms:
                return o.timeout_ms
    default = config.op_defaults.get("timeout")
    if default:
        try:
            return parse_interval_ms(default)
        except ValueError:
            pass
    return DEFAULT_TIMEOUT_MS


def recurring_monitors(cfg: Primitive | None, role: str) -> list[Operation]:
    """The enabled recurring monitors that apply to a resource in `role`."""
    if cfg is None:
        return []
    # Two monitors with one interval are ambiguous (an operation is named by its interval):
    # Pacemaker schedules neither.
    intervals = [o.interval_ms for o in cfg.ops if o.name == "monitor"]
    out = []
    for o in cfg.ops:
        if o.name != "monitor" or o.interval_ms <= 0 or not o.enabled or intervals.count(o.interval_ms) > 1:
            continue
        want = o.role or None
        if want in (None, role) or (want == "Unpromoted" and role != PROMOTED):
            out.append(o)
    return out
