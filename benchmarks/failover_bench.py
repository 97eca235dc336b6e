"""Failover time of a live cluster: from a node's crash (SIGKILL to its agent and its
services) to its resource running on another node.

Three agents on this host, one singleton service (an HTTP server, like a VIP's
listener), on the embedded SQLite store and on a real etcd (/usr/bin/etcd on
loopback). Each run crashes the node running the service, measures until the
store says it is Started elsewhere and until a client gets an HTTP answer, then
restarts the crashed node for the next run. Prints median and worst of N runs,
and the agents' resident memory.

    .venv/bin/python benchmarks/failover_bench.py [--runs 10] [--profile default|fast|subsecond] [--backend sqlite|etcd]
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corral.cluster import configstore  # noqa: E402
from corral.cluster.local import LocalCluster  # noqa: E402
from corral.cluster.snapshot import read_snapshot  # noqa: E402
from corral.cluster.status import cluster_status  # noqa: E402
from corral.cluster.timing import Timing  # noqa: E402
from corral.store import open_store  # noqa: E402

PROFILES = {
    "default": Timing(),                                    # ttl 3 s, renew 0.5 s, store timeout 1 s
    "fast": Timing(ttl=1.0, renew=0.1, store_timeout=0.3),  # 0.1 + 2 x 0.3 < 1
    "subsecond": Timing(ttl=0.6, renew=0.1, store_timeout=0.2),  # 0.1 + 2 x 0.2 < 0.6 (embedded store)
}
ETCD = "/usr/bin/etcd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=0.2) as r:
            return r.status == 200
    except OSError:
        return False


def start_etcd(root: Path) -> tuple[subprocess.Popen, str]:
    client, peer = free_port(), free_port()
    proc = subprocess.Popen(
        [ETCD, "--name", "bench", "--data-dir", str(root / "etcd"),
         "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
         "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"bench=http://127.0.0.1:{peer}",
         "--heartbeat-interval", "10", "--election-timeout", "100"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{client}/health", timeout=1) as r:
                if b"true" in r.read():
                    return proc, f"etcd://127.0.0.1:{client}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("etcd did not become healthy")


def where(store, rid: str) -> str | None:
    st = cluster_status(read_snapshot(store))
    nodes = [r["node"] for r in st["resources"] if r["id"] == rid and r["node"] and r["role"] == "Started"]
    return nodes[0] if len(nodes) == 1 else None


def wait(what: str, check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.01)
    raise RuntimeError(f"timed out waiting for {what}")


def bench(backend: str, timing: Timing, runs: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"corral-bench-{backend}-"))
    etcd = None
    cluster = None
    try:
        if backend == "etcd":
            etcd, url = start_etcd(root)
        else:
            url = f"sqlite://{root}/cluster.db"
        store = open_store(url)
        port = free_port()
        cfg = root / "bench.yaml"
        cfg.write_text(f"""
cluster: {{stonith-enabled: false}}
defaults: {{resource: {{resource-stickiness: 100}}}}
resources:
  - id: vip
    agent: corral:process
    params: {{command: "{sys.executable} -m http.server {port} --bind 127.0.0.1", check_port: "{port}"}}
    ops: [{{name: monitor, interval: 1s, timeout: 10s}}]
""")
        configstore.load_file(store, cfg)
        cluster = LocalCluster(url, root, timing)
        for n in ("n1", "n2", "n3"):
            cluster.start(n)
        wait("the service to start", lambda: where(store, "vip") and http_ok(port))
        to_store, to_client = [], []
        for _ in range(runs):
            victim = wait("a settled cluster", lambda: where(store, "vip"))
            wait("all nodes online", lambda: sum(n["state"] == "online"
                                                 for n in cluster_status(read_snapshot(store))["nodes"]) == 3)
            t0 = time.monotonic()
            cluster.crash(victim)
            store_t = client_t = None
            while time.monotonic() - t0 < 30 and (store_t is None or client_t is None):
                if client_t is None and http_ok(port):
                    client_t = time.monotonic() - t0
                if store_t is None:
                    node = where(store, "vip")
                    if node is not None and node != victim:
                        store_t = time.monotonic() - t0
                time.sleep(0.005)
            if store_t is None or client_t is None:
                raise RuntimeError(f"no failover within 30 s (victim {victim})")
            to_store.append(store_t)
            to_client.append(client_t)
            print(f"  {backend} run {len(to_store):2d}: crashed {victim}; Started elsewhere after "
                  f"{store_t * 1000:6.0f} ms, HTTP answered after {client_t * 1000:6.0f} ms", flush=True)
            cluster.start(victim)
        rss = {n: cluster.rss_mb(n) for n in cluster.nodes}
        store.close()
        return {"store": to_store, "client": to_client, "rss": rss}
    finally:
        if cluster is not None:
            cluster.stop_all(timeout=10)
        if etcd is not None:
            etcd.kill()
            etcd.wait()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--profile", choices=sorted(PROFILES), action="append")
    ap.add_argument("--backend", choices=["sqlite", "etcd"], action="append")
    args = ap.parse_args()
    backends = args.backend or (["sqlite", "etcd"] if os.path.exists(ETCD) else ["sqlite"])
    results = []
    for profile in args.profile or ["default", "fast"]:
        t = PROFILES[profile]
        print(f"profile {profile}: lease TTL {t.ttl:g}s, renew {t.renew:g}s, store timeout {t.store_timeout:g}s",
              flush=True)
        for backend in backends:
            r = bench(backend, t, args.runs)
            results.append((profile, backend, r))
    print()
    print(f"{'profile':<8} {'store':<7} {'runs':>4} {'median ms':>10} {'worst ms':>9} "
          f"{'client median':>14} {'client worst':>13} {'agent RSS MB':>13}")
    for profile, backend, r in results:
        rss = [v for v in r["rss"].values() if v]
        print(f"{profile:<8} {backend:<7} {len(r['store']):>4} {statistics.median(r['store']) * 1000:>10.0f} "
              f"{max(r['store']) * 1000:>9.0f} {statistics.median(r['client']) * 1000:>14.0f} "
              f"{max(r['client']) * 1000:>13.0f} {max(rss) if rss else 0:>13.1f}")


if __name__ == "__main__":
    main()
