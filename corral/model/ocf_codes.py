"""OCF return codes and their names: outside corral.resource_agents (whose package loads
the agent runners), so that readers of results (`corral status`) need not import them."""
from __future__ import annotations

# --- OCF return codes (OCF resource agent API 1.1, Pacemaker Explained) ---
OCF_SUCCESS = 0
OCF_ERR_GENERIC = 1
OCF_ERR_ARGS = 2
OCF_ERR_UNIMPLEMENTED = 3
OCF_ERR_PERM = 4
OCF_ERR_INSTALLED = 5
OCF_ERR_CONFIGURED = 6
OCF_NOT_RUNNING = 7
OCF_RUNNING_PROMOTED = 8
OCF_FAILED_PROMOTED = 9
OCF_DEGRADED = 190
OCF_DEGRADED_PROMOTED = 191

RC_NAMES: dict[int, str] = {
    OCF_SUCCESS: "OCF_SUCCESS",
    OCF_ERR_GENERIC: "OCF_ERR_GENERIC",
    OCF_ERR_ARGS: "OCF_ERR_ARGS",
    OCF_ERR_UNIMPLEMENTED: "OCF_ERR_UNIMPLEMENTED",
    OCF_ERR_PERM: "OCF_ERR_PERM",
    OCF_ERR_INSTALLED: "OCF_ERR_INSTALLED",
    OCF_ERR_CONFIGURED: "OCF_ERR_CONFIGURED",
    OCF_NOT_RUNNING: "OCF_NOT_RUNNING",
    OCF_RUNNING_PROMOTED: "OCF_RUNNING_PROMOTED",
    OCF_FAILED_PROMOTED: "OCF_FAILED_PROMOTED",
    OCF_DEGRADED: "OCF_DEGRADED",
    OCF_DEGRADED_PROMOTED: "OCF_DEGRADED_PROMOTED",
}


def rc_name(rc: int) -> str:
    """'OCF_NOT_RUNNING' for 7; 'rc=42' for codes outside the OCF table."""
    return RC_NAMES.get(rc, f"rc={rc}")
