"""Safety rule 2 end to end: a node cut off from the store stops what it runs before its
lease can expire, i.e. before any other node may start it."""
from __future__ import annotations

import time

import pytest
from live_helpers import Partition, free_port, port_open, process_rsc

from corral.cluster import keys
from corral.resource_agents.procfs import proc_info


@pytest.mark.etcd
def test_partitioned_node_stops_before_its_lease_expires(make_cluster, live_etcd):
    c = make_cluster("etcd")
    port = free_port()
    c.load("cluster: {stonith-enabled: false}\nresources:" + process_rsc("web", port)
           + "constraints:\n  - location: {rsc: web, node: n1, score: 100}\n")
    wall = Partition(int(live_etcd.rsplit(":", 1)[1]))
    try:
        c.store_url, direct = f"etcd://127.0.0.1:{wall.port}", c.store_url
        c.start("n1", "--no-controller")  # n1 reaches etcd only through the partition
        c.store_url = direct
        c.start("n2")
        c.wait_running("web", on="n1")
        c.wait_idle()
        pid = c.service_pid("n1", "web")
        assert pid is not None
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
