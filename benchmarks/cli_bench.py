"""What `corral status` costs, start to finish, on a small idle cluster.

On each store (--store sqlite, etcd; both by default) starts the three-node cluster
of benchmarks/bench_cluster.py (a few Dummy resources, 5 instances), waits until it
is idle, then runs `corral status --store URL` and `corral status --json --store URL`
as whole processes (fork to exit), --runs times each, and prints the median and worst
wall time and the median CPU time (user + system of the process); `crm_mon -1` on a
corpus CIB for comparison when it is installed. The idle agents' own cost is
benchmarks/agent_idle_bench.py.

    .venv/bin/python benchmarks/cli_bench.py [--runs 20] [--store sqlite] [--store etcd]

Prints numbers only: nothing here asserts a timing.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cluster import REPO, STORES, byte_compile, idle_cluster, load_line  # noqa: E402

CORPUS_CIB = REPO.parent / "shared/conformance/pacemaker-2.1.5/xml/clone-anon-probe-1.xml"


def corral_cmd() -> list[str]:
    beside = Path(sys.executable).with_name("corral")
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "corral.cli.main"]


def timed(cmd: list[str], runs: int, env: dict[str, str] | None = None) -> tuple[list[float], list[float]]:
    """(wall seconds, CPU seconds: user + system of the process) of each run. On a loaded host
    the wall time mostly measures the host; the CPU time is what the command itself costs."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.decode()[-500:]}")
    return walls, cpus


def show(name: str, times: tuple[list[float], list[float]]) -> None:
    walls, cpus = times
    print(f"  {name:<32} wall median {statistics.median(walls) * 1000:6.0f} ms, worst {max(walls) * 1000:6.0f} ms;"
          f"  CPU median {statistics.median(cpus) * 1000:5.0f} ms   ({len(walls)} runs)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20, help="runs of each command")
    ap.add_argument("--store", action="append", choices=STORES, help="store to measure on (repeatable; default: both)")
    args = ap.parse_args()
    byte_compile()
    cmd = corral_cmd()
    for kind in args.store or STORES:
        with idle_cluster(kind) as bench:
            print(load_line(), flush=True)
            print(f"corral status on {kind}, start to finish (3 nodes, 5 resource instances):", flush=True)
            show(f"corral status ({kind})", timed([*cmd, "status", "--store", bench.url], args.runs))
            show(f"corral status --json ({kind})", timed([*cmd, "status", "--json", "--store", bench.url], args.runs))
    if shutil.which("crm_mon") and CORPUS_CIB.exists():
        env = {**os.environ, "CIB_file": str(CORPUS_CIB)}
        show("crm_mon -1 (corpus CIB)", timed(["crm_mon", "-1"], args.runs, env))
    print(load_line(), flush=True)


if __name__ == "__main__":
    main()
