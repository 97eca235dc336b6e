#!/usr/bin/env python3
"""Scheduler benchmark: `corral simulate` against Pacemaker 2.1.5's `crm_simulate`.

For each size, a synthetic CIB of a freshly started cluster is written by
../shared/bench/gen_cib.py (beside this repository), then, in the same run,

    crm_simulate -x CIB -G graph.xml        (Pacemaker's scheduler; the reference)
    corral simulate --cib CIB               (ours)

are each run as a whole process. Wall time (from fork to exit) and peak
resident memory (ru_maxrss from wait4) of each process are measured and
printed in a table; nothing passes or fails.

    .venv/bin/python benchmarks/scheduler_bench.py               # 16x1000 and 64x5000
    .venv/bin/python benchmarks/scheduler_bench.py --quick       # 16x1000 only
    .venv/bin/python benchmarks/scheduler_bench.py --skip-pacemaker --repeat 3

See benchmarks/README.md for how to read the numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_GEN_CIB = REPO.parent / "shared" / "bench" / "gen_cib.py"


@dataclass(frozen=True)
class Size:
    nodes: int
    resources: int
    constraints: int

    @property
    def label(self) -> str:
        return f"{self.nodes}x{self.resources} ({self.constraints}+{self.constraints} c)"

    @classmethod
    def parse(cls, text: str) -> Size:
        try:
            n, r, c = (int(x) for x in text.split(":"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected NODES:RESOURCES:CONSTRAINTS") from None
        return cls(n, r, c)


STANDARD_SIZES = [Size(16, 1000, 200), Size(64, 5000, 1000)]


@dataclass
class Measurement:
    seconds: float
    max_rss_mb: float
    exit_code: int | None  # None: killed at the timeout
    stdout: Path
    stderr: Path


@dataclass
class Outcome:
    """All repeats of one command on one CIB."""

    runs: list[Measurement]
    timeout: float

    @property
    def timed_out(self) -> bool:
        return any(m.exit_code is None for m in self.runs)

    @property
    def failed(self) -> Measurement | None:
        return next((m for m in self.runs if m.exit_code not in (0, None)), None)

    @property
    def ok(self) -> bool:
        return bool(self.runs) and not self.timed_out and self.failed is None

    @property
    def seconds(self) -> float:
        return statistics.median(m.seconds for m in self.runs)

    @property
    def max_rss_mb(self) -> float:
        return max(m.max_rss_mb for m in self.runs)

    def cells(self) -> tuple[str, str]:
        if self.timed_out:  # the peak until it was killed: a lower bound
            return f"did not finish in {self.timeout:g} s", f">{self.max_rss_mb:.0f}"
        bad = self.failed
        if bad is not None:
            return f"failed (exit {bad.exit_code})", f"{bad.max_rss_mb:.0f}"
        return f"{self.seconds:.2f}", f"{self.max_rss_mb:.0f}"


def measure(argv: list[str], workdir: Path, label: str, timeout: float) -> Measurement:
    """Run argv to completion (or kill it at the timeout); wall time and peak RSS of the process."""
    out, err = workdir / f"{label}.stdout", workdir / f"{label}.stderr"
    env = {**os.environ, "TMPDIR": str(workdir)}  # crm_simulate's shadow copy goes here too
    with out.open("wb") as fo, err.open("wb") as fe:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe, cwd=workdir, env=env, start_new_session=True
        )
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; Popen must not wait again
    code = None if killed.is_set() else proc.returncode
    # Linux reports ru_maxrss in KiB
    return Measurement(seconds, usage.ru_maxrss / 1024.0, code, out, err)


def generate(gen_cib: Path, size: Size, dest: Path, seed: int) -> None:
    cmd = [
        sys.executable,
        str(gen_cib),
        "--nodes",
        str(size.nodes),
        "--resources",
        str(size.resources),
        "--constraints",
        str(size.constraints),
        "--seed",
        str(seed),
    ]
    with dest.open("w") as f:
        subprocess.run(cmd, stdout=f, check=True, stdin=subprocess.DEVNULL)


def find_corral() -> str | None:
    for candidate in (Path(sys.executable).parent / "corral", REPO / ".venv" / "bin" / "corral"):
        if candidate.exists():
            return str(candidate)
    return shutil.which("corral")


def summary_count(path: Path) -> int | None:
    """How many action lines the Transition Summary section of an output file holds (None: no section)."""
    lines = path.read_text(errors="replace").splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Transition Summary:")
    except StopIteration:
        return None
    n = 0
    for line in lines[start + 1 :]:
        if line and not line[0].isspace():
            break
        n += line.strip().startswith("* ")
    return n


def tail(path: Path, chars: int = 400) -> str:
    text = path.read_text(errors="replace").strip()
    return text[-chars:].replace("\n", " | ")


def tool_version(argv: list[str]) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (p.stdout or p.stderr).strip().splitlines()[0] if (p.stdout or p.stderr).strip() else "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="only the 16x1000 cluster")
    ap.add_argument("--skip-pacemaker", action="store_true", help="do not run crm_simulate")
    ap.add_argument(
        "--repeat", type=int, default=1, metavar="N", help="runs per command (median time, max RSS)"
    )
    ap.add_argument(
        "--size",
        type=Size.parse,
        action="append",
        metavar="N:R:C",
        help="a custom size instead of the standard ones (nodes:resources:constraints); repeatable",
    )
    ap.add_argument(
        "--timeout", type=float, default=300.0, help="seconds before a run is killed (default 300)"
    )
    ap.add_argument("--seed", type=int, default=1, help="gen_cib.py seed (default 1)")
    ap.add_argument("--gen-cib", type=Path, default=DEFAULT_GEN_CIB, help=f"default {DEFAULT_GEN_CIB}")
    ap.add_argument(
        "--corral", default=None, help="the corral executable (default: the one beside this Python)"
    )
    ap.add_argument(
        "--crm-simulate", default=shutil.which("crm_simulate"), help="the crm_simulate executable"
    )
    ap.add_argument("--keep", type=Path, default=None, help="keep the CIBs and outputs in this folder")
    args = ap.parse_args()

    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    if not args.gen_cib.is_file():
        print(
            f"scheduler_bench: cannot find the CIB generator at {args.gen_cib}\n"
            "  it lives in the shared folder, which must sit beside the repository "
            f"({REPO.parent / 'shared'}); or pass --gen-cib PATH",
            file=sys.stderr,
        )
        return 2
    corral = args.corral or find_corral()
    if corral is None:
        print(
            "scheduler_bench: no `corral` executable found; install the project or pass --corral",
            file=sys.stderr,
        )
        return 2
    run_pacemaker = not args.skip_pacemaker
    if run_pacemaker and not args.crm_simulate:
        print(
            "scheduler_bench: crm_simulate not found (Debian: pacemaker-cli-utils); use --skip-pacemaker",
            file=sys.stderr,
        )
        return 2

    sizes: list[Size] = args.size or (STANDARD_SIZES[:1] if args.quick else STANDARD_SIZES)

    print(f"host: {platform.node()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"corral: {corral}")
    if run_pacemaker:
        print(f"crm_simulate: {args.crm_simulate} ({tool_version([args.crm_simulate, '--version'])})")
    print(f"repeats: {args.repeat} (time: median, memory: max); timeout {args.timeout:g} s", flush=True)

    tmp = tempfile.TemporaryDirectory(prefix="corral-bench-") if args.keep is None else None
    root = Path(tmp.name) if tmp is not None else args.keep
    root.mkdir(parents=True, exist_ok=True)
    floor = measure(["true"], root, "floor", 10.0).max_rss_mb
    print(
        f"memory floor: {floor:.0f} MB (Linux counts the launcher's memory at exec in a child's peak RSS, "
        "so no reading goes below this)",
        flush=True,
    )
    rows: list[tuple[Size, Outcome | None, Outcome]] = []
    notes: list[str] = []
    try:
        for size in sizes:
            workdir = root / f"{size.nodes}x{size.resources}x{size.constraints}"
            workdir.mkdir(exist_ok=True)
            cib = workdir / "cib.xml"
            generate(args.gen_cib, size, cib, args.seed)
            print(f"\n{size.label}: {cib.stat().st_size / 1e6:.1f} MB CIB", flush=True)
            pcmk = Outcome([], args.timeout) if run_pacemaker else None
            ours = Outcome([], args.timeout)
            for i in range(args.repeat):
                if pcmk is not None and not pcmk.timed_out:
                    argv = [args.crm_simulate, "-x", str(cib), "-G", str(workdir / "graph.xml")]
                    m = measure(argv, workdir, f"crm_simulate.{i}", args.timeout)
                    pcmk.runs.append(m)
                    print(f"  crm_simulate run {i + 1}: {_fmt(m, args.timeout)}", flush=True)
                if not ours.timed_out:
                    argv = [corral, "simulate", "--cib", str(cib)]
                    m = measure(argv, workdir, f"corral.{i}", args.timeout)
                    ours.runs.append(m)
                    print(f"  corral run {i + 1}:       {_fmt(m, args.timeout)}", flush=True)
            rows.append((size, pcmk, ours))
            notes += _notes(size, pcmk, ours)
    finally:
        if tmp is not None:
            tmp.cleanup()

    print()
    _table(rows)
    if notes:
        print()
        for n in notes:
            print(n)
    return 0


def _fmt(m: Measurement, timeout: float) -> str:
    if m.exit_code is None:
        return f"did not finish in {timeout:g} s (peak RSS so far {m.max_rss_mb:.0f} MB)"
    status = "" if m.exit_code == 0 else f"  (exit {m.exit_code})"
    return f"{m.seconds:8.2f} s {m.max_rss_mb:7.0f} MB{status}"


def _notes(size: Size, pcmk: Outcome | None, ours: Outcome) -> list[str]:
    notes = []
    for name, o in (("crm_simulate", pcmk), ("corral", ours)):
        bad = o.failed if o is not None else None
        if bad is not None:
            notes.append(f"{size.label}: {name} exited {bad.exit_code}: ...{tail(bad.stderr)}")
    if ours.ok:
        n = summary_count(ours.runs[-1].stdout)
        if n is None:
            notes.append(f"{size.label}: corral printed no 'Transition Summary:' section")
        else:
            notes.append(
                f"{size.label}: corral's Transition Summary has {n} actions "
                f"(a fresh cluster: up to {size.resources} starts)"
            )
    return notes


def _table(rows: list[tuple[Size, Outcome | None, Outcome]]) -> None:
    header = ["size", "crm_simulate s", "MB", "corral s", "MB", "speed-up", "memory ratio"]
    body: list[list[str]] = []
    for size, pcmk, ours in rows:
        p_s, p_mb = pcmk.cells() if pcmk is not None else ("skipped", "-")
        o_s, o_mb = ours.cells()
        speed = mem = "-"
        if pcmk is not None and pcmk.ok and ours.ok:
            speed = f"{pcmk.seconds / ours.seconds:.1f}x"
            mem = f"{pcmk.max_rss_mb / ours.max_rss_mb:.1f}x"
        elif pcmk is not None and pcmk.timed_out and ours.ok:
            speed = f">{pcmk.timeout / ours.seconds:.1f}x"
        body.append([f"{size.nodes}x{size.resources}", p_s, p_mb, o_s, o_mb, speed, mem])
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    line = "  ".join(
        h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True))
    )
    print(line)
    print("-" * len(line))
    for r in body:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    print("speed-up and memory ratio: crm_simulate / corral (above 1: corral is faster / smaller)")


if __name__ == "__main__":
    sys.exit(main())
