"""Neutron L3 on the real neutron-server: routers of a dead neutron-l3-agent moved to live ones.

Three real neutron-l3-agent processes (corral_lab.nova.l3_agents) report to the Nova lab's
neutron-server; routers are scheduled to them by Neutron. One agent is SIGKILLed: once
neutron-server marks it dead (10 s without a report), Corral's controller (the neutron:
section) moves its routers to the live agents, each onto exactly one agent, and
`corral neutron status --json` shows the moves. The time from the kill is printed.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral_lab.nova import NovaLab
from corral_lab.nova.l3_agents import start_l3_agent
from corral_lab.nova.layout import CLOUD

from .corral_rig import CorralRig, wait_until

pytestmark = [pytest.mark.nova, pytest.mark.slow]

AGENTS = ("net1", "net2", "net3")
ROUTERS = 6
CONFIG = f"""\
cluster: {{stonith-enabled: false}}
neutron:
  cloud: {CLOUD}
  poll-interval: 1s
"""


@pytest.fixture(scope="module")
def l3(nova_lab: NovaLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CorralRig, dict]]:
    procs = {host: start_l3_agent(nova_lab.layout, host) for host in AGENTS}
    rig = CorralRig(nova_lab, Path(tmp_path_factory.mktemp("corral-l3")), controllers=("ctl1",))
    try:
        conn = nova_lab.connect()

        def agents_alive() -> bool:
            alive = {a.host for a in conn.network.agents(agent_type="L3 agent") if a.is_alive}
            return alive >= set(AGENTS)
        wait_until("three L3 agents alive in neutron-server", agents_alive, 120, every=1.0)
        path = rig.work / "corral.yaml"
        path.write_text(CONFIG)
        r = rig.corral("load", "--store", rig.url, str(path))
        assert r.returncode == 0, r.stdout + r.stderr
        rig.start_controller("ctl1")
        yield rig, procs
    finally:
        rig.close()
        for p in procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=15)


def _hosting(conn, router_id: str) -> list[str]:  # noqa: ANN001
    return sorted(a.host for a in conn.network.routers_hosting_l3_agents(router_id))


def test_routers_of_a_dead_l3_agent_move_to_live_agents(nova_lab: NovaLab, l3) -> None:  # noqa: ANN001
    rig, procs = l3
    conn = nova_lab.connect()
    agents = {a.host: a for a in conn.network.agents(agent_type="L3 agent")}
    routers = []
    for i in range(ROUTERS):  # two on each agent, placed by hand so the victim surely has some
        router = conn.network.create_router(name=f"corral-l3-{i}")
        for agent_id in [a for a in (x.id for x in conn.network.routers_hosting_l3_agents(router.id))]:
            conn.network.remove_router_from_agent(agent_id, router.id)
        conn.network.add_router_to_agent(agents[AGENTS[i % 3]].id, router.id)
        routers.append(router.id)
    victim = AGENTS[0]
    moved = [r for i, r in enumerate(routers) if i % 3 == 0]
    assert all(_hosting(conn, r) == [victim] for r in moved)

    killed_at = time.monotonic()
    os.killpg(procs[victim].pid, signal.SIGKILL)
    procs[victim].wait(timeout=15)

    def dead_in_neutron() -> bool:
        return not agents_by_host(conn)[victim].is_alive
    wait_until(f"neutron-server marks {victim}'s agent dead", dead_in_neutron, 60, every=0.2)
    dead_at = time.monotonic()

    def all_moved() -> bool:
        return all(len(h := _hosting(conn, r)) == 1 and h[0] != victim for r in moved)
    wait_until("the dead agent's routers on live agents", all_moved, 60, every=0.2)
    moved_at = time.monotonic()
    print(f"\nL3: agent killed -> dead in Neutron {dead_at - killed_at:.1f}s -> routers moved "
          f"{moved_at - dead_at:.1f}s later ({moved_at - killed_at:.1f}s from the kill)", file=sys.stderr)

    for i, r in enumerate(routers):  # the others never moved
        if i % 3:
            assert _hosting(conn, r) == [AGENTS[i % 3]]
    targets = [_hosting(conn, r)[0] for r in moved]
    assert sorted(targets) == ["net2", "net3"]          # spread over the live agents

    out = rig.corral("neutron", "status", "--store", rig.url, "--json")
    assert out.returncode == 0, out.stderr
    st = json.loads(out.stdout)
    assert {m["router"]: m["state"] for m in st["moves"]} == {r: "done" for r in moved}
    assert {a["host"]: a["state"] for a in st["status"]["agents"]}[victim] == "dead"
    for r in routers:
        conn.network.delete_router(r)


def agents_by_host(conn) -> dict:  # noqa: ANN001
    return {a.host: a for a in conn.network.agents(agent_type="L3 agent")}
