"""OCF runner: the real ocf:heartbeat agents, plus tiny fake agents for edge cases."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from corral.resource_agents import (
    OCF_DEGRADED,
    OCF_ERR_GENERIC,
    OCF_ERR_INSTALLED,
    OCF_ERR_PERM,
    OCF_NOT_RUNNING,
    OCF_SUCCESS,
    MetadataError,
    ResourceSpec,
    runner_for,
)
from corral.resource_agents.ocf import OCFRunner

from .conftest import Reaper, alive, wait_dead, write_script

HEARTBEAT = Path("/usr/lib/ocf/resource.d/heartbeat")
needs_heartbeat = pytest.mark.skipif(not (HEARTBEAT / "Dummy").exists(), reason="resource-agents not installed")


def fake_agent(workdir: Path, name: str, body: str) -> tuple[OCFRunner, ResourceSpec]:
    root = workdir / "ocf"
    write_script(root / "resource.d" / "test" / name, "#!/bin/sh\n" + body)
    return OCFRunner(ocf_root=str(root), kill_grace_s=0.3), ResourceSpec(name.lower(), "ocf", name, "test")


@needs_heartbeat
def test_dummy_lifecycle(rsctmp: Path, workdir: Path) -> None:
    state = workdir / "dummy.state"
    spec = ResourceSpec("dummy1", "ocf", "Dummy", "heartbeat", params={"state": str(state)})
    runner = runner_for(spec)
    probe = runner.run(spec, "monitor", 10)
    assert probe.rc == OCF_NOT_RUNNING and probe.exit_reason == ""  # Dummy is silent on probes
    assert runner.run(spec, "start", 10).rc == OCF_SUCCESS and state.exists()
    assert runner.run(spec, "monitor", 10, interval_ms=10000).rc == OCF_SUCCESS
    assert runner.run(spec, "stop", 10).rc == OCF_SUCCESS and not state.exists()
    after = runner.run(spec, "monitor", 10, interval_ms=10000)
    assert after.rc == OCF_NOT_RUNNING and after.exit_reason == "No process state file found"
    assert runner.run(spec, "stop", 10).rc == OCF_SUCCESS  # stop of a stopped resource
    res = runner.run(spec, "validate-all", 10)
    assert res.rc == OCF_SUCCESS and res.duration_s > 0 and res.started_at > time.time() - 60 and not res.timed_out


@needs_heartbeat
def test_dummy_default_state_file_lives_in_rsctmp(rsctmp: Path) -> None:
    spec = ResourceSpec("dummy2", "ocf", "Dummy", "heartbeat")
    runner = runner_for(spec)
    assert runner.run(spec, "start", 10).rc == OCF_SUCCESS
    assert (rsctmp / "Dummy-dummy2.state").exists()
    assert runner.run(spec, "stop", 10).rc == OCF_SUCCESS


@needs_heartbeat
def test_metadata_dummy_and_ipaddr2(rsctmp: Path) -> None:
    runner = OCFRunner()
    dummy = runner.metadata(ResourceSpec("d", "ocf", "Dummy", "heartbeat"))
    assert dummy is not None and dummy.name == "Dummy"
    state = dummy.parameter("state")
    assert state is not None and state.unique and not state.required
    assert dummy.parameter("fake") is not None and dummy.parameter("fake").default == "dummy"  # type: ignore[union-attr]
    monitor = dummy.action("monitor")
    assert monitor is not None and monitor.timeout_s == 20.0 and monitor.interval_ms == 10000
    ip = runner.metadata(ResourceSpec("vip", "ocf", "IPaddr2", "heartbeat"))
    assert ip is not None and ip.required_parameters == ["ip"]
    assert ip.parameter("ip").unique and ip.parameter("cidr_netmask") is not None  # type: ignore[union-attr]
    assert {a.name for a in ip.actions} >= {"start", "stop", "monitor", "meta-data", "validate-all"}


def test_environment_reaches_the_agent(rsctmp: Path, workdir: Path) -> None:
    dump = workdir / "env.txt"
    runner, _ = fake_agent(workdir, "Env", f'env > "{dump}"\nexit 0\n')
    spec = ResourceSpec("env1", "ocf", "Env", "test", params={"ip": "10.0.0.5"}, meta={"clone-max": "2"})
    assert runner.run(spec, "monitor", 7.5, interval_ms=3000, env_extra={"OCF_CHECK_LEVEL": "10"}).rc == 0
    env = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    assert env["OCF_ROOT"] == str(workdir / "ocf") and env["HA_RSCTMP"] == str(rsctmp)
    assert env["OCF_RESOURCE_INSTANCE"] == "env1" and env["OCF_RESOURCE_TYPE"] == "Env"
    assert env["OCF_RESOURCE_PROVIDER"] == "test" and env["OCF_RESKEY_ip"] == "10.0.0.5"
    assert env["OCF_RESKEY_CRM_meta_timeout"] == "7500" and env["OCF_RESKEY_CRM_meta_interval"] == "3000"
    assert env["OCF_RESKEY_CRM_meta_clone_max"] == "2" and env["OCF_CHECK_LEVEL"] == "10"
    assert env["OCF_RESKEY_crm_feature_set"] and rsctmp.is_dir()


def test_exit_reason_and_output(rsctmp: Path, workdir: Path) -> None:
    runner, spec = fake_agent(workdir, "Reason", (
        'echo "to stdout"\n'
        'echo "ocf-exit-reason:first reason" >&2\n'
        'echo "noise" >&2\n'
        'echo "ocf-exit-reason:  the real reason  " >&2\n'
        "exit 6\n"))
    res = runner.run(spec, "start", 5)
    assert res.rc == 6 and res.exit_reason == "the real reason"  # the last one wins, as in Pacemaker
    assert "to stdout" in res.output and "noise" in res.output


def test_output_is_a_bounded_tail(rsctmp: Path, workdir: Path) -> None:
    runner, spec = fake_agent(workdir, "Chatty", "seq 1 20000\necho LAST\n")
    res = runner.run(spec, "start", 5)
    assert res.rc == 0 and len(res.output) <= 4096 and res.output.rstrip().endswith("LAST")


@pytest.mark.parametrize("status,rc", [(0, OCF_SUCCESS), (7, OCF_NOT_RUNNING), (9, 9),
                                       (OCF_DEGRADED, OCF_DEGRADED), (42, OCF_ERR_GENERIC),
                                       (127, OCF_ERR_GENERIC)])
def test_exit_status_mapping(rsctmp: Path, workdir: Path, status: int, rc: int) -> None:
    runner, spec = fake_agent(workdir, "Code", f"exit {status}\n")
    assert runner.run(spec, "monitor", 5).rc == rc


def test_agent_killed_by_signal_is_generic_error(rsctmp: Path, workdir: Path) -> None:
    runner, spec = fake_agent(workdir, "Crash", "kill -SEGV $$\n")
    res = runner.run(spec, "start", 5)
    assert res.rc == OCF_ERR_GENERIC and "SIGSEGV" in res.exit_reason


def test_unexecutable_agent(rsctmp: Path, workdir: Path) -> None:
    runner, spec = fake_agent(workdir, "NoExec", "exit 0\n")
    Path(runner.agent_path(spec)).chmod(0o644)
    res = runner.run(spec, "start", 5)
    assert res.rc in (OCF_ERR_INSTALLED, OCF_ERR_PERM) and "not executable" in res.exit_reason


def test_timeout_kills_agent_and_children(rsctmp: Path, workdir: Path, reaper: Reaper) -> None:
    pids = workdir / "children.pids"
    # Ignores SIGTERM (so SIGKILL after the grace is needed) and leaves children behind.
    runner, spec = fake_agent(workdir, "Slow", (
        "trap '' TERM\n"
        f'sleep 60 & echo $! >> "{pids}"\n'
        f'sh -c "sleep 60" & echo $! >> "{pids}"\n'
        f'echo $$ >> "{pids}"\n'
        "sleep 60\n"))
    t0 = time.monotonic()
    res = runner.run(spec, "start", 0.5)
    elapsed = time.monotonic() - t0
    reaper.track_file(pids)
    assert res.timed_out and res.rc == OCF_ERR_GENERIC and "timed out" in res.exit_reason
    assert elapsed < 0.5 + 0.3 + 1.0, elapsed
    children = [int(x) for x in pids.read_text().split()]
    assert len(children) == 3
    for pid in children:
        assert wait_dead(pid, 2.0), f"pid {pid} survived the timeout"


def test_timeout_sigterm_is_enough_for_a_polite_agent(rsctmp: Path, workdir: Path) -> None:
    runner, spec = fake_agent(workdir, "Polite", "exec sleep 60\n")
    runner.kill_grace_s = 10.0
    t0 = time.monotonic()
    res = runner.run(spec, "stop", 0.3)
    assert res.timed_out and time.monotonic() - t0 < 2.0


def test_daemon_holding_stdout_does_not_block(rsctmp: Path, workdir: Path, reaper: Reaper) -> None:
    pids = workdir / "daemon.pids"
    runner, spec = fake_agent(workdir, "Daemon", f'sleep 30 &\necho $! > "{pids}"\nexit 0\n')
    t0 = time.monotonic()
    res = runner.run(spec, "start", 10)
    reaper.track_file(pids)
    assert res.rc == OCF_SUCCESS and time.monotonic() - t0 < 2.0
    # A successful start leaves what the agent started alone.
    assert alive(int(pids.read_text()))


def test_metadata_unimplemented_and_broken(rsctmp: Path, workdir: Path) -> None:
    runner, spec = fake_agent(workdir, "NoMeta", "exit 3\n")
    assert runner.metadata(spec) is None
    runner, spec = fake_agent(workdir, "BadMeta", 'echo "<resource-agent><oops>"\nexit 0\n')
    with pytest.raises(MetadataError, match="ocf:test:BadMeta"):
        runner.metadata(spec)
    runner, spec = fake_agent(workdir, "FailMeta", 'echo "ocf-exit-reason:no meta here" >&2\nexit 1\n')
    with pytest.raises(MetadataError, match="no meta here"):
        runner.metadata(spec)


def test_metadata_is_cached_per_agent_version(rsctmp: Path, workdir: Path) -> None:
    counter = workdir / "calls"
    xml = '<resource-agent name="C"><parameters/><actions><action name="start" timeout="5s"/></actions></resource-agent>'
    runner, spec = fake_agent(workdir, "Cached", f"echo x >> \"{counter}\"\necho '{xml}'\n")
    a, b = runner.metadata(spec), runner.metadata(spec)
    assert a == b and a is not None and a.action("start").timeout_s == 5.0  # type: ignore[union-attr]
    assert counter.read_text().count("x") == 1
