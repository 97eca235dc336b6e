"""Fencing: fence devices run with the fence-agents contract, topology levels, and the
fencing history in the store that recovery (requires=fencing) waits on. See docs/fencing.md."""
from corral.fencing.device import (
    BUILTIN_AGENTS,
    DeviceResult,
    FenceDevice,
    FenceDeviceError,
    devices_from_config,
    parse_host_list,
    parse_host_map,
)
from corral.fencing.history import (
    FenceRecord,
    HistoryConflict,
    confirmed_fenced,
    decode_record,
    fence_and_record,
    last_confirmed,
    list_history,
    pending,
    prune_history,
    record_pending,
    record_result,
)
from corral.fencing.protocol import ProtocolError, format_stdin, parse_stdin
from corral.fencing.runner import AgentRun, run_agent
from corral.fencing.topology import Fencer, FenceResult, Level

__all__ = [
    "BUILTIN_AGENTS", "AgentRun", "DeviceResult", "FenceDevice", "FenceDeviceError", "FenceRecord",
    "FenceResult", "Fencer", "HistoryConflict", "Level", "ProtocolError", "confirmed_fenced",
    "decode_record", "devices_from_config", "fence_and_record", "format_stdin", "last_confirmed", "list_history",
    "parse_host_list", "parse_host_map", "parse_stdin", "pending", "prune_history", "record_pending",
    "record_result", "run_agent",
]
