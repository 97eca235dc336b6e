"""Lab tests build real network namespaces: root and `ip netns` are needed, else they skip."""
from __future__ import annotations

import pytest

from corral_lab import cleanup_stale, lab_available


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab: builds network namespaces (needs root and iproute2)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = None
    for item in items:
        if item.get_closest_marker("lab") is None:
            continue
        if reason is None:
            reason = lab_available() or ""
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"lab unavailable: {reason}"))


@pytest.fixture(scope="session", autouse=True)
def _no_stale_labs() -> None:
    """Leftovers of an earlier, killed run (dead owner) are removed; live labs are left alone."""
    if lab_available() is None:
        cleanup_stale("crl")
