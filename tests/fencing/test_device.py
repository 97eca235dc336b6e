"""FenceDevice: the fence-agents stdin contract, host mapping and checks, delays, tries, timeouts."""
from __future__ import annotations

import os
import random
import shutil
import sys
import time
from pathlib import Path

import pytest

from corral.fencing.device import (
    FenceDevice,
    FenceDeviceError,
    clear_metadata_cache,
    devices_from_config,
    parse_host_list,
    parse_host_map,
)
from corral.fencing.protocol import ProtocolError, format_stdin, parse_list_output, parse_stdin
from corral.model.config import Clone, Group, Operation, Primitive

from .conftest import FakeAgent, Sleeps, kill_quietly, wait_dead


def dev(agent: FakeAgent, **kw: object) -> FenceDevice:
    kw.setdefault("sleep", Sleeps())
    return FenceDevice(id=kw.pop("id", "fd1"), agent=str(agent.path), **kw)  # type: ignore[arg-type]


# -- the stdin contract ------------------------------------------------------------------------------
def test_stdin_carries_action_plug_port_nodename_and_params(fake_agent: FakeAgent) -> None:
    d = dev(fake_agent, params={"ipaddr": "192.0.2.9", "login": "admin", "pcmk_x": "no"},
            host_map={"n1": "3"})
    r = d.execute("off", "n1")
    assert r.ok and r.rc == 0 and r.tries == 1 and r.plug == "3" and r.agent_action == "off"
    (call,) = fake_agent.calls("off")
    assert call == {"action": "off", "plug": "3", "port": "3", "nodename": "n1", "ipaddr": "192.0.2.9",
                    "login": "admin", "pcmk_x": "no"}
    assert fake_agent.raw("off")[0].startswith("action=off\nplug=3\nport=3\nnodename=n1\n")


def test_host_argument_follows_metadata_and_config(fake_agent: FakeAgent) -> None:
    fake_agent.set(parameters=["ipaddr"])  # an agent with neither plug nor port, like fence_dummy
    FenceDevice("a", str(fake_agent.path)).execute("off", "n1")
    assert "plug" not in fake_agent.calls("off")[0] and "port" not in fake_agent.calls("off")[0]
    FenceDevice("b", str(fake_agent.path), host_argument="uuid").execute("on", "n1")
    assert fake_agent.calls("on")[0]["uuid"] == "n1"
    FenceDevice("c", str(fake_agent.path), host_argument="none").execute("reboot", "n1")
    assert set(fake_agent.calls("reboot")[0]) == {"action", "nodename"}


def test_device_param_port_is_not_overridden(fake_agent: FakeAgent) -> None:
    d = dev(fake_agent, params={"port": "vm-7"}, host_argument="port")
    d.execute("off", "n1")
    assert fake_agent.calls("off")[0]["port"] == "vm-7"


def test_format_and_parse_stdin() -> None:
    assert format_stdin({"action": "off", "plug": "a b"}) == "action=off\nplug=a b\n"
    with pytest.raises(ProtocolError, match="newline"):
        format_stdin({"passwd": "x\naction=on"})
    with pytest.raises(ProtocolError):
        format_stdin({"a=b": "1"})
    assert parse_stdin('# c\noption=off\nplug="node 1"\nstate-dir=/x\n\n') == \
        {"action": "off", "plug": "node 1", "state_dir": "/x"}
    assert parse_list_output("n1,alias1\nn2\nn3 n3b\n") == {"n1", "alias1", "n2", "n3", "n3b"}


def test_reboot_action_remapped(fake_agent: FakeAgent) -> None:
    d = dev(fake_agent, action_map={"reboot": "off"})
    r = d.execute("reboot", "n1")
    assert r.ok and r.action == "reboot" and r.agent_action == "off"
    assert fake_agent.actions() == ["off"]


def test_failure_and_status_codes(fake_agent: FakeAgent) -> None:
    fake_agent.set("off", rc=1, out="boom\n")
    r = dev(fake_agent, tries=1).execute("off", "n1")
    assert not r.ok and r.rc == 1 and "status 1" in r.error and "boom" in r.output
    d = dev(fake_agent, host_map={"n1": "1"})
    assert d.power_status("n1") == "on"
    fake_agent.set(power="off")
    assert d.power_status("n1") == "off"
    fake_agent.set("status", rc=1)
    assert d.power_status("n1") == "unknown"


# -- building from configuration ---------------------------------------------------------------------
def test_from_primitive_reads_pcmk_params() -> None:
    prim = Primitive(
        id="ipmi-n1", rsc_class="stonith", type="fence_ipmilan",
        params={"ip": "192.0.2.1", "username": "admin", "password": "secret", "lanplus": "1",
                "pcmk_host_map": "n1:1;n2=2, n3:3", "pcmk_host_check": "static-list",
                "pcmk_delay_base": "1s", "pcmk_delay_max": "5s", "pcmk_reboot_action": "off",
                "pcmk_reboot_retries": "3", "pcmk_reboot_timeout": "90s", "pcmk_host_argument": "plug"},
        meta={"priority": "10", "pcmk_off_timeout": "45"},
        ops=[Operation("monitor", interval_ms=60000, timeout_ms=20000)])
    d = FenceDevice.from_primitive(prim)
    assert d.id == "ipmi-n1" and d.argv() == ["/usr/sbin/fence_ipmilan"]
    assert d.params == {"ip": "192.0.2.1", "username": "admin", "password": "secret", "lanplus": "1"}
    assert d.host_map == {"n1": "1", "n2": "2", "n3": "3"} and d.host_check == "static-list"
    assert (d.delay_base, d.delay_max) == (1.0, 5.0) and d.action_map == {"reboot": "off"}
    assert d.tries_for("reboot") == 3 and d.tries_for("off") == 2
    assert d.timeout_for("reboot") == 90 and d.timeout_for("off") == 45 and d.timeout_for("monitor") == 20
    assert d.timeout_for("on") == 60 and d.priority == 10 and d.host_argument == "plug"
    assert d.warnings == []


def test_from_primitive_errors_name_the_resource() -> None:
    with pytest.raises(FenceDeviceError, match="resource web: class 'ocf' is not a fence device"):
        FenceDevice.from_primitive(Primitive("web", "ocf", "Dummy", "heartbeat"))
    with pytest.raises(FenceDeviceError, match=r"stonith resource f1: pcmk_delay_max='soon'"):
        FenceDevice.from_primitive(Primitive("f1", "stonith", "fence_x", params={"pcmk_delay_max": "soon"}))
    with pytest.raises(FenceDeviceError, match="stonith resource f1: pcmk_host_check 'maybe'"):
        FenceDevice.from_primitive(Primitive("f1", "stonith", "fence_x", params={"pcmk_host_check": "maybe"}))
    with pytest.raises(FenceDeviceError, match="pcmk_host_map entry 'n1' is not node:plug"):
        FenceDevice.from_primitive(Primitive("f1", "stonith", "fence_x", params={"pcmk_host_map": "n1"}))
    with pytest.raises(FenceDeviceError, match="retries must be at least 1"):
        FenceDevice.from_primitive(Primitive("f1", "stonith", "fence_x", params={"pcmk_off_retries": "0"}))
    d = FenceDevice.from_primitive(Primitive("f1", "stonith", "fence_x",
                                             params={"action": "off", "pcmk_foo": "1"}))
    assert "action" not in d.params and len(d.warnings) == 2


def test_agent_resolution(tmp_path: Path) -> None:
    assert FenceDevice("a", "fence_redfish").argv() == ["/usr/sbin/fence_redfish"]
    assert FenceDevice("a", "fence_redfish", agent_dir=str(tmp_path)).argv() == [str(tmp_path / "fence_redfish")]
    assert FenceDevice("a", "fence_corral_netns").argv() == [sys.executable, "-m", "corral_lab.fence_netns"]
    with pytest.raises(FenceDeviceError, match="must be a name or an absolute path"):
        FenceDevice("a", "../fence_x").argv()
    with pytest.raises(FenceDeviceError, match="not installed"):
        FenceDevice("a", "fence_nope", agent_dir=str(tmp_path)).check()
    r = FenceDevice("a", "fence_nope", agent_dir=str(tmp_path), host_argument="plug", tries=1).execute("off", "n1")
    assert not r.ok and r.rc is None and "cannot execute" in r.error


def test_devices_from_config_finds_nested_stonith() -> None:
    f1 = Primitive("f1", "stonith", "fence_a")
    f2 = Primitive("f2", "stonith", "fence_b")
    res = [f1, Group("g", [Primitive("x", "ocf", "Dummy", "heartbeat"), f2]),
           Clone("c", Primitive("f3", "stonith", "fence_c"))]
    assert sorted(devices_from_config(res)) == ["f1", "f2", "f3"]


def test_parse_host_map_and_list() -> None:
    assert parse_host_map("a:1;b:2 c=3,d:p4") == {"a": "1", "b": "2", "c": "3", "d": "p4"}
    with pytest.raises(ValueError, match="'x' is not node:plug"):
        parse_host_map("a:1;x")
    assert parse_host_map(" a:1 ; b:2 ") == {"a": "1", "b": "2"}
    assert parse_host_list("n1 n2,n3;n4") == ["n1", "n2", "n3", "n4"]


# -- which nodes a device can fence -----------------------------------------------------------------
def test_static_list_check(fake_agent: FakeAgent) -> None:
    d = dev(fake_agent, host_map={"n1": "1"}, host_list=["n2"])
    assert d.effective_host_check() == "static-list"
    assert d.can_fence("n1") and d.can_fence("n2") and not d.can_fence("n3")
    assert fake_agent.calls() == []  # static checks never run the agent


def test_dynamic_list_check_with_aliases_and_cache(fake_agent: FakeAgent) -> None:
    fake_agent.set("list", out="plug1,n1\nplug2\n")
    d = dev(fake_agent, host_check="dynamic-list", host_map={"n2": "plug2"})
    assert d.can_fence("n1") and d.can_fence("n2") and not d.can_fence("n3")
    assert len(fake_agent.calls("list")) == 1  # cached
    assert "plug" not in fake_agent.calls("list")[0]
    d.list_cache_s = 0
    assert d.can_fence("n1") and len(fake_agent.calls("list")) == 2
    fake_agent.set("list", rc=1)
    assert d.list_targets(refresh=True) is None and not d.can_fence("n1")


def test_status_and_none_checks(fake_agent: FakeAgent) -> None:
    d = dev(fake_agent, host_check="status")
    assert d.can_fence("n1")
    fake_agent.set(power="off")
    assert d.can_fence("n1")  # off is a known state: the device controls it
    fake_agent.set("status", rc=1)
    assert not d.can_fence("n1")
    assert fake_agent.calls("status")[0]["plug"] == "n1"
    assert dev(fake_agent, host_check="none").can_fence("anything")


def test_default_host_check_from_metadata(fake_agent: FakeAgent) -> None:
    assert dev(fake_agent).effective_host_check() == "dynamic-list"
    fake_agent.set(actions=["on", "off", "reboot", "status", "metadata"])
    assert dev(fake_agent).effective_host_check() == "dynamic-list"  # the agent's meta-data is cached
    clear_metadata_cache()
    assert dev(fake_agent).effective_host_check() == "status"
    fake_agent.set(actions=["off", "metadata"])
    clear_metadata_cache()
    assert dev(fake_agent).effective_host_check() == "none"
    fake_agent.set("metadata", rc=1)  # metadata ignores behaviour, but a broken agent path does not answer
    assert FenceDevice("x", "/nonexistent/fence_x").effective_host_check() == "dynamic-list"


# -- delays -----------------------------------------------------------------------------------------
class FixedRng(random.Random):
    def __init__(self, fraction: float) -> None:
        super().__init__(0)
        self.fraction = fraction
        self.asked: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.asked.append((a, b))
        return a + (b - a) * self.fraction


def test_random_delay_from_injected_rng(fake_agent: FakeAgent, sleeps: Sleeps) -> None:
    rng = FixedRng(0.5)
    d = dev(fake_agent, delay_base=1.0, delay_max=5.0, rng=rng, sleep=sleeps)
    r = d.execute("reboot", "n1")
    assert r.ok and sleeps.calls == [3.0] and r.delay_s == 3.0 and rng.asked == [(0.0, 4.0)]
    d.execute("on", "n1")
    d.power_status("n1")
    assert sleeps.calls == [3.0]  # only off/reboot wait
    d.execute("off", "n1", delay=False)
    assert sleeps.calls == [3.0]


def test_delay_base_only_and_per_node(fake_agent: FakeAgent, sleeps: Sleeps) -> None:
    d = dev(fake_agent, delay_base=2.0, sleep=sleeps)
    d.execute("off", "n1")
    assert sleeps.calls == [2.0]
    prim = Primitive("f", "stonith", str(fake_agent.path), params={"pcmk_delay_base": "n1:0s;n2:4s"})
    d2 = FenceDevice.from_primitive(prim, sleep=sleeps)
    assert d2.delay_for("n1") == 0 and d2.delay_for("n2") == 4 and d2.delay_for("n3") == 0
    seeded = FenceDevice("s", "fence_x", delay_max=10, rng=random.Random(7))
    assert all(0 <= seeded.delay_for("n") <= 10 for _ in range(20))


def test_delay_is_cut_by_the_deadline(fake_agent: FakeAgent, sleeps: Sleeps) -> None:
    d = dev(fake_agent, delay_base=30.0, sleep=sleeps)
    r = d.execute("off", "n1", deadline=time.monotonic() + 0.5)
    assert sleeps.calls and sleeps.calls[0] <= 0.5
    # Our fake sleep does not sleep, so the agent still ran; a real one would hit the deadline.
    assert r.ok


# -- tries and timeouts ------------------------------------------------------------------------------
def test_retries_until_success(fake_agent: FakeAgent) -> None:
    fake_agent.set("reboot", fail_first=1)
    r = dev(fake_agent, tries=3).execute("reboot", "n1")
    assert r.ok and r.tries == 2 and len(fake_agent.calls("reboot")) == 2


def test_retries_are_bounded(fake_agent: FakeAgent) -> None:
    fake_agent.set("off", rc=1)
    r = dev(fake_agent, tries=3).execute("off", "n1")
    assert not r.ok and r.tries == 3 and len(fake_agent.calls("off")) == 3
    r = dev(fake_agent, tries=5, action_tries={"off": 1}).execute("off", "n1")
    assert r.tries == 1


def test_timeout_kills_the_agent_and_its_children(fake_agent: FakeAgent, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    fake_agent.set("off", sleep=30, child_pidfile=str(pidfile))
    d = dev(fake_agent, timeout_s=0.5, tries=1, kill_grace_s=0.2)
    t0 = time.monotonic()
    r = d.execute("off", "n1")
    elapsed = time.monotonic() - t0
    child = int(pidfile.read_text())
    try:
        assert not r.ok and r.timed_out and r.rc is None and "timed out" in r.error
        assert elapsed < 3.0
        assert wait_dead(child, 3.0), "the agent's child outlived the timeout kill"
    finally:
        kill_quietly(child)


def test_deadline_bounds_all_tries(fake_agent: FakeAgent) -> None:
    fake_agent.set("off", sleep=5)
    d = dev(fake_agent, timeout_s=10, tries=5, kill_grace_s=0.1)
    t0 = time.monotonic()
    r = d.execute("off", "n1", deadline=time.monotonic() + 0.6)
    assert not r.ok and r.tries == 1 and time.monotonic() - t0 < 2.5


# -- a real agent from Debian's fence-agents ----------------------------------------------------------
REAL_AGENTS = ["/usr/sbin/fence_dummy", "/usr/sbin/fence_ipmilan", "/usr/sbin/fence_redfish",
               "/usr/sbin/fence_virsh"]


def _real_agent() -> str | None:
    return next((p for p in REAL_AGENTS if os.access(p, os.X_OK) and shutil.which("python3")), None)


@pytest.mark.skipif(_real_agent() is None,
                    reason="no fence agent from Debian's fence-agents in /usr/sbin (apt-get install fence-agents)")
def test_real_agent_metadata() -> None:
    path = _real_agent()
    assert path is not None
    md = FenceDevice("real", os.path.basename(path)).metadata()
    assert md is not None and md.name == os.path.basename(path)
    for action in ("off", "reboot", "status", "monitor"):
        assert md.action(action) is not None, action
    assert md.parameter("action") is not None


@pytest.mark.skipif(not os.access("/usr/sbin/fence_dummy", os.X_OK),
                    reason="/usr/sbin/fence_dummy (Debian's fence-agents) is not installed")
def test_fence_dummy_off_status_on(tmp_path: Path) -> None:
    status_file = tmp_path / "dummy.status"
    d = FenceDevice.from_primitive(Primitive("dummy", "stonith", "fence_dummy",
                                             params={"status_file": str(status_file), "type": "file",
                                                     "pcmk_host_list": "n1"}))
    assert d.can_fence("n1") and not d.can_fence("n2")
    assert d.execute("on", "n1").ok and d.power_status("n1") == "on"
    r = d.execute("off", "n1")
    assert r.ok, r.output
    assert d.power_status("n1") == "off" and status_file.read_text().strip() == "off"
    assert d.execute("on", "n1").ok and d.power_status("n1") == "on"
    assert d.run("monitor").ok
