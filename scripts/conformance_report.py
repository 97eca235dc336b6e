#!/usr/bin/env python3
"""Score `corral simulate` on Pacemaker's scenario corpus and break the result
down by feature family (a scenario counts in every family it exercises).

Usage: python3 scripts/conformance_report.py [--corpus DIR] [--json results.json]
Prints a Markdown table (for docs/conformance.md) and the failing scenarios per family.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "conformance"

FAMILIES: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    # name, markers in the CIB, markers in the scenario name
    ("remote/bundle/container", ("<bundle", 'name="remote-node"', 'type="remote"', 'name="container"'),
     ("remote", "bundle", "container", "guest", "whitebox")),
    ("tickets", ("<rsc_ticket",), ("ticket",)),
    ("promotable", ('name="promotable" value="true"', "<master"), ("promot", "master", "ms-")),
    ("clone", ("<clone",), ("clone",)),
    ("group", ("<group",), ("group",)),
    ("colocation", ("<rsc_colocation",), ("coloc",)),
    ("order", ("<rsc_order",), ("order",)),
    ("fencing", (), ("fence", "stonith", "rec-node", "unclean")),
    ("migration", ('name="allow-migrate" value="true"',), ("migrat",)),
    ("failures", ('name="migration-threshold"', "on-fail=", 'name="failure-timeout"'), ("fail", "rec-rsc", "recover")),
    ("utilization", ('name="placement-strategy"',), ("utilization", "placement")),
]


def families(name: str, xml: str) -> list[str]:
    out = []
    for fam, xml_marks, name_marks in FAMILIES:
        if any(m in xml for m in xml_marks) or any(m in name for m in name_marks):
            out.append(fam)
    return out or ["primitives only"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--json", type=Path, help="reuse (or keep) score.py's per-scenario results")
    ap.add_argument("--corral", default=str(ROOT / ".venv" / "bin" / "corral"))
    args = ap.parse_args()
    score_py = args.corpus / "score.py"
    if not score_py.exists():
        print(f"conformance corpus not found at {args.corpus}", file=sys.stderr)
        return 2
    results_path = args.json or Path(tempfile.mkstemp(suffix=".json")[1])
    if not (args.json and args.json.exists()):
        out = subprocess.run([sys.executable, str(score_py), "--cmd", f"{args.corral} simulate -q --cib {{xml}}",
                              "--json", str(results_path)], capture_output=True, text=True, check=True)
        print(out.stdout.strip().splitlines()[-1], file=sys.stderr)
    results = json.loads(results_path.read_text())
    xml_dir = args.corpus / "pacemaker-2.1.5" / "xml"
    table: dict[str, list[int]] = {}
    failing: dict[str, list[str]] = {}
    for name, r in sorted(results.items()):
        xml = (xml_dir / f"{name}.xml").read_text()
        for fam in families(name, xml):
            row = table.setdefault(fam, [0, 0, 0])
            row[0] += 1
            row[1] += int(r["strict"])
            row[2] += int(r["relaxed"])
            if not r["relaxed"]:
                failing.setdefault(fam, []).append(name)
    total = len(results)
    strict = sum(int(r["strict"]) for r in results.values())
    relaxed = sum(int(r["relaxed"]) for r in results.values())
    print("| family | scenarios | strict | relaxed |")
    print("| --- | ---: | ---: | ---: |")
    order = [f for f, _, _ in FAMILIES] + ["primitives only"]
    for fam in order:
        if fam in table:
            n, s, r = table[fam]
            print(f"| {fam} | {n} | {s} ({100 * s / n:.0f}%) | {r} ({100 * r / n:.0f}%) |")
    print(f"| **all** | {total} | {strict} ({100 * strict / total:.1f}%) | {relaxed} ({100 * relaxed / total:.1f}%) |")
    print()
    for fam in order:
        if failing.get(fam):
            print(f"- {fam}: {', '.join(failing[fam])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
