"""The real-Nova end-to-end tests: one Nova lab per module (about 75 s to bring up), Corral on it.

They need root and Debian's OpenStack packages (scripts/test installs them); without them they
skip, which under CI=true fails the run (tests/conftest.py). Heavy: run them under the lab lock
(`flock /work/wt/lab.lock .venv/bin/pytest -q tests/compute_ha/e2e`).
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral_lab.nova import NovaLab, nova_lab_available

from .corral_rig import CorralRig


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    why = None
    for item in items:
        if item.get_closest_marker("nova") is None:
            continue
        if why is None:
            why = nova_lab_available() or ""
        if why:
            item.add_marker(pytest.mark.skip(reason=f"the Nova lab cannot run here: {why}"))


@pytest.fixture(scope="module")
def nova_lab() -> Iterator[NovaLab]:
    with NovaLab(hosts=("hostA", "hostB", "hostC"), log=lambda s: print(s, file=sys.stderr)) as lab:
        yield lab


@pytest.fixture(scope="module")
def corral(nova_lab: NovaLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorralRig]:
    rig = CorralRig(nova_lab, Path(tmp_path_factory.mktemp("corral")), controllers=("ctl1", "ctl2"))
    try:
        rig.load()
        rig.start_controller("ctl1")
        for host in nova_lab.layout.hosts:
            rig.start_member(host)
        yield rig
    finally:
        rig.close()
