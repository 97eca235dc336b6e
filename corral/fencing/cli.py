"""`python -m corral.fencing`: check and use fence devices by hand (operators, labs).

    python -m corral.fencing --config cluster.yaml devices
    python -m corral.fencing --config cluster.yaml can-fence ctl1
    python -m corral.fencing --config cluster.yaml status ctl1
    python -m corral.fencing --config cluster.yaml fence ctl1 [--action off] [--store URL]
    python -m corral.fencing history --store URL [NODE]

`fence` with `--store` records the request in the fencing history (origin
"operator", no epoch) like the controller does, so `confirmed_fenced` sees it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict

from corral.fencing.device import FenceDeviceError
from corral.fencing.history import fence_and_record, list_history
from corral.fencing.topology import FENCE_REQUEST_ACTIONS, Fencer
from corral.model.errors import ConfigError
from corral.model.load import load_config
from corral.store import StoreError, open_store


def _fencer(args: argparse.Namespace) -> Fencer:
    if not args.config:
        raise SystemExit(f"{args.command}: --config FILE is required")
    return Fencer.from_config(load_config(args.config), rounds=1)


def _devices(args: argparse.Namespace) -> int:
    f = _fencer(args)
    for dev in f.devices.values():
        ok = "ok"
        try:
            dev.check()
        except FenceDeviceError as e:
            ok = str(e)
        hosts = dev.host_map or dev.host_list or "-"
        print(f"{dev.id}: agent {' '.join(dev.argv())}; host check {dev.effective_host_check()}; "
              f"hosts {hosts}; {ok}")
        for w in dev.warnings:
            print(f"  warning: {w}")
        if dev.effective_host_check() in ("status", "none"):
            print("  warning: no pcmk_host_list/pcmk_host_map: this device counts as able to fence any "
                  "node (a BMC ignores the plug and would reset its own machine)")
    for w in f.warnings:
        print(f"warning: {w}")
    return 0


def _can_fence(args: argparse.Namespace) -> int:
    levels = _fencer(args).levels_for(args.node)
    for lvl in levels:
        print(f"level {lvl.index if lvl.index is not None else '-'}: {', '.join(lvl.devices)}")
    if not levels:
        print(f"no fence device can fence {args.node}", file=sys.stderr)
    return 0 if levels else 1


def _status(args: argparse.Namespace) -> int:
    f = _fencer(args)
    worst = 0
    for lvl in f.levels_for(args.node):
        for dev_id in lvl.devices:
            dev = f.devices.get(dev_id)
            state = dev.power_status(args.node) if dev else "unknown device"
            worst = max(worst, 0 if state in ("on", "off") else 1)
            print(f"{dev_id}: {args.node} is {state}")
    return worst


def _fence(args: argparse.Namespace) -> int:
    f = _fencer(args)
    if args.store:
        store = open_store(args.store)
        try:
            result, rec = fence_and_record(store, f, args.node, args.action, args.origin)
        finally:
            store.close()
        print(f"recorded {rec.key}: {rec.state}")
    else:
        result = f.fence(args.node, args.action)
    if result.ok:
        level = f" (level {result.level})" if result.level is not None else ""
        print(f"fenced {args.node} ({args.action}) with {result.device}{level} in "
              f"{result.finished - result.started:.1f}s, {result.attempts} agent run(s)")
        return 0
    print(f"fencing {args.node} ({args.action}) failed: {result.error}", file=sys.stderr)
    return 1


def _history(args: argparse.Namespace) -> int:
    if not args.store:
        raise SystemExit("history: --store URL is required")
    store = open_store(args.store)
    try:
        records = list_history(store, args.node)
    finally:
        store.close()
    if args.json:
        print(json.dumps([asdict(r) for r in records], indent=2))
        return 0
    for r in records:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.requested_at))
        extra = f" by {r.device}" if r.device else ""
        extra += f": {r.error}" if r.error else ""
        epoch = f" epoch {r.epoch}" if r.epoch is not None else ""
        print(f"{when} {r.node} {r.action} {r.state} (asked by {r.origin}{epoch}){extra}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m corral.fencing", description="Corral fence devices by hand")
    p.add_argument("--config", help="cluster configuration (YAML or CIB XML)")
    p.add_argument("--store", help="store URL, for the fencing history")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("devices", help="list fence devices and whether their agents are installed")
    for name, helptext in (("can-fence", "which levels/devices would fence NODE"),
                           ("status", "power status of NODE from each device")):
        sub.add_parser(name, help=helptext).add_argument("node")
    fp = sub.add_parser("fence", help="fence NODE now")
    fp.add_argument("node")
    fp.add_argument("--action", default="reboot", choices=FENCE_REQUEST_ACTIONS)
    fp.add_argument("--origin", default="operator", help="who asks (recorded in the history)")
    hp = sub.add_parser("history", help="fencing history from the store")
    hp.add_argument("node", nargs="?")
    hp.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    handlers = {"devices": _devices, "can-fence": _can_fence, "status": _status, "fence": _fence,
                "history": _history}
    try:
        return handlers[args.command](args)
    except (ConfigError, FenceDeviceError, StoreError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
