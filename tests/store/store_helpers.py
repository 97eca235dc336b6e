"""Helpers for the store tests (a module of its own: `conftest` is not importable by name)."""
from __future__ import annotations

import socket
import threading


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

    def stop(self) -> None:
        self.listener.close()
        with self._lock:
            for s in self._socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


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
