"""One HTTP/1.1 keep-alive connection on a plain socket, for etcd's JSON gateway.

Why not requests (or http.client) for the etcd clients' short calls: an idle agent's
calls are a few small POSTs a second (lease renewals, heartbeats, watch probes), and
requests spends about 1 ms of CPU on each (sessions, adapters, proxy and netrc lookups,
urllib3's pool), this under 0.2 ms; http.client would bring the email parser and ssl
into a short command's imports (~15 ms). The gateway's answers need only a status
line, Content-Length or chunked framing, and a body.

Every call is bounded by a deadline (time.monotonic()), re-applied before each receive,
so one slow trickle cannot stretch a call past it. Errors are OSError (socket.timeout /
TimeoutError for an answer not in time, ConnectionError for a closed or garbled
connection); the caller closes a connection that failed.
"""
from __future__ import annotations

import select
import socket
import time

MAX_LINE = 65536


class Http1Connection:
    def __init__(self, host: str, port: int, connect_timeout: float) -> None:
        # An ASCII host as bytes: a str would load the idna codec for nothing.
        name: str | bytes = host.encode("ascii") if host.isascii() else host
        self.host = host if ":" not in host else f"[{host}]"
        self.port = port
        self.sock = socket.create_connection((name, port), timeout=connect_timeout)  # type: ignore[arg-type]
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reusable = True  # False once the server said it closes, or a call failed
        self._buf = b""
        self._deadline = 0.0

    def close(self) -> None:
        self.reusable = False
        self.sock.close()

    def dropped(self) -> bool:
        """Whether an idle connection was closed by the server (readable while idle means EOF or
        junk): such a connection must not carry a request whose outcome would then be unknown."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable) or self._buf != b""

    def _fill(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no answer in time")
        self.sock.settimeout(left)
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        self._buf += data

    def _line(self) -> bytes:
        while b"\r\n" not in self._buf:
            if len(self._buf) > MAX_LINE:
                raise ConnectionError("header line too long")
            self._fill()
        line, _, self._buf = self._buf.partition(b"\r\n")
        return line

    def _take(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._fill()
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def request(self, method: str, path: str, body: bytes | None, deadline: float) -> tuple[int, bytes]:
        """(HTTP status, body) of one request, all of it before `deadline`."""
        self._deadline = deadline
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no time left to send")
        self.sock.settimeout(left)
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept: application/json\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + (body or b""))
        parts = self._line().split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise ConnectionError(f"not an HTTP answer: {b' '.join(parts)[:100]!r}")
        status = int(parts[1])
        length: int | None = None
        chunked = False
        while line := self._line():
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                self.reusable = False
        if chunked:
            chunks = []
            while size := int(self._line().split(b";", 1)[0].strip() or b"0", 16):
                chunks.append(self._take(size))
                self._take(2)  # the CRLF after each chunk
            while self._line():  # trailers, up to the empty line
                pass
            return status, b"".join(chunks)
        if length is None:  # the body runs to the end of the connection
            self.reusable = False
            while True:
                try:
                    self._fill()
                except ConnectionError:
                    break
            data, self._buf = self._buf, b""
            return status, data
        return status, self._take(length)
