"""Effective fail counts: the `fail-count-*` node attributes that still count against
`migration-threshold` (Pacemaker Explained, "Failure Response" and "Failure Timeout").

A fail count does not count when
- the failure-timeout of its resource has passed since its `last-failure-*`
  attribute (the count has expired; Pacemaker clears it), or
- the failed operation is configured with `on-fail=ignore` (the failure is
  ignored: no recovery and no move away from the node).
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from corral.model.config import parse_interval_ms
from corral.model.scores import INFINITY, parse_score
from corral.model.state import NodeStatus
from corral.scheduler.resources import Prim

_FAILCOUNT = re.compile(r"^fail-count-(.+?)(?:#(.+)_(\d+))?$")


def fail_count_attrs(attrs: dict[str, str]) -> Iterator[tuple[str, str, str | None, int | None, int]]:
    """(attribute name, resource id, operation, interval ms, count) of every readable
    `fail-count-RSC[#OP_INTERVAL]` attribute."""
    for name, value in attrs.items():
        m = _FAILCOUNT.match(name)
        if not m:
            continue
        try:
            count = parse_score(value)
        except ValueError:
            continue
        rid, op, interval = m.group(1), m.group(2), m.group(3)
        if op is None:
            rid = rid.split("#", 1)[0]  # an operation part without an interval
        yield name, rid, op, int(interval) if interval is not None else None, count


def _base(rid: str) -> str:
    base, sep, num = rid.rpartition(":")
    return base if sep and num.isdigit() else rid


def _failure_timeout_s(prim: Prim | None) -> int:
    value = prim.meta.get("failure-timeout") if prim is not None else None
    if not value:
        return 0
    try:
        return parse_interval_ms(value) // 1000
    except ValueError:
        return 0


def _on_fail(prim: Prim | None, op: str, interval_ms: int) -> str | None:
    if prim is None or prim.cfg is None:
        return None
    for cop in prim.cfg.ops:
        if cop.name == op and cop.interval_ms == interval_ms:
            return cop.on_fail or None
    return None


def _failed_op(status: NodeStatus, rid: str) -> tuple[str, int] | None:
    """The operation of the resource's last recorded failure on that node."""
    hist = status.history.get(rid)
    if hist is None:
        return None
    failures = [o for o in hist.ops if o.id.endswith("_last_failure_0")]
    if not failures:
        return None
    last = max(failures, key=lambda o: o.call_id)
    return last.op, last.interval_ms


def effective_fail_counts(status: NodeStatus, prims_by_base: dict[str, Prim],
                          now: int | None) -> dict[str, int]:
    """Fail counts per configured resource id on one node, without expired or ignored ones."""
    out: dict[str, int] = {}
    for name, rid, op, interval, count in fail_count_attrs(status.attrs):
        base = _base(rid)
        prim = prims_by_base.get(base)
        timeout = _failure_timeout_s(prim)
        if timeout and now is not None:
            last = status.attrs.get("last-failure-" + name[len("fail-count-"):])
            try:
                if last is not None and int(last) + timeout <= now:
                    continue
            except ValueError:
                pass
        failed = (op, interval) if op is not None and interval is not None else _failed_op(status, rid)
        if failed is not None and _on_fail(prim, failed[0], failed[1]) == "ignore":
            continue
        out[base] = min(INFINITY, out.get(base, 0) + count)
    return out
