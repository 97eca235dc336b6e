"""A lab of hosts as network namespaces on a private bridge, for failure tests (docs/fencing.md)."""
from corral.lab.hosts import Host, Lab, LabError, cleanup_stale, lab_available, new_prefix

__all__ = ["Host", "Lab", "LabError", "cleanup_stale", "lab_available", "new_prefix"]
