"""The scheduler: a pure function from (configuration, state) to a transition.

Its public surface is this package's names plus graph.py: the result is plain data
(view.py); nothing outside corral/scheduler/ imports its runtime internals."""
from corral.scheduler.engine import Placement, Transition, schedule
from corral.scheduler.history import fail_counts
from corral.scheduler.view import (
    NodeView,
    OpView,
    ResourceView,
    configured_views,
    primitives,
    resolve,
    resource_defaults,
)

__all__ = ["schedule", "Transition", "Placement", "ResourceView", "OpView", "NodeView", "configured_views", "primitives",
           "resolve", "resource_defaults", "fail_counts"]
