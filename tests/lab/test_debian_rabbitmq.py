"""Debian's ocf:heartbeat:rabbitmq-cluster, unchanged, under Corral (corral_lab.controlplane.debian_rabbitmq):
Corral runs it as it ships (its join list comes from Corral's `cibadmin --xpath`, its last-known node
from `crm_attribute -l forever`), and the agent loses durable data as it does under Pacemaker -- the
reason Corral's profile runs RabbitMQ under its own ocf:corral:rabbitmq (tests/lab/test_rabbitmq_agent.py
keeps every confirmed message through the same faults). Heavy: under the lab lock.
"""
from __future__ import annotations

import os
import time

import pytest

from corral_lab.controlplane.debian_rabbitmq import SERVERS, DebianRabbit
from corral_lab.rabbitmq import available

pytestmark = [pytest.mark.lab, pytest.mark.slow]
AGENT = "/usr/lib/ocf/resource.d/heartbeat/rabbitmq-cluster"
BATCH = 200


def test_debian_rabbitmq_cluster_runs_under_corral_and_loses_durable_data() -> None:
    why = available()
    if why or not os.path.exists(AGENT):
        pytest.fail(why or "resource-agents is required (scripts/test installs it)")
    want = sorted(f"rabbit@{h}" for h in SERVERS)
    with DebianRabbit(log=print) as r:
        took = r.up(bound_s=300)
        r.add_user()
        confirmed = r.client("publish", "--start", "0", "--count", str(BATCH))["confirmed"]
        assert len(confirmed) == BATCH
        assert r.queue_members(SERVERS[0]) == (want, want)
        print(f"\ncold start: RabbitMQ 3/3 after {took:.1f}s; {len(confirmed)} confirmed on a quorum queue")

        # One beam SIGKILLed: Corral restarts it; the agent wipes the node's data and joins it anew.
        assert r.kill_beam(["rq3"]) >= 1
        t0 = time.monotonic()
        time.sleep(3)
        r.wait_cluster(240)
        rejoin = time.monotonic() - t0
        members = r.queue_members(SERVERS[0])
        print(f"one beam killed: 3/3 again after {rejoin:.1f}s; quorum queue members {members}")
        assert members is not None, "the quorum queue survives one crash"

        # Full outage: every beam at once; Corral starts all three again.
        assert r.kill_beam(SERVERS) >= 3
        t0 = time.monotonic()
        time.sleep(3)
        r.wait_cluster(300)
        outage = time.monotonic() - t0
        user = r.has_user(SERVERS[0])
        queue = r.queue_members(SERVERS[0])
        received: list[int] = []
        if user and queue is not None:
            received = r.client("drain")["received"]
        lost = sorted(set(confirmed) - set(received))
        print(f"full outage: 3/3 again after {outage:.1f}s; user {'kept' if user else 'gone'}, queue "
              f"{'kept' if queue is not None else 'gone'}; {len(lost)} of {len(confirmed)} confirmed messages lost")
        # What the agent does (wipe on every start, the bootstrap node included), measured under Corral as
        # under Pacemaker: the data is gone. Should a later resource-agents keep it, this fails and the
        # docs (docs/openstack.md, "Control plane: RabbitMQ") must change with it.
        assert not user and queue is None and len(lost) == len(confirmed)
