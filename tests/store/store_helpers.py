"""Helpers for the store tests (a module of its own: `conftest` is not importable by name)."""
from __future__ import annotations

import socket
import threading

from corral_lab.etcd_testing import TcpProxy

__all__ = ["DeadHost", "SilentServer", "TcpProxy", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SilentServer:
    """Accepts connections and reads what is sent, but never answers: a member whose host froze
    (its connections stay open, nothing comes back)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._socks.append(conn)

    def close(self) -> None:
        self.listener.close()
        with self._lock:
            for s in self._socks:
                s.close()


class DeadHost:
    """A loopback port whose connects hang (SYNs dropped, as for a host that lost power): a
    listener with a full accept queue that never accepts."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.port = self.listener.getsockname()[1]
        # Linux queues one connection beyond a backlog of 0; once it is taken, SYNs are dropped.
        self._filler = socket.create_connection(("127.0.0.1", self.port), timeout=1)

    def close(self) -> None:
        self._filler.close()
        self.listener.close()
