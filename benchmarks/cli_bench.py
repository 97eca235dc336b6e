"""What the CLI and an idle agent cost: `corral status` start to finish, and an idle
agent's CPU and memory.

Starts three agents on this host (embedded SQLite store, default lease timing:
TTL 3 s, renew 0.5 s), loads a few resources (three Dummy primitives, one of them
with a 10 s monitor, and a two-node Dummy clone), waits until the cluster is idle,
then measures:

- `corral status` and `corral status --json` as whole processes (fork to exit),
  median and worst of --runs runs; `crm_mon -1` on a corpus CIB for comparison
  when it is installed;
- each agent's CPU over --idle seconds (utime + stime from /proc/PID/stat, as a
  percentage of one core) and its resident memory (VmRSS) at the end.

    .venv/bin/python benchmarks/cli_bench.py [--runs 20] [--idle 60]

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
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corral.cluster import configstore  # noqa: E402
from corral.cluster.local import LocalCluster  # noqa: E402
from corral.cluster.snapshot import read_snapshot  # noqa: E402
from corral.cluster.status import cluster_status  # noqa: E402
from corral.cluster.timing import Timing  # noqa: E402
from corral.store import open_store  # noqa: E402

CORPUS_CIB = Path(__file__).resolve().parent.parent.parent / "shared/conformance/pacemaker-2.1.5/xml/clone-anon-probe-1.xml"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def corral_cmd() -> list[str]:
    beside = Path(sys.executable).with_name("corral")
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "corral.cli.main"]


def config_text(workdir: Path) -> str:
    def dummy(rid: str, interval: str, indent: str = "  - ") -> str:
        pad = " " * len(indent)
        return (f"{indent}id: {rid}\n{pad}agent: ocf:heartbeat:Dummy\n"
                f"{pad}params: {{state: \"{workdir}/${{node:#uname}}/{rid}.state\"}}\n"
                f"{pad}ops: [{{name: monitor, interval: {interval}, timeout: 20s}}]\n")
    return ("cluster: {stonith-enabled: false}\n"
            "defaults: {resource: {resource-stickiness: 100}}\n"
            "resources:\n" + dummy("d1", "10s") + dummy("d2", "60s") + dummy("d3", "60s")
            + "  - clone: web-clone\n    meta: {clone-max: 2}\n    of:\n" + dummy("web", "60s", "      "))


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def _children_rss_mb(pid: int) -> float:
    """RSS of the agent's own Python children (its watchdog timer process)."""
    total = 0.0
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            status = Path(f"/proc/{child}/status").read_text()
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"corral.agent.watchdog" not in cmdline:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


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


def wait(what: str, check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def show(name: str, times: tuple[list[float], list[float]]) -> None:
    walls, cpus = times
    print(f"  {name:<26} wall median {statistics.median(walls) * 1000:6.0f} ms, worst {max(walls) * 1000:6.0f} ms;"
          f"  CPU median {statistics.median(cpus) * 1000:5.0f} ms   ({len(walls)} runs)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20, help="runs of each command")
    ap.add_argument("--idle", type=float, default=60.0, help="seconds of idle CPU measurement")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="corral-cli-bench-"))
    cluster = None
    try:
        url = f"sqlite://{root}/cluster.db"
        store = open_store(url)
        cfg = root / "bench.yaml"
        cfg.write_text(config_text(root))
        configstore.load_file(store, cfg)
        cluster = LocalCluster(url, root, Timing())
        for n in ("n1", "n2", "n3"):
            cluster.start(n)

        def settled() -> bool:
            st = cluster_status(read_snapshot(store))
            running = sum(1 for r in st["resources"] if r["node"])
            return bool(st["controller"]) and not st["pending"] and running == 5

        wait("the cluster to settle", settled)
        time.sleep(2)
        print(f"host load average: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)", flush=True)
        print("corral status, start to finish (3 nodes, 5 resource instances):", flush=True)
        cmd = corral_cmd()
        show("corral status", timed([*cmd, "status", "--store", url], args.runs))
        show("corral status --json", timed([*cmd, "status", "--json", "--store", url], args.runs))
        if shutil.which("crm_mon") and CORPUS_CIB.exists():
            env = {**os.environ, "CIB_file": str(CORPUS_CIB)}
            show("crm_mon -1 (corpus CIB)", timed(["crm_mon", "-1"], args.runs, env))
        print(f"idle agents over {args.idle:g} s (utime + stime, % of one core; RSS of the agent process, "
              "and of its watchdog timer process beside it):", flush=True)
        pids = {n: node.proc.pid for n, node in cluster.nodes.items() if node.proc is not None}
        before = {n: cpu_ticks(p) for n, p in pids.items()}
        t0 = time.monotonic()
        time.sleep(args.idle)
        elapsed = time.monotonic() - t0
        after = {n: cpu_ticks(p) for n, p in pids.items()}
        leader = cluster_status(read_snapshot(store))["controller"]
        for n in pids:
            pct = (after[n] - before[n]) / CLK_TCK / elapsed * 100
            role = " (controller)" if n == leader else ""
            print(f"  agent {n}{role:<13} CPU {pct:5.2f} %   RSS {cluster.rss_mb(n) or 0:5.1f} MB"
                  f"   (watchdog timer: {_children_rss_mb(pids[n]):.1f} MB)", flush=True)
        print(f"host load average: {os.getloadavg()[0]:.1f}", flush=True)
        store.close()
    finally:
        if cluster is not None:
            cluster.stop_all(timeout=15)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
