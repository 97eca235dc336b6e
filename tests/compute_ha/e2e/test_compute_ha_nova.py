"""Compute HA end to end on a real Nova (Debian's Zed, fake driver, three compute hosts).

A host dies (its nova-compute and its Corral member SIGKILLed): Corral fences it (the lab's
fence agent confirms by killing what is left), forces its nova-compute down and disables it
with a reason, and every HA instance (metadata HA_Enabled=True) is ACTIVE on another host,
evacuated once; the others (cattle) are left alone. The host comes back: it is unforced and
enabled once its evacuations are `completed`. Nova's own floor is measured in the same run: a
nova-compute killed, forced down and its servers evacuated by the API alone.

The numbers go to stderr and, if CORRAL_NOVA_RESULTS names a file, into it as JSON
(docs/openstack.md, "Compute lab"). CORRAL_NOVA_PETS / CORRAL_NOVA_CATTLE: how many (20 / 5).
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from typing import Any

import pytest

from corral.cluster import keys
from corral.fencing import list_history
from corral.openstack.records import read_all
from corral_lab.nova import NovaLab

from .corral_rig import CorralRig, wait_until

# openstacksdk warns of its own deprecations thousands of times a run
pytestmark = [pytest.mark.nova, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")]

PETS = int(os.environ.get("CORRAL_NOVA_PETS", "20"))
CATTLE = int(os.environ.get("CORRAL_NOVA_CATTLE", "5"))
RESULTS: dict[str, Any] = {}


def _report(key: str, value: Any) -> None:
    RESULTS[key] = value
    print(f"MEASURED {key}: {value}", file=sys.stderr)
    path = os.environ.get("CORRAL_NOVA_RESULTS")
    if path:
        with open(path, "w") as f:
            json.dump(RESULTS, f, indent=1, sort_keys=True)


def _boot(conn: Any, lab: NovaLab, host: str, prefix: str, n: int, ha: bool) -> list[str]:
    ids = []
    for i in range(n):
        s = conn.compute.create_server(name=f"{prefix}-{i}", flavor_id=lab.flavor_id, image_id=lab.image_id,
                                       networks="none", availability_zone=f"nova:{host}",
                                       metadata={"HA_Enabled": "True"} if ha else {})
        ids.append(s.id)
    return ids


def _servers(conn: Any) -> dict[str, Any]:
    return {s.id: s for s in conn.compute.servers(details=True, all_projects=True)}


def _wait_active(conn: Any, ids: list[str], host: str, timeout: float = 180.0) -> None:
    def ready() -> bool:
        now = _servers(conn)
        bad = [now[i] for i in ids if now[i].status == "ERROR"]
        assert not bad, f"boot failed: {[(s.id, s.fault) for s in bad]}"
        return all(now[i].status == "ACTIVE" and now[i].compute_host == host and not now[i].task_state
                   for i in ids)
    wait_until(f"{len(ids)} servers ACTIVE on {host}", ready, timeout, every=1.0)


def _evacuated(conn: Any, ids: list[str], source: str) -> bool:
    now = _servers(conn)
    return all(now[i].status == "ACTIVE" and now[i].compute_host not in ("", source) and not now[i].task_state
               for i in ids)


def _service(conn: Any, host: str) -> Any:
    return next(iter(conn.compute.services(host=host, binary="nova-compute")))


def _evacuations(conn: Any, host: str) -> list[Any]:
    return list(conn.compute.migrations(source_compute=host, migration_type="evacuation"))


@pytest.fixture(scope="module")
def conn(nova_lab: NovaLab) -> Any:
    return nova_lab.connect()


def test_a_dead_host_is_fenced_forced_down_and_its_pets_resurrected(nova_lab: NovaLab, corral: CorralRig,
                                                                    conn: Any) -> None:
    pets = _boot(conn, nova_lab, "hostA", "pet", PETS, ha=True)
    cattle = _boot(conn, nova_lab, "hostA", "cow", CATTLE, ha=False)
    _wait_active(conn, pets + cattle, "hostA")
    store = corral.store
    wait_until("every compute host known to the controller",
               lambda: {kv.key.rsplit("/", 1)[1] for kv in store.get_prefix(keys.COMPUTE_KNOWN)[0]}
               >= set(nova_lab.layout.hosts), 30)

    killed_at = time.time()
    nova_lab.kill_compute("hostA")
    corral.kill("member-hostA")
    fenced_at = forced_at = None
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if fenced_at is None:
            done = [r for r in list_history(store, "hostA") if r.state == "done" and r.requested_at >= killed_at]
            if done:
                fenced_at = done[0].completed_at or time.time()
        if forced_at is None and _service(conn, "hostA").is_forced_down:
            forced_at = time.time()
        if fenced_at and forced_at and _evacuated(conn, pets, "hostA"):
            break
        time.sleep(0.2)
    all_active_at = time.time()
    recs, insts, _ = read_all(store)
    assert fenced_at is not None, f"hostA never fenced; controller log:\n{corral.log_tail('ctl1')}"
    assert forced_at is not None and forced_at >= fenced_at - 0.5, "forced down before the fence was confirmed"
    assert _evacuated(conn, pets, "hostA"), f"not every pet recovered: {recs.get('hostA')}\n{corral.log_tail('ctl1')}"
    _report("pets", PETS)
    _report("cattle", CATTLE)
    _report("death_to_fenced_s", round(fenced_at - killed_at, 2))
    _report("death_to_forced_down_s", round(forced_at - killed_at, 2))
    _report("death_to_all_pets_active_s", round(all_active_at - killed_at, 2))

    svc = _service(conn, "hostA")
    assert svc.is_forced_down and svc.status == "disabled"
    assert svc.disabled_reason.startswith("corral: ") and "fenced" in svc.disabled_reason
    assert not nova_lab.compute_pid("hostA") and not corral.alive("member-hostA")
    fences = [r for r in list_history(store, "hostA") if r.requested_at >= killed_at]
    assert [(r.state, r.device) for r in fences] == [("done", "fence-lab")]  # fenced once

    per_server = Counter(m.server_id for m in _evacuations(conn, "hostA"))
    assert per_server == Counter({p: 1 for p in pets}), "every pet evacuated once, no cow at all"
    now = _servers(conn)
    assert all(now[c].compute_host == "hostA" for c in cattle), "cattle are left where they were"
    wait_until("the recovery recorded as evacuated",
               lambda: read_all(store)[0].get("hostA") and read_all(store)[0]["hostA"].state == "evacuated", 30)

    st = corral.status()
    assert {h["name"]: h["state"] for h in st["hosts"]}["hostA"] == "evacuated"
    (rec,) = [r for r in st["recoveries"] if r["host"] == "hostA"]
    by_id = {i["id"]: i for i in rec["instances"]}
    assert {p: (by_id[p]["state"], by_id[p]["target"]) for p in pets} == {
        p: ("active", now[p].compute_host) for p in pets}
    assert all(by_id[p]["target"] in ("hostB", "hostC") and by_id[p]["attempts"] == 1 for p in pets)
    assert {c: (by_id[c]["state"], by_id[c]["target"]) for c in cattle} == {c: ("skipped", None) for c in cattle}
    del recs, insts


def test_the_returning_host_is_enabled_once_its_evacuations_are_completed(nova_lab: NovaLab, corral: CorralRig,
                                                                         conn: Any) -> None:
    back_at = time.time()
    nova_lab.start_compute("hostA")
    corral.start_member("hostA")

    def in_service() -> bool:
        svc = _service(conn, "hostA")
        return not svc.is_forced_down and svc.status == "enabled"
    wait_until("hostA unforced and enabled", in_service, 120, every=0.5)
    _report("return_to_enabled_s", round(time.time() - back_at, 2))
    statuses = Counter(m.status for m in _evacuations(conn, "hostA"))
    assert statuses == Counter({"completed": PETS}), statuses  # Nova refuses to unforce before
    wait_until("the recovery closed", lambda: "hostA" not in read_all(corral.store)[0], 30)
    st = corral.status()
    assert not [r for r in st["recoveries"] if r["host"] == "hostA"]
    assert {h["name"]: h["state"] for h in st["hosts"]}["hostA"] == "up"


def test_nova_floor_force_down_and_evacuate_by_the_api_alone(nova_lab: NovaLab, corral: CorralRig,
                                                            conn: Any) -> None:
    """Nova's own speed on the same machine: no detection, no fence (what Corral adds its time to)."""
    servers = _boot(conn, nova_lab, "hostB", "floor", PETS, ha=False)  # not HA: Corral must not touch them
    _wait_active(conn, servers, "hostB")
    t0 = time.time()
    nova_lab.kill_compute("hostB")
    svc = _service(conn, "hostB")
    conn.compute.update_service_forced_down(svc, "hostB", "nova-compute", True)
    for s in servers:
        conn.compute.evacuate_server(s)
    wait_until("the floor's servers ACTIVE elsewhere", lambda: _evacuated(conn, servers, "hostB"), 240, every=0.2)
    _report("floor_kill_force_evacuate_s", round(time.time() - t0, 2))
    assert "hostB" not in read_all(corral.store)[0], "Corral started a recovery of a host an operator forced down"
    # hostB back in service by hand, as an operator would
    nova_lab.start_compute("hostB")
    wait_until("hostB's evacuations completed",
               lambda: all(m.status == "completed" for m in _evacuations(conn, "hostB")), 120)
    conn.compute.update_service_forced_down(_service(conn, "hostB"), "hostB", "nova-compute", False)


def test_a_controller_killed_mid_recovery_is_resumed_by_the_next_nothing_twice(nova_lab: NovaLab,
                                                                              corral: CorralRig,
                                                                              conn: Any) -> None:
    """ctl1 is SIGKILLed while hostC's pets are being evacuated (4 at a time): ctl2 fences ctl1,
    takes over and finishes the recovery from the records; no pet is evacuated twice."""
    corral.load(concurrency=4)   # a longer recovery, so that the failover lands in its middle
    corral.start_controller("ctl2")
    new = _boot(conn, nova_lab, "hostC", "pet-c", PETS, ha=True)
    _wait_active(conn, new, "hostC")
    pets = [s.id for s in _servers(conn).values()
            if s.compute_host == "hostC" and (s.metadata or {}).get("HA_Enabled") == "True"]
    killed_at = time.time()
    nova_lab.kill_compute("hostC")
    corral.kill("member-hostC")

    def mid_recovery() -> bool:
        insts = read_all(corral.store)[1].get("hostC", {})
        states = Counter(r.state for r in insts.values())
        return states["active"] >= 1 and states["active"] + states["skipped"] < len(insts)
    wait_until("hostC's recovery under way", mid_recovery, 120, every=0.1)
    epoch_before = read_all(corral.store)[0]["hostC"].epoch
    corral.kill("ctl1")
    failover_at = time.time()
    _report("failover_controller_killed_after_s", round(failover_at - killed_at, 2))
    wait_until("every pet of hostC ACTIVE elsewhere", lambda: _evacuated(conn, pets, "hostC"), 300, every=0.2)
    _report("failover_pets", len(pets))
    _report("failover_death_to_all_pets_active_s", round(time.time() - killed_at, 2))
    per_server = Counter(m.server_id for m in _evacuations(conn, "hostC"))
    assert per_server == Counter({p: 1 for p in pets}), "every pet evacuated once"
    wait_until("the recovery recorded as evacuated by ctl2",
               lambda: (r := read_all(corral.store)[0].get("hostC")) is not None and r.state == "evacuated", 60)
    rec = read_all(corral.store)[0]["hostC"]
    assert rec.epoch > epoch_before, "finished under ctl2's epoch"
    assert corral.status()["loop"]["controller"] == "ctl2"
    assert [r.state for r in list_history(corral.store, "hostC") if r.requested_at >= killed_at] == ["done"]
    assert "ctl1" in {r.node for r in list_history(corral.store) if r.state == "done"}, "ctl1 fenced by ctl2"

