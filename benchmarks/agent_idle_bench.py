"""What an idle agent costs: CPU and memory of the three agents of a small idle cluster.

Starts the three-node cluster of benchmarks/bench_cluster.py on --store (sqlite or
etcd; a few Dummy resources, one with a 10 s monitor), waits until it has settled,
then samples each agent's CPU ticks (utime + stime from /proc/PID/stat, as a
percentage of one core) over --idle seconds, and its resident memory (VmRSS) at the
end; the same for the watchdog timer process each agent runs beside it (a separate
interpreter, see corral/agent/watchdog.py), and the store calls of the whole
cluster as the store itself counts them where it can (etcd: its gRPC request
counters from /metrics).

    .venv/bin/python benchmarks/agent_idle_bench.py [--store sqlite|etcd] [--idle 60]

Prints numbers only: nothing here asserts a timing.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cluster import STORES, byte_compile, idle_cluster, load_line  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def watchdog_pid(agent: int) -> int | None:
    """The agent's watchdog timer process (its child running corral.agent.watchdog)."""
    for child in Path(f"/proc/{agent}/task/{agent}/children").read_text().split():
        try:
            if b"corral.agent.watchdog" in Path(f"/proc/{child}/cmdline").read_bytes():
                return int(child)
        except OSError:
            continue
    return None


def etcd_requests(url: str) -> dict[str, int]:
    """etcd's count of gRPC messages received so far, by method (Range, Txn, LeaseKeepAlive...):
    what every client of the cluster asked, as etcd counts it."""
    try:
        with urllib.request.urlopen(f"http://{url.removeprefix('etcd://')}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return {}
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("grpc_server_msg_received_total{"):
            method = line.split('grpc_method="', 1)[1].split('"', 1)[0]
            counts[method] = counts.get(method, 0) + int(float(line.rsplit(" ", 1)[1]))
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", choices=STORES, default="sqlite")
    ap.add_argument("--idle", type=float, default=60.0, help="seconds of idle measurement")
    args = ap.parse_args()
    byte_compile()
    with idle_cluster(args.store) as bench:
        print(load_line(), flush=True)
        pids = bench.agent_pids()
        dogs = {n: watchdog_pid(p) for n, p in pids.items()}
        watched = {**{("agent", n): p for n, p in pids.items()},
                   **{("watchdog", n): p for n, p in dogs.items() if p is not None}}
        before = {k: cpu_ticks(p) for k, p in watched.items()}
        calls_before = etcd_requests(bench.url) if args.store == "etcd" else {}
        t0 = time.monotonic()
        time.sleep(args.idle)
        elapsed = time.monotonic() - t0
        after = {k: cpu_ticks(p) for k, p in watched.items()}
        calls_after = etcd_requests(bench.url) if args.store == "etcd" else {}
        leader = bench.status()["controller"]
        print(f"idle agents on {args.store} over {elapsed:.0f} s (utime + stime, % of one core; RSS):", flush=True)
        for n in pids:
            pct = (after["agent", n] - before["agent", n]) / CLK_TCK / elapsed * 100
            role = " (controller)" if n == leader else ""
            line = f"  agent {n}{role:<13} CPU {pct:5.2f} %   RSS {rss_mb(pids[n]):5.1f} MB"
            if ("watchdog", n) in watched:
                dog = dogs[n]
                assert dog is not None
                wpct = (after["watchdog", n] - before["watchdog", n]) / CLK_TCK / elapsed * 100
                line += f"   watchdog timer: CPU {wpct:5.2f} %   RSS {rss_mb(dog):5.1f} MB"
            print(line, flush=True)
        if calls_after:
            rates = {m: (n - calls_before.get(m, 0)) / elapsed for m, n in calls_after.items()}
            shown = ", ".join(f"{m} {r:.1f}" for m, r in sorted(rates.items(), key=lambda x: -x[1]) if r >= 0.05)
            print(f"  etcd gRPC messages received (whole cluster): {sum(rates.values()):.1f}/s: {shown}", flush=True)
        print(load_line(), flush=True)


if __name__ == "__main__":
    main()
