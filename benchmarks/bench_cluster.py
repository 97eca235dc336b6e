"""The small idle cluster the CLI and idle-agent benchmarks measure.

Three agents on this host (default lease timing: TTL 3 s, renew 0.5 s, store
timeout 1 s) on the embedded SQLite store or on a single-member etcd on loopback,
with a few resources: three Dummy primitives (d1 with a 10 s monitor, d2 and d3
with 60 s) and a two-instance Dummy clone (60 s). `idle_cluster()` starts it, waits
until it has settled (a controller, nothing pending, all 5 instances running) and
removes everything it made on exit.

Before anything runs, the corral package is byte-compiled (as `pip install` does for
an installed package): with PYTHONDONTWRITEBYTECODE set, as on the test machines,
every process would otherwise compile its sources again and the numbers would
measure the compiler.
"""
from __future__ import annotations

import compileall
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from corral.cluster import configstore  # noqa: E402
from corral.cluster.local import LocalCluster  # noqa: E402
from corral.cluster.snapshot import read_snapshot  # noqa: E402
from corral.cluster.status import cluster_status  # noqa: E402
from corral.cluster.timing import Timing  # noqa: E402
from corral.store import Store, open_store  # noqa: E402

STORES = ("sqlite", "etcd")
INSTANCES = 5
T = TypeVar("T")


def byte_compile() -> None:
    compileall.compile_dir(str(REPO / "corral"), quiet=1)


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


def wait(what: str, check: Callable[[], T], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


@dataclass
class BenchCluster:
    kind: str
    url: str
    root: Path
    store: Store
    cluster: LocalCluster

    def status(self) -> dict[str, Any]:
        return cluster_status(read_snapshot(self.store))

    def agent_pids(self) -> dict[str, int]:
        return {n: node.proc.pid for n, node in self.cluster.nodes.items() if node.proc is not None}


def _exit_on_term(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def _store_url(kind: str, root: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite://{root}/cluster.db"
        return
    if kind != "etcd":
        raise ValueError(f"unknown store {kind!r}: {', '.join(STORES)}")
    from corral_lab.etcd_testing import LoopbackEtcd

    with LoopbackEtcd(root / "etcd") as etcd:
        yield f"etcd://{etcd.endpoint}"


@contextmanager
def idle_cluster(kind: str, settle_s: float = 2.0) -> Iterator[BenchCluster]:
    """The three-node cluster on store `kind` ("sqlite" or "etcd"), settled and idle."""
    signal.signal(signal.SIGTERM, _exit_on_term)  # a stopped benchmark still stops its agents
    root = Path(tempfile.mkdtemp(prefix=f"corral-bench-{kind}-"))
    (root / "etcd").mkdir()
    cluster = store = None
    try:
        with _store_url(kind, root) as url:
            try:
                store = open_store(url)
                cfg = root / "bench.yaml"
                cfg.write_text(config_text(root))
                configstore.load_file(store, cfg)
                cluster = LocalCluster(url, root, Timing())
                for n in ("n1", "n2", "n3"):
                    cluster.start(n)
                bench = BenchCluster(kind, url, root, store, cluster)

                def settled() -> bool:
                    st = bench.status()
                    running = sum(1 for r in st["resources"] if r["node"])
                    return bool(st["controller"]) and not st["pending"] and running == INSTANCES

                wait(f"the cluster on {kind} to settle", settled)
                time.sleep(settle_s)
                yield bench
            finally:
                if cluster is not None:
                    cluster.stop_all(timeout=15)
                if store is not None:
                    store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def load_line() -> str:
    return f"host load average: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)"
