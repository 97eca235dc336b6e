"""A cold start with fencing enabled: the first agent becomes the controller while the others
are still probing their way in; it fences nobody (the join window, a joining node is never
fenced) and plans as soon as all have joined."""
from __future__ import annotations

import time

from recorder import recorder_provider, recorder_rsc  # noqa: F401 - the fixture

from corral.fencing import list_history

CONFIG = """cluster: {stonith-enabled: true, dc-deadtime: 20s}
nodes: [{name: n1}, {name: n2}, {name: n3}]
resources:
"""


def test_a_cold_start_fences_nobody_and_is_quick(make_cluster, backend, recorder_provider):  # noqa: F811
    c = make_cluster(backend)
    # Every probe takes 1.5 s: the joins of n2 and n3 are still running when n1 already leads.
    c.load(CONFIG + recorder_rsc("db", recorder_provider, c.workdir, params=", probe_delay: '1.5'"))
    c.start("n1")
    c.wait("n1 leading", lambda: c.controller() == "n1", timeout=20)
    t0 = time.monotonic()
    for n in ("n2", "n3"):
        c.start(n)
    c.wait("the controller waiting for n2 and n3", lambda: (lambda s: {w.split()[0] for w in s.get("waiting", [])}
           == {"n2", "n3"})(c.status()["controller_status"]), timeout=10)
    c.wait("every node online", lambda: {n["name"]: n["state"] for n in c.status()["nodes"]}
           == {"n1": "online", "n2": "online", "n3": "online"}, timeout=20)
    joined = time.monotonic() - t0
    c.wait("the controller to plan with every node", lambda: (lambda s: s.get("state") in ("idle", "executing")
           and not s.get("waiting"))(c.status()["controller_status"]), timeout=10)
    planning = time.monotonic() - t0
    time.sleep(1.0)
    for n in ("n1", "n2", "n3"):
        assert not list_history(c.store, n), f"{n} was fenced (or a fence was attempted) on a cold start"
    assert all(n["state"] == "online" for n in c.status()["nodes"])
    print(f"cold start: n2 and n3 joined {joined:.2f}s after they started, the controller planned after "
          f"{planning:.2f}s")
    assert planning < joined + 3.0  # well inside dc-deadtime: the window closed when all had joined
