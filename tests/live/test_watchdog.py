"""The lost node's own duty (corral/agent/watchdog.py, Agent._self_fence): a timer process
or a watchdog device that fires when the agent stops proving its lease valid, the escalation
of an emergency stop that overruns, and self-fencing when the node is expelled."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from live_helpers import free_port, port_open, process_rsc

from corral.agent.watchdog import (
    DEFAULT_DEVICE,
    TAG_ENV,
    Watchdog,
    WatchdogConfig,
    _Timer,
    check_timeout,
    max_timeout,
    resolve,
)
from corral.cluster import keys
from corral.cluster.timing import Timing
from corral.resource_agents.procfs import group_members, proc_info

FENCING_OFF = "cluster: {stonith-enabled: false}\n"


def wait_for(what: str, check: Callable[[], object], timeout: float = 15.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.02)


def alive(pid: int) -> bool:
    info = proc_info(pid)
    return info is not None and info.alive


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; each one's process group is SIGKILLed afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        p.wait()


def spawn_group(procs: list[subprocess.Popen[bytes]], tag: str | None) -> subprocess.Popen[bytes]:
    """A service and its child in their own process group, carrying the tag (or not)."""
    env = {k: v for k, v in os.environ.items() if k != TAG_ENV}
    if tag is not None:
        env[TAG_ENV] = tag
    p = subprocess.Popen(["/bin/sh", "-c", "sleep 60 & exec sleep 60"], env=env, start_new_session=True,
                         stdin=subprocess.DEVNULL)
    procs.append(p)
    wait_for("the group's two processes", lambda: len(group_members(p.pid)) == 2)
    return p


def marker_command(path: Path) -> str:
    return f'echo "$CORRAL_NODE: $CORRAL_SELF_FENCE_REASON" > {path}'


class Gate:
    """The agent's limit() stand-in: feeding allowed until closed."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def __call__(self) -> float | str:
        return self.reason if self.reason is not None else math.inf


# --- units: the timer process and the device ------------------------------------------------------
def test_timer_kills_tagged_groups_and_runs_self_fence_command_when_not_fed(tmp_path, procs):
    tag = f"t:{uuid.uuid4().hex}"
    victim = spawn_group(procs, tag)
    bystander = spawn_group(procs, None)
    marker = tmp_path / "fenced"
    gate = Gate()
    wd = Watchdog(WatchdogConfig("timer", 0.4, command=marker_command(marker)), "tn", tag, gate)
    wd.start()
    try:
        # Fed: for several timeouts nothing happens.
        deadline = time.monotonic() + 1.6
        while time.monotonic() < deadline:
            assert len(group_members(victim.pid)) == 2 and not marker.exists()
            time.sleep(0.05)
        gate.reason = "the test stopped feeding"
        wait_for("the tagged group killed", lambda: not group_members(victim.pid))
        wait_for("the self-fence command", lambda: marker.exists() and marker.read_text().strip())
        assert marker.read_text().startswith("tn: not fed for 0.4s")
        assert len(group_members(bystander.pid)) == 2  # untagged: left alone
    finally:
        wd.close()
    assert wd._backend is None


def test_timer_magic_close_disarms_but_an_agent_death_fires(tmp_path, procs, capfd):
    tag = f"t:{uuid.uuid4().hex}"
    victim = spawn_group(procs, tag)
    marker = tmp_path / "fenced"
    # Closed cleanly ('V', then EOF): the process exits 0 and never fires.
    timer = _Timer(0.5, "tn", tag, marker_command(marker))
    timer.pet(time.monotonic() + 0.5)
    timer.close()
    assert timer.proc is not None and timer.proc.returncode == 0
    time.sleep(1.0)  # two timeouts: it would have fired by now
    assert len(group_members(victim.pid)) == 2 and not marker.exists()
    # The agent dies (its end of the pipe closes without 'V'): it fires at the deadline --
    # at what was there when the agent died, not at what a successor agent started since.
    timer = _Timer(1.0, "tn", tag, marker_command(marker))
    try:
        timer.pet(time.monotonic() + 1.0)
        os.close(timer.w)
        err = ""

        def noticed() -> bool:  # its log goes to our (captured) stderr
            nonlocal err
            err += capfd.readouterr().err
            return "the agent is gone without closing its watchdog" in err

        wait_for("the timer process to notice", noticed)
        time.sleep(0.05)  # /proc start times count in clock ticks (10 ms)
        successor = spawn_group(procs, tag)
        assert timer.proc is not None and timer.proc.wait(15) == 1
        assert not group_members(victim.pid)
        assert len(group_members(successor.pid)) == 2
        assert "the agent exited without closing its watchdog" in marker.read_text()
    finally:
        if timer.proc is not None and timer.proc.poll() is None:
            timer.proc.kill()
            timer.proc.wait()


def test_timer_fire_request_acts_at_once_and_only_once(tmp_path, procs):
    tag = f"t:{uuid.uuid4().hex}"
    victim = spawn_group(procs, tag)
    marker = tmp_path / "fenced"
    gate = Gate()
    wd = Watchdog(WatchdogConfig("timer", 5.0, command=f"echo x >> {marker}"), "tn", tag, gate)
    wd.start()
    try:
        gate.reason = "self-fencing"  # as the agent does: not fed while it escalates
        wd.fire("stop of vip overran the self-fencing budget")
        wd.fire("again")  # not re-armed in between: no second self-fence
        wait_for("the tagged group killed", lambda: not group_members(victim.pid), timeout=4)
        wait_for("the self-fence command", marker.exists, timeout=4)
        gate.reason = None
        assert wd.pet()  # fed again: re-armed
        time.sleep(0.3)
        assert marker.read_text() == "x\n"
    finally:
        wd.close()


def test_device_mode_feeds_a_fifo_and_closes_with_the_magic_v(tmp_path):
    fifo = tmp_path / "watchdog"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a writer's open would block without one
    try:
        cfg = resolve(str(fifo), Timing(ttl=2.0, renew=0.2, store_timeout=0.5))
        assert cfg.mode == "device" and cfg.timeout == pytest.approx(0.7)
        wd = Watchdog(cfg, "tn", f"t:{uuid.uuid4().hex}", Gate())
        wd.start()
        got = b""

        def fed() -> bool:
            nonlocal got
            try:
                got += os.read(reader, 4096)
            except BlockingIOError:
                pass
            return len(got) >= 3

        wait_for("three keepalives", fed)
        wd.close()
        got += os.read(reader, 4096)
        assert got.endswith(b"V") and set(got[:-1]) == {0}
        assert os.read(reader, 4096) == b""  # closed
    finally:
        os.close(reader)


def test_device_fire_stops_feeding_kills_and_runs_the_command(tmp_path, procs):
    tag = f"t:{uuid.uuid4().hex}"
    victim = spawn_group(procs, tag)
    dev = tmp_path / "watchdog"
    dev.write_bytes(b"")
    marker = tmp_path / "fenced"
    timing = Timing(ttl=2.0, renew=0.2, store_timeout=0.5)
    wd = Watchdog(resolve(str(dev), timing, 0.5, marker_command(marker)), "tn", tag, Gate())
    wd.start()
    try:
        wait_for("keepalives", lambda: dev.stat().st_size >= 2)
        wd.fire("stop of vip overran the self-fencing budget")
        assert not group_members(victim.pid)
        assert "stop of vip overran" in marker.read_text()
        size = dev.stat().st_size
        assert not wd.pet()
        time.sleep(0.3)  # the feeding thread stopped too: the kernel would reset the node
        assert dev.stat().st_size == size
    finally:
        wd.close()
    assert dev.read_bytes().endswith(b"V")


def test_watchdog_timeout_must_fit_the_lease_timing():
    timing = Timing(ttl=2.0, renew=0.2, store_timeout=0.5)  # renew + 2 x 0.5 = 1.2; 0.8 left
    assert max_timeout(timing) == pytest.approx(0.7)
    check_timeout(timing, 0.7)
    with pytest.raises(ValueError, match=r"too long.*--watchdog-timeout 0.7 or less, or --ttl 2.1 or more"):
        check_timeout(timing, 0.8)
    auto = resolve("auto", timing)
    if not os.path.exists(DEFAULT_DEVICE):
        assert (auto.mode, auto.note) == ("timer", f"no {DEFAULT_DEVICE}")
    assert resolve("none", timing).mode == "none"
    with pytest.raises(ValueError, match="does not exist"):
        resolve("/nonexistent/watchdog", timing)
    # A real device counts whole seconds: 0.8 s left cannot hold one.
    with pytest.raises(ValueError, match="at least 1 s"):
        resolve("/dev/null", timing)
    # It can with a longer TTL -- but /dev/null is no watchdog, which opening it finds out.
    cfg = resolve("/dev/null", Timing(ttl=5.0, renew=0.5, store_timeout=1.0))
    assert (cfg.mode, cfg.timeout) == ("device", 2.0)
    with pytest.raises(ValueError, match="not a watchdog device"):
        Watchdog(cfg, "tn", "t:x", Gate()).start()


def test_agent_refuses_a_watchdog_timeout_that_outlives_the_lease(tmp_path):
    r = subprocess.run([sys.executable, "-m", "corral.cli.main", "agent", "--node", "n1", "--store",
                        f"sqlite://{tmp_path}/c.db", "--watchdog-timeout", "1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "watchdog timeout 1s is too long for the lease timing" in r.stderr
    assert not (tmp_path / "c.db").exists()  # refused before touching the store


# --- live agents ------------------------------------------------------------------------------------
def one_node(c, config: str, *extra: str) -> None:
    c.load(FENCING_OFF + "resources:" + config)
    c.start("n1", *extra)


def hanging_rsc(rid: str, port: int, flag: Path) -> str:
    """A corral:process service that ignores SIGTERM while `flag` exists; its stop waits
    30 s (stop_grace) before SIGKILL -- far past any self-fencing budget."""
    inner = f"if [ -e {flag} ]; then trap '' TERM; fi; exec python3 -m http.server {port} --bind 127.0.0.1"
    command = f"/bin/sh -c {json.dumps(inner)}"
    return (f"\n  - id: {rid}\n    agent: corral:process\n"
            f"    params: {{command: {json.dumps(command)}, check_port: \"{port}\", stop_grace: \"30\"}}\n"
            f"    ops: [{{name: monitor, interval: 500ms, timeout: 10s}}]\n")


def member_revision(c, node: str) -> int:
    kv = c.store.get(keys.member(node))
    return kv.create_revision if kv is not None else 0


def test_expelled_node_stops_its_resources_and_rejoins(make_cluster):
    c = make_cluster("sqlite")
    port = free_port()
    one_node(c, process_rsc("web", port))
    c.wait_running("web", on="n1")
    c.wait_idle()
    pid = c.service_pid("n1", "web")
    joined = member_revision(c, "n1")
    assert pid is not None and joined
    c.store.delete(keys.member("n1"))  # what mark_fenced does after a fence that did not kill n1
    c.wait("n1 to stop web", lambda: not alive(pid))
    c.wait("n1 to rejoin", lambda: member_revision(c, "n1") > joined)
    c.wait("web restarted", lambda: c.service_pid("n1", "web") not in (None, pid) and port_open(port))
    log = c.nodes["n1"].log.read_text()
    assert "expelled: its member key was deleted while this node was a member" in log
    assert "not confirmed stopped" not in log  # a clean stop: nothing escalated
    assert c.nodes["n1"].proc.poll() is None  # type: ignore[union-attr]


def test_overrunning_emergency_stop_is_escalated(make_cluster):
    c = make_cluster("sqlite")
    port = free_port()
    flag, marker = c.workdir / "hang", c.workdir / "self-fenced"
    flag.touch()
    one_node(c, hanging_rsc("vip", port, flag), "--self-fence-command", marker_command(marker))
    c.wait_running("vip", on="n1")
    c.wait_idle()
    pid = c.service_pid("n1", "vip")
    assert pid is not None
    flag.unlink()  # read at start only: this one ignores SIGTERM, the next ones will not
    c.store.delete(keys.member("n1"))  # self-fence now; the stop cannot finish in time
    c.wait("the watchdog to kill vip", lambda: not alive(pid))
    c.wait("the self-fence command", lambda: marker.exists() and marker.read_text().strip())
    assert marker.read_text().startswith("n1: stop of vip overran the self-fencing budget (expelled")
    log = c.wait("the escalation logged", lambda: "escalating" in (t := c.nodes["n1"].log.read_text()) and t)
    assert "1 resource(s) not confirmed stopped" in log and "vip: its stop is still running" in log
    c.wait("the kill logged", lambda: "watchdog fired (stop of vip overran" in c.nodes["n1"].log.read_text())
    c.wait("vip restarted", lambda: c.service_pid("n1", "vip") not in (None, pid) and port_open(port))


def test_stopped_agent_is_covered_by_the_timer_process(make_cluster):
    """SIGSTOP of the agent alone (not its process group): its threads are frozen, the
    watchdog process is not; it kills the services. Once the agent runs again it rejoins."""
    c = make_cluster("sqlite")
    port = free_port()
    marker = c.workdir / "self-fenced"
    one_node(c, process_rsc("web", port), "--self-fence-command", marker_command(marker))
    c.wait_running("web", on="n1")
    c.wait_idle()
    pid = c.service_pid("n1", "web")
    agent = c.nodes["n1"].proc
    assert pid is not None and agent is not None
    os.kill(agent.pid, signal.SIGSTOP)
    try:
        c.wait("the watchdog to kill web", lambda: not alive(pid))
        c.wait("the self-fence command", lambda: marker.exists() and marker.read_text().strip())
        assert "not fed for" in marker.read_text()
    finally:
        os.kill(agent.pid, signal.SIGCONT)
    c.wait("web restarted", lambda: c.service_pid("n1", "web") not in (None, pid) and port_open(port))
    assert agent.poll() is None


@pytest.mark.etcd
def test_partitioned_node_whose_stop_hangs_is_killed_before_its_lease_expires(make_cluster, live_etcd):
    """The lab's split brain: a stop that outruns the self-fencing budget. Escalated, the
    service dies before n1's lease can expire, i.e. before n2 may start it."""
    from live_helpers import Partition

    c = make_cluster("etcd")
    port = free_port()
    flag, marker = c.workdir / "hang", c.workdir / "self-fenced"
    flag.touch()
    c.load(FENCING_OFF + "resources:" + hanging_rsc("vip", port, flag)
           + "constraints:\n  - location: {rsc: vip, node: n1, score: 100}\n")
    wall = Partition(int(live_etcd.rsplit(":", 1)[1]))
    try:
        c.store_url, direct = f"etcd://127.0.0.1:{wall.port}", c.store_url
        c.start("n1", "--no-controller", "--self-fence-command", marker_command(marker))
        c.store_url = direct
        # n1 first: a vip placed on n2 before n1 joins would be moved, and its stop would hang.
        c.wait("n1 to join", lambda: c.store.get(keys.member("n1")) is not None)
        c.start("n2")
        c.wait_running("vip", on="n1")
        c.wait_idle()
        pid = c.service_pid("n1", "vip")
        assert pid is not None
        flag.unlink()  # read at start only: n2's vip will stop normally
        wall.cut()
        killed_at = member_gone_at = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (killed_at is None or member_gone_at is None):
            now = time.monotonic()
            if killed_at is None and not alive(pid):
                killed_at = now
            if member_gone_at is None and c.store.get(keys.member("n1")) is None:
                member_gone_at = now
            time.sleep(0.01)
        assert killed_at is not None, "vip survived n1's self-fencing\n" + c.logs()
        assert member_gone_at is not None, "n1's lease never expired"
        assert killed_at < member_gone_at, (killed_at - wall.cut_at, member_gone_at - wall.cut_at)
        c.wait_running("vip", on="n2")
        assert "stop of vip overran the self-fencing budget" in marker.read_text()
    finally:
        wall.close()
