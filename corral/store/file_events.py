"""Wake up when a file in a directory is written: Linux inotify through ctypes, else a timer.

The SQLite store's change feed waits on this instead of asking SQLite fifty times
a second whether anything changed: every commit in WAL mode write()s the `-wal`
file, which inotify reports on the directory. Nothing here opens the database
or its `-wal`/`-shm` files — a descriptor of those, once closed, would drop the
POSIX locks SQLite holds on them in this process (sqlite.org/howtocorrupt.html);
inotify watches a path, not a descriptor. Where inotify is unavailable,
`wait()` simply sleeps its timeout, and the caller polls.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import struct
import sys

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_CLOEXEC = 0o2000000
IN_NONBLOCK = 0o4000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then the name)


class FileEvents:
    """Events for files of `directory` whose names start with `prefix`."""

    def __init__(self, directory: str, prefix: str) -> None:
        self.prefix = prefix.encode()
        self._fd = -1
        if not sys.platform.startswith("linux"):
            return
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            fd = libc.inotify_init1(IN_CLOEXEC | IN_NONBLOCK)
            if fd < 0:
                return
            mask = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE
            if libc.inotify_add_watch(fd, os.fsencode(directory), mask) < 0:
                os.close(fd)
                return
            self._fd = fd
        except (OSError, AttributeError):
            self._fd = -1

    @property
    def available(self) -> bool:
        return self._fd >= 0

    def wait(self, timeout: float) -> bool:
        """Block until a matching file is written or `timeout` seconds pass; True if one was
        (always False without inotify: the caller then polls at its own pace)."""
        if self._fd < 0:
            return False
        try:
            ready, _, _ = select.select([self._fd], [], [], max(0.0, timeout))
        except (OSError, ValueError):
            return False
        return bool(ready) and self._drain()

    def _drain(self) -> bool:
        hit = False
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return hit
            except OSError:
                return True  # in doubt, say something changed
            if not data:
                return hit
            offset = 0
            while offset + _EVENT.size <= len(data):
                _wd, _mask, _cookie, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size: offset + _EVENT.size + length].rstrip(b"\0")
                hit = hit or not name or name.startswith(self.prefix)
                offset += _EVENT.size + length

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
