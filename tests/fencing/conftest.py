"""A fake fence agent written to tmp_path: it records what it read on stdin and
acts as told by a JSON behaviour file (exit status, output, sleeps, failures)."""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.store import Store, open_store

AGENT = r'''#!{python} -S
import json, sys, time
LOG, BEHAVIOUR = {log!r}, {behaviour!r}
raw = sys.stdin.read()
params = {{}}
for line in raw.splitlines():
    key, _, value = line.partition("=")
    params[key] = value
with open(LOG, "a") as f:
    f.write(json.dumps({{"raw": raw, "params": params}}) + "\n")
with open(BEHAVIOUR) as f:
    b = json.load(f)
action = params.get("action", "reboot")
if action == "metadata":
    acts = "".join(f'<action name="{{a}}"/>' for a in b.get("actions", ["on", "off", "reboot", "status", "list", "monitor", "metadata"]))
    pars = "".join(f'<parameter name="{{p}}"><content type="string"/></parameter>' for p in b.get("parameters", ["plug", "port", "ipaddr"]))
    print(f'<?xml version="1.0" ?><resource-agent name="fence_fake" shortdesc="fake"><parameters>{{pars}}</parameters><actions>{{acts}}</actions></resource-agent>')
    sys.exit(0)
spec = b.get(action, {{}})
calls = sum(1 for line in open(LOG) if json.loads(line)["params"].get("action") == action)
if spec.get("child_pidfile"):
    import subprocess
    child = subprocess.Popen(["sleep", "60"])
    open(spec["child_pidfile"], "w").write(str(child.pid))
time.sleep(spec.get("sleep", 0))
if calls <= spec.get("fail_first", 0):
    print("Failed: told to fail", file=sys.stderr)
    sys.exit(1)
sys.stdout.write(spec.get("out", ""))
sys.exit(spec.get("rc", 2 if action == "status" and b.get("power") == "off" else 0))
'''


class FakeAgent:
    def __init__(self, directory: Path, name: str = "fence_fake") -> None:
        self.path = directory / name
        self.log = directory / f"{name}.log"
        self.behaviour_file = directory / f"{name}.json"
        self.behaviour: dict[str, Any] = {}
        self._save()
        self.path.write_text(AGENT.format(python=sys.executable, log=str(self.log),
                                          behaviour=str(self.behaviour_file)))
        self.path.chmod(0o755)

    def _save(self) -> None:
        self.behaviour_file.write_text(json.dumps(self.behaviour))

    def set(self, action: str | None = None, **spec: Any) -> FakeAgent:
        if action is None:
            self.behaviour.update(spec)
        else:
            self.behaviour.setdefault(action, {}).update(spec)
        self._save()
        return self

    def calls(self, action: str | None = None) -> list[dict[str, str]]:
        if not self.log.exists():
            return []
        out = [json.loads(line)["params"] for line in self.log.read_text().splitlines()]
        return [c for c in out if action is None or c.get("action") == action]

    def raw(self, action: str) -> list[str]:
        lines = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [d["raw"] for d in lines if d["params"].get("action") == action]

    def actions(self) -> list[str]:
        return [c.get("action", "") for c in self.calls() if c.get("action") != "metadata"]


@pytest.fixture
def fake_agent(tmp_path: Path) -> FakeAgent:
    return FakeAgent(tmp_path)


@pytest.fixture
def make_agent(tmp_path: Path) -> Any:
    def make(name: str) -> FakeAgent:
        return FakeAgent(tmp_path, name)
    return make


class Sleeps:
    """A sleep() that records instead of sleeping."""
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/cluster.db"
    s = open_store(url)
    try:
        yield s
    finally:
        s.close()


def wait_dead(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.02)
    return False


def kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


@pytest.fixture(autouse=True)
def _fresh_metadata_cache() -> Iterator[None]:
    """Fake agents change their meta-data in place; the per-process cache must not hide that."""
    from corral.fencing.device import clear_metadata_cache

    clear_metadata_cache()
    yield
    clear_metadata_cache()
