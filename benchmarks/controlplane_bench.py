"""The control plane on real services under Corral, measured from a client (docs/openstack.md,
"Control-plane lab"; issue 11's targets).

Builds the control-plane lab once (three controllers, a client; Galera, HAProxy on the VIP,
memcached, Keystone under Corral with fencing) and runs each fault kind --runs times in turn, with
the token loop, the Galera writer and the primary-component sampler running throughout. Prints per
kind: the client-seen token outage (longest gap: median and worst), the time until every service is
back (median, worst), for full-outage the time from power-on to tokens flowing, and the lost
acknowledged commits and violations (must be 0).

    sudo .venv/bin/python benchmarks/controlplane_bench.py [--runs 5] [--kinds crash-vip,crash-other,...]
         [--json FILE] [--keep DIR]

Targets: token outage under 2 s median on the crash of any controller (crash-vip, crash-other,
crash-writer); tokens again under 20 s after a full outage's power-on. Heavy: ~1.1 GB of memory
and, at 5 runs of 6 kinds, about an hour on 2 cores. Exit 2 if the lab cannot be built here.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corral_lab import cleanup_stale  # noqa: E402
from corral_lab.cli import _controlplane_available  # noqa: E402
from corral_lab.controlplane.campaign import ALL_KINDS, Campaign, summary  # noqa: E402
from corral_lab.controlplane.cluster import TAG, ControlPlane  # noqa: E402
from corral_lab.hosts import LabError  # noqa: E402

DEFAULT_KINDS = ("crash-vip", "crash-other", "crash-writer", "kill-mysqld", "kill-keystone", "full-outage")


def _f(v: object) -> str:
    return "-" if v is None else f"{v:.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--kinds", default=",".join(DEFAULT_KINDS), help=f"of: {', '.join(ALL_KINDS)}")
    ap.add_argument("--json")
    ap.add_argument("--keep")
    a = ap.parse_args()
    if why := _controlplane_available():
        print(f"controlplane_bench: the lab cannot be built here: {why}", file=sys.stderr)
        return 2
    kinds = [k for k in a.kinds.split(",") if k]
    cleanup_stale(TAG)
    t0 = time.monotonic()
    cp = ControlPlane(work_dir=a.keep, log=lambda s: print(s, flush=True))
    try:
        camp = Campaign(kinds, cp, log=lambda s: print(s, flush=True))
        bring_up = cp.up()
        results = camp.run(faults=a.runs * len(kinds), duration_s=24 * 3600)
    except (LabError, OSError, ValueError) as e:
        print(f"controlplane_bench: {e}", file=sys.stderr)
        return 1
    finally:
        cp.stop()
    s = summary(results)
    print(f"\nbring-up to the first token: {bring_up:.1f} s; total {time.monotonic() - t0:.0f} s")
    print(f"{'kind':<14} {'runs':>4} {'token outage median/worst s':>28} {'all back median/worst s':>24} "
          f"{'power-on->token med/worst s':>28} {'lost':>5} {'viol':>5}")
    for kind, k in s.items():
        print(f"{kind:<14} {k['runs']:>4} {_f(k['token_outage_median_s']):>13} / {_f(k['token_outage_worst_s']):<12}"
              f" {_f(k['all_back_median_s']):>10} / {_f(k['all_back_worst_s']):<11}"
              f" {_f(k['power_on_to_token_median_s']):>13} / {_f(k['power_on_to_token_worst_s']):<12}"
              f" {k['lost_commits']:>5} {k['violations']:>5}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"summary": s, "results": [asdict(r) for r in results]}, fh, indent=2)
    return 1 if any(r.violations or r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
