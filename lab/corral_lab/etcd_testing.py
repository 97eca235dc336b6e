"""Throwaway etcd members for tests, benchmarks and the namespace lab.

One place knows how to run /usr/bin/etcd for Corral's own use: the command
line of a member, the bounded wait until it is healthy, and a single-member
etcd on loopback (`LoopbackEtcd`) that the store and live test suites share,
and a TCP forwarder in front of a member that can go silent (`TcpProxy`: a
frozen or partitioned member).
lab/corral_lab/etcd.py builds its per-namespace members from the same pieces.
It lives in the lab package, not under tests/, because the lab (and so
`corral lab campaign`) needs it too.

Raft runs with fast ticks, which lowers etcd's minimum lease TTL
(ceil(1.5 x election timeout)) so tests may use short leases.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping

ETCD = "/usr/bin/etcd"
#: Loopback: 100 ms election timeout, so a lease TTL of 1 s is allowed.
LOOPBACK_HEARTBEAT_MS = 10
LOOPBACK_ELECTION_MS = 100


class EtcdStartError(RuntimeError):
    """etcd exited or did not become healthy in time; the message has its log's tail."""


def etcd_available() -> str | None:
    """None if etcd can be run here, else why not (for skips)."""
    return None if os.access(ETCD, os.X_OK) else f"{ETCD} is absent (apt-get install etcd-server)"


def member_argv(name: str, data_dir: str, client_url: str, peer_url: str, initial_cluster: str, *,
                heartbeat_ms: int, election_ms: int, token: str | None = None,
                log_level: str | None = None) -> list[str]:
    """The command line of one member of a new cluster (a restart with the same data dir rejoins)."""
    argv = [ETCD, "--name", name, "--data-dir", data_dir,
            "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", initial_cluster, "--initial-cluster-state", "new",
            "--heartbeat-interval", str(heartbeat_ms), "--election-timeout", str(election_ms)]
    if token is not None:
        argv += ["--initial-cluster-token", token]
    if log_level is not None:
        argv += ["--log-level", log_level]
    return argv


def log_tail(path: str, limit: int = 3000) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()[-limit:]
    except OSError:
        return ""


def wait_healthy(procs: Mapping[str, subprocess.Popen[bytes]], healthy: Callable[[str], bool],
                 tail: Callable[[str], str], bound_s: float, poll_s: float = 0.05) -> None:
    """Wait until healthy(name) for every member in procs; EtcdStartError if one exits or time runs out."""
    deadline = time.monotonic() + bound_s
    pending = list(procs)
    while pending:
        for name in list(pending):
            if procs[name].poll() is not None:
                raise EtcdStartError(f"etcd {name} exited with {procs[name].returncode}:\n{tail(name)}")
            if healthy(name):
                pending.remove(name)
        if not pending:
            return
        if time.monotonic() > deadline:
            raise EtcdStartError(f"etcd not healthy on {', '.join(pending)} within {bound_s:g}s:\n"
                                 f"{tail(pending[0])}")
        time.sleep(poll_s)


def http_healthy(client_url: str, timeout: float = 1.0) -> bool:
    """Whether GET client_url/health says true (the member has a leader); never raises."""
    try:
        with urllib.request.urlopen(f"{client_url}/health", timeout=timeout) as r:
            return b'"true"' in r.read()
    except (OSError, ValueError):
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackEtcd:
    """A single-member etcd on free loopback ports with a temporary data dir.

        etcd = LoopbackEtcd(); etcd.start()   # EtcdStartError if it does not come up
        etcd.endpoint                         # "127.0.0.1:PORT"
        etcd.stop()                           # kills it, removes what start() made; never raises
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *, ready_s: float = 20.0,
                 heartbeat_ms: int = LOOPBACK_HEARTBEAT_MS, election_ms: int = LOOPBACK_ELECTION_MS) -> None:
        self._root_arg = os.fspath(root) if root is not None else None
        self.root = ""
        self.ready_s = ready_s
        self.heartbeat_ms, self.election_ms = heartbeat_ms, election_ms
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> str:
        return os.path.join(self.root, "etcd.log")

    def __enter__(self) -> LoopbackEtcd:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, attempts: int = 3) -> None:
        if (why := etcd_available()) is not None:
            raise EtcdStartError(why)
        self.root = self._root_arg or tempfile.mkdtemp(prefix="corral-etcd-")
        for attempt in range(attempts):
            # A free port can be taken by someone else before etcd binds it: retry on fresh ports.
            self.port, peer = free_port(), free_port()
            client_url, peer_url = f"http://127.0.0.1:{self.port}", f"http://127.0.0.1:{peer}"
            data = os.path.join(self.root, "data")
            shutil.rmtree(data, ignore_errors=True)
            argv = member_argv("default", data, client_url, peer_url, f"default={peer_url}",
                               heartbeat_ms=self.heartbeat_ms, election_ms=self.election_ms)
            with open(self.log_path, "wb") as log:  # this attempt's log only
                self._proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL)
            try:
                wait_healthy({"default": self._proc}, lambda _, url=client_url: http_healthy(url),
                             lambda _: log_tail(self.log_path), self.ready_s)
                return
            except EtcdStartError:
                self._kill()
                if attempt == attempts - 1 or "address already in use" not in log_tail(self.log_path):
                    raise

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)

    def stop(self) -> None:
        self._kill()
        if self.root and not self._root_arg:
            shutil.rmtree(self.root, ignore_errors=True)
        elif self.root:
            shutil.rmtree(os.path.join(self.root, "data"), ignore_errors=True)
        self.root = ""


class TcpProxy:
    """Forwards 127.0.0.1:port to a target; stop() kills it like a crashed member."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.frozen = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            if self.frozen:
                with self._lock:
                    self._socks.append(downstream)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                downstream.close()
                continue
            with self._lock:
                self.connections += 1
                self._socks += [downstream, upstream]
            for a, b in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if not self.frozen:
                    dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def freeze(self) -> None:
        """Go silent without closing anything (the member's host froze or lost its links): data is
        dropped both ways, new connections are accepted and left unanswered."""
        self.frozen = True

    def thaw(self) -> None:
        """Traffic flows again; the connections held while frozen are closed (clients reconnect)."""
        self.frozen = False
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            with contextlib.suppress(OSError):
                s.close()

    def stop(self) -> None:
        self.listener.close()
        with self._lock:
            for s in self._socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
