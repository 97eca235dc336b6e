"""lab_available() explains why a lab cannot be built (runs without root too)."""
from __future__ import annotations

import pytest

from corral_lab import hosts


def test_not_root_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hosts.os, "geteuid", lambda: 1000)
    assert hosts.lab_available() == "needs root (network and mount namespaces)"


def test_missing_tool_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hosts.os, "geteuid", lambda: 0)
    monkeypatch.setattr(hosts.shutil, "which", lambda tool: None if tool == "nsenter" else f"/usr/bin/{tool}")
    assert hosts.lab_available() == "nsenter is not installed"


def test_prefixes_are_fresh_and_valid() -> None:
    seen = {hosts.new_prefix() for _ in range(20)}
    assert len(seen) > 1 and all(p.startswith("crl") and len(p) == 7 for p in seen)
    with pytest.raises(ValueError, match="prefix"):
        hosts.cleanup_stale("x")
