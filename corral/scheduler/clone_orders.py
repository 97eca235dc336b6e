"""Orders after a clone with clone-min (or require-all=false): 'then' needs a count of instances.

Pacemaker Explained: with `clone-min` set on a clone, what is ordered after
the clone may start only once at least that many instances are active (or
starting), and must stop when fewer remain. Pacemaker models it with a
"clone-one-or-more:<order id>" pseudo-action: the then side follows that
count, not each instance (interleave does not apply, and an instance starting
elsewhere does not restart what is already running after the clone).
`require-all=false` on such an order is the same with a count of one.
"""
from __future__ import annotations

from corral.scheduler.constraints import Ord
from corral.scheduler.resources import CloneR


def clone_min(o: Ord) -> int:
    """How many instances of the order's first clone the then side needs (0: an ordinary order).

    `require-all=false` on an order after a clone means any one instance will do."""
    first = o.first
    if not isinstance(first, CloneR) or o.first_action != "start":
        return 0
    configured = first.meta_int("clone-min", 0) if "clone-min" in first.meta else 0
    return configured if o.require_all else max(1, configured)


def unrunnable_reason(o: Ord) -> str:
    return f"unrunnable clone-one-or-more:{o.id}"
