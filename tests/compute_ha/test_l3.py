"""The L3 mover: routers off dead L3 agents, the gate, zones, HA routers, resuming a move."""
from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from corral.cluster import configstore, keys
from corral.model.errors import ConfigError
from corral.model.yaml_config import parse_yaml_config
from corral.model.yaml_neutron import NeutronYaml
from corral.openstack.l3_engine import (
    DONE,
    FAILED,
    MOVING,
    L3Mover,
    MoveRecord,
    move_key,
    read_moves,
    read_status,
)
from corral.openstack.l3_plan import plan
from corral.store import Store

from .fake_neutron import FakeNeutron
from .rig import memory_store

BASE = """
neutron:
  cloud: test
  poll-interval: 0.05
"""


def _configure(store: Store, extra: str = "") -> None:
    cfg, _ = parse_yaml_config(BASE + extra)
    store.put(keys.CONFIG, configstore.encode(cfg, "test"))


def _mover(store: Store, neutron: FakeNeutron, epoch: int = 1, clock=None) -> L3Mover:
    kw = {"clock": clock} if clock else {}
    return L3Mover(store, "ctl1", epoch, lambda: True, neutron_factory=lambda cloud: neutron, **kw)


def _three(neutron: FakeNeutron, routers: int = 6) -> None:
    for i in (1, 2, 3):
        neutron.agent(f"a{i}", f"net{i}")
    for r in range(routers):
        neutron.router(f"r{r}", f"a{r % 3 + 1}")


def test_routers_of_a_dead_agent_move_to_the_least_loaded_live_agents() -> None:
    store, neutron = memory_store(), FakeNeutron()
    _configure(store)
    _three(neutron)
    mover = _mover(store, neutron)
    mover.cycle()
    assert not read_moves(store)            # nothing dead, nothing moved
    neutron.kill("a1")
    mover.cycle()
    for r in ("r0", "r3"):                  # a1's routers, one to each survivor
        assert neutron.where(r) <= {"a2", "a3"} and len(neutron.where(r)) == 1
    assert {next(iter(neutron.where(r))) for r in ("r0", "r3")} == {"a2", "a3"}
    moves = read_moves(store)
    assert {m.router: m.state for m in moves.values()} == {"r0": DONE, "r3": DONE}
    assert all(m.source_host == "net1" for m in moves.values())
    assert neutron.where("r1") == {"a2"}    # other routers untouched
    st = read_status(store)
    assert {a["host"]: a["state"] for a in st["agents"]} == {"net1": "dead", "net2": "up", "net3": "up"}


def test_nothing_moves_when_most_agents_look_dead_and_status_says_why() -> None:
    store, neutron = memory_store(), FakeNeutron()
    _configure(store)
    _three(neutron)
    neutron.kill("a1")
    neutron.kill("a2")
    _mover(store, neutron).cycle()
    assert not [c for c in neutron.calls if c[0] in ("add", "remove")]
    held = read_status(store)["held"]
    assert {h["what"] for h in held} == {"net1", "net2"}
    assert "max-dead-share" in held[0]["reason"]


def test_ha_routers_are_left_to_neutron_and_zones_are_respected() -> None:
    store, neutron = memory_store(), FakeNeutron()
    _configure(store)
    neutron.agent("a1", "net1", zone="az1")
    neutron.agent("a2", "net2", zone="az1")
    neutron.agent("a3", "net3", zone="az2")
    neutron.agent("a4", "net4", zone="az2")
    neutron.router("ha", "a1", ha=True)
    neutron.router("z1", "a1", zones=("az1",))
    neutron.router("z2", "a3", zones=("az2",))
    neutron.kill("a1")
    neutron.kill("a4")
    _mover(store, neutron).cycle()
    assert neutron.where("ha") == {"a1"}
    assert neutron.where("z1") == {"a2"}       # the only live agent of az1
    assert neutron.where("z2") == {"a3"}       # on a live agent already: untouched


def test_a_router_with_no_live_agent_in_its_zone_is_held() -> None:
    store, neutron = memory_store(), FakeNeutron()
    _configure(store)
    neutron.agent("a1", "net1", zone="az1")
    neutron.agent("a2", "net2", zone="az2")
    neutron.agent("a3", "net3", zone="az2")
    neutron.router("z1", "a1", zones=("az1",))
    neutron.kill("a1")
    _mover(store, neutron).cycle()
    assert neutron.where("z1") == {"a1"}
    held = {h["what"]: h["reason"] for h in read_status(store)["held"]}
    assert "zone az1" in held["z1"]


def test_grace_waits_before_moving() -> None:
    store, neutron = memory_store(), FakeNeutron()
    _configure(store, "  agent-down-grace: 10s\n")
    _three(neutron)
    now = [1000.0]
    mover = _mover(store, neutron, clock=lambda: now[0])
    neutron.kill("a1")
    mover.cycle()
    assert neutron.where("r0") == {"a1"}
    now[0] += 11
    mover.cycle()
    assert neutron.where("r0") <= {"a2", "a3"} and neutron.where("r0")


def test_a_failed_add_is_retried_and_a_router_off_every_agent_is_not_lost() -> None:
    store, neutron = memory_store(), FakeNeutron()
    _configure(store)
    _three(neutron, routers=1)              # r0 on a1
    neutron.kill("a1")
    neutron.fail_add = 1
    mover = _mover(store, neutron)
    mover.cycle()
    assert neutron.where("r0") == set()     # unscheduled, the add failed: only the record knows it
    assert read_moves(store)["r0"].state == MOVING
    mover.cycle()
    assert len(neutron.where("r0")) == 1 and neutron.where("r0") <= {"a2", "a3"}
    assert read_moves(store)["r0"].state == DONE


def test_a_new_controller_finishes_the_move_of_the_last_one() -> None:
    store, neutron = memory_store(), FakeNeutron()
    _configure(store)
    _three(neutron, routers=1)
    neutron.kill("a1")
    # the last controller recorded the move and unscheduled the router, then died
    neutron.hosting["r0"] = set()
    rec = MoveRecord("r0", "a1", "net1", "a3", "net3", started=1.0)
    store.put(move_key("r0"), json.dumps(asdict(rec)))
    store.put(keys.EPOCH, "2")
    _mover(store, neutron, epoch=2).cycle()
    assert neutron.where("r0") == {"a3"}
    assert [c for c in neutron.calls if c[0] == "add"] == [("add", "a3", "r0")]   # once
    assert read_moves(store)["r0"].state == DONE


def test_neutron_unreachable_moves_nothing_and_says_so() -> None:
    store, neutron = memory_store(), FakeNeutron(down=True)
    _configure(store)
    _mover(store, neutron).cycle()
    st = read_status(store)
    assert st["state"] == "neutron-unreachable" and "refused" in st["note"]


def test_giving_up_after_repeated_failures() -> None:
    store, neutron = memory_store(), FakeNeutron()
    _configure(store)
    _three(neutron, routers=1)
    neutron.kill("a1")
    neutron.fail_add = 100
    mover = _mover(store, neutron)
    for _ in range(6):
        mover.cycle()
    rec = read_moves(store)["r0"]
    assert rec.state == FAILED and "internal server error" in rec.error


def test_the_limit_per_cycle_leaves_the_rest_for_later() -> None:
    s = NeutronYaml.model_validate({"cloud": "c", "max-routers-per-cycle": 2})
    neutron = FakeNeutron()
    _three(neutron, routers=9)
    neutron.kill("a1")
    agents = neutron.l3_agents()
    hosted = {a.id: neutron.routers_on(a.id) for a in agents}
    p = plan(agents, hosted, {}, s, now=0.0)
    assert len(p.moves) == 2 and p.waiting == 1


@pytest.mark.parametrize("bad, what", [
    ("  max-dead-share: 0\n", "max-dead-share"),
    ("  concurrency: 0\n", "concurrency"),
    ("  poll-interval: 0\n", "poll-interval"),
    ("  routers: all\n", "routers"),
])
def test_bad_settings_are_refused_naming_them(bad: str, what: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_yaml_config(BASE + bad)
    assert what in str(err.value)
