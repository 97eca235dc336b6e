"""A fence agent for the lab: a network namespace is a "host" and this is its power switch.

    echo -e "action=off\nplug=crl1a2b-h1\nstate_dir=/run/corral-fence-netns" | python -m corral_lab.fence_netns

Same contract as Debian's fence-agents (stdin key=value lines, exit status 0
success; status 0 on, 2 off, 1 error), so Corral's fencer runs it like any
other (agent name `fence_corral_netns`). Power off = the namespace's links go
down and every process in it is SIGKILLed; on = links up again. The power
state is a marker file `<state_dir>/<plug>.off`, because a namespace has no
power of its own to ask about.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from corral.fencing.protocol import EC_GENERIC_ERROR, EC_OK, STATUS_OFF, STATUS_ON, parse_stdin
from corral.resource_agents.metadata import ActionInfo, AgentMetadata, ParameterInfo, render_metadata_xml
from corral_lab import netns

DEFAULT_STATE_DIR = "/run/corral-fence-netns"

METADATA = AgentMetadata(
    name="fence_corral_netns", version="1.0",
    shortdesc="Fence agent for Corral's lab: powers network-namespace hosts off and on",
    longdesc="Off sets the namespace's links down and SIGKILLs every process in it; on sets the links "
             "up; status reads a marker file in state_dir. For tests only.",
    parameters=[
        ParameterInfo("plug", required=True, shortdesc="The network namespace (host) to act on"),
        ParameterInfo("port", shortdesc="Old name of plug"),
        ParameterInfo("state_dir", default=DEFAULT_STATE_DIR, shortdesc="Where power-state markers live"),
        ParameterInfo("prefix", shortdesc="list: only namespaces whose name starts with this"),
    ],
    actions=[ActionInfo(n, timeout_s=20.0) for n in
             ("on", "off", "reboot", "status", "monitor", "list", "metadata", "validate-all")],
)


def _marker(opts: Mapping[str, str], plug: str) -> str:
    return os.path.join(opts.get("state_dir") or DEFAULT_STATE_DIR, f"{plug}.off")


def _say(msg: str, err: bool = False) -> None:
    print(msg, file=sys.stderr if err else sys.stdout, flush=True)


def run(opts: Mapping[str, str]) -> int:
    action = (opts.get("action") or "reboot").lower()
    if action in ("metadata", "meta-data"):
        _say(render_metadata_xml(METADATA))
        return EC_OK
    if action == "monitor":
        try:
            netns.list_netns()
        except netns.NetnsError as e:
            _say(f"Failed: {e}", err=True)
            return EC_GENERIC_ERROR
        return EC_OK
    if action in ("list", "list-status"):
        prefix = opts.get("prefix", "")
        for name in netns.list_netns():
            if name.startswith(prefix):
                _say(f"{name},")
        return EC_OK
    plug = opts.get("plug") or opts.get("port") or ""
    if not plug or "/" in plug or plug.startswith("."):
        _say("Failed: plug (the namespace name) is required", err=True)
        return EC_GENERIC_ERROR
    if not netns.netns_exists(plug):
        _say(f"Failed: no network namespace {plug!r}", err=True)
        return EC_GENERIC_ERROR
    marker = _marker(opts, plug)
    if action == "validate-all":
        return EC_OK
    try:
        if action == "status":
            off = os.path.exists(marker)
            _say(f"Status: {'OFF' if off else 'ON'}")
            return STATUS_OFF if off else STATUS_ON
        if action in ("off", "reboot"):
            # Marker first: if we die half way, status must not claim the host is on.
            os.makedirs(os.path.dirname(marker), exist_ok=True)
            with open(marker, "w") as f:
                f.write("off\n")
            killed = netns.power_off(plug)
            left = netns.netns_pids(plug)
            if left:
                _say(f"Failed: processes {left} survived SIGKILL in {plug}", err=True)
                return EC_GENERIC_ERROR
            _say(f"Success: Powered OFF ({killed} processes killed)")
            if action == "off":
                return EC_OK
        if action in ("on", "reboot"):
            netns.power_on(plug)
            try:
                os.unlink(marker)
            except FileNotFoundError:
                pass
            _say("Success: Powered ON" if action == "on" else "Success: Rebooted")
            return EC_OK
    except (OSError, netns.NetnsError) as e:
        _say(f"Failed: {action} {plug}: {e}", err=True)
        return EC_GENERIC_ERROR
    _say(f"Failed: Unrecognised action '{action}'", err=True)
    return EC_GENERIC_ERROR


def main() -> int:
    return run(parse_stdin(sys.stdin.read()))


if __name__ == "__main__":
    sys.exit(main())
