"""Fencing: fence devices run with the fence-agents contract, topology levels, and the
fencing history in the store that recovery (requires=fencing) waits on. See docs/fencing.md.

The names below are loaded on first use (PEP 562), so that a fence agent built on this
package (the lab's fence_corral_netns) starts without importing the store clients: its
start-up time is part of every fence, hence of every failover.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "device": ("DeviceResult", "FenceDevice", "FenceDeviceError", "devices_from_config",
               "parse_host_list", "parse_host_map", "plugin_agent_argv"),
    "history": ("FenceRecord", "HistoryConflict", "confirmed_fenced", "decode_record", "fence_and_record",
                "last_confirmed", "list_history", "pending", "prune_history", "record_pending", "record_result"),
    "protocol": ("ProtocolError", "format_stdin", "parse_stdin"),
    "runner": ("AgentRun", "run_agent"),
    "topology": ("Fencer", "FenceResult", "Level"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}
__all__ = [
    "AgentRun", "DeviceResult", "FenceDevice", "FenceDeviceError", "FenceRecord",
    "FenceResult", "Fencer", "HistoryConflict", "Level", "ProtocolError", "confirmed_fenced",
    "decode_record", "devices_from_config", "fence_and_record", "format_stdin", "last_confirmed", "list_history",
    "parse_host_list", "parse_host_map", "parse_stdin", "pending", "plugin_agent_argv", "prune_history", "record_pending",
    "record_result", "run_agent",
]

if TYPE_CHECKING:
    from corral.fencing.device import (
        DeviceResult,
        FenceDevice,
        FenceDeviceError,
        devices_from_config,
        parse_host_list,
        parse_host_map,
        plugin_agent_argv,
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


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'corral.fencing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"corral.fencing.{module}"), name)
    globals()[name] = value
    return value
