"""VIP failover measured from a client, in the namespace lab (docs/lab.md).

Three server hosts and a client as network namespaces on a private bridge
(corral/lab). For each system under test: N crash runs (crash the VIP holder,
measure the client's outage until another host answers), then partition
scenarios (the VIP holder cut off from the others; who holds the VIP meanwhile,
what the client sees, what happens after healing). Prints the median and worst
outage per system and the split-brain observations.

    sudo .venv/bin/python benchmarks/failover_lab.py [--runs 10] [--system keepalived ...]
         [--no-partition] [--hold 8] [--json FILE] [--keep DIR]

Needs root (network and mount namespaces) and Debian's keepalived (installed
with apt-get if missing). Systems: keepalived (VRRP defaults, advert_int 1),
keepalived-garp (the same plus higher_prio_send_advert and garp_lower_prio_repeat 5), corral (Corral's
agents on a 3-member etcd inside the lab, lease TTL 2 / renew 0.2 / store timeout 0.4 s), corral-fast
(TTL 1 / renew 0.1 / store timeout 0.3 s), corral-fence (the default timing with stonith enabled and the
lab fence agent fence_corral_netns), corral-fence-fast (stonith, heartbeat every 100 ms, heartbeat-timeout
300 ms: a silent host is fenced without waiting for its lease; TTL 3 / renew 0.1 / store timeout 0.8 s). Corral needs /usr/bin/etcd.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corral_lab import cleanup_stale, lab_available  # noqa: E402
from corral_lab.corral_sut import FAST, AgentTiming  # noqa: E402
from corral_lab.etcd import etcd_available  # noqa: E402
from corral_lab.failover import (  # noqa: E402
    DEFAULT_PORT,
    DEFAULT_VIP,
    Corral,
    CrashRun,
    PartitionResult,
    SystemUnderTest,
    crash_runs,
    partition_run,
    summarize,
)
from corral_lab.keepalived import Keepalived, find_keepalived  # noqa: E402

SYSTEMS = ("keepalived", "keepalived-garp", "corral", "corral-fast", "corral-fence", "corral-fence-fast")
# corral-fence-fast: heartbeats every 100 ms, a node silent for 300 ms is fenced. Failover no longer
# waits for the lease, so the lease can be generous: a 0.8 s store timeout rides out an etcd leader
# election (with 0.4 s, survivors self-fenced when the etcd leader's host was cut off: docs/lab.md).
FENCE_FAST = AgentTiming(3.0, 0.1, 0.8)
FENCE_FAST_HEARTBEAT_TIMEOUT = "300ms"
# after a partition heals, the master that yields announces itself once more, and the one that stays
# master answers that with gratuitous ARPs (keepalived.conf(5)), so clients follow the survivor
GARP_TUNING = ["higher_prio_send_advert", "garp_lower_prio_repeat 5"]


def make_system(name: str, keep: str | None = None) -> SystemUnderTest:
    """The system under test; with keep, its per-host files (configs, logs) go under that directory."""
    if keep:
        os.makedirs(keep, exist_ok=True)
    if name == "keepalived":
        return Keepalived(DEFAULT_VIP, DEFAULT_PORT, run_dir=keep)
    if name == "keepalived-garp":
        return Keepalived(DEFAULT_VIP, DEFAULT_PORT, name=name, extra=GARP_TUNING, run_dir=keep)
    if name == "corral-fast":
        return Corral(DEFAULT_VIP, DEFAULT_PORT, name=name, timing=FAST, work_dir=keep)
    if name == "corral-fence-fast":
        return Corral(DEFAULT_VIP, DEFAULT_PORT, name=name, stonith=True, timing=FENCE_FAST,
                      heartbeat_timeout=FENCE_FAST_HEARTBEAT_TIMEOUT, work_dir=keep)
    if name == "corral-fence":
        return Corral(DEFAULT_VIP, DEFAULT_PORT, name=name, stonith=True, work_dir=keep)
    return Corral(DEFAULT_VIP, DEFAULT_PORT, work_dir=keep)


def keep_dir(root: str | None, *parts: str) -> str | None:
    if root is None:
        return None
    path = os.path.join(root, *parts)
    os.makedirs(path, exist_ok=True)
    return path


def fmt(v: float | None, unit: str = "s") -> str:
    return "-" if v is None else f"{v:.2f} {unit}".strip()


def print_run(r: CrashRun) -> None:
    if r.error:
        print(f"  run {r.run:2}: {r.victim or '?'} crashed: FAILED: {r.error}", flush=True)
        return
    flaps = f", {len(r.flaps)} flap(s)" if r.flaps else ""
    if r.victim_led:
        flaps += ", the victim ran the controller"
    print(f"  run {r.run:2}: {r.victim} crashed -> {r.new_holder} answers; client outage {fmt(r.outage_s)} "
          f"(VIP configured on {r.new_holder} after {fmt(r.claimed_after_s)}; "
          f"{r.failures} failed of {r.attempts} attempts){flaps}", flush=True)


def print_partition(p: PartitionResult) -> None:
    side = "with the other hosts" if p.client_side == "majority" else "with the isolated holder"
    print(f"  partition: {p.isolated or '?'} isolated for {p.hold_s:g} s, client {side}", flush=True)
    if p.error:
        print(f"    FAILED: {p.error}")
        return
    second = f" (second claimant after {fmt(p.first_dual_claim_s)})" if p.first_dual_claim_s is not None else ""
    print(f"    hosts holding the VIP at once: at most {p.max_claimants}; two or more for "
          f"{fmt(p.dual_claim_s)} of {p.hold_s:g} s{second}")
    print(f"    client: longest gap while partitioned {fmt(p.client_outage.seconds if p.client_outage else None)}, "
          f"answered by {', '.join(p.answered_partitioned) or 'nobody'}")
    print(f"    after heal: two claimants for {fmt(p.dual_claim_after_heal_s)}; holder {p.claimants_at_end}; "
          f"client answered by {', '.join(p.answered_after_heal) or 'nobody'}, longest gap "
          f"{fmt(p.client_gap_after_heal.seconds if p.client_gap_after_heal else None)}, steady after "
          f"{fmt(p.settled_after_heal_s) if p.settled_after_heal_s is not None else 'never (bound reached)'}")
    if p.unanswered_at_end_s is not None:
        print(f"    the client was still unanswered when the observation ended, for the last "
              f"{fmt(p.unanswered_at_end_s)}")
    print(f"    ARP claims seen by the client from: {', '.join(p.arp_claimants) or 'nobody'}; "
          f"answer flaps {len(p.answer_flaps)}, ARP flaps {len(p.arp_flaps)}; "
          f"split brain: {'YES' if p.split_brain else 'no'}", flush=True)


def _median(runs: list[dict]) -> float | None:
    vals = [r["outage"]["end"] - r["outage"]["start"] for r in runs if r.get("outage")]
    return statistics.median(vals) if vals else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10, help="crash runs per system (default 10)")
    ap.add_argument("--system", action="append", choices=SYSTEMS,
                    help="system under test (repeatable; default: keepalived)")
    ap.add_argument("--no-partition", action="store_true", help="skip the partition scenarios")
    ap.add_argument("--hold", type=float, default=8.0, help="seconds the partition is held (default 8)")
    ap.add_argument("--settle", type=float, default=60.0,
                    help="after healing, wait at most this long for the client to be served again (default 60)")
    ap.add_argument("--json", metavar="FILE", help="also write every result as JSON")
    ap.add_argument("--keep", metavar="DIR",
                    help="keep the probe records and the systems' configs and logs under DIR")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("failover_lab.py needs root: it builds network and mount namespaces "
              "(run it as root, e.g. sudo .venv/bin/python benchmarks/failover_lab.py)", file=sys.stderr)
        return 2
    why = lab_available()
    if why:
        print(f"failover_lab.py: the namespace lab cannot be built here: {why}", file=sys.stderr)
        return 2
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    cleanup_stale("crl")  # leftovers of killed runs only; live labs are left alone
    systems = args.system or ["keepalived"]
    if any(s.startswith("keepalived") for s in systems) and find_keepalived(install=True) is None:
        print("failover_lab.py: keepalived is not installed and could not be (apt-get install keepalived)",
              file=sys.stderr)
        return 2
    if any(s.startswith("corral") for s in systems) and etcd_available() is not None:
        print(f"failover_lab.py: {etcd_available()}", file=sys.stderr)
        return 2
    print(f"failover lab: 3 servers + 1 client, VIP {DEFAULT_VIP}:{DEFAULT_PORT}, probe every 20 ms "
          f"(100 ms connect timeout); load average {os.getloadavg()[0]:.2f}", flush=True)
    report: dict[str, dict[str, object]] = {}
    summaries: dict[str, dict[str, float | int | None]] = {}
    partitions: dict[str, list[PartitionResult]] = {}
    for name in systems:
        sut = make_system(name, keep_dir(args.keep, name, "crash", "hosts"))
        print(f"\n{name}: {args.runs} crash runs", flush=True)
        t0 = time.monotonic()
        try:
            runs = crash_runs(sut, args.runs, on_run=print_run, work_dir=keep_dir(args.keep, name, "crash"))
        except NotImplementedError as e:
            print(f"  not available: {e}")
            continue
        summaries[name] = summarize(runs)
        print(f"  ({time.monotonic() - t0:.0f} s)")
        parts: list[PartitionResult] = []
        if not args.no_partition:
            for side in ("majority", "isolated"):
                p = partition_run(make_system(name, keep_dir(args.keep, name, f"partition-{side}", "hosts")),
                                  hold_s=args.hold, settle_s=args.settle, client_side=side,
                                  work_dir=keep_dir(args.keep, name, f"partition-{side}"))
                print_partition(p)
                parts.append(p)
        partitions[name] = parts
        report[name] = {"crash_runs": [asdict(r) for r in runs], "summary": summaries[name],
                        "partitions": [asdict(p) | {"split_brain": p.split_brain} for p in parts]}
    if summaries:
        print("\nsystem            runs  median outage  worst outage  best outage  failed  split brain (partition)")
        for name, s in summaries.items():
            sb = ", ".join(f"{p.client_side}: {'YES' if p.split_brain else 'no'} (max {p.max_claimants} holders)"
                           for p in partitions.get(name, [])) or "-"
            print(f"{name:<16} {s['runs']:>5}  {fmt(s['median_s']):>13}  {fmt(s['worst_s']):>12}  "
                  f"{fmt(s['best_s']):>11}  {s['failed']:>6}  {sb}")
        for name in summaries:
            runs_of = [r for r in report[name]["crash_runs"] if isinstance(r, dict)]  # type: ignore[union-attr]
            led = [r for r in runs_of if r.get("victim_led")]
            if led:
                print(f"{name}: {len(led)} of {len(runs_of)} crashes hit the controller's host; outage there "
                      f"median {fmt(_median(led))}, elsewhere median {fmt(_median([r for r in runs_of if r not in led]))}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2, default=str)
    failed = any(s["failed"] for s in summaries.values())
    return 1 if failed or not summaries else 0


if __name__ == "__main__":
    sys.exit(main())
