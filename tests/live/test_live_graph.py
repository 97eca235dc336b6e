"""The controller executes the transition graph: an action waits for its own inputs only."""
from __future__ import annotations

import json
import time

from recorder import recorder_provider, recorder_rsc  # noqa: F401 - the fixture

from corral.cluster import keys

FENCING_OFF = "cluster: {stonith-enabled: false}\n"


def _config(provider: str, workdir, fast_meta: str, slow_meta: str) -> str:
    return (FENCING_OFF + "defaults: {resource: {resource-stickiness: 100}}\nresources:\n"
            + recorder_rsc("fast", provider, workdir, meta=fast_meta)
            + recorder_rsc("slow", provider, workdir, params=", stop_delay: '5'", meta=slow_meta)
            + "constraints:\n  - location: {rsc: fast, node: n1, score: 1000}\n"
            + "  - location: {rsc: slow, node: n2, score: 1000}\n")


def _has_op(c, node: str, rid: str, op_id: str) -> bool:
    kv = c.store.get(keys.history_rsc(node, rid))
    return kv is not None and any(o["id"] == op_id for o in json.loads(kv.value)["ops"])


def _last(c, node: str, rid: str, slot: str = "last_0") -> tuple[str, float, float]:
    """(op, started, ended) of one history slot, wall-clock seconds."""
    kv = c.store.get(keys.history_rsc(node, rid))
    assert kv is not None, f"no history of {rid} on {node}"
    rec = json.loads(kv.value)
    op = next(o for o in rec["ops"] if o["id"] == f"{rid}_{slot}")
    extra = rec["extra"][f"{rid}_{slot}"]
    return op["op"], extra["started_at"], extra["started_at"] + extra["exec_ms"] / 1000


def test_a_recovery_does_not_wait_for_an_unrelated_slow_stop(make_cluster, backend, recorder_provider):  # noqa: F811
    """One transition recovers `fast` on n1 (stop, start) and stops `slow` on n2, whose stop takes
    5 s: the recovery is done long before the stop, as each action waits only for its inputs."""
    c = make_cluster(backend)
    c.load(_config(recorder_provider, c.workdir, "", ""))
    for n in ("n1", "n2"):
        c.start(n)
    c.wait_running("fast", on="n1")
    c.wait_running("slow", on="n2")
    c.wait_idle()
    c.wait("fast's recurring monitor", lambda: _has_op(c, "n1", "fast", "fast_monitor_500"))
    # fast fails while unmanaged (its monitor keeps running, nothing recovers it yet) ...
    c.load(_config(recorder_provider, c.workdir, "\n  meta: {is-managed: false}", ""))
    c.wait_idle()
    (c.workdir / "n1" / "fast.state").unlink()
    c.wait("fast's monitor failure", lambda: any(
        f["rsc"] == "fast" and f["op"] == "monitor" for f in c.status()["failures"]))
    # ... then one change makes both needed at once: recover fast, stop slow.
    loaded = time.time()
    c.load(_config(recorder_provider, c.workdir, "", "\n  meta: {target-role: Stopped}"))
    c.wait("slow stopped and fast recovered", lambda: c.where("slow") == [] and c.where("fast") == ["n1"]
           and _last(c, "n1", "fast")[0] == "start" and _last(c, "n2", "slow")[0] == "stop", timeout=30)
    _op, fast_start, fast_done = _last(c, "n1", "fast")
    _op, slow_start, slow_done = _last(c, "n2", "slow")
    recovery = fast_done - loaded
    print(f"recovery of fast on n1: {recovery:.2f}s after the change; slow's stop on n2: "
          f"{slow_done - slow_start:.2f}s, ended {slow_done - loaded:.2f}s after the change")
    assert slow_done - slow_start >= 4.5              # the stop really was slow
    assert fast_done < slow_done - 3.0                # and the recovery did not wait for it
    assert recovery < 2.5, f"recovery took {recovery:.2f}s"
    assert abs(slow_start - fast_start) < 2.0         # both in the same transition
