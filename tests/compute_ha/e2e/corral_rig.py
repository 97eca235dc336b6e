"""Corral on the Nova lab: a SQLite store, controller agents, one compute member per compute host.

Every process it starts is killed (SIGKILL) and reaped on close, also when a test fails. Each
process is also listed with the lab's fence agent (fence_corral_nova) under its host, so a
fence of that host kills it: a compute host is its nova-compute and its member; a controller is
its agent.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from corral.store import Store, open_store
from corral_lab.nova import NovaLab
from corral_lab.nova.layout import CLOUD

CONFIG = """\
cluster:
  stonith-enabled: true
  stonith-timeout: 20s
resources:
  - id: fence-lab
    agent: stonith:fence_corral_nova
    params: {{pcmk_host_list: "{plugs}", state_dir: {state_dir}}}
compute:
  cloud: {cloud}
  poll-interval: 1s
  max-concurrent-evacuations: {concurrency}
  enable-returning-hosts: auto
"""


class CorralRig:
    def __init__(self, lab: NovaLab, work: Path, controllers: tuple[str, ...] = ("ctl1",)) -> None:
        self.lab = lab
        self.work = work
        self.controllers = controllers
        self.url = f"sqlite:///{work}/cluster.db"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.url)
        return self._store

    def corral(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "corral.cli.main", *args], capture_output=True, text=True,
                              timeout=timeout, env=self._env(), check=False)

    def _env(self) -> dict[str, str]:
        return {**os.environ, "OS_CLIENT_CONFIG_FILE": self.lab.layout.clouds_yaml, "PYTHONUNBUFFERED": "1"}

    def load(self, concurrency: int = 20) -> None:
        plugs = ",".join([*self.lab.layout.hosts, *self.controllers])
        path = self.work / "corral.yaml"
        path.write_text(CONFIG.format(plugs=plugs, state_dir=self.lab.layout.fence_dir, cloud=CLOUD,
                                      concurrency=concurrency))
        r = self.corral("load", "--store", self.url, str(path))
        assert r.returncode == 0, r.stdout + r.stderr

    def _spawn(self, name: str, host: str, argv: list[str]) -> int:
        with open(self.work / f"{name}.log", "ab") as log:
            p = subprocess.Popen([sys.executable, "-m", "corral.cli.main", *argv], stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=subprocess.STDOUT, env=self._env(), cwd=self.work,
                                 start_new_session=True)
        self.procs[name] = p
        self.lab.add_host_process(host, "corral-agent", p.pid)
        return p.pid

    def start_controller(self, name: str) -> int:
        (self.work / f"rsctmp-{name}").mkdir(exist_ok=True)
        return self._spawn(name, name, ["agent", "--node", name, "--store", self.url, "--watchdog", "none",
                                        "--rsctmp", str(self.work / f"rsctmp-{name}"), "--shutdown-timeout", "5"])

    def start_member(self, host: str) -> int:
        return self._spawn(f"member-{host}", host, ["agent", "--node", host, "--store", self.url, "--role",
                                                    "compute"])

    def kill(self, name: str) -> None:
        p = self.procs[name]
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)

    def alive(self, name: str) -> bool:
        p = self.procs.get(name)
        return p is not None and p.poll() is None

    def status(self) -> dict[str, Any]:
        r = self.corral("compute", "status", "--store", self.url, "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        return json.loads(r.stdout)

    def log_tail(self, name: str, lines: int = 40) -> str:
        try:
            return "\n".join((self.work / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        for name in list(self.procs):
            try:
                self.kill(name)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self._store is not None:
            self._store.close()


def wait_until(what: str, ready, timeout: float, every: float = 0.5):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while True:
        value = ready()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(every)
