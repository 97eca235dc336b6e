"""Thin wrappers over `ip netns` / `ip link`: the primitives of the lab and the netns fence agent."""
from __future__ import annotations

import os
import signal
import subprocess
import time

IP = "ip"


class NetnsError(RuntimeError):
    """An `ip` command failed; the message has the command and its stderr."""


def ip(*args: str, check: bool = True, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    cmd = [IP, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise NetnsError(f"{' '.join(cmd)}: {e}") from None
    if check and proc.returncode != 0:
        raise NetnsError(f"{' '.join(cmd)}: {proc.stderr.strip() or f'exit status {proc.returncode}'}")
    return proc


def list_netns() -> list[str]:
    out = ip("netns", "list").stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def netns_exists(name: str) -> bool:
    return os.path.exists(f"/run/netns/{name}")


def netns_pids(name: str) -> list[int]:
    """Every process whose network namespace is name (`ip netns pids`)."""
    proc = ip("netns", "pids", name, check=False)
    if proc.returncode != 0:
        return []
    return [int(p) for p in proc.stdout.split() if p.isdigit()]


def links(name: str) -> list[str]:
    """The namespace's interfaces except loopback (`eth0@if12` -> `eth0`)."""
    out = ip("-n", name, "-o", "link", "show").stdout
    names = []
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            ifname = parts[1].strip().split("@")[0]
            if ifname and ifname != "lo":
                names.append(ifname)
    return names


def set_links(name: str, up: bool) -> None:
    for ifname in links(name):
        ip("-n", name, "link", "set", "dev", ifname, "up" if up else "down")


def kill_all(name: str, sig: int = signal.SIGKILL, timeout_s: float = 5.0) -> int:
    """Signal every process in netns name until none is left (or timeout_s); how many were signalled.

    Repeated because a process may fork between the listing and the kill.
    """
    me = os.getpid()
    killed: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while True:
        pids = [p for p in netns_pids(name) if p != me]
        if not pids or sig != signal.SIGKILL and killed.issuperset(pids):
            return len(killed)
        for pid in pids:
            try:
                os.kill(pid, sig)
                killed.add(pid)
            except ProcessLookupError:
                pass
        if time.monotonic() >= deadline:
            return len(killed)
        time.sleep(0.02)  # SIGKILLed processes leave the listing once reaped by their parents


def power_off(name: str) -> int:
    """A host losing power: its links go down first (no last words on the wire), then everything dies,
    and the addresses added at run time (secondary ones, such as a VIP) are gone, as after a reboot."""
    set_links(name, up=False)
    killed = kill_all(name)
    drop_secondary_addresses(name)
    return killed


def drop_secondary_addresses(name: str) -> None:
    out = ip("-n", name, "-o", "-4", "addr", "show", check=False).stdout
    for line in out.splitlines():
        fields = line.split()
        if "secondary" in fields and "inet" in fields:
            dev, cidr = fields[1], fields[fields.index("inet") + 1]
            ip("-n", name, "addr", "del", cidr, "dev", dev, check=False)


def power_on(name: str) -> None:
    ip("-n", name, "link", "set", "dev", "lo", "up")
    set_links(name, up=True)
