"""corral:process: a real http.server on loopback, kills behind its back, pid reuse."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from corral.resource_agents import (
    OCF_ERR_CONFIGURED,
    OCF_ERR_GENERIC,
    OCF_ERR_INSTALLED,
    OCF_ERR_UNIMPLEMENTED,
    OCF_NOT_RUNNING,
    OCF_SUCCESS,
    ResourceSpec,
    runner_for,
)
from corral.resource_agents.metadata import parse_metadata_xml
from corral.resource_agents.native import NativeRunner
from corral.resource_agents.procfs import proc_info

from .conftest import Reaper, alive, free_port, wait_dead


def proc_spec(rid: str, command: str, **params: str) -> ResourceSpec:
    return ResourceSpec(rid, "corral", "process", params={"command": command, **params})


def pidfile_of(rsctmp: Path, rid: str) -> Path:
    return rsctmp / f"corral-process-{rid}.pid"


def test_http_server_lifecycle(rsctmp: Path) -> None:
    port = free_port()
    spec = proc_spec("web", f"{sys.executable} -m http.server {port} --bind 127.0.0.1", check_port=str(port))
    runner = runner_for(spec)
    assert runner.run(spec, "monitor", 5).rc == OCF_NOT_RUNNING  # probe
    start = runner.run(spec, "start", 10)
    assert start.rc == OCF_SUCCESS, start
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
        assert resp.status == 200
    assert runner.run(spec, "monitor", 5, interval_ms=10000).rc == OCF_SUCCESS
    pid = json.loads(pidfile_of(rsctmp, "web").read_text())["pid"]
    assert "Serving HTTP" in (rsctmp / "corral-process-web.log").read_text()

    os.kill(pid, signal.SIGKILL)  # behind the cluster's back
    assert wait_dead(pid)
    lost = runner.run(spec, "monitor", 5, interval_ms=10000)
    assert lost.rc == OCF_NOT_RUNNING and str(pid) in lost.exit_reason

    assert runner.run(spec, "stop", 5).rc == OCF_SUCCESS
    assert not pidfile_of(rsctmp, "web").exists()
    assert runner.run(spec, "stop", 5).rc == OCF_SUCCESS  # stop of a stopped resource


def test_start_is_idempotent_and_stop_kills_the_group(rsctmp: Path, workdir: Path) -> None:
    kids = workdir / "kids.pids"
    spec = proc_spec("grp", f"sh -c 'sleep 60 & echo $! > {kids}; exec sleep 60'")
    runner = NativeRunner()
    assert runner.run(spec, "start", 5).rc == OCF_SUCCESS
    first = json.loads(pidfile_of(rsctmp, "grp").read_text())
    assert runner.run(spec, "start", 5).rc == OCF_SUCCESS
    assert json.loads(pidfile_of(rsctmp, "grp").read_text()) == first
    deadline = time.monotonic() + 5
    while not kids.exists() or not kids.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    child = int(kids.read_text())
    assert alive(first["pid"]) and alive(child)
    assert runner.run(spec, "stop", 5).rc == OCF_SUCCESS
    assert not alive(first["pid"]) and not alive(child)


def test_stop_escalates_to_sigkill(rsctmp: Path, workdir: Path) -> None:
    mark = workdir / "trapped"
    spec = proc_spec("stubborn", f"sh -c \"trap '' TERM; touch {mark}; while :; do sleep 0.1; done\"",
                     stop_grace="0.3")
    runner = NativeRunner()
    assert runner.run(spec, "start", 5).rc == OCF_SUCCESS
    pid = json.loads(pidfile_of(rsctmp, "stubborn").read_text())["pid"]
    deadline = time.monotonic() + 5
    while not mark.exists():  # SIGTERM must not arrive before the trap is set
        assert time.monotonic() < deadline
        time.sleep(0.02)
    t0 = time.monotonic()
    assert runner.run(spec, "stop", 5).rc == OCF_SUCCESS
    assert 0.3 <= time.monotonic() - t0 < 2.0 and not alive(pid)


def test_stop_survives_a_bad_stop_grace(rsctmp: Path) -> None:
    runner = NativeRunner()
    assert runner.run(proc_spec("typo", "sleep 60"), "start", 5).rc == OCF_SUCCESS
    pid = json.loads(pidfile_of(rsctmp, "typo").read_text())["pid"]
    assert runner.run(proc_spec("typo", "sleep 60", stop_grace="soon"), "stop", 2).rc == OCF_SUCCESS
    assert not alive(pid)


def test_pid_reuse_is_not_mistaken_for_our_process(rsctmp: Path, reaper: Reaper) -> None:
    stranger = reaper.popen(["sleep", "60"])
    info = proc_info(stranger.pid)
    assert info is not None
    rsctmp.mkdir(parents=True, exist_ok=True)
    pidfile = pidfile_of(rsctmp, "reuse")
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    # What a pidfile looks like after our process died and the kernel gave its pid away.
    pidfile.write_text(json.dumps({"pid": stranger.pid, "starttime": info.starttime - 1,
                                   "boot_id": boot, "argv": ["old"]}))
    spec = proc_spec("reuse", "sleep 60")
    runner = NativeRunner()
    assert runner.run(spec, "monitor", 5).rc == OCF_NOT_RUNNING
    assert runner.run(spec, "stop", 5).rc == OCF_SUCCESS
    assert alive(stranger.pid) and stranger.poll() is None and not pidfile.exists()
    # Same pid and start time but recorded before a reboot: also not ours.
    pidfile.write_text(json.dumps({"pid": stranger.pid, "starttime": info.starttime,
                                   "boot_id": "another-boot", "argv": ["old"]}))
    assert runner.run(spec, "monitor", 5).rc == OCF_NOT_RUNNING
    assert runner.run(spec, "stop", 5).rc == OCF_SUCCESS and alive(stranger.pid)


def test_a_process_dying_during_monitor_is_not_running(rsctmp: Path, reaper: Reaper) -> None:
    # A killed daemon closes its sockets a moment before it becomes a zombie; a monitor that
    # lands in that moment must say "not running" (7, recover), not "failed" (1).
    dying = reaper.popen(["sleep", "0.1"])
    info = proc_info(dying.pid)
    assert info is not None
    rsctmp.mkdir(parents=True, exist_ok=True)
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    pidfile_of(rsctmp, "dying").write_text(json.dumps({"pid": dying.pid, "starttime": info.starttime,
                                                       "boot_id": boot, "argv": ["sleep"]}))
    spec = proc_spec("dying", "sleep 0.1", check_port=str(free_port()))
    res = NativeRunner().run(spec, "monitor", 5)
    assert res.rc == OCF_NOT_RUNNING and str(dying.pid) in res.exit_reason, res


def test_cwd_env_and_logfile(rsctmp: Path, workdir: Path) -> None:
    out = workdir / "out"
    log = workdir / "logs" / "svc.log"
    spec = proc_spec("envy", f"sh -c 'echo \"$GREETING $OTHER\" > {out}; pwd >> {out}; echo hello-log; exec sleep 60'",
                     cwd=str(workdir), env="GREETING=hi OTHER='two words'", logfile=str(log))
    runner = NativeRunner()
    assert runner.run(spec, "start", 5).rc == OCF_SUCCESS
    deadline = time.monotonic() + 5
    while "hello-log" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert out.read_text().splitlines() == ["hi two words", str(workdir)]
    assert runner.run(spec, "stop", 5).rc == OCF_SUCCESS


@pytest.mark.parametrize("params,rc,words", [
    ({"command": ""}, OCF_ERR_CONFIGURED, "command is required"),
    ({"command": "sleep 'unclosed"}, OCF_ERR_CONFIGURED, "command"),
    ({"command": "sleep 1", "env": "NOEQUALS"}, OCF_ERR_CONFIGURED, "NAME=VALUE"),
    ({"command": "sleep 1", "check_port": "http"}, OCF_ERR_CONFIGURED, "check_port"),
    ({"command": "no-such-binary-xyz"}, OCF_ERR_INSTALLED, "not found"),
    ({"command": "sleep 1", "cwd": "/no/such/dir"}, OCF_ERR_INSTALLED, "cwd"),
])
def test_bad_configuration(rsctmp: Path, params: dict[str, str], rc: int, words: str) -> None:
    spec = ResourceSpec("bad", "corral", "process", params=params)
    runner = NativeRunner()
    for action in ("validate-all", "start"):
        res = runner.run(spec, action, 5)
        assert res.rc == rc and words in res.exit_reason, res
    assert not pidfile_of(rsctmp, "bad").exists()


def test_crash_during_start_reports_the_log(rsctmp: Path) -> None:
    port = free_port()
    spec = proc_spec("crash", "sh -c 'echo boom: config missing >&2; sleep 0.2; exit 1'", check_port=str(port))
    res = NativeRunner().run(spec, "start", 5)
    assert res.rc == OCF_ERR_GENERIC and "boom: config missing" in res.exit_reason


def test_port_that_never_opens_fails_within_the_timeout(rsctmp: Path) -> None:
    spec = proc_spec("deaf", "sleep 60", check_port=str(free_port()))
    runner = NativeRunner()
    t0 = time.monotonic()
    res = runner.run(spec, "start", 1.0)
    # Answers inside its own timeout (so a standalone run is never killed mid-way).
    assert res.rc == OCF_ERR_GENERIC and not res.timed_out and time.monotonic() - t0 < 1.3
    assert "did not accept connections" in res.exit_reason
    # Alive but not serving: monitor says failed, not stopped, so the cluster stops it.
    assert runner.run(spec, "monitor", 1.0).rc == OCF_ERR_GENERIC
    assert runner.run(spec, "stop", 5).rc == OCF_SUCCESS


def test_unknown_action_and_metadata(rsctmp: Path) -> None:
    spec = proc_spec("meta", "sleep 1")
    runner = NativeRunner()
    assert runner.run(spec, "promote", 5).rc == OCF_ERR_UNIMPLEMENTED
    md = runner.metadata(spec)
    assert md is not None and md.required_parameters == ["command"]
    xml = runner.run(spec, "meta-data", 5)
    assert xml.rc == OCF_SUCCESS and parse_metadata_xml(xml.output).parameter("check_port") is not None


def test_isolated_runner_behaves_like_in_process(rsctmp: Path) -> None:
    port = free_port()
    spec = proc_spec("iso", f"{sys.executable} -m http.server {port} --bind 127.0.0.1", check_port=str(port))
    runner = NativeRunner(isolate=True)
    assert runner.run(spec, "start", 10).rc == OCF_SUCCESS
    assert runner.run(spec, "monitor", 5).rc == OCF_SUCCESS
    assert runner.run(spec, "stop", 5).rc == OCF_SUCCESS
    res = runner.run(spec, "monitor", 5, interval_ms=1000)
    assert res.rc == OCF_NOT_RUNNING and res.exit_reason == "not running (no pidfile)"  # via stderr


def test_standalone_script_is_an_ocf_agent(rsctmp: Path, workdir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCF_")}
    env.update({"OCF_RESOURCE_INSTANCE": "cli", "HA_RSCTMP": str(rsctmp), "OCF_RESKEY_command": "sleep 60",
                "OCF_RESKEY_pidfile": str(workdir / "cli.pid")})

    def run(action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "corral.resource_agents.process", action],
                              env=env, capture_output=True, text=True, timeout=20)

    meta = run("meta-data")
    assert meta.returncode == 0 and parse_metadata_xml(meta.stdout).name == "process"
    assert meta.stderr == ""
    assert run("start").returncode == OCF_SUCCESS and (workdir / "cli.pid").exists()
    assert run("monitor").returncode == OCF_SUCCESS
    assert run("stop").returncode == OCF_SUCCESS
    gone = run("monitor")
    assert gone.returncode == OCF_NOT_RUNNING and "ocf-exit-reason:" in gone.stderr
    assert run("bogus").returncode == OCF_ERR_UNIMPLEMENTED
