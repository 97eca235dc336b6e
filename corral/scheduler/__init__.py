"""The scheduler: a pure function from (configuration, state) to a transition."""
from corral.scheduler.engine import Placement, Transition, schedule

__all__ = ["schedule", "Transition", "Placement"]
