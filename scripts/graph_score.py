#!/usr/bin/env python3
"""Compare Corral's transition graph with Pacemaker's for every corpus scenario.

For each scenario, Corral's graph (`schedule()`, in process) is compared with the
scenario's `exp/NAME.exp` (crm_simulate -G of Pacemaker 2.1.5):

  actions  the real actions (resource operations, notifications, fences), matched by
           (operation_key, on_node). Unrunnable actions are left out of Corral's side,
           as Pacemaker leaves them out of its graph. Probes (`*_monitor_0`) are left out
           of both: Corral does not plan probes (its agents probe on join).
  edges    "A before B" between two real actions, where B is an input of A directly or
           through pseudo-actions only (pseudo-actions are collapsed, so a graph that
           orders stops before starts through `clone_stopped_0 -> clone_start_0` and one
           that orders them directly compare equal).

Two matchings: strict (ids as they are) and relaxed (clone instance numbers dropped,
`db:1` -> `db`, compared as multisets), as score.py does for summaries.

Usage: scripts/graph_score.py [--corpus DIR] [--only SUBSTRING] [-v] [--markdown]
"""
from __future__ import annotations

import argparse
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "conformance"
# The corpus next to the checkout (/work/main -> /work/shared) or its worktrees; else the copy in
# tests/data/conformance (extracted to a temporary directory).
CORPUS = next((d / "shared" / "conformance" / "pacemaker-2.1.5" for d in (ROOT.parent, ROOT.parent.parent)
               if (d / "shared" / "conformance" / "pacemaker-2.1.5" / "exp").is_dir()), None)
sys.path.insert(0, str(ROOT / "scripts"))
from conformance_report import FAMILIES, families  # noqa: E402

INSTANCE = re.compile(r":\d+(?=_)")
Label = tuple[str, str]  # (operation_key, node)


@dataclass
class Side:
    actions: set[Label] = field(default_factory=set)
    edges: set[tuple[Label, Label]] = field(default_factory=set)


def is_probe(key: str) -> bool:
    return key.endswith("_monitor_0")


def collapse(real: dict[int, Label], pseudo: set[int], inputs: dict[int, set[int]]) -> set[tuple[Label, Label]]:
    """Edges (before, after) between real actions, through pseudo-actions only."""
    out: set[tuple[Label, Label]] = set()
    for after, label in real.items():
        seen: set[int] = set()
        stack = list(inputs.get(after, ()))
        while stack:
            b = stack.pop()
            if b in seen:
                continue
            seen.add(b)
            if b in real:
                out.add((real[b], label))
            elif b in pseudo:
                stack.extend(inputs.get(b, ()))
    return out


def pacemaker_side(path: Path) -> Side:
    root = ET.parse(path).getroot()
    real: dict[int, Label] = {}
    pseudo: set[int] = set()
    inputs: dict[int, set[int]] = {}
    for syn in root.findall("synapse"):
        action = syn.find("action_set")[0]  # type: ignore[index]
        aid = int(action.get("id", "-1"))
        key = action.get("operation_key", "")
        if action.tag == "pseudo_event":
            pseudo.add(aid)
        elif not is_probe(key):
            real[aid] = (key, action.get("on_node", ""))
        trig = syn.find("inputs")
        inputs[aid] = {int(t[0].get("id", "-1")) for t in (trig if trig is not None else []) if len(t)}
    return Side(actions=set(real.values()), edges=collapse(real, pseudo, inputs))


def corral_side(xml: Path) -> Side:
    import contextlib
    import io

    from corral.cli.simulate import load_inputs
    from corral.scheduler import schedule

    with contextlib.redirect_stderr(io.StringIO()):  # the loader's warnings about unsupported settings
        cfg, st = load_inputs(str(xml), None, None)
        g = schedule(cfg, st).graph
    real: dict[int, Label] = {}
    pseudo: set[int] = set()
    for a in g.actions:
        if not a.runnable:
            continue
        if a.is_real:
            if not is_probe(a.key):
                real[a.id] = (a.key, a.node or "")
        else:
            pseudo.add(a.id)
    return Side(actions=set(real.values()), edges=collapse(real, pseudo, g.inputs()))


def relax(labels: Iterable[Label]) -> Counter[Label]:
    return Counter((INSTANCE.sub("", k), n) for k, n in labels)


def relax_edges(edges: Iterable[tuple[Label, Label]]) -> Counter[tuple[Label, Label]]:
    return Counter(((INSTANCE.sub("", a[0]), a[1]), (INSTANCE.sub("", b[0]), b[1])) for a, b in edges)


@dataclass
class Counts:
    """matched / Corral's / Pacemaker's, for actions and edges, strict and relaxed."""
    n: list[int] = field(default_factory=lambda: [0] * 12)

    def add(self, other: Counts) -> None:
        self.n = [a + b for a, b in zip(self.n, other.n, strict=True)]

    @staticmethod
    def pr(matched: int, ours: int, theirs: int) -> tuple[float, float]:
        return (matched / ours if ours else 1.0, matched / theirs if theirs else 1.0)


def compare(c: Side, p: Side) -> Counts:
    ra, pa = relax(c.actions), relax(p.actions)
    re_, pe = relax_edges(c.edges), relax_edges(p.edges)
    return Counts([len(c.actions & p.actions), len(c.actions), len(p.actions),
                   len(c.edges & p.edges), len(c.edges), len(p.edges),
                   sum((ra & pa).values()), sum(ra.values()), sum(pa.values()),
                   sum((re_ & pe).values()), sum(re_.values()), sum(pe.values())])


def fmt(c: Counts) -> str:
    n = c.n
    ap, ar = Counts.pr(*n[0:3])
    ep, er = Counts.pr(*n[3:6])
    rap, rar = Counts.pr(*n[6:9])
    rep, rer = Counts.pr(*n[9:12])
    return (f"actions P {ap:6.1%} R {ar:6.1%} | edges P {ep:6.1%} R {er:6.1%} || relaxed: "
            f"actions P {rap:6.1%} R {rar:6.1%} | edges P {rep:6.1%} R {rer:6.1%}")


def md_row(name: str, scenarios: int, c: Counts) -> str:
    n = c.n
    cells = [f"{v:.1%}" for trio in (n[0:3], n[3:6], n[6:9], n[9:12]) for v in Counts.pr(*trio)]
    return f"| {name} | {scenarios} | " + " | ".join(cells) + " |"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=CORPUS, help="a directory with xml/ and exp/")
    ap.add_argument("--only", default="")
    ap.add_argument("-v", "--verbose", action="store_true", help="list the differing actions and edges")
    ap.add_argument("--relaxed", action="store_true", help="with -v: list the differences without instance numbers")
    ap.add_argument("--markdown", action="store_true", help="print the family table in Markdown")
    args = ap.parse_args()
    if args.corpus is None:
        import atexit
        import shutil
        import tarfile
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix="corral-graph-score-"))
        atexit.register(shutil.rmtree, tmp, True)
        for tar_name in ("corpus.tar.xz", "exp.tar.xz"):
            with tarfile.open(DATA / tar_name) as tar:
                tar.extractall(tmp, filter="data")
        args.corpus = tmp
    if not (args.corpus / "exp").is_dir() or not (args.corpus / "xml").is_dir():
        print(f"graph_score: {args.corpus} has no xml/ and exp/ directories", file=sys.stderr)
        return 2
    total = Counts()
    by_family: dict[str, tuple[int, Counts]] = {}
    errors = 0
    for exp in sorted((args.corpus / "exp").glob("*.exp")):
        name = exp.stem
        xml = args.corpus / "xml" / f"{name}.xml"
        if args.only not in name or not xml.exists():
            continue
        p = pacemaker_side(exp)
        try:
            c = corral_side(xml)
        except Exception as exc:  # a scenario Corral rejects scores as an empty graph
            errors += 1
            print(f"{name}: corral: {exc}", file=sys.stderr)
            c = Side()
        counts = compare(c, p)
        total.add(counts)
        for fam in families(name, xml.read_text()):
            k, fc = by_family.get(fam, (0, Counts()))
            fc.add(counts)
            by_family[fam] = (k + 1, fc)
        if not args.markdown:
            print(f"{name:45} {fmt(counts)}")
        if args.verbose and args.relaxed:
            ra, pa = relax(c.actions), relax(p.actions)
            re_, pe = relax_edges(c.edges), relax_edges(p.edges)
            for label in sorted((ra - pa).elements()):
                print(f"    + {label[0]} {label[1]}")
            for label in sorted((pa - ra).elements()):
                print(f"    - {label[0]} {label[1]}")
            for a, b in sorted((re_ - pe).elements()):
                print(f"    + {a[0]}@{a[1]} -> {b[0]}@{b[1]}")
            for a, b in sorted((pe - re_).elements()):
                print(f"    - {a[0]}@{a[1]} -> {b[0]}@{b[1]}")
        elif args.verbose:
            for label in sorted(c.actions - p.actions):
                print(f"    + {label[0]} {label[1]}")
            for label in sorted(p.actions - c.actions):
                print(f"    - {label[0]} {label[1]}")
            for a, b in sorted(c.edges - p.edges):
                print(f"    + {a[0]}@{a[1]} -> {b[0]}@{b[1]}")
            for a, b in sorted(p.edges - c.edges):
                print(f"    - {a[0]}@{a[1]} -> {b[0]}@{b[1]}")
    scenarios = sum(1 for e in (args.corpus / "exp").glob("*.exp") if args.only in e.stem
                    and (args.corpus / "xml" / f"{e.stem}.xml").exists())
    if args.markdown:
        print("| family | scenarios | actions P | actions R | edges P | edges R | "
              "relaxed actions P | relaxed actions R | relaxed edges P | relaxed edges R |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for fam in [f for f, _, _ in FAMILIES] + ["primitives only"]:
            if fam in by_family:
                print(md_row(fam, *by_family[fam]))
        print(md_row("**all**", scenarios, total))
    else:
        print()
        for fam in [f for f, _, _ in FAMILIES] + ["primitives only"]:
            if fam in by_family:
                k, fc = by_family[fam]
                print(f"{fam + f' ({k})':45} {fmt(fc)}")
        print(f"{'TOTAL (' + str(scenarios) + ')':45} {fmt(total)}")
    if errors:
        print(f"{errors} scenario(s) Corral rejected (scored as empty graphs)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
