"""A live cluster of real agent processes for the tests, bounded in time and always cleaned up."""
from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from corral.cluster import configstore, keys
from corral.cluster.local import LocalCluster
from corral.cluster.snapshot import read_snapshot
from corral.cluster.status import cluster_status
from corral.store import Store
from corral_lab.etcd_testing import TcpProxy

DUMMY_STATE = "${node:#uname}"  # a Dummy's state file goes in the node's own directory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


class Cluster(LocalCluster):
    store: Store

    def load(self, text: str) -> None:
        path = self.workdir / "config.yaml"
        path.write_text(text)
        configstore.load_file(self.store, path)

    def status(self) -> dict[str, Any]:
        return cluster_status(read_snapshot(self.store))

    def where(self, rid: str) -> list[str]:
        return sorted(r["node"] for r in self.status()["resources"]
                      if rid in (r["id"], r["base"]) and r["node"] and r["role"] != "Stopped")

    def wait(self, what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; status:\n"
                                     + json.dumps(self.status(), indent=1, default=str)[:6000]
                                     + "\n" + self.logs())
            time.sleep(0.05)

    def wait_running(self, rid: str, on: str | None = None, timeout: float = 20.0,
                     not_on: str | None = None) -> str:
        def check() -> str | None:
            nodes = self.where(rid)
            if len(nodes) == 1 and (on is None or nodes[0] == on) and nodes[0] != not_on:
                return nodes[0]
            return None
        where = f" on {on}" if on else (f" off {not_on}" if not_on else "")
        return self.wait(f"{rid} running{where}", check, timeout)

    def wait_idle(self, timeout: float = 20.0) -> dict[str, Any]:
        """Until the controller has nothing left to do."""
        def check() -> dict[str, Any] | None:
            st = self.status()
            return st if not st["pending"] and st["controller"] else None
        return self.wait("the cluster to settle", check, timeout)

    def controller(self) -> str | None:
        kv = self.store.get(keys.LEADER)
        return kv.value if kv else None

    def service_pid(self, node: str, rid: str) -> int | None:
        f = self.nodes[node].rsctmp / f"corral-process-{rid}.pid"
        try:
            return int(json.loads(f.read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None

    def logs(self, tail: int = 40) -> str:
        out = []
        for n in self.nodes.values():
            try:
                lines = n.log.read_text(errors="replace").splitlines()[-tail:]
            except OSError:
                lines = []
            out.append(f"--- {n.name} ---\n" + "\n".join(lines))
        return "\n".join(out)


def process_rsc(rid: str, port: int, extra: str = "") -> str:
    return f"""
  - id: {rid}
    agent: corral:process
    params: {{command: "python3 -m http.server {port} --bind 127.0.0.1", check_port: "{port}"}}
    ops: [{{name: monitor, interval: 500ms, timeout: 10s}}]{extra}
"""


def dummy_rsc(rid: str, workdir: Path, meta: str = "") -> str:
    return f"""
  - id: {rid}
    agent: ocf:heartbeat:Dummy
    params: {{state: "{workdir}/{DUMMY_STATE}/{rid}.state"}}
    ops: [{{name: monitor, interval: 500ms, timeout: 10s}}]{meta}
"""


class Partition(TcpProxy):
    """A forwarder to a store endpoint; cut() makes it a black hole (connections stay open,
    nothing gets through, new ones hang): a network partition, not a refusal; heal() ends it."""

    cut_at: float | None = None

    def cut(self) -> None:
        self.cut_at = time.monotonic()
        self.freeze()

    def heal(self) -> None:
        self.cut_at = None
        self.thaw()

    def close(self) -> None:
        self.stop()
