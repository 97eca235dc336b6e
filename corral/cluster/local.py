"""A cluster of agent processes on this host: for `corral demo`, the live tests and the
failover benchmark. Each node gets its own HA_RSCTMP (pid and state files), so
several "nodes" can run the same resources on one machine; killing a node kills
its agent and every service whose pid file lies in its directory.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from corral.cluster.timing import Timing
from corral.resource_agents.procfs import proc_info


@dataclass
class LocalNode:
    name: str
    rsctmp: Path
    log: Path
    proc: subprocess.Popen | None = None


@dataclass
class LocalCluster:
    store_url: str
    workdir: Path
    timing: Timing = field(default_factory=lambda: Timing(ttl=2.0, renew=0.2, store_timeout=0.5))
    nodes: dict[str, LocalNode] = field(default_factory=dict)
    agent_args: list[str] = field(default_factory=list)  # for every agent, e.g. ["--log-level", "debug"]

    def start(self, name: str, *extra: str) -> LocalNode:
        node = self.nodes.get(name) or LocalNode(name, self.workdir / name, self.workdir / f"{name}.log")
        self.nodes[name] = node
        node.rsctmp.mkdir(parents=True, exist_ok=True)
        log = node.log.open("ab")
        t = self.timing
        node.proc = subprocess.Popen(
            [sys.executable, "-m", "corral.cli.main", "agent", "--node", name, "--store", self.store_url,
             "--rsctmp", str(node.rsctmp), "--ttl", str(t.ttl), "--renew", str(t.renew),
             "--store-timeout", str(t.store_timeout), *extra, *self.agent_args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        return node

    def service_pids(self, name: str) -> list[int]:
        """Pids of the corral:process services whose pid files lie in the node's directory."""
        pids = []
        node = self.nodes.get(name)
        if node is None or not node.rsctmp.is_dir():
            return pids
        for f in node.rsctmp.glob("*.pid"):
            try:
                rec = json.loads(f.read_text())
                pid, start = int(rec["pid"]), int(rec["starttime"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            info = proc_info(pid)
            if info is not None and info.starttime == start:  # never a recycled pid
                pids.append(pid)
        return pids

    def crash(self, name: str) -> None:
        """SIGKILL the node's agent and its services: a machine that died."""
        node = self.nodes[name]
        if node.proc is not None:
            _killpg(node.proc.pid, signal.SIGKILL)
            node.proc.wait()
        for pid in self.service_pids(name):
            _killpg(pid, signal.SIGKILL)

    def kill_agent(self, name: str) -> None:
        node = self.nodes[name]
        if node.proc is not None:
            _killpg(node.proc.pid, signal.SIGKILL)
            node.proc.wait()

    def stop_all(self, timeout: float = 15.0) -> None:
        """SIGTERM every agent (each stops what it runs), then SIGKILL whatever is left."""
        live = [n for n in self.nodes.values() if n.proc is not None and n.proc.poll() is None]
        for n in live:
            try:
                n.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        for n in live:
            try:
                n.proc.wait(max(0.1, deadline - time.monotonic()))  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                pass
        self.kill_everything()

    def kill_everything(self) -> None:
        for name, n in self.nodes.items():
            if n.proc is not None:
                _killpg(n.proc.pid, signal.SIGKILL)
                try:
                    n.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            for pid in self.service_pids(name):
                _killpg(pid, signal.SIGKILL)

    def rss_mb(self, name: str) -> float | None:
        node = self.nodes.get(name)
        if node is None or node.proc is None:
            return None
        try:
            for line in Path(f"/proc/{node.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None


def _killpg(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
