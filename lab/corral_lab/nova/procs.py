"""The lab's namespace and the processes in it: start (PID recorded), wait, kill all.

Every service runs in the namespace NETNS, so teardown is exact and cannot miss a child: every
process in the namespace is SIGKILLed, then the namespace and its veth pair are deleted. Nothing
outside the namespace is touched.
"""
from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

from corral_lab import netns
from corral_lab.nova.layout import NETNS, PREFIX_LEN, ROOT_ADDR, VETH_LAB, VETH_ROOT, Layout


class NovaLabError(RuntimeError):
    """The lab could not be built or a service did not come up; the message says which and where its log is."""


def create_namespace(layout: Layout) -> None:
    """The namespace with its loopback up and a veth pair to the root namespace."""
    destroy_namespace()  # the leftover of a killed run of this lab (only ever one at a time: the lab lock)
    netns.ip("netns", "add", NETNS)
    netns.ip("-n", NETNS, "link", "set", "lo", "up")
    netns.ip("link", "add", VETH_ROOT, "type", "veth", "peer", "name", VETH_LAB, "netns", NETNS)
    netns.ip("addr", "add", f"{ROOT_ADDR}/{PREFIX_LEN}", "dev", VETH_ROOT)
    netns.ip("link", "set", VETH_ROOT, "up")
    netns.ip("-n", NETNS, "addr", "add", f"{layout.addr}/{PREFIX_LEN}", "dev", VETH_LAB)
    netns.ip("-n", NETNS, "link", "set", VETH_LAB, "up")


def destroy_namespace() -> int:
    """Kill everything in the namespace, then remove it and the veth pair; how many processes died."""
    killed = 0
    if netns.netns_exists(NETNS):
        killed = netns.kill_all(NETNS, timeout_s=15.0)
        netns.ip("netns", "delete", NETNS, check=False)
    netns.ip("link", "delete", VETH_ROOT, check=False)  # gone with the namespace, normally
    return killed


def spawn(layout: Layout, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None,
          cwd: str | None = None) -> subprocess.Popen[bytes]:
    """Start argv in the namespace, output to log/<name>.out, its PID in pids/<name>.pid."""
    out = open(layout.path("log", f"{name}.out"), "ab")  # noqa: SIM115 - the child keeps it
    try:
        proc = subprocess.Popen(["ip", "netns", "exec", NETNS, *argv], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env={**_base_env(), **(env or {})}, cwd=cwd,
                                start_new_session=True)
    finally:
        out.close()
    with open(layout.path("pids", f"{name}.pid"), "w") as f:
        f.write(f"{proc.pid}\n")
    return proc


def run(layout: Layout, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None,
        timeout: float = 300.0, stdin: str | None = None) -> str:
    """Run a set-up command in the namespace to completion; its output (log/<name>.out too)."""
    try:
        proc = subprocess.run(["ip", "netns", "exec", NETNS, *argv], input=stdin, capture_output=True, text=True,
                              env={**_base_env(), **(env or {})}, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise NovaLabError(f"{name}: no result within {timeout:g}s") from exc
    with open(layout.path("log", f"{name}.out"), "a") as f:
        f.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise NovaLabError(f"{name} failed (exit {proc.returncode}): {' | '.join(tail)}")
    return proc.stdout


def _base_env() -> dict[str, str]:
    # Debian's services: no virtualenv or pyenv leaking into their interpreter.
    keep = ("LANG", "LC_ALL", "TERM", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(PATH="/usr/sbin:/usr/bin:/sbin:/bin", HOME="/root", LC_ALL="C.UTF-8")
    return env


def alive(pid: int) -> bool:
    """Running (a zombie, killed but not yet reaped, is not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def wait_for(what: str, ready, timeout: float, log: str = "", every: float = 0.5) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(every)
    raise NovaLabError(f"{what}: not ready within {timeout:g}s" + (f" (see {log})" if log else ""))


def http_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # 401/300: it answers
    except (OSError, ValueError):
        return False


def tcp_open(addr: str, port: int) -> bool:
    try:
        with socket.create_connection((addr, port), timeout=1):
            return True
    except OSError:
        return False
