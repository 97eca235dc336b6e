"""An etcd cluster inside the namespace lab: one member per host, on the host's lab address.

    etcd = LabEtcd(lab, ["h1", "h2", "h3"])
    etcd.start()                      # every member, waits until the cluster answers
    url = etcd.url("h2")              # etcd://10.203.0.2:2379,10.203.0.1:2379,10.203.0.3:2379
    lab.crash("h2"); lab.restart("h2"); etcd.start_member("h2")   # rejoins from its data dir
    etcd.stop()                       # kills the members, removes the data dirs

Each member runs /usr/bin/etcd in its host's namespaces (spawned through the
lab, so a crash of the host kills it), listening only on the host's lab
address; its data directory is a temporary directory in the root filesystem,
so it survives a crash of its host, and a restarted member rejoins with its
old identity. A partition cuts the store too: the side with two of three
members keeps quorum, a lone member refuses lease renewals and linearizable
reads (safety rule 2 then makes its agent stop what it runs).

Raft timing is fast (heartbeat 25 ms, election timeout 250 ms) so a lease TTL
of 1 s is allowed (etcd's minimum is 1.5 x the election timeout, rounded up to
whole seconds) while three members on a loaded machine do not keep electing.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

from corral.lab.hosts import Lab, LabError

ETCD = "/usr/bin/etcd"
CLIENT_PORT = 2379
PEER_PORT = 2380
HEARTBEAT_MS = 25
ELECTION_MS = 250

_HEALTH = ("import socket,sys\n"
           "s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=1.0)\n"
           "s.sendall(b'GET /health HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n')\n"
           "b=b''\n"
           "while True:\n"
           "    d=s.recv(4096)\n"
           "    if not d: break\n"
           "    b+=d\n"
           "sys.exit(0 if b'\"true\"' in b else 1)\n")


def etcd_available() -> str | None:
    """None if etcd can be run, else why not."""
    return None if os.access(ETCD, os.X_OK) else f"{ETCD} is absent (apt-get install etcd-server)"


class LabEtcd:
    """One etcd member per lab host; bounded waits; stop() never raises."""

    def __init__(self, lab: Lab, hosts: Sequence[str], *, data_root: str | None = None,
                 heartbeat_ms: int = HEARTBEAT_MS, election_ms: int = ELECTION_MS) -> None:
        if not hosts:
            raise ValueError("an etcd cluster needs at least one host")
        self.lab, self.hosts = lab, list(hosts)
        self.heartbeat_ms, self.election_ms = heartbeat_ms, election_ms
        self._data_root_arg = data_root
        self.data_root = ""
        self.token = f"corral-{lab.prefix}"
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    def member_url(self, host: str, port: int) -> str:
        return f"http://{self.lab.address(host)}:{port}"

    def endpoints(self, first: str | None = None) -> list[str]:
        """host:port of every member; `first`'s own member first (an agent talks to its local one)."""
        order = sorted(self.hosts, key=lambda h: h != first)
        return [f"{self.lab.address(h)}:{CLIENT_PORT}" for h in order]

    def url(self, first: str | None = None, timeout_s: float | None = None) -> str:
        q = f"?timeout={timeout_s:g}" if timeout_s is not None else ""
        return "etcd://" + ",".join(self.endpoints(first)) + q

    def log_path(self, host: str) -> str:
        return os.path.join(self.data_root, f"{host}.log")

    def start(self, ready_s: float = 30.0) -> None:
        if (why := etcd_available()) is not None:
            raise LabError(why)
        self.data_root = self._data_root_arg or tempfile.mkdtemp(prefix="corral-lab-etcd-")
        for h in self.hosts:
            self.start_member(h, wait=False)
        self.wait_healthy(self.hosts, ready_s)

    def start_member(self, host: str, *, wait: bool = True, ready_s: float = 20.0) -> None:
        """(Re)start host's member, e.g. after lab.restart(host); with its old data dir it rejoins."""
        self._kill(host)
        initial = ",".join(f"{h}={self.member_url(h, PEER_PORT)}" for h in self.hosts)
        argv = [ETCD, "--name", host, "--data-dir", os.path.join(self.data_root, host),
                "--listen-client-urls", self.member_url(host, CLIENT_PORT),
                "--advertise-client-urls", self.member_url(host, CLIENT_PORT),
                "--listen-peer-urls", self.member_url(host, PEER_PORT),
                "--initial-advertise-peer-urls", self.member_url(host, PEER_PORT),
                "--initial-cluster", initial, "--initial-cluster-token", self.token,
                "--initial-cluster-state", "new",
                "--heartbeat-interval", str(self.heartbeat_ms), "--election-timeout", str(self.election_ms),
                "--log-level", "warn"]
        with open(self.log_path(host), "ab") as log:
            self._procs[host] = self.lab.spawn(host, argv, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_healthy([host], ready_s)

    def healthy(self, host: str) -> bool:
        """Whether host's member answers /health with true (it has a leader), asked from inside host."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            r = self.lab.run(host, [sys.executable, "-S", "-c", _HEALTH, self.lab.address(host), str(CLIENT_PORT)],
                             timeout=5)
            return r.returncode == 0
        return False

    def wait_healthy(self, hosts: Sequence[str], bound_s: float = 30.0) -> None:
        deadline = time.monotonic() + bound_s
        pending = list(hosts)
        while pending:
            for h in list(pending):
                p = self._procs.get(h)
                if p is not None and p.poll() is not None:
                    raise LabError(f"etcd on {h} exited with {p.returncode}: {self.log_tail(h)}")
                if self.healthy(h):
                    pending.remove(h)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise LabError(f"etcd not healthy on {', '.join(pending)} within {bound_s:g}s: "
                               f"{self.log_tail(pending[0])}")
            time.sleep(0.1)

    def log_tail(self, host: str, limit: int = 1500) -> str:
        try:
            with open(self.log_path(host), errors="replace") as f:
                return f.read()[-limit:]
        except OSError:
            return ""

    def kill_member(self, host: str) -> None:
        """SIGKILL host's member only (a lost store member; the host and its agent stay up)."""
        self._kill(host)

    def running(self, host: str) -> bool:
        p = self._procs.get(host)
        return p is not None and p.poll() is None

    def _kill(self, host: str) -> None:
        p = self._procs.pop(host, None)
        if p is None:
            return
        if p.poll() is None:
            with contextlib.suppress(OSError):
                p.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=5.0)

    def stop(self) -> None:
        for h in list(self._procs):
            self._kill(h)
        if self.data_root and not self._data_root_arg:
            shutil.rmtree(self.data_root, ignore_errors=True)
        self.data_root = ""
