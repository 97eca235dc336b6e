"""Re-running the profile over files that exist: show what would change, write only when told.

A generated file an operator has edited by hand (or one generated from other inputs) is never
overwritten silently: the run prints a unified diff from the file as it is to what the profile
would write, writes nothing, and the caller exits non-zero; `--force` writes. Edits meant to
last belong in a settings file (`--settings`), which every later run applies again.
"""
from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Outcome:
    path: Path
    state: str          # "new", "unchanged", "changed"
    diff: str = ""      # for "changed": old -> new, unified


def compare(path: Path, new_text: str) -> Outcome:
    try:
        old = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Outcome(path, "new")
    if old == new_text:
        return Outcome(path, "unchanged")
    diff = "".join(difflib.unified_diff(old.splitlines(keepends=True), new_text.splitlines(keepends=True),
                                        fromfile=f"{path} (as it is)", tofile=f"{path} (generated)"))
    return Outcome(path, "changed", diff)


def write_atomically(path: Path, text: str) -> None:
    """Write TEXT to PATH through a temporary file in its directory and a rename: a reader never
    sees half a file, and an existing file keeps its mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
