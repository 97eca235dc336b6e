"""The scheduler's internals stay inside corral/scheduler/: no other module imports them."""
from __future__ import annotations

import ast
from pathlib import Path

import corral

PACKAGE = Path(corral.__file__).parent
INTERNAL = {f"corral.scheduler.{m}" for m in ("resources", "history", "placement", "actions")}


def _imports(tree: ast.AST) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(tree):   # walk: function-local imports count too
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}   # from corral.scheduler import history
    return out


def _offenders(root: Path) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent)
        if rel.parts[:2] == ("corral", "scheduler"):
            continue
        for name in sorted(_imports(ast.parse(path.read_text(), str(path))) & INTERNAL):
            bad.append(f"{rel}: imports {name}")
    return bad


def test_no_module_outside_the_scheduler_imports_its_internals() -> None:
    assert _offenders(PACKAGE) == []


def test_the_scan_finds_an_offending_import(tmp_path: Path) -> None:
    pkg = tmp_path / "corral"
    (pkg / "scheduler").mkdir(parents=True)
    (pkg / "scheduler" / "engine.py").write_text("from corral.scheduler.resources import Prim\n")
    (pkg / "cli.py").write_text("def f():\n    from corral.scheduler import history\n")
    (pkg / "ok.py").write_text("from corral.scheduler import schedule, ResourceView\n")
    assert _offenders(pkg) == ["corral/cli.py: imports corral.scheduler.history"]
