"""The lab fence agent's contract parts that need no namespaces (the rest is in tests/lab)."""
from __future__ import annotations

import subprocess
import sys

from corral.fencing.device import FenceDevice
from corral_lab.fence_netns import METADATA


def agent(stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "corral_lab.fence_netns"], input=stdin,
                          capture_output=True, text=True, timeout=30)


def test_metadata_through_the_device() -> None:
    md = FenceDevice("lab", "fence_corral_netns").metadata()
    assert md is not None and md.name == "fence_corral_netns"
    assert {a.name for a in md.actions} >= {"on", "off", "reboot", "status", "list", "monitor"}
    assert md.parameter("plug") is not None and md.parameter("state_dir") is not None
    assert md == METADATA or md.name == METADATA.name


def test_missing_or_unknown_plug_is_an_error() -> None:
    r = agent("action=status\n")
    assert r.returncode == 1 and "plug" in r.stderr
    r = agent("action=off\nplug=corral-no-such-netns-x\n")
    assert r.returncode == 1 and "no network namespace" in r.stderr
    r = agent("action=off\nplug=../etc\n")
    assert r.returncode == 1
