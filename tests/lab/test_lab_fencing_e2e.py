"""End to end on the lab: YAML config -> Fencer (level 1 fails, level 2 fences) -> history in sqlite."""
from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import pytest

from corral.fencing import Fencer, confirmed_fenced, fence_and_record, list_history
from corral.model.load import load_config
from corral.store import LeaderElection, open_store
from corral_lab import Lab

pytestmark = pytest.mark.lab

CONFIG = """\
cluster:
  stonith-enabled: true
  stonith-timeout: 20s
nodes: [{{name: h1}}, {{name: h2}}]
resources:
  - id: fence-broken            # points at namespaces that do not exist: level 1 must fail
    agent: stonith:fence_corral_netns
    params: {{pcmk_host_map: "h1:{prefix}-gone;h2:{prefix}-gone", state_dir: {state}}}
  - id: fence-lab
    agent: stonith:fence_corral_netns
    params: {{pcmk_host_map: "h1:{prefix}-h1;h2:{prefix}-h2", state_dir: {state}, pcmk_delay_max: 2s}}
fencing-topology:
  - {{target: h1, index: 1, devices: [fence-broken]}}
  - {{target: h1, index: 2, devices: [fence-lab]}}
"""


def test_yaml_topology_fences_a_lab_host_and_records_it(tmp_path: Path) -> None:
    with Lab(2) as lab:
        path = tmp_path / "cluster.yaml"
        path.write_text(CONFIG.format(prefix=lab.prefix, state=lab.fence_state_dir))
        cfg = load_config(path)
        fencer = Fencer.from_config(cfg, rounds=1)
        delays: list[float] = []
        for dev in fencer.devices.values():
            dev.tries = 1
            dev.rng = random.Random(1)
            dev.sleep = delays.append  # the random delay is recorded, not slept
        service = lab.spawn("h1", [sys.executable, "-S", "-c", "import time; time.sleep(300)"])
        store = open_store(f"sqlite:///{tmp_path}/cluster.db")
        try:
            election = LeaderElection(store, "controller", "ctl-h2", ttl=30)
            assert election.campaign() and election.epoch is not None
            lost_at = time.time()
            result, record = fence_and_record(store, fencer, "h1", "reboot", "ctl-h2", election.epoch)
            assert result.ok, result.error
            assert result.level == 2 and result.device == "fence-lab" and result.attempts == 2
            assert record.state == "done" and record.epoch == election.epoch and record.level == 2
            assert len(delays) == 1 and 0 <= delays[0] <= 2.0  # only fence-lab has a delay
            assert service.wait(timeout=5) == -9
            assert confirmed_fenced(store, "h1", since=lost_at)
            assert not confirmed_fenced(store, "h2", since=lost_at)
            assert [r.state for r in list_history(store, "h1")] == ["done"]
            # reboot = off then on: the host is back up afterwards, with nothing running
            assert fencer.devices["fence-lab"].power_status("h1") == "on"
            assert lab.pids("h1") == []
        finally:
            store.close()
