"""The compute-HA loop: detection from both signals, gates, returning hosts, status, failover."""
from __future__ import annotations

import json
import time

import pytest

from corral.cluster import configstore, keys
from corral.model.yaml_config import parse_yaml_config
from corral.openstack.engine import ComputeHA, read_status, request_enable
from corral.openstack.records import read_all
from corral.store import Store

from .fake_nova import FakeNova
from .rig import FakeFencer, memory_store

BASE = """
cluster: {stonith-enabled: true}
compute:
  cloud: test
  poll-interval: 0.05
  retry: {backoff: 0.01, backoff-max: 0.05}
"""


def _configure(store: Store, extra: str = "") -> None:
    cfg, _ = parse_yaml_config(BASE + extra)
    store.put(keys.CONFIG, configstore.encode(cfg, "test"))


def _member(store: Store, host: str) -> int:
    lease = store.lease_grant(30)
    store.put(f"{keys.COMPUTE_MEMBERS}{host}", json.dumps({"host": host, "since": time.time(), "ttl": 30}), lease)
    return lease


def _ha(store: Store, nova: FakeNova, epoch: int = 1, fencer: FakeFencer | None = None) -> ComputeHA:
    ff = fencer or FakeFencer()
    return ComputeHA(store, "ctl1", epoch, lambda: True, nova_factory=lambda cloud: nova, fencer=lambda: ff,
                     env_overrides={"follow_every": 0.01, "fence_backoff": 0.01})


def _settle(ha: ComputeHA, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    for t in list(ha._workers.values()):
        t.join(max(0.0, deadline - time.monotonic()))
        assert not t.is_alive(), "a recovery worker did not finish"


def _lab(store: Store, hosts: tuple[str, ...] = ("hostA", "hostB", "hostC")) -> tuple[FakeNova, dict[str, int]]:
    nova = FakeNova(list(hosts))
    leases = {h: _member(store, h) for h in hosts}
    return nova, leases


def test_a_host_whose_member_is_gone_is_recovered():
    store = memory_store()
    _configure(store)
    nova, leases = _lab(store)
    pets = nova.boot("hostA", 3, "pet", metadata={"HA_Enabled": "True"})
    cows = nova.boot("hostA", 2, "cow")
    ha = _ha(store, nova)
    ha.cycle()
    assert read_all(store)[0] == {}  # all well: nothing started
    nova.kill("hostA")
    store.lease_revoke(leases["hostA"])
    ha.cycle()
    _settle(ha)
    recs, insts, _ = read_all(store)
    assert recs["hostA"].state == "evacuated"
    assert all(nova.servers[p].host != "hostA" and nova.servers[p].status == "ACTIVE" for p in pets)
    assert all(nova.servers[c].host == "hostA" for c in cows)
    ha.cycle()
    status = read_status(store)
    assert {"name": "hostA", "state": "evacuated"}.items() <= status["hosts"][0].items()


def test_nova_compute_down_with_a_live_member_is_restarted_then_escalated(monkeypatch: pytest.MonkeyPatch):
    import corral.model.yaml_compute

    monkeypatch.setattr(corral.model.yaml_compute, "RESOURCES_ON_COMPUTE_HOSTS", True)  # a member that runs them
    store = memory_store()
    _configure(store, "  nova-compute-resource: nova-compute\n  nova-compute-grace: 0.3\n")
    nova, _leases = _lab(store)
    nova.boot("hostA", 1, "pet", metadata={"HA_Enabled": "True"})
    ha = _ha(store, nova)
    nova.kill("hostA")  # nova-compute dies, the host (and its member) live
    ha.cycle()
    requests = store.get_prefix(keys.requests("hostA"))[0]
    assert [json.loads(kv.value) for kv in requests] == [{"type": "cleanup", "rsc": "nova-compute"}]
    assert read_all(store)[0] == {}
    assert read_status(store)["hosts"][0]["state"] == "nova-compute-down"
    ha.cycle()
    assert len(store.get_prefix(keys.requests("hostA"))[0]) == 1  # asked once
    time.sleep(0.35)
    ha.cycle()  # still down after the grace: a host failure
    _settle(ha)
    assert read_all(store)[0]["hostA"].state == "evacuated"


def test_nova_compute_resource_is_refused_while_members_run_no_resources():
    from corral.model.errors import ConfigError

    with pytest.raises(ConfigError, match="do not run resources yet"):
        parse_yaml_config(BASE + "  nova-compute-resource: nova-compute\n")


def test_nova_compute_down_is_only_reported_when_the_policy_says_so():
    store = memory_store()
    _configure(store, "  nova-compute-grace: 0\n  on-nova-compute-down: report\n")
    nova, _leases = _lab(store)
    nova.kill("hostA")
    ha = _ha(store, nova)
    ha.cycle()
    ha.cycle()
    assert read_all(store)[0] == {} and nova.evacuate_calls() == 0
    assert read_status(store)["hosts"][0]["state"] == "nova-compute-down"


def test_a_host_that_never_had_a_member_is_left_alone():
    store = memory_store()
    _configure(store)
    nova = FakeNova(["hostA", "hostB"])
    _member(store, "hostB")
    nova.kill("hostA")
    ha = _ha(store, nova)
    ha.cycle()
    assert read_all(store)[0] == {}
    assert {"name": "hostA", "state": "unmanaged"}.items() <= read_status(store)["hosts"][0].items()


def test_a_mass_failure_past_the_gate_does_nothing_and_says_why(caplog: pytest.LogCaptureFixture):
    store = memory_store()
    _configure(store)
    nova, leases = _lab(store)
    ha = _ha(store, nova)
    ha.cycle()
    for h in ("hostA", "hostB"):
        nova.kill(h)
        store.lease_revoke(leases[h])
    ha.cycle()
    assert read_all(store)[0] == {} and nova.evacuate_calls() == 0
    assert not any(c[0] in ("force_down", "disable") for c in nova.calls)
    status = read_status(store)
    held = {h["host"]: h["reason"] for h in status["held"]}
    assert set(held) == {"hostA", "hostB"}
    assert "2 of 3 hosts of availability zone nova failed at once" in held["hostA"]
    assert {h["name"]: h["state"] for h in status["hosts"]} == {"hostA": "held", "hostB": "held"}
    assert "recovery held back: mass failure" in caplog.text


def test_the_gate_counts_aggregates_too():
    store = memory_store()
    _configure(store, "  gates: {max-failed-share: 0.6}\n")
    hosts = tuple(f"h{i}" for i in range(6))
    nova, leases = _lab(store, hosts)
    from corral.openstack.nova import Aggregate

    nova.aggs = [Aggregate("rack1", ("h0", "h1", "h2"))]
    ha = _ha(store, nova)
    ha.cycle()
    for h in ("h0", "h1"):  # 2 of 6 of the zone, but 2 of 3 of rack1
        store.lease_revoke(leases[h])
    ha.cycle()
    assert read_all(store)[0] == {}
    assert "aggregate rack1" in {h["host"]: h["reason"] for h in read_status(store)["held"]}["h0"]


def test_at_most_so_many_hosts_start_per_cycle():
    store = memory_store()
    _configure(store, "  gates: {max-hosts-per-cycle: 1}\n")
    hosts = tuple(f"h{i}" for i in range(6))
    nova, leases = _lab(store, hosts)
    ha = _ha(store, nova)
    ha.cycle()
    for h in ("h0", "h1"):
        nova.kill(h)
        store.lease_revoke(leases[h])
    ha.cycle()
    assert set(read_all(store)[0]) == {"h0"}
    assert "max-hosts-per-cycle 1" in read_status(store)["held"][0]["reason"]
    ha.cycle()
    assert set(read_all(store)[0]) == {"h0", "h1"}
    _settle(ha)


def _recovered(store: Store, nova: FakeNova, leases: dict[str, int], extra: str = "") -> ComputeHA:
    _configure(store, extra)
    nova.boot("hostA", 2, "pet", metadata={"HA_Enabled": "True"})
    ha = _ha(store, nova)
    ha.cycle()
    nova.kill("hostA")
    store.lease_revoke(leases["hostA"])
    ha.cycle()
    _settle(ha)
    assert read_all(store)[0]["hostA"].state == "evacuated"
    return ha


def test_a_returning_host_is_enabled_only_after_its_evacuations_are_completed():
    store = memory_store()
    nova, leases = _lab(store)
    ha = _recovered(store, nova, leases)
    _member(store, "hostA")  # the host is back: its member first, nova-compute not yet
    ha.cycle()
    assert read_all(store)[0]["hostA"].state == "returning"
    assert nova.services["hostA"].forced_down and nova.services["hostA"].status == "disabled"
    nova.restart("hostA")  # nova-compute cleans up: evacuations done -> completed
    ha.cycle()
    assert read_all(store)[0] == {}
    svc = nova.services["hostA"]
    assert not svc.forced_down and svc.status == "enabled" and svc.state == "up"
    assert ("force_down", "hostA", "False") in nova.calls


def test_a_returning_host_waits_for_the_operator_when_the_policy_says_so():
    store = memory_store()
    nova, leases = _lab(store)
    ha = _recovered(store, nova, leases, "  enable-returning-hosts: operator\n")
    _member(store, "hostA")
    nova.restart("hostA")
    ha.cycle()
    assert read_all(store)[0]["hostA"].state == "awaiting-operator"
    assert nova.services["hostA"].status == "disabled"
    request_enable(store, "hostA")
    ha.cycle()
    assert read_all(store)[0] == {} and nova.services["hostA"].status == "enabled"


def test_a_new_controller_resumes_an_unfinished_recovery():
    store = memory_store()
    _configure(store)
    nova, leases = _lab(store)
    pets = nova.boot("hostA", 6, "pet", metadata={"HA_Enabled": "True"})
    nova.rebuild_polls = 50
    lead = {"on": True}
    first = ComputeHA(store, "ctl1", 1, lambda: lead["on"], nova_factory=lambda c: nova,
                      fencer=lambda: FakeFencer(), env_overrides={"follow_every": 0.01})
    first.cycle()
    nova.kill("hostA")
    store.lease_revoke(leases["hostA"])
    first.cycle()
    deadline = time.monotonic() + 5
    while nova.evacuate_calls() < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    lead["on"] = False  # the controller dies with every instance in flight
    _settle(first)
    assert read_all(store)[0]["hostA"].state == "evacuating"
    store.put(keys.EPOCH, "2")
    nova.rebuild_polls = 1
    second = _ha(store, nova, epoch=2)
    second.cycle()
    _settle(second)
    assert read_all(store)[0]["hostA"].state == "evacuated"
    assert all(nova.evacuate_calls(p) == 1 and nova.servers[p].status == "ACTIVE" for p in pets)


def test_without_a_compute_section_nothing_happens():
    store = memory_store()
    cfg, _ = parse_yaml_config("cluster: {stonith-enabled: true}\n")
    store.put(keys.CONFIG, configstore.encode(cfg, "test"))
    nova, leases = _lab(store)
    store.lease_revoke(leases["hostA"])
    ha = _ha(store, nova)
    ha.cycle()
    assert nova.calls == [] and read_status(store)["state"] == "idle"


def test_the_loop_wakes_when_a_member_is_lost_and_stops_with_the_lead():
    store = memory_store()
    cfg, _ = parse_yaml_config(BASE.replace("poll-interval: 0.05", "poll-interval: 30"))
    store.put(keys.CONFIG, configstore.encode(cfg, "test"))  # a poll every 30 s: only the wake-up is quick
    nova, leases = _lab(store)
    pets = nova.boot("hostA", 2, "pet", metadata={"HA_Enabled": "True"})
    lead = {"on": True}
    ha = ComputeHA(store, "ctl1", 1, lambda: lead["on"], nova_factory=lambda c: nova, fencer=lambda: FakeFencer(),
                   env_overrides={"follow_every": 0.01})
    import threading

    t = threading.Thread(target=ha.run, daemon=True)
    t.start()
    try:
        deadline = time.monotonic() + 5
        while store.get(keys.COMPUTE_STATUS) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # the member watch is in place
        nova.kill("hostA")
        lost = time.monotonic()
        store.lease_revoke(leases["hostA"])
        while time.monotonic() < deadline:
            recs = read_all(store)[0]
            if "hostA" in recs and recs["hostA"].state == "evacuated":
                break
            time.sleep(0.01)
        assert read_all(store)[0]["hostA"].state == "evacuated"
        assert time.monotonic() - lost < 5  # not the 30 s poll
        assert all(nova.servers[p].host != "hostA" for p in pets)
    finally:
        lead["on"] = False
        ha.wake.set()
        t.join(5)
    assert not t.is_alive()


def test_the_controller_runs_compute_ha_while_it_leads():
    from corral.cluster.timing import Timing
    from corral.controller.loop import Controller
    from corral.store import LeaderElection

    store = memory_store(epoch=0)
    cfg, _ = parse_yaml_config("cluster: {stonith-enabled: false}\n")
    store.put(keys.CONFIG, configstore.encode(cfg, "test"))
    election = LeaderElection(store, keys.ELECTION_NAME, "n1", 5, prefix=keys.ELECTION_PREFIX)
    assert election.campaign()
    c = Controller(store, election, "n1", Timing())
    import threading

    t = threading.Thread(target=c.run, daemon=True)
    t.start()
    try:
        deadline = time.monotonic() + 5
        while store.get(keys.COMPUTE_STATUS) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        status = read_status(store)
        assert status["state"] == "idle" and status["controller"] == "n1"
    finally:
        c.election.resign()
        t.join(5)


def test_a_forgotten_host_is_never_recovered():
    from corral.openstack.engine import forget_host

    store = memory_store()
    _configure(store)
    nova, leases = _lab(store)
    ha = _ha(store, nova)
    ha.cycle()  # hostA is known, and cached as such
    forget_host(store, "hostA")  # the operator, before stopping its member
    store.lease_revoke(leases["hostA"])
    nova.kill("hostA")
    ha.cycle()
    ha.cycle()
    assert read_all(store)[0] == {} and not any(c[0] == "force_down" for c in nova.calls)
    forget_host(store, "hostA", undo=True)
    _member(store, "hostA")
    ha._known_at = -1e9  # as after KNOWN_RELIST_S
    ha.cycle()
    assert store.get(f"{keys.COMPUTE_KNOWN}hostA") is not None


def test_nova_unreachable_starts_nothing_and_says_so():
    from corral.openstack.nova import NovaError

    store = memory_store()
    _configure(store)
    nova, leases = _lab(store)
    ha = _ha(store, nova)
    ha.cycle()
    store.lease_revoke(leases["hostA"])

    def down() -> list:
        raise NovaError("listing nova-compute services: 503 Service Unavailable", 503)

    nova.compute_services = down  # type: ignore[method-assign]
    ha.cycle()
    assert read_all(store)[0] == {}
    st = read_status(store)
    assert st["state"] == "nova-unreachable" and "503" in st["note"]


def test_a_member_that_leaves_cleanly_is_not_recovered_even_by_a_successor():
    from corral.cluster.compute_members import Departure

    store = memory_store()
    _configure(store)
    nova, leases = _lab(store)
    ha = _ha(store, nova)
    ha.cycle()
    store.lease_revoke(leases["hostA"])
    ha._on_gone(Departure("hostA", {"host": "hostA", "leaving": True}, clean=True))
    ha.cycle()
    assert read_all(store)[0] == {}
    assert {h["name"]: h["state"] for h in read_status(store)["hosts"]} == {"hostA": "left"}
    store.put(keys.EPOCH, "2")
    successor = _ha(store, nova, epoch=2)
    successor.cycle()
    assert read_all(store)[0] == {} and nova.evacuate_calls() == 0
    lease = _member(store, "hostA")  # back
    successor.cycle()
    store.lease_revoke(lease)  # and now it fails
    successor.cycle()
    _settle(successor)
    assert read_all(store)[0]["hostA"].state == "evacuated"
