"""Shared helpers for the configuration-model tests."""
from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from conformance.corpus import shared_corpus

from corral.model.config import Configuration
from corral.model.validate import validate
from corral.model.yaml_config import parse_yaml_config

ROOT = Path(__file__).resolve().parents[2]
CIB_DIR = ROOT / "tests" / "data" / "cib"
CONFORMANCE_XML = shared_corpus() / "xml"  # the whole Pacemaker corpus, from the repository
EXAMPLES = ROOT / "examples"


def parse(text: str, source: str = "cfg.yaml") -> Configuration:
    """Shape-check YAML text (dedented) into a Configuration, without validate()."""
    return parse_yaml_config(textwrap.dedent(text), source)[0]


def check(text: str, source: str = "cfg.yaml", **kwargs: object) -> tuple[Configuration, list[str]]:
    """Parse and validate YAML text; returns (config, warnings)."""
    cfg, locator = parse_yaml_config(textwrap.dedent(text), source)
    return cfg, validate(cfg, source, locator, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path
    return _write


def comparable(cfg: Configuration) -> Configuration:
    """The parts a YAML round trip must keep (warnings and unsupported are reports, not config)."""
    cfg.warnings = []
    cfg.unsupported = []
    # levels by target-pattern/attribute come out of the CIB without a target; YAML lists them as comments
    cfg.fencing_topology = [level for level in cfg.fencing_topology if level[0]]
    return cfg
