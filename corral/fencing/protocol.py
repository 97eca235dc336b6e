"""The fence-agents calling contract, shared by the device runner and Corral's own agents.

A fence agent (Debian's `fence-agents`: fence_ipmilan, fence_redfish, ...) reads
`key=value` lines on stdin (the action, the plug and the device's parameters),
acts, and answers with its exit status. Pacemaker's fencer speaks exactly this,
so the agents work unchanged under Corral.
"""
from __future__ import annotations

from collections.abc import Mapping

# Exit statuses (fencing.py's EC_* constants).
EC_OK = 0
EC_GENERIC_ERROR = 1
EC_BAD_ARGS = 2
EC_TIMED_OUT = 5
# `status` overloads them: 0 = the plug is on, 2 = it is off, anything else = unknown.
STATUS_ON = 0
STATUS_OFF = 2

ACTIONS = ("on", "off", "reboot", "status", "monitor", "list", "list-status",
           "metadata", "validate-all")
#: Actions that remove a node from the cluster (the only ones the random delay applies to).
FENCING_ACTIONS = ("off", "reboot")


class ProtocolError(ValueError):
    """A parameter cannot be carried by the stdin contract."""


def format_stdin(params: Mapping[str, str]) -> str:
    """The agent's stdin: one `key=value` line per parameter, in the given order.

    A newline inside a value would be read as a second parameter (a different
    action, say), so it is refused rather than escaped.
    """
    lines = []
    for key, value in params.items():
        if not key or "=" in key or any(c in key + value for c in "\r\n\0"):
            raise ProtocolError(f"fence parameter {key!r}={value!r}: keys must be non-empty without '=', "
                                "and neither may hold a newline or NUL")
        lines.append(f"{key}={value}\n")
    return "".join(lines)


def parse_stdin(text: str) -> dict[str, str]:
    """What an agent reads: `key=value` lines; `#` comments and blank lines skipped.

    As in fencing.py: surrounding double quotes of a value are dropped, `-` in
    keys means `_`, and `option` is the old name of `action`.
    """
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        key = key.strip().replace("-", "_")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        out["action" if key == "option" else key] = value
    return out


def parse_list_output(text: str) -> set[str]:
    """Plug names (and aliases) from a `list` action: lines of `plug[,alias]` or `plug alias`."""
    names: set[str] = set()
    for line in text.splitlines():
        for token in line.replace(",", " ").split():
            names.add(token)
    return names
