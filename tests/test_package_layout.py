"""The product package is the product: the lab (lab/corral_lab, a package of its own) is never imported by it."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_product_never_imports_the_lab() -> None:
    offenders = []
    for path in sorted((ROOT / "corral").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno}: {n}" for n in names
                          if n == "corral_lab" or n.startswith("corral_lab.")]
    assert offenders == []


def test_lab_is_found_through_its_entry_points() -> None:
    from click.testing import CliRunner

    from corral.cli.main import cli
    from corral.fencing import FenceDevice

    assert "lab" in CliRunner().invoke(cli, ["--help"]).output
    assert FenceDevice("a", "fence_corral_netns").argv()[1:] == ["-m", "corral_lab.fence_netns"]
