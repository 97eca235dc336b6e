"""The namespace lab and the netns fence agent, for real (root + iproute2).

Only addresses inside namespaces these tests create are ever contacted, and
every wait is a bounded loop.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from corral.fencing.device import FenceDevice
from corral.fencing.topology import Fencer
from corral_lab import Lab, cleanup_stale
from corral_lab import netns as nsutil

pytestmark = pytest.mark.lab

SERVER = ("import socket\n"
          "s = socket.create_server(({addr!r}, {port}))\n"
          "while True:\n"
          "    c, _ = s.accept(); c.close()\n")


def start_server(lab: Lab, host: str, port: int = 7000) -> subprocess.Popen[bytes]:
    return lab.spawn(host, [sys.executable, "-S", "-c", SERVER.format(addr=lab.address(host), port=port)])


def wait_reachable(lab: Lab, src: str, dst: str, port: int = 7000, bound_s: float = 10.0) -> float:
    """Seconds until src can connect to dst:port; fails the test past bound_s."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < bound_s:
        if lab.connect(src, dst, port, timeout_s=0.5):
            return time.monotonic() - t0
        time.sleep(0.05)
    pytest.fail(f"{src} could not reach {dst}:{port} within {bound_s}s")


def wait_unreachable(lab: Lab, src: str, dst: str, port: int = 7000, bound_s: float = 5.0) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < bound_s:
        if not lab.connect(src, dst, port, timeout_s=0.5):
            return time.monotonic() - t0
    pytest.fail(f"{src} could still reach {dst}:{port} after {bound_s}s")


def wait_exit(proc: subprocess.Popen[bytes], bound_s: float = 5.0) -> int:
    try:
        return proc.wait(timeout=bound_s)
    except subprocess.TimeoutExpired:
        pytest.fail(f"pid {proc.pid} still alive after {bound_s}s")


def leftovers(prefix: str) -> list[str]:
    found = [f"netns {n}" for n in nsutil.list_netns() if n.startswith(prefix)]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    found += [f"link {line.split(':')[1].strip()}" for line in links.splitlines() if prefix in line]
    with open("/proc/self/mountinfo") as f:
        found += [f"mount {line.split()[4]}" for line in f if prefix in line]
    if os.path.exists(f"/run/corral-lab/{prefix}"):
        found.append(f"dir /run/corral-lab/{prefix}")
    return found


def link_state(lab: Lab, host: str) -> str:
    out = nsutil.ip("-n", lab.host(host).netns, "-o", "link", "show", "dev", "eth0").stdout
    return "UP" if ",UP" in out or "<UP" in out else "DOWN"


def test_tcp_between_hosts_then_crash() -> None:
    with Lab(3) as lab:
        server = start_server(lab, "h1")
        wait_reachable(lab, "h2", "h1")
        assert lab.connect("h3", "h1", 7000)
        assert lab.pids("h1") == [server.pid]
        killed = lab.crash("h1")
        assert killed >= 1 and wait_exit(server) == -9
        assert link_state(lab, "h1") == "DOWN"
        took = wait_unreachable(lab, "h2", "h1", bound_s=3.0)
        assert took < 3.0 and not lab.connect("h2", "h1", 7000, timeout_s=0.5)
        lab.restart("h1")
        assert link_state(lab, "h1") == "UP"
        start_server(lab, "h1")
        wait_reachable(lab, "h2", "h1")
    assert leftovers(lab.prefix) == []


def test_netns_fence_agent_off_status_on() -> None:
    with Lab(2) as lab:
        victim = lab.spawn("h1", ["sleep", "300"])
        bystander = lab.spawn("h2", ["sleep", "300"])
        device = FenceDevice("lab-fence", "fence_corral_netns", params={"state_dir": lab.fence_state_dir},
                             host_map={h: lab.host(h).netns for h in lab.hosts}, tries=1, timeout_s=20)
        assert device.power_status("h1") == "on"
        result = Fencer([device], [("h1", 1, ["lab-fence"])]).fence("h1", "off")
        assert result.ok and result.level == 1 and result.device == "lab-fence", result.error
        assert wait_exit(victim) == -9
        assert bystander.poll() is None  # the other host is untouched
        assert device.power_status("h1") == "off" and device.power_status("h2") == "on"
        assert link_state(lab, "h1") == "DOWN" and lab.pids("h1") == []
        assert os.path.exists(os.path.join(lab.fence_state_dir, f"{lab.host('h1').netns}.off"))
        on = device.execute("on", "h1")
        assert on.ok, on.error
        assert device.power_status("h1") == "on" and link_state(lab, "h1") == "UP"
        start_server(lab, "h1")
        wait_reachable(lab, "h2", "h1")
        assert device.execute("off", "h1").ok and device.power_status("h1") == "off"
        lab.restart("h1")  # powered on by hand, not through the agent
        assert device.power_status("h1") == "on" and link_state(lab, "h1") == "UP"
        # list shows the lab's hosts (and only them, with the prefix parameter)
        device.params["prefix"] = lab.prefix
        assert device.list_targets(refresh=True) == {h.netns for h in lab.hosts.values()} | {lab.switch}
    assert leftovers(lab.prefix) == []


def test_partition_and_heal() -> None:
    with Lab(3) as lab:
        start_server(lab, "h1")
        start_server(lab, "h3")
        wait_reachable(lab, "h2", "h1")
        wait_reachable(lab, "h2", "h3")
        lab.partition(["h1"], ["h2", "h3"])
        wait_unreachable(lab, "h2", "h1", bound_s=3.0)
        assert not lab.connect("h3", "h1", 7000, timeout_s=0.5)
        assert lab.connect("h2", "h3", 7000)
        lab.heal()
        wait_reachable(lab, "h2", "h1")
    assert leftovers(lab.prefix) == []


def test_private_run_resource_agents_and_freeze() -> None:
    with Lab(2) as lab:
        lab.run("h1", ["sh", "-c", "echo x > /run/resource-agents/only-h1"], check=True)
        assert lab.run("h1", ["ls", "/run/resource-agents"]).stdout.split() == ["only-h1"]
        assert lab.run("h2", ["ls", "/run/resource-agents"]).stdout.split() == []
        assert not os.path.exists("/run/resource-agents/only-h1")
        assert lab.host("h1").netns in lab.run("h2", ["ls", "/run/netns"]).stdout.split()
        assert lab.run("h1", ["cat", "/sys/class/net/eth0/address"]).returncode == 0
        sleeper = lab.spawn("h2", ["sleep", "300"])
        lab.freeze(sleeper.pid)
        assert wait_state(sleeper.pid, ("T",))  # signals are delivered asynchronously
        lab.thaw(sleeper.pid)
        assert wait_state(sleeper.pid, ("S", "R"))
        lab.freeze(sleeper.pid)  # left frozen: teardown must still get rid of it
        lab.crash("h1")
        lab.restart("h1")
        assert lab.run("h1", ["ls", "/run/resource-agents"]).stdout.split() == []  # a reboot empties tmpfs
    assert leftovers(lab.prefix) == [] and sleeper.poll() is not None


def test_rsctmp_files_are_read_from_outside_per_boot() -> None:
    """What the campaign's promoted-instance sampler reads: a host's own files, with no process of the
    host running, and after a restart the new boot's (empty) directory, not the old one's."""
    with Lab(2) as lab:
        lab.run("h1", ["sh", "-c", "echo master > /run/resource-agents/Stateful-db.state; "
                                   "echo x > /run/resource-agents/other"], check=True)
        assert lab.rsctmp_files("h1", "Stateful-db*.state") == {"Stateful-db.state": "master\n"}
        assert lab.rsctmp_files("h2", "Stateful-db*.state") == {}
        lab.run("h1", ["sh", "-c", "echo slave > /run/resource-agents/Stateful-db.state"], check=True)
        assert lab.rsctmp_files("h1", "Stateful-*") == {"Stateful-db.state": "slave\n"}  # read anew
        lab.crash("h1")
        assert lab.rsctmp_files("h1", "*") == {"Stateful-db.state": "slave\n", "other": "x\n"}  # powered off
        lab.restart("h1")
        assert lab.rsctmp_files("h1", "*") == {}
        with pytest.raises(Exception, match="no host"):
            lab.rsctmp_files("h9", "*")
    assert leftovers(lab.prefix) == [] and lab._rsctmp_fds == {}


def proc_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def wait_state(pid: int, states: tuple[str, ...], bound_s: float = 3.0) -> bool:
    deadline = time.monotonic() + bound_s
    while proc_state(pid) not in states:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_teardown_even_when_the_body_raises() -> None:
    lab = Lab(2)
    with pytest.raises(RuntimeError, match="boom"), lab:
        lab.spawn("h1", ["sleep", "300"])
        lab.partition(["h1"], ["h2"])
        raise RuntimeError("boom")
    assert leftovers(lab.prefix) == []


def test_cleanup_stale_spares_live_labs() -> None:
    stale, live = Lab(1), Lab(1)
    holder = subprocess.Popen(["sleep", "300"])
    try:
        stale.start()
        stale.spawn("h1", ["sleep", "300"])
        live.start()
        dead = subprocess.Popen(["true"])
        dead.wait()
        with open(os.path.join(stale.dir, "owner"), "w") as f:
            f.write(f"{dead.pid}\n")  # its owner was killed
        with open(os.path.join(live.dir, "owner"), "w") as f:
            f.write(f"{holder.pid}\n")  # owned by a process that is still alive
        assert cleanup_stale(live.prefix) == []
        assert live.host("h1").netns in nsutil.list_netns()
        removed = cleanup_stale(stale.prefix)
        assert stale.host("h1").netns in removed and stale.switch in removed
        assert leftovers(stale.prefix) == []
    finally:
        holder.kill()
        holder.wait()
        stale.teardown()
        live.teardown()
    assert leftovers(live.prefix) == []


def test_prefix_collision_never_touches_the_other_lab() -> None:
    with Lab(2) as first:
        with pytest.raises(FileExistsError):
            Lab(2, prefix=first.prefix).start()
        assert {h.netns for h in first.hosts.values()} <= set(nsutil.list_netns())
        start_server(first, "h1")
        wait_reachable(first, "h2", "h1")
    assert leftovers(first.prefix) == []


def test_bad_lab_arguments() -> None:
    with pytest.raises(ValueError, match="host name 'sw'"):
        Lab(["sw"])
    with pytest.raises(ValueError, match="subnet"):
        Lab(2, subnet="192.168.1")
    with pytest.raises(ValueError, match="distinct"):
        Lab(["a", "a"])


def inet_addresses(lab: Lab, host: str) -> list[str]:
    out = nsutil.ip("-n", lab.host(host).netns, "-4", "-o", "addr", "show", "dev", "eth0").stdout
    return sorted(line.split()[3] for line in out.splitlines())


def test_restart_forgets_addresses_not_configured_at_boot() -> None:
    """A power cycle loses every address that is not the host's own: a VIP a dead host held must not
    come back with its links (that is a second holder of the VIP)."""
    with Lab(2) as lab:
        ns = lab.host("h1").netns
        nsutil.ip("-n", ns, "addr", "add", "10.203.0.100/24", "dev", "eth0")  # a VIP held at the crash
        nsutil.ip("-n", ns, "addr", "add", "10.203.0.77/24", "dev", "eth0")
        assert inet_addresses(lab, "h1") == ["10.203.0.1/24", "10.203.0.100/24", "10.203.0.77/24"]
        lab.crash("h1")  # off: runtime addresses are lost with the power
        assert inet_addresses(lab, "h1") == ["10.203.0.1/24"]
        lab.restart("h1")
        assert link_state(lab, "h1") == "UP"
        assert inet_addresses(lab, "h1") == ["10.203.0.1/24"]
        assert inet_addresses(lab, "h2") == ["10.203.0.2/24"]  # the other host is untouched
        start_server(lab, "h1")
        wait_reachable(lab, "h2", "h1")
        # a restart without a crash first (e.g. after a fence) forgets them too
        nsutil.ip("-n", ns, "addr", "add", "10.203.0.100/24", "dev", "eth0")
        lab.restart("h1")
        assert inet_addresses(lab, "h1") == ["10.203.0.1/24"]
        start_server(lab, "h1")
        wait_reachable(lab, "h2", "h1")
    assert leftovers(lab.prefix) == []


def test_fence_agent_power_off_drops_runtime_addresses() -> None:
    """fence_corral_netns off then on: the VIP the host held is gone (a power cycle), its own address stays."""
    with Lab(2) as lab:
        ns = lab.host("h1").netns
        nsutil.ip("-n", ns, "addr", "add", "10.203.0.100/24", "dev", "eth0")
        nsutil.power_off(ns)
        assert inet_addresses(lab, "h1") == ["10.203.0.1/24"]
        nsutil.power_on(ns)
        assert link_state(lab, "h1") == "UP"
        assert inet_addresses(lab, "h1") == ["10.203.0.1/24"]
        assert inet_addresses(lab, "h2") == ["10.203.0.2/24"]
    assert leftovers(lab.prefix) == []
