"""A bound on evacuations in flight across every host being recovered (max-concurrent-evacuations)."""
from __future__ import annotations

import threading


class Slots:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self, wanted: int) -> int:
        """Up to `wanted` slots now (maybe 0); give each back with release()."""
        with self._lock:
            n = max(0, min(wanted, self.limit - self.used))
            self.used += n
            return n

    def hold(self, n: int) -> None:
        """Count evacuations already in flight (a resumed recovery), even past the limit."""
        with self._lock:
            self.used += n

    def release(self, n: int = 1) -> None:
        with self._lock:
            self.used = max(0, self.used - n)
