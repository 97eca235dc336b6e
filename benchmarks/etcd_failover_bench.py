"""etcd client failover when the etcd leader's host crashes, measured in the namespace lab.

Three lab hosts each run an etcd member (lab/corral_lab/etcd.py, raft heartbeat 25 ms,
election timeout 250 ms). Each run: find the leader, start two lease probes on the
surviving hosts (`python -m corral_lab.etcd probe`: an agent's lease renewal loop,
plus a put every 50 ms and a watch on it), crash the leader's host (links down,
every process killed: connects to it hang, no RST), watch for a few seconds,
restart the host and its member. The probe on one survivor lists the leader's
member first (its pooled connections are to the member that dies: the worst
case); the other lists its own member first, as agents do. The roles swap every run.

Per probe it reports the longest gap between good renewals (send of one to the
return of the next, what an agent's watchdog measures), whether the lease would
be lost (gap > renew + 2 x store timeout: the agent self-fences; or etcd said
the lease expired), the slowest single keepalive call (the store timeout should
bound it), and the longest delay of a put's watch event (the watch resuming).

    sudo .venv/bin/python benchmarks/etcd_failover_bench.py [--runs 10] [--timeout 0.4]
         [--renew 0.2] [--ttl 2] [--no-heartbeat] [--baseline FILE] [--json FILE] [--keep DIR]

The probes, like agents, write a lease-bound heartbeat key after each good renewal
(--no-heartbeat: renew only). --baseline FILE also measures the EtcdStore of FILE (e.g.
`git show HEAD~5:corral/store/etcd.py > /tmp/etcd_old.py`), alternating with the current
one run by run, so both see the same machine load.

Needs root (network and mount namespaces) and /usr/bin/etcd.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corral_lab import Lab, LabError, cleanup_stale, lab_available  # noqa: E402
from corral_lab.etcd import LabEtcd, ProbeReport, etcd_available, leader_crash_trial, report_dict  # noqa: E402


def fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def print_report(run: int, impl: str, leader: str, rep: ProbeReport) -> None:
    lost = "LEASE LOST" if rep.lease_lost else "kept"
    lag = f"{fmt(rep.watch_lag_s)} s" if not rep.watch_unseen else f">= {fmt(rep.watch_lag_s)} s (never resumed)"
    print(f"  run {run:2} {impl:8}: {leader} crashed; {rep.order:12} probe on {rep.host}: gap {fmt(rep.max_gap_s)} s "
          f"(limit {rep.limit_s:.2f}), renewed again {fmt(rep.recovered_s)} s after the crash, slowest call "
          f"{fmt(rep.longest_call_s)} s, watch lag {lag}: {lost}", flush=True)


def summary(reps: list[ProbeReport], label: str) -> None:
    gaps = [r.max_gap_s for r in reps if r.max_gap_s is not None]
    lags = [r.watch_lag_s for r in reps if r.watch_lag_s is not None]
    calls = [r.longest_call_s for r in reps if r.longest_call_s is not None]
    lost = sum(1 for r in reps if r.lease_lost)
    stuck = sum(1 for r in reps if r.watch_unseen)
    if not gaps:
        print(f"  {label:21}: no measurement")
        return
    print(f"  {label:21}: renewal gap median {statistics.median(gaps):.2f} s, worst {max(gaps):.2f} s; "
          f"slowest call {max(calls):.2f} s; watch lag median {fmt(statistics.median(lags) if lags else None)} s, "
          f"worst {fmt(max(lags) if lags else None)} s (never resumed: {stuck}); "
          f"lease lost in {lost} of {len(reps)} runs")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--timeout", type=float, default=0.4, help="store timeout, s (default 0.4)")
    ap.add_argument("--renew", type=float, default=0.2, help="renew interval, s (default 0.2)")
    ap.add_argument("--ttl", type=float, default=2.0, help="lease TTL, s (default 2)")
    ap.add_argument("--observe", type=float, default=3.0, help="seconds watched after the crash (default 3)")
    ap.add_argument("--no-heartbeat", action="store_true", help="probes renew only (no heartbeat write)")
    ap.add_argument("--baseline", metavar="FILE", help="also measure the EtcdStore of this file, alternating")
    ap.add_argument("--json", metavar="FILE", help="also write every report as JSON")
    ap.add_argument("--keep", metavar="DIR", help="keep the probe records and etcd logs under DIR")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("etcd_failover_bench.py needs root (network and mount namespaces)", file=sys.stderr)
        return 2
    why = lab_available() or etcd_available()
    if why:
        print(f"etcd_failover_bench.py: {why}", file=sys.stderr)
        return 2
    if args.renew + 2 * args.timeout >= args.ttl:
        ap.error("the lease-timing rule needs renew + 2 x timeout < ttl")
    cleanup_stale("crl")
    work = args.keep or tempfile.mkdtemp(prefix="corral-etcd-bench-")
    os.makedirs(work, exist_ok=True)
    impls: list[tuple[str, str | None]] = [("current", None)]
    if args.baseline:
        impls.append(("baseline", os.path.abspath(args.baseline)))
    print(f"store timeout {args.timeout:g} s, renew {args.renew:g} s, TTL {args.ttl:g} s "
          f"(self-fence after {args.renew + 2 * args.timeout:.2f} s without a good renewal); heartbeat "
          f"{'off' if args.no_heartbeat else 'on'}; load average {os.getloadavg()[0]:.2f}", flush=True)
    reports: list[tuple[int, str, str, ProbeReport]] = []
    try:
        with Lab(3) as lab:
            etcd = LabEtcd(lab, list(lab.hosts), data_root=os.path.join(work, "etcd"))
            try:
                etcd.start()
                for i in range(args.runs * len(impls)):
                    run, (label, impl) = i // len(impls) + 1, impls[i % len(impls)]
                    try:
                        leader, reps = leader_crash_trial(
                            lab, etcd, os.path.join(work, f"run{run}-{label}"), timeout=args.timeout,
                            renew=args.renew, ttl=args.ttl, observe_s=args.observe, swap=run % 2 == 0,
                            heartbeat=not args.no_heartbeat, impl=impl)
                    except LabError as e:
                        print(f"  run {run:2} {label:8}: FAILED: {e}", flush=True)
                        continue
                    for rep in reps:
                        print_report(run, label, leader, rep)
                        reports.append((run, label, leader, rep))
                    lab.restart(leader)
                    etcd.start_member(leader)
                    etcd.wait_healthy(etcd.hosts)
            finally:
                etcd.stop()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("summary:")
    for label, _ in impls:
        for order in ("leader-first", "local-first"):
            summary([r for _, lb, _, r in reports if lb == label and r.order == order], f"{label} {order}")
        summary([r for _, lb, _, r in reports if lb == label], f"{label} all")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"run": run, "impl": label, "leader": leader, **report_dict(r)}
                       for run, label, leader, r in reports], f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
