"""The Nova lab's fence agent for compute hosts: a compute host is the processes that make it up.

    echo -e "action=off\nplug=hostA\nstate_dir=/tmp/nov-x/fence" | python -m corral_lab.nova.fence

Same contract as Debian's fence-agents (stdin key=value lines; exit status 0 success; status
0 on, 2 off, 1 error), so Corral's fencer runs it like any other (agent `fence_corral_nova`,
an entry point of corral-lab). A compute host of the lab is its nova-compute and its Corral
member: `<state_dir>/<plug>.pids` lists them (`name pid starttime` lines, written by the lab).
Off SIGKILLs every one still running and confirms only once none is left; the power state is a
marker `<state_dir>/<plug>.off` (written first: a half-done fence never reads as "on"); on
removes it (the lab starts the processes again). The start time guards against a recycled PID.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Mapping

from corral.fencing.protocol import EC_GENERIC_ERROR, EC_OK, STATUS_OFF, STATUS_ON, parse_stdin
from corral.resource_agents.metadata import ActionInfo, AgentMetadata, ParameterInfo, render_metadata_xml

KILL_WAIT_S = 5.0
METADATA = AgentMetadata(
    name="fence_corral_nova", version="1.0",
    shortdesc="Fence agent for Corral's Nova lab: kills what is left of a compute host",
    longdesc="Off SIGKILLs the processes listed for the host (its nova-compute, its Corral member) and "
             "confirms once none runs; status reads a marker file in state_dir. For tests only.",
    parameters=[
        ParameterInfo("plug", required=True, shortdesc="The compute host (Nova's service host)"),
        ParameterInfo("port", shortdesc="Old name of plug"),
        ParameterInfo("state_dir", required=True, shortdesc="The lab's fence directory"),
    ],
    actions=[ActionInfo(n, timeout_s=20.0) for n in
             ("on", "off", "reboot", "status", "monitor", "list", "metadata", "validate-all")],
)


def _starttime(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), None if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]


def record_pid(state_dir: str, host: str, name: str, pid: int) -> None:
    """Make `name` (replacing an earlier one of that name) one of the host's processes."""
    path = os.path.join(state_dir, f"{host}.pids")
    lines = [ln for ln in _read(path) if ln.split()[0] != name]
    lines.append(f"{name} {pid} {_starttime(pid) or '-'}")
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def _read(path: str) -> list[str]:
    try:
        with open(path) as f:
            return [ln for ln in f.read().splitlines() if len(ln.split()) == 3]
    except FileNotFoundError:
        return []


def running(state_dir: str, host: str) -> list[tuple[str, int]]:
    """The host's listed processes still running (same PID, same start time)."""
    out = []
    for line in _read(os.path.join(state_dir, f"{host}.pids")):
        name, pid, start = line.split()
        if _starttime(int(pid)) == start:
            out.append((name, int(pid)))
    return out


def power_off(state_dir: str, host: str) -> int:
    """SIGKILL what is left of the host; how many were killed. Raises OSError if some survive."""
    left = running(state_dir, host)
    for _name, pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + KILL_WAIT_S
    while (still := running(state_dir, host)) and time.monotonic() < deadline:
        time.sleep(0.02)
    if still:
        raise OSError(f"still running after SIGKILL: {still}")
    return len(left)


def _say(msg: str, err: bool = False) -> None:
    print(msg, file=sys.stderr if err else sys.stdout, flush=True)


def run(opts: Mapping[str, str]) -> int:
    action = (opts.get("action") or "reboot").lower()
    if action in ("metadata", "meta-data"):
        _say(render_metadata_xml(METADATA))
        return EC_OK
    state_dir = opts.get("state_dir", "")
    if action == "monitor":
        return EC_OK if os.path.isdir(state_dir) else EC_GENERIC_ERROR
    if action in ("list", "list-status"):
        for name in sorted(os.listdir(state_dir)) if os.path.isdir(state_dir) else []:
            if name.endswith(".pids"):
                _say(f"{name[:-5]},")
        return EC_OK
    plug = opts.get("plug") or opts.get("port") or ""
    if not plug or "/" in plug or plug.startswith(".") or not os.path.isdir(state_dir):
        _say("Failed: plug (the compute host) and an existing state_dir are required", err=True)
        return EC_GENERIC_ERROR
    if action == "validate-all":
        return EC_OK
    marker = os.path.join(state_dir, f"{plug}.off")
    try:
        if action == "status":
            off = os.path.exists(marker)
            _say(f"Status: {'OFF' if off else 'ON'}")
            return STATUS_OFF if off else STATUS_ON
        if action in ("off", "reboot"):
            with open(marker, "w") as f:
                f.write("off\n")
            killed = power_off(state_dir, plug)
            _say(f"Success: Powered OFF ({killed} processes killed)")
            if action == "off":
                return EC_OK
        if action in ("on", "reboot"):
            try:
                os.unlink(marker)
            except FileNotFoundError:
                pass
            _say("Success: Powered ON" if action == "on" else "Success: Rebooted")
            return EC_OK
    except OSError as e:
        _say(f"Failed: {action} {plug}: {e}", err=True)
        return EC_GENERIC_ERROR
    _say(f"Failed: Unrecognised action '{action}'", err=True)
    return EC_GENERIC_ERROR


def main() -> int:
    return run(parse_stdin(sys.stdin.read()))


if __name__ == "__main__":
    sys.exit(main())
