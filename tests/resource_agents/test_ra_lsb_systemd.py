"""LSB init scripts and systemd units, through fake scripts (no root, no systemd needed)."""
from __future__ import annotations

from pathlib import Path

import pytest

from corral.resource_agents import (
    OCF_ERR_GENERIC,
    OCF_ERR_INSTALLED,
    OCF_ERR_PERM,
    OCF_ERR_UNIMPLEMENTED,
    OCF_NOT_RUNNING,
    OCF_SUCCESS,
    ResourceSpec,
)
from corral.resource_agents.lsb import LSBRunner
from corral.resource_agents.systemd import SystemdRunner, systemd_booted

from .conftest import write_script

# An init script whose exit status for each verb is read from a file named after the verb.
INIT_SCRIPT = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          fakesvc
# Short-Description: A fake service
# Description:       Only for tests.
### END INIT INFO
echo "$1" >> "{dir}/calls"
exit $(cat "{dir}/$1" 2>/dev/null || echo 0)
"""


@pytest.fixture
def lsb(workdir: Path) -> tuple[LSBRunner, ResourceSpec, Path]:
    write_script(workdir / "init.d" / "fakesvc", INIT_SCRIPT.format(dir=workdir))
    return LSBRunner(init_dir=str(workdir / "init.d")), ResourceSpec("svc", "lsb", "fakesvc"), workdir


@pytest.mark.parametrize("status,rc", [(0, OCF_SUCCESS), (1, OCF_NOT_RUNNING), (2, OCF_NOT_RUNNING),
                                       (3, OCF_NOT_RUNNING), (4, OCF_ERR_GENERIC), (150, OCF_ERR_INSTALLED),
                                       (151, OCF_ERR_PERM), (99, OCF_ERR_GENERIC)])
def test_lsb_status_mapping(lsb: tuple[LSBRunner, ResourceSpec, Path], status: int, rc: int) -> None:
    runner, spec, d = lsb
    (d / "status").write_text(str(status))
    assert runner.run(spec, "monitor", 5).rc == rc
    assert runner.run(spec, "status", 5).rc == rc
    assert (d / "calls").read_text().split() == ["status", "status"]  # monitor runs `status`


@pytest.mark.parametrize("status,rc", [(0, OCF_SUCCESS), (1, OCF_ERR_GENERIC), (5, OCF_ERR_INSTALLED),
                                       (7, OCF_NOT_RUNNING), (8, OCF_ERR_GENERIC)])
def test_lsb_other_actions_pass_0_to_7_through(lsb: tuple[LSBRunner, ResourceSpec, Path],
                                              status: int, rc: int) -> None:
    runner, spec, d = lsb
    (d / "start").write_text(str(status))
    assert runner.run(spec, "start", 5).rc == rc


def test_lsb_unsupported_action_and_metadata(lsb: tuple[LSBRunner, ResourceSpec, Path]) -> None:
    runner, spec, d = lsb
    assert runner.run(spec, "promote", 5).rc == OCF_ERR_UNIMPLEMENTED
    assert not (d / "calls").exists()
    md = runner.metadata(spec)
    assert md is not None and md.shortdesc == "A fake service" and md.parameters == []
    assert md.action("monitor").interval_ms == 15000  # type: ignore[union-attr]


def test_lsb_missing_script(workdir: Path) -> None:
    runner, spec = LSBRunner(init_dir=str(workdir)), ResourceSpec("gone", "lsb", "nosuch")
    assert runner.run(spec, "start", 5).rc == OCF_ERR_INSTALLED
    with pytest.raises(Exception, match=r"'gone'.*nosuch"):
        runner.check(spec)


# A systemctl that keeps unit states in files: "$dir/<unit>" holds the is-active answer;
# units without a file do not exist. A state file "activating" flips to active when read.
SYSTEMCTL = """#!/bin/sh
echo "$*" >> "{dir}/calls"
[ "$1" = "--no-ask-password" ] && shift
verb=$1 unit=$2
f="{dir}/$unit"
case $verb in
start)  [ -f "$f" ] || {{ echo "Failed to start $unit: Unit $unit not found." >&2; exit 5; }}
        [ "$(cat "$f")" = broken ] && {{ echo "Job for $unit failed." >&2; exit 1; }}
        echo active > "$f" ;;
stop)   [ -f "$f" ] || {{ echo "Failed to stop $unit: Unit $unit not loaded." >&2; exit 5; }}
        echo inactive > "$f" ;;
is-active)
        [ -f "$f" ] || {{ echo inactive; exit 3; }}
        s=$(cat "$f"); echo "$s"
        [ "$s" = activating ] && echo active > "$f"
        [ "$s" = active ] || exit 3 ;;
esac
"""


@pytest.fixture
def systemd(workdir: Path) -> tuple[SystemdRunner, Path]:
    exe = write_script(workdir / "bin" / "systemctl", SYSTEMCTL.format(dir=workdir))
    return SystemdRunner(systemctl=str(exe), require_booted=False), workdir


@pytest.mark.parametrize("state,rc", [("active", OCF_SUCCESS), ("reloading", OCF_SUCCESS),
                                      ("inactive", OCF_NOT_RUNNING), ("failed", OCF_NOT_RUNNING),
                                      ("activating", OCF_SUCCESS), ("weird", OCF_ERR_GENERIC)])
def test_systemd_is_active_mapping(systemd: tuple[SystemdRunner, Path], state: str, rc: int) -> None:
    runner, d = systemd
    (d / "web.service").write_text(state)
    assert runner.run(ResourceSpec("w", "systemd", "web"), "monitor", 5).rc == rc


def test_systemd_start_stop(systemd: tuple[SystemdRunner, Path]) -> None:
    runner, d = systemd
    (d / "web.service").write_text("inactive")
    spec = ResourceSpec("w", "systemd", "web")
    assert runner.run(spec, "start", 5).rc == OCF_SUCCESS
    assert runner.run(spec, "monitor", 5).rc == OCF_SUCCESS
    assert runner.run(spec, "stop", 5).rc == OCF_SUCCESS
    assert runner.run(spec, "monitor", 5).rc == OCF_NOT_RUNNING
    calls = (d / "calls").read_text().splitlines()
    assert calls[0] == "--no-ask-password start web.service" and calls[1] == "is-active web.service"
    (d / "web.service").write_text("broken")
    res = runner.run(spec, "start", 5)
    assert res.rc == OCF_ERR_GENERIC and "Job for web.service failed" in res.exit_reason


def test_systemd_missing_unit(systemd: tuple[SystemdRunner, Path]) -> None:
    runner, _ = systemd
    spec = ResourceSpec("m", "systemd", "missing.socket")
    start = runner.run(spec, "start", 5)
    assert start.rc == OCF_ERR_INSTALLED and "missing.socket" in start.exit_reason
    assert runner.run(spec, "stop", 5).rc == OCF_SUCCESS  # a unit that does not exist is not running
    assert runner.run(spec, "monitor", 5).rc == OCF_NOT_RUNNING
    assert runner.run(spec, "promote", 5).rc == OCF_ERR_UNIMPLEMENTED


def test_systemd_stuck_transition_times_out(systemd: tuple[SystemdRunner, Path]) -> None:
    runner, d = systemd
    (d / "slow.service").write_text("deactivating")
    res = runner.run(ResourceSpec("s", "systemd", "slow"), "monitor", 0.5)
    assert res.timed_out and res.rc == OCF_ERR_GENERIC and "deactivating" in res.exit_reason


@pytest.mark.skipif(systemd_booted(), reason="not applicable: the host runs systemd")
def test_systemd_without_pid1_degrades_clearly(systemd: tuple[SystemdRunner, Path]) -> None:
    _, d = systemd
    runner = SystemdRunner(systemctl=str(d / "bin" / "systemctl"))  # require_booted=True
    res = runner.run(ResourceSpec("api", "systemd", "nova-api"), "start", 5)
    assert res.rc == OCF_ERR_INSTALLED and "PID 1" in res.exit_reason
    assert not (d / "calls").exists()
