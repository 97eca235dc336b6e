"""Hunt for disagreements between the command under test and crm_simulate; write FINDINGS.md.

Not a test: a tool for whoever works on the scheduler. It

1. tries ``--examples`` random scenarios (derandomized: the same ones every run),
2. sorts the disagreements into classes (by the kinds of lines missing and extra,
   or a crash; with ``--by-features`` also by which features the scenario uses),
3. for each class, lets hypothesis find the smallest scenario of that class, and
4. writes each (minimal CIB, both outputs) to tests/differential/FINDINGS.md.

    .venv/bin/python -m tests.differential.explore                 # level 1
    .venv/bin/python -m tests.differential.explore --level 2 --examples 300
    CORRAL_DIFF_CMD='...' .venv/bin/python -m tests.differential.explore --out /tmp/f.md
"""

from __future__ import annotations

import argparse
import collections
import datetime
import re
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from .gen import Clone, Group, Scenario, scenarios, scenarios_level2
from .harness import ORACLE_CMD, Comparison, command_under_test, compare, oracle_available
from .summary import multiset_diff, relax

Signature = tuple[str, ...]
HERE = Path(__file__).resolve().parent
SEED = 20251122
ERROR_LINE = re.compile(r"^(\w+(?:\.\w+)*(?:Error|Exception|Exit|Interrupt))\b")


def verb(line: str) -> str:
    word = line.split()[0] if line.split() else "?"
    return word + (" due to " + line.split(" due to ", 1)[1].split()[0] if " due to " in line else "")


def features(sc: Scenario) -> list[str]:
    f = []
    if any(not n.online for n in sc.nodes):
        f.append("offline node")
    if sc.stickiness is not None:
        f.append("stickiness")
    if any(isinstance(r, Group) for r in sc.resources):
        f.append("group")
    if any(isinstance(r, Clone) for r in sc.resources):
        f.append("clone")
    if sc.locations:
        f.append("location")
    if sc.colocations:
        f.append("colocation")
    if sc.orders:
        f.append("order")
    return f


def signature(c: Comparison, sc: Scenario, by_features: bool) -> Signature | None:
    """None when both agree; else what kind of disagreement this is.

    Differences only in "due to ..." explanations (or clone instance numbers) form
    their own classes, so that they do not hide differences in the actions themselves.
    """
    if not c.oracle_ok:
        return ("oracle failed (generator bug)",)
    if c.agree:
        return None
    if c.tested.returncode is None:
        sig: Signature = ("did not run or finish",)
    elif c.tested.summary is None or c.tested.returncode != 0:
        errs = [m.group(1) for line in c.tested.stderr.splitlines() if (m := ERROR_LINE.match(line))]
        what = "no summary" if c.tested.summary is None else f"exit {c.tested.returncode}"
        sig = (f"{what}: {errs[-1] if errs else 'no exception'}",)
    else:
        want, got = c.oracle.summary or [], c.tested.summary
        r_missing, r_extra = multiset_diff([relax(x) for x in want], [relax(x) for x in got])
        if r_missing or r_extra:
            sig = tuple(
                sorted({f"missing {verb(m)}" for m in r_missing} | {f"extra {verb(e)}" for e in r_extra})
            )
        else:
            missing, _ = c.diff()
            sig = ("only explanations differ",) + tuple(sorted({f"missing {verb(m)}" for m in missing}))
    if by_features:
        sig += tuple(f"[{f}]" for f in features(sc))
    return sig


class Explorer:
    def __init__(self, by_features: bool) -> None:
        self.by_features = by_features
        self.cache: dict[str, Comparison] = {}

    def compare(self, sc: Scenario) -> Comparison:
        xml = sc.to_xml()
        if xml not in self.cache:
            self.cache[xml] = compare(xml)
        return self.cache[xml]

    def signature(self, sc: Scenario) -> Signature | None:
        return signature(self.compare(sc), sc, self.by_features)


def _settings(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        database=None,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
    )


def survey(
    strategy: st.SearchStrategy[Scenario], ex: Explorer, n: int
) -> tuple[collections.Counter[Signature], dict[Signature, Scenario], int]:
    counts: collections.Counter[Signature] = collections.Counter()
    first: dict[Signature, Scenario] = {}
    total = 0

    @seed(SEED)
    @_settings(n)
    @given(strategy)
    def run(sc: Scenario) -> None:
        nonlocal total
        total += 1
        sig = ex.signature(sc)
        if sig is not None:
            counts[sig] += 1
            first.setdefault(sig, sc)

    run()
    return counts, first, total


class _Found(Exception):
    pass


def minimise(strategy: st.SearchStrategy[Scenario], ex: Explorer, sig: Signature, n: int) -> Scenario | None:
    """The smallest scenario of class ``sig`` hypothesis can shrink to.

    Replays the survey's random stream (same seed, same strategy) with a test that
    fails on class ``sig``, so hypothesis meets the survey's first example of the
    class and then shrinks it; the last failing example it runs is the minimal one.
    """
    last: Scenario | None = None

    @seed(SEED)
    @_settings(n)
    @given(strategy)
    def run(sc: Scenario) -> None:
        nonlocal last
        if ex.signature(sc) == sig:
            last = sc
            raise _Found

    try:
        run()
    except _Found:
        pass
    return last


def fence(text: str, lang: str = "") -> str:
    return f"```{lang}\n{text.rstrip()}\n```"


def write_findings(
    out: Path,
    level: int,
    total: int,
    counts: collections.Counter[Signature],
    found: list[tuple[Signature, Scenario, bool]],
    ex: Explorer,
) -> None:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Differential findings: corral simulate vs crm_simulate",
        "",
        f"Written by `tests/differential/explore.py` ({now}): feature level {level}, "
        f"{total} random scenarios (derandomized), command under test `{command_under_test()}`, "
        f"oracle `{ORACLE_CMD}` (Pacemaker 2.1.5).",
        "",
        f"{sum(counts.values())} of {total} scenarios disagreed, in {len(counts)} classes "
        "(by the kinds of Transition Summary lines missing from / extra in corral's output, or a crash). "
        f"Each class below (the {len(found)} most frequent) shows the smallest scenario hypothesis found for it: "
        "a readable description, the lines that differ, both outputs, and the CIB.",
        "",
        "Reproduce one: save its CIB as `f.xml`, then compare `crm_simulate -x f.xml -S` "
        "with `corral simulate --cib f.xml`.",
        "",
    ]
    if not counts:
        lines.append("No disagreements found.")
    for i, (sig, sc, shrunk) in enumerate(found, start=1):
        c = ex.compare(sc)
        missing, extra = c.diff()
        lines += [
            f"## {i}. {'; '.join(sig)}",
            "",
            f"{counts[sig]} of {total} scenarios; "
            + ("minimal example (shrunk by hypothesis):" if shrunk else "example (could not shrink):"),
            "",
            fence(sc.describe()),
            "",
        ]
        if missing or extra:
            lines += [
                fence("\n".join([f"missing: {m}" for m in missing] + [f"extra:   {e}" for e in extra])),
                "",
            ]
        lines += [
            "crm_simulate's Transition Summary:",
            "",
            fence("\n".join(c.oracle.summary or []) or "(no actions)"),
            "",
            "corral's " + ("Transition Summary:" if c.tested.summary is not None else "output:"),
            "",
        ]
        if c.tested.summary is not None:
            lines.append(fence("\n".join(c.tested.summary) or "(no actions)"))
        else:
            lines.append(fence(c.tested.describe(limit=3000)))
        lines += ["", "<details><summary>CIB</summary>", "", fence(sc.to_xml(), "xml"), "", "</details>", ""]
    out.write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--level", type=int, choices=(1, 2), default=1)
    ap.add_argument("--examples", type=int, default=200, help="random scenarios to survey (default 200)")
    ap.add_argument("--classes", type=int, default=6, help="at most this many classes to minimise")
    ap.add_argument("--by-features", action="store_true", help="also split classes by the features used")
    ap.add_argument("--out", type=Path, default=HERE / "FINDINGS.md")
    args = ap.parse_args()
    if not oracle_available():
        print("explore: crm_simulate is not installed", file=sys.stderr)
        return 2

    strategy = scenarios() if args.level == 1 else scenarios_level2()
    ex = Explorer(args.by_features)
    counts, first, total = survey(strategy, ex, args.examples)
    print(f"{sum(counts.values())} of {total} disagreed; {len(counts)} classes", flush=True)
    found: list[tuple[Signature, Scenario, bool]] = []
    for sig, n in counts.most_common(args.classes):
        print(f"  {n:4d}  {'; '.join(sig)}", flush=True)
        small = minimise(strategy, ex, sig, args.examples)
        found.append((sig, small if small is not None else first[sig], small is not None))
    write_findings(args.out, args.level, total, counts, found, ex)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
