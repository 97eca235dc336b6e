"""ocf:corral:rabbitmq on three namespace hosts under Corral: no confirmed message is lost.

A publisher sends persistent messages with publisher confirms to a quorum queue; then one node's
beam is SIGKILLed (Corral restarts it, it rejoins on its own data, the queue is back on three online
members), then all three at once (a full outage: Corral starts them again, they wait for each other
and come back with their data). A consumer drains the queue: every confirmed message is there, and
the user and the queue still exist. Times are printed (`pytest -s`).
"""
from __future__ import annotations

import time

import pytest

from corral_lab import Lab, new_prefix
from corral_lab.rabbitmq import PASSWORD, USER, RabbitRig, available

pytestmark = [pytest.mark.lab, pytest.mark.slow]

SERVERS = ["rq1", "rq2", "rq3"]
BATCH = 200


@pytest.fixture()
def rig():  # type: ignore[no-untyped-def]
    why = available()
    if why:
        pytest.skip(why)
    with Lab([*SERVERS, "rqc"], prefix=new_prefix("rq"), subnet="10.62.0") as lab:
        r = RabbitRig(lab, SERVERS)
        try:
            yield r
        finally:
            r.stop()


def _publish(rig: RabbitRig, start: int) -> list[int]:
    confirmed: list[int] = rig.client("publish", "--start", str(start), "--count", str(BATCH))["confirmed"]
    assert len(confirmed) == BATCH, f"only {len(confirmed)} of {BATCH} confirmed"
    return confirmed


def test_rabbitmq_keeps_confirmed_messages_through_a_crash_and_a_full_outage(rig: RabbitRig) -> None:
    want = [f"rabbit@{h}" for h in SERVERS]
    t0 = time.monotonic()
    rig.start()
    rig.wait_cluster(240)
    start_s = time.monotonic() - t0  # first start: the agents join, one bootstraps, two join it
    for args in (("add_user", USER, PASSWORD), ("set_permissions", "-p", "/", USER, ".*", ".*", ".*")):
        r = rig.ctl("rq1", *args)
        assert r.returncode == 0, r.stderr
    confirmed = _publish(rig, 0)
    assert rig.queue_members("rq1") == (want, want)

    # One node's beam dies: Corral's monitor sees it, the agent restarts it on its own data.
    assert rig.kill_beam("rq3") is not None
    confirmed += _publish(rig, BATCH)  # the two others keep the quorum queue writable
    rejoin_s = rig.wait_cluster(180, queue=True)
    assert "RESET" not in rig.ra_log("rq3"), rig.ra_log("rq3")
    assert "starting on its own data" in rig.ra_log("rq3"), rig.ra_log("rq3")

    # Full outage: every beam at once; Corral starts all three again and they find each other.
    for h in SERVERS:
        assert rig.kill_beam(h) is not None
    t_out = time.monotonic()
    rig.wait_cluster(300, queue=True)
    outage_s = time.monotonic() - t_out
    for h in SERVERS:
        assert "RESET" not in rig.ra_log(h), rig.ra_log(h)

    # A node the cluster forgot while it was down: its data is rejected, the agent resets it (and says
    # so), joins, and puts it back on the quorum queue.
    rig.kill_agent("rq3")
    rig.kill_beam("rq3")
    rig.wait("rq3 out of the RabbitMQ cluster", lambda: "rabbit@rq3" not in rig.running_nodes("rq1"), 60)
    r = rig.ctl("rq1", "forget_cluster_node", "rabbit@rq3")
    assert r.returncode == 0, r.stdout + r.stderr
    assert rig.queue_members("rq1") == (want[:2], want[:2])
    t_f = time.monotonic()
    rig.start_agent("rq3")
    rig.wait_cluster(240, queue=True)
    forgotten_s = time.monotonic() - t_f
    assert "RESET" in rig.ra_log("rq3"), rig.ra_log("rq3")

    # The monitor's cost against a CLI check (each CLI call starts an Erlang VM).
    monitor_s = rig.timed("rq1", rig.agent_command("rq1", "monitor"), runs=5)
    diag_s = rig.timed("rq1", ["setpriv", "--reuid", "rabbitmq", "--regid", "rabbitmq", "--init-groups",
                               "env", f"HOME={rig.params('rq1')['home']}",
                               "/usr/lib/rabbitmq/bin/rabbitmq-diagnostics", "-q", "-n", "rabbit@rq1",
                               "check_running"])
    print(f"\nmonitor: ocf:corral:rabbitmq {monitor_s * 1000:.0f} ms (median of 5), "
          f"rabbitmq-diagnostics check_running {diag_s * 1000:.0f} ms")

    r = rig.ctl("rq2", "list_users", "--formatter", "json")
    assert r.returncode == 0 and USER in r.stdout, r.stdout + r.stderr
    received = rig.client("drain")["received"]
    missing = sorted(set(confirmed) - set(received))
    print(f"\nocf:corral:rabbitmq: cold start of 3 nodes {start_s:.1f} s; one beam killed -> back in the "
          f"cluster with the queue on 3 online members {rejoin_s:.1f} s; all three killed -> "
          f"3/3 with the queue {outage_s:.1f} s; a forgotten node reset and back on the queue "
          f"{forgotten_s:.1f} s; confirmed {len(confirmed)}, received {len(received)}, "
          f"missing {len(missing)}")
    assert not missing, f"{len(missing)} confirmed messages lost, e.g. {missing[:10]}"
