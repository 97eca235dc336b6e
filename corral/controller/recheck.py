"""When an idle controller must plan again although nothing in the store changed.

Some decisions depend on the clock alone: a failure stops counting once its
resource's `failure-timeout` has passed since it happened, and rules with date
expressions change their answer with the time. Pacemaker re-runs its scheduler
at the next such moment it can compute, and at `cluster-recheck-interval`
(15 minutes by default) for the rest; so does this. An idle controller thus
plans only when something can have changed, instead of every few seconds.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from corral.model.config import Configuration, parse_interval_ms
from corral.model.rules import DateExpression
from corral.model.state import ClusterState

DEFAULT_RECHECK_S = 15 * 60.0   # Pacemaker's cluster-recheck-interval default
DATE_RULE_RECHECK_S = 60.0      # date expressions: their next change is not computed, so every minute
MIN_RECHECK_S = 1.0


def _recheck_interval_s(config: Configuration) -> float:
    value = config.option("cluster-recheck-interval", "")
    if not value:
        return DEFAULT_RECHECK_S
    try:
        ms = parse_interval_ms(value)
    except ValueError:
        return DEFAULT_RECHECK_S
    return DEFAULT_RECHECK_S if ms <= 0 else max(MIN_RECHECK_S, ms / 1000)


def _uses_date_rules(obj: Any, seen: set[int] | None = None) -> bool:
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return False
    seen.add(id(obj))
    if isinstance(obj, DateExpression):
        return True
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return any(_uses_date_rules(getattr(obj, f.name), seen) for f in dataclasses.fields(obj))
    if isinstance(obj, dict):
        return any(_uses_date_rules(v, seen) for v in obj.values())
    if isinstance(obj, list | tuple | set | frozenset):
        return any(_uses_date_rules(v, seen) for v in obj)
    return False


def _failure_timeouts_s(config: Configuration) -> dict[str, float]:
    """failure-timeout of every primitive that has one (its own meta, else rsc_defaults)."""
    default = config.rsc_defaults.get("failure-timeout")
    out: dict[str, float] = {}
    stack: list[Any] = list(config.resources)
    while stack:
        r = stack.pop()
        for attr in ("members", "child"):
            sub = getattr(r, attr, None)
            if isinstance(sub, list):
                stack.extend(sub)
            elif sub is not None:
                stack.append(sub)
        if not hasattr(r, "ops"):
            continue
        value = r.meta.get("failure-timeout", default)
        try:
            seconds = parse_interval_ms(value) / 1000 if value else 0
        except ValueError:
            seconds = 0
        if seconds > 0:
            out[r.id] = seconds
    return out


def next_recheck(config: Configuration, state: ClusterState, now: float) -> float:
    """The wall-clock time by which the controller must plan again without a store change."""
    due = now + _recheck_interval_s(config)
    if _uses_date_rules(config):
        due = min(due, now + DATE_RULE_RECHECK_S)
    timeouts = _failure_timeouts_s(config)
    if timeouts:
        for node in state.nodes.values():
            for name, value in node.attrs.items():
                if not name.startswith("last-failure-"):
                    continue
                rid = name[len("last-failure-"):].split("#", 1)[0]
                timeout = timeouts.get(rid) or timeouts.get(rid.rpartition(":")[0])
                try:
                    expires = float(value) + timeout if timeout else None
                except ValueError:
                    continue
                if expires is not None and expires > now:
                    due = min(due, expires + 0.5)  # a moment after, so the expiry is seen as past
    return max(now + MIN_RECHECK_S, due) if due > now else now + MIN_RECHECK_S
