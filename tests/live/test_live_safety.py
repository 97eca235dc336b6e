"""Safety rule 2 end to end: a node cut off from the store stops what it runs before its
lease can expire, i.e. before any other node may start it."""
from __future__ import annotations

import time

import pytest
from live_helpers import Partition, free_port, port_open, process_rsc

from corral.cluster import keys
from corral.resource_agents.procfs import proc_info

WEB_ON_N1 = "constraints:\n  - location: {rsc: web, node: n1, score: 100}\n"


def web_on_walled_n1(c, wall: Partition, cluster_options: str, port: int) -> int:
    """n1 (reaching etcd only through `wall`) and n2 up, web running on n1: its pid."""
    c.load(f"cluster: {{{cluster_options}}}\nresources:" + process_rsc("web", port) + WEB_ON_N1)
    c.store_url, direct = f"etcd://127.0.0.1:{wall.port}", c.store_url
    c.start("n1", "--no-controller")
    c.store_url = direct
    c.start("n2")
    c.wait_running("web", on="n1")
    c.wait_idle()
    pid = c.service_pid("n1", "web")
    assert pid is not None
    return pid


@pytest.mark.etcd
def test_partitioned_node_stops_before_its_lease_expires(make_cluster, live_etcd):
    c = make_cluster("etcd")
    port = free_port()
    wall = Partition(int(live_etcd.rsplit(":", 1)[1]))
    try:
        pid = web_on_walled_n1(c, wall, "stonith-enabled: false", port)
        wall.cut()
        stopped_at = member_gone_at = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (stopped_at is None or member_gone_at is None):
            now = time.monotonic()
            info = proc_info(pid)
            if stopped_at is None and (info is None or not info.alive):
                stopped_at = now
            if member_gone_at is None and c.store.get(keys.member("n1")) is None:
                member_gone_at = now
            time.sleep(0.01)
        assert stopped_at is not None, "n1 did not stop web after losing the store\n" + c.logs()
        assert member_gone_at is not None, "n1's lease never expired"
        assert stopped_at < member_gone_at, (stopped_at - wall.cut_at, member_gone_at - wall.cut_at)
        print(f"stopped {stopped_at - wall.cut_at:.3f}s, lease gone {member_gone_at - wall.cut_at:.3f}s after the cut")
        c.wait_running("web", on="n2")  # and only then is it recovered elsewhere
        assert port_open(port)
    finally:
        wall.close()


@pytest.mark.etcd
def test_no_quorum_policy_freeze_keeps_a_cut_off_node_running_while_its_fence_fails(make_cluster, live_etcd):
    """With fencing and no-quorum-policy=freeze, a node that loses the store keeps its resources
    (Pacemaker's freeze); the others may not recover them until it is fenced, and its fence fails
    here, so web stays on n1 alone. After the heal n1 rejoins and web was never restarted."""
    from test_live_fencing import fenced_cluster, set_failing

    c = make_cluster("etcd")
    port = free_port()
    wall = Partition(int(live_etcd.rsplit(":", 1)[1]))
    try:
        direct = c.store_url
        real_start = c.start

        def start(name, *extra):  # n1 reaches etcd only through the partition
            c.store_url = f"etcd://127.0.0.1:{wall.port}" if name == "n1" else direct
            try:
                return real_start(name, *extra)
            finally:
                c.store_url = direct
        c.start = start  # type: ignore[method-assign]
        fenced_cluster(c, port, cluster_options="no-quorum-policy: freeze")
        pid = c.service_pid("n1", "web")
        assert pid is not None
        set_failing(c, True)
        wall.cut()
        time.sleep(5.0)  # well past n1's lease (2 s) and its self-fencing point (1.2 s)
        info = proc_info(pid)
        assert info is not None and info.alive, "n1 stopped web although the policy is freeze\n" + c.logs()
        assert c.store.get(keys.member("n1")) is None  # its lease is gone: lost, unclean
        assert c.where("web") == ["n1"]  # recovery waits for a fence that keeps failing
        assert "frozen" in (c.workdir / "n1.log").read_text()
        wall.heal()
        c.wait("n1 back", lambda: c.store.get(keys.member("n1")) is not None, timeout=20)
        c.wait_idle(timeout=30)
        assert c.where("web") == ["n1"] and c.service_pid("n1", "web") == pid  # never restarted
        assert port_open(port)
    finally:
        wall.close()


@pytest.mark.etcd
def test_cut_off_node_in_maintenance_mode_keeps_unmanaged_resources(make_cluster, live_etcd):
    """Maintenance mode: nothing is the cluster's to stop, so losing the store stops nothing
    (found by the lab campaign: self-fencing stopped every unmanaged service under load)."""
    c = make_cluster("etcd")
    port = free_port()
    wall = Partition(int(live_etcd.rsplit(":", 1)[1]))
    try:
        pid = web_on_walled_n1(c, wall, "stonith-enabled: false", port)
        c.load("cluster: {stonith-enabled: false, maintenance-mode: true}\nresources:" + process_rsc("web", port)
               + WEB_ON_N1)
        c.wait("web unmanaged", lambda: not next(r for r in c.status()["resources"] if r["id"] == "web")["managed"])
        time.sleep(1.0)  # n1's agent has read the new configuration
        wall.cut()
        c.wait("n1's lease to expire", lambda: c.store.get(keys.member("n1")) is None, timeout=15)
        time.sleep(1.0)  # past its self-fencing and its watchdog's timeout
        info = proc_info(pid)
        log = (c.workdir / "n1.log").read_text()
        assert info is not None and info.alive, "n1 stopped an unmanaged resource\n" + c.logs()
        assert "leaving web running (unmanaged)" in log and "watchdog fired" not in log, c.logs()
        assert port_open(port)
    finally:
        wall.close()
