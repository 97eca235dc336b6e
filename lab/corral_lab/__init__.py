"""A lab of hosts as network namespaces on a private bridge, for failure tests (docs/fencing.md).

Names load on first use (PEP 562): the lab's fence agent imports corral_lab.netns
alone, and its start-up time is part of every fence in the lab."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["Host", "Lab", "LabError", "cleanup_stale", "lab_available", "new_prefix"]

if TYPE_CHECKING:
    from corral_lab.hosts import Host, Lab, LabError, cleanup_stale, lab_available, new_prefix


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'corral_lab' has no attribute {name!r}")
    value = getattr(importlib.import_module("corral_lab.hosts"), name)
    globals()[name] = value
    return value
