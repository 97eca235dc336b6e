"""Debian's ocf:heartbeat:galera, unchanged, under Corral with real MariaDB Galera on three namespace
hosts (corral_lab.controlplane.debian_galera; docs/openstack.md, "Control plane: Galera").

One run, three phases: a cold bootstrap (the agent picks one node to bootstrap, the others join, all
three Synced and promoted); a SIGKILL of one node's mysqld (and mysqld_safe), which Corral's monitor
sees and recovers; and a full outage after which the agent bootstraps from the most advanced node (the
stalest node crashed first, commits went on without it) and no acknowledged commit is missing.
Heavy: run it alone, under the lab lock (`flock /work/wt/lab.lock .venv/bin/pytest -q tests/lab/test_debian_galera.py`).
"""
from __future__ import annotations

import os
import shutil
import time

import pytest

from corral_lab.controlplane.debian_galera import CONTROLLERS, DebianGalera

pytestmark = [pytest.mark.lab, pytest.mark.slow]

GALERA_AGENT = "/usr/lib/ocf/resource.d/heartbeat/galera"


def _error_log(g: DebianGalera, host: str) -> str:
    return os.path.join(g.lab.host_dir(host, "/var/lib/mysql"), "error.log")


def _bootstraps_since(g: DebianGalera, marks: dict[str, int]) -> list[str]:
    """Hosts whose mysqld started a new cluster (`--wsrep-new-cluster`) since the marks (log sizes)."""
    out = []
    for h in CONTROLLERS:
        try:
            with open(_error_log(g, h), errors="replace") as f:
                f.seek(marks.get(h, 0))
                if "Connecting with bootstrap option: 1" in f.read():
                    out.append(h)
        except OSError:
            continue
    return out


def _marks(g: DebianGalera) -> dict[str, int]:
    return {h: os.path.getsize(_error_log(g, h)) if os.path.exists(_error_log(g, h)) else 0 for h in CONTROLLERS}


def test_debian_galera_agent_bootstraps_recovers_and_restarts_from_the_most_advanced_node() -> None:
    if not (os.path.exists(GALERA_AGENT) and shutil.which("mariadbd") and os.path.exists("/usr/lib/galera")):
        pytest.fail("resource-agents, mariadb-server and galera-4 are required (scripts/test installs them)")
    with DebianGalera(log=print) as g:
        # 1. Cold bootstrap: exactly one node bootstraps, the others join it.
        took = g.up(bound_s=240)
        assert _bootstraps_since(g, {}) and len(_bootstraps_since(g, {})) == 1, "one node bootstraps"
        assert g.promoted() == sorted(CONTROLLERS)
        print(f"cold start: all three Primary, Synced and promoted after {took:.1f}s")
        g.setup_audit()
        g.start_writer()
        time.sleep(3)

        # 2. SIGKILL of one mysqld (mysqld_safe too, else it restarts mysqld by itself).
        victim = "ctl2"
        before = set(g.mysqld_pids(victim))
        assert g.kill_mysqld(victim), "mysqld was running"
        t0 = time.monotonic()
        time.sleep(2)
        recovered = g.wait_all_primary(240)
        assert set(g.mysqld_pids(victim)).isdisjoint(before), "a new mysqld serves on the victim"
        print(f"SIGKILL of mysqld on {victim}: all three Primary and promoted again after "
              f"{time.monotonic() - t0:.1f}s (wait {recovered:.1f}s)")

        # 3. Full outage: the stalest node crashes first, commits continue on the others, then all go.
        stale = "ctl3"
        g.crash(stale)
        crashed_at = time.monotonic()
        time.sleep(8)
        ahead = [h for h in CONTROLLERS if h != stale]
        for h in ahead:
            g.crash(h)
        g.stop_writer()
        acked = g.acknowledged()
        after_stale = {int(r["n"]) for r in g.records() if "n" in r and "err" not in r and r["t"] > crashed_at + 2}
        assert after_stale, "commits were acknowledged after the stale node crashed"
        marks = _marks(g)
        t0 = time.monotonic()
        g.power_on(CONTROLLERS)
        back = g.wait_all_primary(300)
        boot = _bootstraps_since(g, marks)
        print(f"full outage: power-on to all three Primary and promoted {time.monotonic() - t0:.1f}s "
              f"(wait {back:.1f}s); bootstrapped from {boot}; {len(acked)} acknowledged commits")
        assert len(boot) == 1 and boot[0] in ahead, f"bootstrap from a most advanced node, not {boot}"
        for h in CONTROLLERS:
            missing = sorted(acked - g.committed(h))
            assert not missing, f"{h} lost {len(missing)} acknowledged commits: {missing[:10]}"
