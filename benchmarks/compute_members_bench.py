"""Thousands of compute members on one real etcd, a controller watching them, one killed.

One Debian etcd on loopback (its default raft timing: heartbeat 100 ms, election 1 s).
Worker processes each run many compute members in one asyncio loop: the product's
`ComputeMember` with the product's lease clients, real leases, real keep-alives, nothing
re-implemented. A controller process follows the member prefix with the product's
`ComputeMembers` (one watch, a map in memory; no polling). After registration and a
steady window (CPU and etcd's request counters measured), members are killed one at a
time (`crash()`: renewals stop, nothing is revoked) and the controller's delete event
timed from the kill: that event is where a recovery starts (the handler is called).

    .venv/bin/python benchmarks/compute_members_bench.py [--members 5000] [--mode stream|request|both]
         [--workers 2] [--connections 8] [--window 20] [--kills 5] [--ttl 3 --renew 1 --store-timeout 0.8]
         [--json FILE]

mode stream: renewals on etcd's gRPC LeaseKeepAlive stream (one stream per member, on
`--connections` HTTP/2 connections per worker); request: one JSON-gateway request per
renewal through EtcdStore (etcd3gw's session), on a thread pool per worker.

Printed: registration time; per process CPU (cores) over the steady window for etcd, the
controller and the members; etcd's gRPC messages per second by method (from its
/metrics); renewals done vs due; members lost without being killed (false failures);
per kill the time until the controller saw the member's key go.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def host_name(i: int) -> str:
    return f"cmp{i:05d}"


# --- worker: many members in one loop --------------------------------------------------------
def worker(args: argparse.Namespace) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from corral.agent.compute_leases import StoreLeaseClient
    from corral.agent.compute_member import ComputeMember
    from corral.cluster.timing import Timing
    from corral.store import open_store

    timing = Timing(ttl=args.ttl, renew=args.renew, store_timeout=args.store_timeout)
    url = f"etcd://{args.endpoint}?timeout={args.store_timeout:g}"
    commands: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [commands.put(line.strip()) for line in sys.stdin], daemon=True).start()

    def say(*words: object) -> None:
        print(*words, flush=True)

    async def main() -> None:
        clients: list = []
        stores: list = []
        if args.mode == "stream":
            from corral.store.etcd_grpc import GrpcEtcd, GrpcLeaseClient
            from corral.store.factory import etcd_endpoints

            endpoints, timeout = etcd_endpoints(url)
            channels = [GrpcEtcd(endpoints, timeout) for _ in range(args.connections)]
            make = lambda i: GrpcLeaseClient(channels[i % len(channels)])  # noqa: E731
        else:
            pool = ThreadPoolExecutor(args.threads, thread_name_prefix="renew")
            stores = [open_store(url) for _ in range(args.connections)]
            make = lambda i: StoreLeaseClient(stores[i % len(stores)], pool)  # noqa: E731
        members: dict[str, ComputeMember] = {}
        tasks = []
        hosts = [host_name(i) for i in range(args.first, args.first + args.count)]
        spread = args.ramp / max(1, len(hosts))
        for i, host in enumerate(hosts):  # hosts boot at different moments, not all in one tick
            client = make(i)
            clients.append(client)
            members[host] = m = ComputeMember(host, client, timing)
            tasks.append(asyncio.create_task(m.run()))
            await asyncio.sleep(spread)
        while True:
            await asyncio.sleep(0.02)
            while not commands.empty():
                cmd, _, arg = commands.get().partition(" ")
                if cmd == "crash":
                    members[arg].crash()
                    say("crashed", arg, time.monotonic())
                elif cmd == "stats":
                    states = [m.state for m in members.values()]
                    say("stats", json.dumps({"member": states.count("member"),
                                             "renewals": sum(m.renewals for m in members.values()),
                                             "lost": sum(m.lost_count for m in members.values())}))
                elif cmd == "quit":
                    for m in members.values():
                        m.crash()  # leave the keys to etcd: the benchmark's etcd is thrown away
                    await asyncio.gather(*tasks, return_exceptions=True)
                    for c in clients:
                        await c.close()
                    for ch in (channels if args.mode == "stream" else []):
                        await ch.close()
                    for s in stores:
                        s.close()
                    say("bye")
                    return

    asyncio.run(main())


# --- controller: the watch of the member prefix ------------------------------------------------
def controller(args: argparse.Namespace) -> None:
    from corral.cluster.compute_members import ComputeMembers, Departure
    from corral.store import open_store

    store = open_store(f"etcd://{args.endpoint}?timeout=2")

    def on_gone(d: Departure) -> None:
        # Here the recovery of d.host would start (compute HA: gates, fence, evacuate).
        print("gone", d.host, int(d.clean), time.monotonic(), flush=True)

    view = ComputeMembers(store, on_gone).start()
    for line in sys.stdin:
        if line.strip() == "count":
            print("count", len(view.members), view.events, flush=True)
        elif line.strip() == "quit":
            break
    view.close()
    store.close()


# --- the coordinator ----------------------------------------------------------------------------
class Child:
    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, word: str, timeout: float = 30.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"no {word!r} from {self.proc.args}") from None
            if line.split()[0] == word:
                return line.split()
            self.other.append(line)

    other: list[str] = []

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def etcd_metrics(endpoint: str) -> dict[str, float]:
    """Per method: gRPC messages received (a unary call is one message; the JSON gateway
    turns each HTTP request into a gRPC call inside etcd) as METHOD, and calls or streams
    started as "METHOD started"."""
    out: dict[str, float] = {}
    with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            for metric, suffix in (("grpc_server_msg_received_total{", ""), ("grpc_server_started_total{", " started")):
                if line.startswith(metric):
                    labels, value = line.rsplit(" ", 1)
                    method = labels.split('grpc_method="', 1)[1].split('"', 1)[0] + suffix
                    out[method] = out.get(method, 0.0) + float(value)
    return out


def run_mode(args: argparse.Namespace, mode: str) -> dict:
    from corral_lab.etcd_testing import LoopbackEtcd

    me = [sys.executable, str(Path(__file__).resolve())]
    common = ["--ttl", str(args.ttl), "--renew", str(args.renew), "--store-timeout", str(args.store_timeout)]
    result: dict = {"mode": mode, "members": args.members, "ttl": args.ttl, "renew": args.renew}
    with LoopbackEtcd(heartbeat_ms=100, election_ms=1000) as etcd:
        etcd_pid = etcd._proc.pid  # type: ignore[union-attr]
        ctl = Child([*me, "--controller", "--endpoint", etcd.endpoint])
        per = -(-args.members // args.workers)
        workers = [Child([*me, "--worker", "--endpoint", etcd.endpoint, "--mode", mode, "--first", str(w * per),
                          "--count", str(min(per, args.members - w * per)), "--connections", str(args.connections),
                          "--threads", str(args.threads), "--ramp", str(args.ramp), *common])
                   for w in range(args.workers)]
        owner = {host_name(i): workers[i // per] for i in range(args.members)}
        try:
            started = time.monotonic()
            while True:
                time.sleep(1.0)
                ctl.send("count")
                seen = int(ctl.expect("count")[1])
                if seen >= args.members:
                    break
                if time.monotonic() - started > args.ramp + 120:
                    raise SystemExit(f"{mode}: only {seen} of {args.members} members registered")
            result["registered_s"] = round(time.monotonic() - started, 1)
            print(f"[{mode}] {args.members} members registered in {result['registered_s']}s "
                  f"(ramp {args.ramp:g}s)", flush=True)
            time.sleep(args.settle)
            pids = {"etcd": [etcd_pid], "controller": [ctl.proc.pid], "members": [w.proc.pid for w in workers]}

            def stats() -> dict:
                total = {"member": 0, "renewals": 0, "lost": 0}
                for w in workers:
                    w.send("stats")
                    for k, v in json.loads(" ".join(w.expect("stats")[1:])).items():
                        total[k] += v
                return total

            cpu0 = {k: sum(cpu_seconds(p) for p in v) for k, v in pids.items()}
            m0, s0, t0 = etcd_metrics(etcd.endpoint), stats(), time.monotonic()
            load0 = os.getloadavg()[0]
            time.sleep(args.window)
            cpu1 = {k: sum(cpu_seconds(p) for p in v) for k, v in pids.items()}
            m1, s1, t1 = etcd_metrics(etcd.endpoint), stats(), time.monotonic()
            span = t1 - t0
            result["cpu_cores"] = {k: round((cpu1[k] - cpu0[k]) / span, 3) for k in pids}
            rates = {k: round((m1.get(k, 0) - m0.get(k, 0)) / span, 1) for k in m1}
            result["etcd_msgs_per_s"] = {k: v for k, v in sorted(rates.items()) if v > 0}
            result["etcd_msgs_per_s_total"] = round(sum(v for k, v in rates.items() if " " not in k), 1)
            result["renewals_per_s"] = round((s1["renewals"] - s0["renewals"]) / span, 1)
            result["renewals_due_per_s"] = round(args.members / args.renew, 1)
            result["lost_in_window"] = s1["lost"] - s0["lost"]
            result["loadavg"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
            print(f"[{mode}] steady {span:.1f}s: CPU cores {result['cpu_cores']}; etcd gRPC msgs/s "
                  f"{result['etcd_msgs_per_s']} (total {result['etcd_msgs_per_s_total']}); renewals/s "
                  f"{result['renewals_per_s']} of {result['renewals_due_per_s']} due; members that lost "
                  f"their lease: {result['lost_in_window']}; load average {result['loadavg']}", flush=True)
            ctl.other.clear()
            detections = []
            victims = [host_name((k * 7919 + 13) % args.members) for k in range(args.kills)]
            for host in victims:
                w = owner[host]
                w.send(f"crash {host}")
                killed = float(w.expect("crashed")[2])
                deadline = time.monotonic() + args.ttl + 10
                found = None
                while found is None and time.monotonic() < deadline:
                    try:
                        words = ctl.lines.get(timeout=0.5).split()
                    except queue.Empty:
                        continue
                    if words[0] == "gone" and words[1] == host:
                        found = float(words[3]) - killed
                    elif words[0] == "gone":
                        ctl.other.append(" ".join(words))
                detections.append(None if found is None else round(found, 3))
                print(f"[{mode}] killed {host}: controller saw it gone after "
                      f"{'never' if found is None else f'{found:.2f}s'}", flush=True)
                time.sleep(args.kill_gap)
            false = [line for line in ctl.other if line.startswith("gone")]
            result["detections_s"] = detections
            ok = [d for d in detections if d is not None]
            if ok:
                result["detection_median_s"] = round(statistics.median(ok), 3)
                result["detection_max_s"] = max(ok)
            result["false_failures"] = len(false)
            print(f"[{mode}] detection median {result.get('detection_median_s')}s, worst "
                  f"{result.get('detection_max_s')}s (target < 5 s); other members seen gone meanwhile: "
                  f"{len(false)}", flush=True)
        finally:
            for w in workers:
                w.stop()
            ctl.stop()
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--members", type=int, default=5000)
    p.add_argument("--mode", choices=["stream", "request", "both"], default="both")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--connections", type=int, default=8, help="gRPC channels / EtcdStores per worker")
    p.add_argument("--threads", type=int, default=64, help="request mode: renewal threads per worker")
    p.add_argument("--ramp", type=float, default=20.0, help="seconds over which the members start")
    p.add_argument("--settle", type=float, default=5.0)
    p.add_argument("--window", type=float, default=20.0)
    p.add_argument("--kills", type=int, default=5)
    p.add_argument("--kill-gap", type=float, default=1.0)
    p.add_argument("--ttl", type=float, default=3.0)
    p.add_argument("--renew", type=float, default=1.0)
    p.add_argument("--store-timeout", type=float, default=0.8)
    p.add_argument("--json", default=None)
    # internal: the child processes
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--controller", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--endpoint", help=argparse.SUPPRESS)
    p.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    if args.controller:
        controller(args)
        return
    results = [run_mode(args, m) for m in (["stream", "request"] if args.mode == "both" else [args.mode])]
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
