"""The recovery workflow of one failed host, step by step, against the fake Nova."""
from __future__ import annotations

import pytest

from corral.cluster import keys
from corral.fencing import list_history
from corral.openstack.nova import NovaError
from corral.openstack.records import RecoveryBook, read_all
from corral.openstack.workflow import HostRecovery, Stopped
from corral.store import Deposed

from .fake_nova import FakeNova
from .rig import FakeFencer, env, memory_store, settings, start_recovery


def _lab(ha: int = 4, cattle: int = 2) -> tuple[FakeNova, list[str], list[str]]:
    nova = FakeNova(["hostA", "hostB", "hostC"])
    pets = nova.boot("hostA", ha, "pet", metadata={"HA_Enabled": "True"})
    cows = nova.boot("hostA", cattle, "cow")
    nova.kill("hostA")
    return nova, pets, cows


def test_a_failed_host_is_fenced_forced_down_and_its_ha_instances_evacuated():
    store, (nova, pets, cows) = memory_store(), _lab()
    fencer = FakeFencer()
    start_recovery(store, "hostA")
    rec = HostRecovery(env(store, nova, fencer=fencer), "hostA").run()
    assert rec is not None and rec.state == "evacuated"
    assert fencer.fenced == [("hostA", "off")]
    assert [r.state for r in list_history(store, "hostA")] == ["done"]
    svc = nova.services["hostA"]
    assert svc.forced_down and svc.status == "disabled" and rec.id in svc.disabled_reason
    for pet in pets:
        assert nova.servers[pet].status == "ACTIVE" and nova.servers[pet].host in ("hostB", "hostC")
        assert nova.evacuate_calls(pet) == 1
    for cow in cows:  # not HA: untouched
        assert nova.servers[cow].host == "hostA" and nova.evacuate_calls(cow) == 0
    _recs, insts, _ = read_all(store)
    states = {i: r.state for i, r in insts["hostA"].items()}
    assert states == {**{p: "active" for p in pets}, **{c: "skipped" for c in cows}}
    assert all(insts["hostA"][p].target == nova.servers[p].host for p in pets)


def test_nothing_is_asked_of_nova_before_the_fence_is_confirmed():
    store, (nova, _pets, _cows) = memory_store(), _lab()
    fencer = FakeFencer(fail=2)
    start_recovery(store, "hostA")
    hr = HostRecovery(env(store, nova, fencer=fencer), "hostA")
    before = len(nova.calls)
    rec, insts = RecoveryBook(store, 1).read("hostA")
    assert rec is not None
    rec = hr.step(rec, insts)
    assert rec.state == "fencing" and rec.fence_attempts == 1 and "no route to BMC" in rec.fence_error
    assert rec.next_fence_at > rec.updated - 1
    assert nova.calls[before:] == []  # no force-down, no evacuation
    rec = hr.run()
    assert rec is not None and rec.state == "evacuated"
    forced = nova.calls.index(("force_down", "hostA", "True"))
    first_evacuation = next(i for i, c in enumerate(nova.calls) if c[0] == "evacuate")
    assert forced < first_evacuation
    assert [r.state for r in list_history(store, "hostA")] == ["failed", "failed", "done"]


def test_an_older_fence_does_not_count():
    store, (nova, _pets, _cows) = memory_store(), _lab()
    fencer = FakeFencer()
    HostRecovery(env(store, nova, fencer=fencer), "hostA")  # nothing yet
    from corral.fencing import record_pending, record_result

    old = record_pending(store, "hostA", "off", "operator")
    record_result(store, old, ok=True)
    start_recovery(store, "hostA")  # the failure is after that fence
    HostRecovery(env(store, nova, fencer=fencer), "hostA").run()
    assert fencer.fenced == [("hostA", "off")]


def test_an_error_is_retried_with_backoff_then_given_up_within_bounds():
    store, (nova, pets, _cows) = memory_store(), _lab(ha=2, cattle=0)
    nova.evacuate_errors = {pets[0]: ["ERROR"], pets[1]: ["ERROR", "ERROR", "ERROR"]}
    start_recovery(store, "hostA")
    HostRecovery(env(store, nova, settings(retry={"attempts": 3, "backoff": 0.01})), "hostA").run()
    _recs, insts, _ = read_all(store)
    assert insts["hostA"][pets[0]].state == "active" and insts["hostA"][pets[0]].attempts == 2
    assert nova.evacuate_calls(pets[0]) == 2
    failed = insts["hostA"][pets[1]]
    assert failed.state == "failed" and failed.attempts == 3 and "after 3 attempts" in failed.error
    assert nova.evacuate_calls(pets[1]) == 3


def test_a_refused_evacuation_counts_as_an_attempt():
    store, (nova, pets, _cows) = memory_store(), _lab(ha=1, cattle=0)
    nova.refuse_evacuate = {pets[0]}
    start_recovery(store, "hostA")
    HostRecovery(env(store, nova, settings(retry={"attempts": 2, "backoff": 0.01})), "hostA").run()
    _recs, insts, _ = read_all(store)
    assert insts["hostA"][pets[0]].state == "failed" and "refused" in insts["hostA"][pets[0]].error
    assert nova.evacuate_calls(pets[0]) == 2


def test_evacuations_in_flight_stay_within_the_bound_and_go_by_priority():
    store = memory_store()
    nova = FakeNova(["hostA", "hostB"])
    low = nova.boot("hostA", 3, "low", metadata={"HA_Enabled": "True"})
    high = nova.boot("hostA", 3, "high", metadata={"HA_Enabled": "True", "tier": "gold"})
    nova.kill("hostA")
    nova.rebuild_polls = 3
    cfg = settings(**{"max-concurrent-evacuations": 2,
                      "policies": [{"name": "gold", "match": {"metadata": {"tier": "gold"}}, "priority": 10}]})
    in_flight: list[int] = []
    original = nova.server

    def watching(server_id: str):
        in_flight.append(sum(1 for s in nova.servers.values() if s.task_state == "rebuilding"))
        return original(server_id)

    nova.server = watching  # type: ignore[method-assign]
    start_recovery(store, "hostA")
    HostRecovery(env(store, nova, cfg), "hostA").run()
    assert max(in_flight) <= 2
    sent = [c[1] for c in nova.calls if c[0] == "evacuate"]
    assert set(sent[:3]) == set(high) and set(sent[3:]) == set(low)


def test_a_shutoff_instance_is_recovered_shutoff():
    store = memory_store()
    nova = FakeNova(["hostA", "hostB"])
    (vm,) = nova.boot("hostA", 1, "off", status="SHUTOFF", metadata={"HA_Enabled": "True"})
    nova.kill("hostA")
    start_recovery(store, "hostA")
    HostRecovery(env(store, nova), "hostA").run()
    assert nova.servers[vm].status == "SHUTOFF" and nova.servers[vm].host == "hostB"
    assert read_all(store)[1]["hostA"][vm].state == "active"


def test_a_deposed_controller_writes_nothing():
    store, (nova, _pets, _cows) = memory_store(), _lab()
    start_recovery(store, "hostA")
    store.put(keys.EPOCH, "2")  # another controller won
    with pytest.raises(Deposed):
        HostRecovery(env(store, nova), "hostA").run()
    assert nova.evacuate_calls() == 0


def test_losing_the_lead_stops_the_recovery():
    store, (nova, _pets, _cows) = memory_store(), _lab()
    start_recovery(store, "hostA")
    with pytest.raises(Stopped):
        HostRecovery(env(store, nova, leading=lambda: False), "hostA").run()
    assert nova.evacuate_calls() == 0


def test_nova_errors_propagate_and_the_step_is_redone():
    store, (nova, pets, _cows) = memory_store(), _lab()
    start_recovery(store, "hostA")
    broken = nova.force_down
    nova.force_down = lambda host, forced: (_ for _ in ()).throw(NovaError("nova-api: 503", 503))  # type: ignore
    with pytest.raises(NovaError):
        HostRecovery(env(store, nova), "hostA").run()
    assert RecoveryBook(store, 1).read("hostA")[0].state == "forcing-down"  # type: ignore[union-attr]
    nova.force_down = broken  # type: ignore[method-assign]
    assert HostRecovery(env(store, nova), "hostA").run().state == "evacuated"  # type: ignore[union-attr]
    assert all(nova.evacuate_calls(p) == 1 for p in pets)


def test_a_reserved_host_is_enabled_for_the_recovery():
    from dataclasses import replace

    store = memory_store()
    nova = FakeNova(["hostA", "hostB", "spare1", "spare2"])
    for h in ("spare1", "spare2"):
        nova.services[h] = replace(nova.services[h], status="disabled")
    nova.services["spare1"] = replace(nova.services["spare1"], zone="other")  # spare2 shares hostA's zone
    pets = nova.boot("hostA", 2, "pet", metadata={"HA_Enabled": "True"})
    nova.kill("hostA")
    start_recovery(store, "hostA")
    rec = HostRecovery(env(store, nova, settings(**{"reserved-hosts": ["spare1", "spare2"]})), "hostA").run()
    assert rec is not None and rec.reserved_enabled == ["spare2"]
    assert nova.services["spare2"].status == "enabled" and nova.services["spare1"].status == "disabled"
    assert {nova.servers[p].host for p in pets} <= {"hostB", "spare2"}


def test_instances_in_flight_are_followed_with_one_listing_a_round():
    """Not one read per instance: on a busy Nova those reads slow its own rebuilds."""
    store = memory_store()
    nova = FakeNova(["hostA", "hostB", "hostC"])
    pets = nova.boot("hostA", 6, "pet", metadata={"HA_Enabled": "True"})
    nova.kill("hostA")
    nova.rebuild_polls = 3
    start_recovery(store, "hostA")
    HostRecovery(env(store, nova), "hostA").run()
    assert all(nova.servers[p].host != "hostA" and nova.servers[p].status == "ACTIVE" for p in pets)
    rounds = sum(1 for c in nova.calls if c[0] == "servers_changed_since")
    direct = [c for c in nova.calls if c[0] == "server"]
    assert rounds >= 2 and len(direct) == rounds * len(nova.servers)  # every read came through a listing


def test_an_image_is_read_once_per_selection():
    store = memory_store()
    nova = FakeNova(["hostA", "hostB"])
    nova.boot("hostA", 5, "cow", image_id="img1")
    nova.kill("hostA")
    start_recovery(store, "hostA")
    HostRecovery(env(store, nova), "hostA").run()
    assert [c for c in nova.calls if c[0] == "image_properties"] == [("image_properties", "img1")]
