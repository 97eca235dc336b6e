"""Debian's keepalived in the namespace lab: the yardstick for Corral's VIP failover (docs/lab.md).

Each server host of a lab runs, in its own namespaces:
- a tiny TCP service on 0.0.0.0:PORT that answers its host name and closes (so
  whoever holds the VIP answers connections to VIP:PORT, and says who it is);
- `keepalived -n` (foreground) with one VRRP instance on eth0: advert_int 1,
  every host `state BACKUP` with `nopreempt` and a distinct priority, the VIP a
  /24 on the lab subnet. nopreempt keeps a restarted host from taking the VIP
  back (which would be a second, unrelated outage during the next measurement).

Each host gets a directory of its own (config, pid files for the parent and
the VRRP child, log), so instances never share a pid file. The processes are
spawned through the lab, so a crash of the host kills them, and stop() (then
the lab's teardown) kills whatever is left.

    with Lab(["h1", "h2", "h3", "client"]) as lab:
        sut = Keepalived("10.203.0.100", 8080)
        sut.start(lab, ["h1", "h2", "h3"])
        ...
        sut.stop()
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import IO

from corral_lab.hosts import Lab, LabError
from corral_lab.netns import ip

KEEPALIVED = "keepalived"
IFACE = "eth0"

SERVICE = ("import socket,sys\n"
           "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
           "s.bind(('', int(sys.argv[2]))); s.listen(128); name=(sys.argv[1]+'\\n').encode()\n"
           "while True:\n"
           "    c,_=s.accept()\n"
           "    try: c.sendall(name)\n"
           "    except OSError: pass\n"
           "    c.close()\n")

_STATE = re.compile(r"\((\S+)\) Entering (\w+) STATE")


def find_keepalived(install: bool = False) -> str | None:
    """Path of keepalived; with install=True (and root and apt-get) install Debian's package if missing."""
    found = shutil.which(KEEPALIVED) or (KEEPALIVED_SBIN if os.path.exists(KEEPALIVED_SBIN) else None)
    if found or not install:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env, timeout=300, check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "keepalived"],
                   capture_output=True, env=env, timeout=600, check=False)
    return shutil.which(KEEPALIVED) or (KEEPALIVED_SBIN if os.path.exists(KEEPALIVED_SBIN) else None)


KEEPALIVED_SBIN = "/usr/sbin/keepalived"


def eth0_state(lab: Lab, host: str, vip: str) -> tuple[bool, bool]:
    """(whether host's eth0 is up, whether it carries vip), from one `ip` call. A crashed or
    powered-off host's link is down: what is left on it is not a running instance of anything."""
    r = ip("-n", lab.host(host).netns, "-br", "addr", "show", "dev", IFACE, check=False)
    fields = r.stdout.split()
    up = r.returncode == 0 and len(fields) >= 2 and fields[1] != "DOWN"
    return up, up and any(f.split("/")[0] == vip for f in fields[2:])


def vip_claimants(lab: Lab, hosts: Sequence[str], vip: str) -> list[str]:
    """The hosts whose eth0 is up and carries vip (a crashed host keeps the address on a dead link)."""
    return [h for h in hosts if eth0_state(lab, h, vip)[1]]


def start_name_service(lab: Lab, host: str, port: int, log: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    """The tiny TCP service: on 0.0.0.0:port of host, answers the host's name and closes."""
    return lab.spawn(host, [sys.executable, "-S", "-c", SERVICE, host, str(port)],
                     stdout=log if log is not None else subprocess.DEVNULL, stderr=subprocess.STDOUT)


def render_config(host: str, vip: str, *, priority: int, vrid: int = 51, advert_int: float = 1.0,
                  iface: str = IFACE, extra: Sequence[str] = ()) -> str:
    """One VRRP instance; `extra` lines go into the vrrp_instance block (e.g. "garp_lower_prio_repeat 5")."""
    adv = f"{advert_int:g}"
    more = "".join(f"    {line}\n" for line in extra)
    return (f"# written by corral_lab.keepalived for lab host {host}\n"
            "global_defs {\n"
            f"    router_id {host}\n"
            "    max_auto_priority -1\n"
            "}\n"
            "vrrp_instance VI_CORRAL {\n"
            "    state BACKUP\n"
            "    nopreempt\n"
            f"    interface {iface}\n"
            f"    virtual_router_id {vrid}\n"
            f"    priority {priority}\n"
            f"    advert_int {adv}\n"
            f"{more}"
            "    virtual_ipaddress {\n"
            f"        {vip}/24 dev {iface}\n"
            "    }\n"
            "}\n")


class Keepalived:
    """keepalived (VRRP) plus a name-answering TCP service on each server host; a SystemUnderTest."""

    def __init__(self, vip: str, port: int, *, vrid: int = 51, advert_int: float = 1.0,
                 extra: Sequence[str] = (), name: str = "keepalived",
                 run_dir: str | None = None, keep_dir: bool = False, binary: str | None = None,
                 ready_timeout_s: float = 10.0) -> None:
        self.name = name
        self.extra = list(extra)
        self.vip, self.port, self.vrid, self.advert_int = vip, port, vrid, advert_int
        self._run_dir_arg, self.keep_dir = run_dir, keep_dir
        self.run_dir = ""
        self.binary = binary
        self.ready_timeout_s = ready_timeout_s
        self.hosts: list[str] = []
        self._lab: Lab | None = None
        self._procs: dict[str, list[subprocess.Popen[bytes]]] = {}

    # -- SystemUnderTest ----------------------------------------------------------------------------------
    def start(self, lab: Lab, hosts: Sequence[str]) -> None:
        binary = self.binary or find_keepalived(install=True)
        if binary is None:
            raise LabError("keepalived is not installed (apt-get install keepalived)")
        self.binary = binary
        self._lab, self.hosts = lab, list(hosts)
        self.run_dir = self._run_dir_arg or tempfile.mkdtemp(prefix="corral-keepalived-")
        for h in self.hosts:
            self.start_host(lab, h)

    def start_host(self, lab: Lab, host: str) -> None:
        """(Re)start the host's service and keepalived, e.g. after lab.restart(host); waits until
        keepalived has entered its first state (bounded)."""
        self._kill_host(host)
        # A real reboot forgets addresses; the lab's restart() keeps the netns, so drop a stale VIP.
        ip("-n", lab.host(host).netns, "addr", "del", f"{self.vip}/24", "dev", IFACE, check=False)
        d = self.host_dir(host)
        os.makedirs(d, exist_ok=True)
        priority = 200 - 10 * self.hosts.index(host)
        with open(os.path.join(d, "keepalived.conf"), "w") as f:
            f.write(render_config(host, self.vip, priority=priority, vrid=self.vrid, advert_int=self.advert_int,
                                  extra=self.extra))
        for name in ("keepalived.pid", "vrrp.pid", "checkers.pid"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(d, name))
        log_path = os.path.join(d, "keepalived.log")
        log_start = len(self.log(host))  # the log is appended across restarts: only this start's lines count
        with open(log_path, "ab") as log, open(os.path.join(d, "service.log"), "ab") as slog:
            service = start_name_service(lab, host, self.port, slog)
            ka = lab.spawn(host, [self.binary or KEEPALIVED, "-n", "-l", "-D", "-P",
                                  "-f", os.path.join(d, "keepalived.conf"),
                                  "-p", os.path.join(d, "keepalived.pid"),
                                  "-r", os.path.join(d, "vrrp.pid"),
                                  "-c", os.path.join(d, "checkers.pid")],
                           stdout=log, stderr=subprocess.STDOUT)
        self._procs[host] = [ka, service]
        deadline = time.monotonic() + self.ready_timeout_s
        while self.state(host, since=log_start) is None:
            if ka.poll() is not None:
                raise LabError(f"keepalived on {host} exited with {ka.returncode}; see {log_path}")
            if time.monotonic() > deadline:
                raise LabError(f"keepalived on {host} entered no VRRP state in {self.ready_timeout_s}s; "
                               f"see {log_path}")
            time.sleep(0.05)

    def vip_holder(self, lab: Lab) -> str | None:
        """The one host holding the VIP; None if none does, or several do."""
        claim = self.claimants(lab)
        return claim[0] if len(claim) == 1 else None

    def claimants(self, lab: Lab) -> list[str]:
        return vip_claimants(lab, self.hosts, self.vip)

    def stop(self) -> None:
        """Stop every keepalived and service (SIGTERM, then SIGKILL); bounded, never raises."""
        hosts = list(self._procs)
        for h in hosts:  # all at once: each keepalived takes about a second to stop
            for p in self._procs[h]:
                with contextlib.suppress(OSError):
                    p.terminate()
        for h in hosts:
            self._kill_host(h)
        if self.run_dir and not self.keep_dir and not self._run_dir_arg:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    # -- helpers ----------------------------------------------------------------------------------------------
    def host_dir(self, host: str) -> str:
        return os.path.join(self.run_dir, host)

    def log(self, host: str) -> str:
        try:
            with open(os.path.join(self.host_dir(host), "keepalived.log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def state(self, host: str, since: int = 0) -> str | None:
        """keepalived's last VRRP state on host (MASTER, BACKUP, FAULT) from its log, after byte `since`."""
        found = _STATE.findall(self.log(host)[since:])
        return found[-1][1] if found else None

    def _kill_host(self, host: str) -> None:
        procs = self._procs.pop(host, [])
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(OSError):
                    p.terminate()
        deadline = time.monotonic() + 3.0
        for p in procs:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    p.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=2.0)
        # keepalived's VRRP child normally dies with its parent; make sure (its pid file says who it is)
        with contextlib.suppress(OSError, ValueError):
            with open(os.path.join(self.host_dir(host), "vrrp.pid")) as f:
                child = int(f.read().split()[0])
            if self._lab is not None and child in self._lab.pids(host):
                os.kill(child, signal.SIGKILL)
