"""`corral demo` runs to the end, well within a minute, and leaves nothing behind."""
from __future__ import annotations

import glob
import subprocess
import sys
import time

from corral.resource_agents.procfs import all_processes


def _demo_processes() -> set[int]:
    out = set()
    for p in all_processes():
        try:
            with open(f"/proc/{p.pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ")
        except OSError:
            continue
        if b"corral-demo-" in cmd:
            out.add(p.pid)
    return out


def test_demo_runs_and_cleans_up():
    before_dirs = set(glob.glob("/tmp/corral-demo-*"))
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "corral.cli.main", "demo"], capture_output=True, text=True,
                         timeout=90)
    elapsed = time.monotonic() - started
    assert out.returncode == 0, out.stdout + out.stderr
    assert elapsed < 60
    assert "All running after" in out.stdout
    assert "Recovery: everything running again" in out.stdout and " ms after the crash" in out.stdout
    assert "corral demo: done." in out.stdout
    assert set(glob.glob("/tmp/corral-demo-*")) == before_dirs  # the temp dir is gone
    time.sleep(0.2)
    assert not _demo_processes()  # agents (their --rsctmp names the dir) are gone
