"""Process identity from /proc (Linux): what makes a pid "the same process".

A pid alone is not an identity: after the process dies the kernel may hand
the number to an unrelated process. (pid, start time in clock ticks since
boot, boot id) is unique, so pidfiles record all three.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

_BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    state: str  # R, S, D, Z (zombie), X (dead), ...
    pgrp: int
    session: int
    starttime: int  # clock ticks after boot; fixed at fork, unchanged by exec

    @property
    def alive(self) -> bool:
        return self.state not in ("Z", "X")


def proc_info(pid: int) -> ProcInfo | None:
    """Fields of /proc/PID/stat, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    # comm (field 2) is in parentheses and may itself contain spaces or ')'.
    rest = data[data.rindex(")") + 2:].split()
    try:
        return ProcInfo(pid, rest[0], int(rest[2]), int(rest[3]), int(rest[19]))
    except (IndexError, ValueError):
        return None


def all_processes() -> Iterator[ProcInfo]:
    for name in os.listdir("/proc"):
        if name.isdigit():
            info = proc_info(int(name))
            if info is not None:
                yield info


def group_members(pgid: int, session: int | None = None) -> list[ProcInfo]:
    """Live (non-zombie) processes of process group pgid, optionally also of that session."""
    return [p for p in all_processes()
            if p.pgrp == pgid and p.alive and (session is None or p.session == session)]


def boot_id() -> str:
    try:
        with open(_BOOT_ID_PATH) as f:
            return f.read().strip()
    except OSError:
        return ""
