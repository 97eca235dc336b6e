"""python -m corral.fencing: devices, can-fence, status, fence (with history), history."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from corral.fencing.cli import main
from corral.fencing.history import confirmed_fenced
from corral.store import open_store

from .conftest import FakeAgent


def write_config(tmp_path: Path, agent: FakeAgent, missing: bool = False) -> Path:
    path = tmp_path / "cluster.yaml"
    extra = ("  - id: fence-missing\n    agent: stonith:fence_not_installed_here\n"
             "    params: {pcmk_host_list: n2}\n") if missing else ""
    path.write_text(f"""\
nodes: [{{name: n1}}, {{name: n2}}]
resources:
  - id: fence-fake
    agent: stonith:{agent.path}
    params: {{pcmk_host_map: "n1:7", pcmk_host_argument: plug, pcmk_reboot_retries: "1"}}
{extra}fencing-topology:
  - {{target: n1, index: 1, devices: [fence-fake]}}
""")
    return path


def test_devices_and_can_fence(tmp_path: Path, fake_agent: FakeAgent, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(write_config(tmp_path, fake_agent, missing=True))
    assert main(["--config", cfg, "devices"]) == 0
    out = capsys.readouterr().out
    assert "fence-fake: agent" in out and "static-list" in out and "fence-missing" in out
    assert "not installed" in out and "able to fence any node" not in out
    assert main(["--config", cfg, "can-fence", "n1"]) == 0
    assert "level 1: fence-fake" in capsys.readouterr().out
    assert main(["--config", cfg, "can-fence", "n3"]) == 1
    assert "no fence device can fence n3" in capsys.readouterr().err


def test_status_and_fence_with_history(tmp_path: Path, fake_agent: FakeAgent,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(write_config(tmp_path, fake_agent))
    fake_agent.set(power="off")
    assert main(["--config", cfg, "status", "n1"]) == 0
    assert "fence-fake: n1 is off" in capsys.readouterr().out
    url = f"sqlite:///{tmp_path}/cluster.db"
    assert main(["--config", cfg, "--store", url, "fence", "n1", "--action", "off"]) == 0
    out = capsys.readouterr().out
    assert "fenced n1 (off) with fence-fake (level 1)" in out and "recorded /corral/fencing/history/n1/" in out
    assert fake_agent.calls("off")[0]["plug"] == "7"
    store = open_store(url)
    try:
        assert confirmed_fenced(store, "n1", since=0)
    finally:
        store.close()
    fake_agent.set("reboot", rc=1)
    assert main(["--config", cfg, "--store", url, "fence", "n1"]) == 1
    assert "failed" in capsys.readouterr().err
    assert main(["--store", url, "history", "n1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and " off done (asked by operator) by fence-fake" in lines[0] and "failed" in lines[1]
    assert main(["--store", url, "history", "--json"]) == 0
    assert [r["state"] for r in json.loads(capsys.readouterr().out)] == ["done", "failed"]


def test_errors_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("resources:\n  - id: f\n    agent: stonith:fence_x\n    params: {pcmk_delay_max: soon}\n")
    assert main(["--config", str(bad), "devices"]) == 2
    assert "pcmk_delay_max='soon'" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="--config FILE is required"):
        main(["devices"])
    unlisted = tmp_path / "unlisted.yaml"
    unlisted.write_text("resources:\n  - id: f\n    agent: stonith:fence_x\n    params: {pcmk_host_check: none}\n")
    assert main(["--config", str(unlisted), "devices"]) == 0
    assert "able to fence any node" in capsys.readouterr().out


def test_module_entry_point() -> None:
    r = subprocess.run([sys.executable, "-m", "corral.fencing", "--help"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and "can-fence" in r.stdout
