"""Pacemaker 2.1.5's 533 scheduler scenarios, scored in-process, and the baseline gate.

The corpus (CIBs and the `crm_simulate -S` summaries, GPL-2.0-or-later, from
Pacemaker's cts/scheduler) ships in tests/data/conformance/corpus.tar.xz, so CI
needs nothing outside the repository. Each scenario goes through the same code
as `corral simulate --cib` (the click command, in-process: no Python start-up per
scenario) and is scored as ../shared/conformance/score.py scores it.

    python3 -m tests.conformance.corpus                    # score, print the totals
    python3 -m tests.conformance.corpus --update-baseline  # after an improvement
    python3 -m tests.conformance.corpus --list             # one line per scenario

tests/data/conformance/baseline.txt lists every scenario that passes, `NAME
strict` or `NAME relaxed`; the gate (test_corpus_gate.py) fails when one of them
stops passing at its level. Update it in the commit that improves it.
"""
from __future__ import annotations

import argparse
import collections
import signal
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "conformance"
CORPUS_TAR = DATA / "corpus.tar.xz"
BASELINE = DATA / "baseline.txt"
TIMEOUT_S = 60

sys.path.insert(0, str(ROOT / "tests"))
from differential.summary import relax, summary_lines  # noqa: E402  (score.py's normalisation)


@dataclass(frozen=True)
class Outcome:
    name: str
    level: str          # "strict", "relaxed" or "fail"
    detail: str = ""    # for a failure: the differing lines, or the error


def extract(dest: Path) -> Path:
    with tarfile.open(CORPUS_TAR) as tar:
        tar.extractall(dest, filter="data")
    return dest


_SHARED: Path | None = None


def shared_corpus() -> Path:
    """The corpus extracted once per test process (removed when the process exits), for
    tests that read the CIBs as inputs."""
    global _SHARED
    if _SHARED is None:
        import atexit
        import shutil

        tmp = Path(tempfile.mkdtemp(prefix="corral-corpus-"))
        atexit.register(shutil.rmtree, tmp, True)
        _SHARED = extract(tmp)
    return _SHARED


def names(corpus: Path) -> list[str]:
    return sorted(p.stem for p in (corpus / "xml").glob("*.xml"))


class _Timeout(Exception):
    pass


def _alarm(_sig: int, _frame: object) -> None:
    raise _Timeout


def simulate_summary(xml: Path) -> str:
    """What `corral simulate -q --cib XML` prints, run in this process."""
    from click.testing import CliRunner

    from corral.cli.simulate import simulate

    result = CliRunner().invoke(simulate, ["-q", "--cib", str(xml)], catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.output


def score(corpus: Path, name: str) -> Outcome:
    want = summary_lines((corpus / "summary" / f"{name}.summary").read_text())
    if want is None:
        return Outcome(name, "fail", "the recorded summary has no Transition Summary")
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIMEOUT_S)
    try:
        got = summary_lines(simulate_summary(corpus / "xml" / f"{name}.xml"))
    except _Timeout:
        return Outcome(name, "fail", f"no result within {TIMEOUT_S} s")
    except Exception as exc:  # noqa: BLE001 - a crash is a failed scenario, with its reason
        return Outcome(name, "fail", f"{type(exc).__name__}: {exc}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    if got is None:
        return Outcome(name, "fail", "no Transition Summary printed")
    if collections.Counter(got) == collections.Counter(want):
        return Outcome(name, "strict")
    if collections.Counter(map(relax, got)) == collections.Counter(map(relax, want)):
        return Outcome(name, "relaxed")
    missing = sorted((collections.Counter(want) - collections.Counter(got)).elements())
    extra = sorted((collections.Counter(got) - collections.Counter(want)).elements())
    return Outcome(name, "fail", "".join(f"  missing: {m}\n" for m in missing)
                   + "".join(f"  extra:   {e}\n" for e in extra))


def score_all(corpus: Path) -> dict[str, Outcome]:
    return {n: score(corpus, n) for n in names(corpus)}


def read_baseline(path: Path = BASELINE) -> dict[str, str]:
    out: dict[str, str] = {}
    for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) != 2 or words[1] not in ("strict", "relaxed"):
            raise ValueError(f"{path}:{lineno}: expected 'NAME strict' or 'NAME relaxed', got {raw!r}")
        out[words[0]] = words[1]
    return out


def regressions(outcomes: dict[str, Outcome], baseline: dict[str, str]) -> list[Outcome]:
    """Scenarios of the baseline that no longer pass at their level (or vanished)."""
    out = []
    for name, level in sorted(baseline.items()):
        got = outcomes.get(name)
        if got is None:
            out.append(Outcome(name, "fail", "scenario missing from the corpus"))
        elif got.level == "fail" or (level == "strict" and got.level != "strict"):
            out.append(got)
    return out


def improvements(outcomes: dict[str, Outcome], baseline: dict[str, str]) -> list[str]:
    return sorted(n for n, o in outcomes.items()
                  if o.level != "fail" and (n not in baseline or (baseline[n] == "relaxed"
                                                                  and o.level == "strict")))


def totals(outcomes: dict[str, Outcome]) -> tuple[int, int, int]:
    strict = sum(o.level == "strict" for o in outcomes.values())
    relaxed = strict + sum(o.level == "relaxed" for o in outcomes.values())
    return strict, relaxed, len(outcomes)


def write_baseline(outcomes: dict[str, Outcome], path: Path = BASELINE) -> None:
    strict, relaxed, n = totals(outcomes)
    lines = ["# Scenarios of Pacemaker 2.1.5's corpus that Corral passes: NAME strict|relaxed.",
             "# Regenerate with: python3 -m tests.conformance.corpus --update-baseline",
             f"# strict {strict}/{n}, relaxed {relaxed}/{n}"]
    lines += [f"{name} {o.level}" for name, o in sorted(outcomes.items()) if o.level != "fail"]
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--update-baseline", action="store_true", help="rewrite baseline.txt from this run")
    ap.add_argument("--list", action="store_true", help="print every scenario's outcome")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the differences of failures")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="corral-corpus-") as tmp:
        outcomes = score_all(extract(Path(tmp)))
    for o in outcomes.values():
        if args.list:
            print(f"{o.level:7} {o.name}")
        if args.verbose and o.level == "fail":
            print(f"FAIL {o.name}\n{o.detail}")
    strict, relaxed, n = totals(outcomes)
    baseline = read_baseline() if BASELINE.exists() else {}
    lost = regressions(outcomes, baseline)
    gained = improvements(outcomes, baseline)
    for o in lost:
        print(f"REGRESSION {o.name} (baseline {baseline[o.name]}, now {o.level})\n{o.detail}")
    if gained:
        print(f"better than the baseline: {' '.join(gained)}")
    print(f"strict {strict}/{n} {100 * strict / n:.1f}%")
    print(f"relaxed {relaxed}/{n} {100 * relaxed / n:.1f}%")
    if args.update_baseline:
        write_baseline(outcomes)
        print(f"wrote {BASELINE.relative_to(ROOT)}")
    return 1 if lost and not args.update_baseline else 0


if __name__ == "__main__":
    sys.exit(main())
