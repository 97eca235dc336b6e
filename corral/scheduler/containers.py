"""Resources with `container` meta ("fillers") and the container they live in.

Pacemaker Explained: a resource whose `container` meta attribute names another resource
runs inside it. Its failures default to `on-fail=restart-container`: the container is
restarted in place (and with it everything that runs inside), instead of the failed
resource alone. A failed stop of a filler is settled by the container's stop, so the
filler counts as stopped there rather than blocked or fenced. The container's fail count
includes its fillers' whole-resource counts (`fail-count-ID`; crm_simulate 2.1.5 leaves
their per-operation `fail-count-ID#OP_INTERVAL` counts out), and the sum decides its
`migration-threshold`.
"""
from __future__ import annotations

from corral.model.scores import INFINITY
from corral.model.state import ClusterState
from corral.scheduler.failcounts import fail_count_attrs
from corral.scheduler.resources import Prim

RESTART_CONTAINER = "restart-container"


def container_of(prim: Prim) -> str | None:
    """The id of the container `prim` runs in (a group's `container` meta names one of its
    own members for the rest: the container itself has none)."""
    cid = prim.meta.get("container")
    return cid if cid and cid != prim.base else None


def restart_containers(prims: list[Prim], by_id: dict[str, object]) -> None:
    """Containers of fillers that failed with restart-container restart where they run."""
    for p in prims:
        cid = container_of(p)
        container = by_id.get(cid or "")
        if not isinstance(container, Prim):
            continue
        for node in p.container_restarts:
            if node in container.active:
                container.restart_on.add(node)


def with_filler_fail_counts(fail_counts: dict[str, dict[str, int]], prims: list[Prim],
                            state: ClusterState, guest_connections: dict[str, str]) -> dict[str, dict[str, int]]:
    """Fail counts per node where each container's includes those of its fillers; a guest
    node's connection (`guest_connections`: connection id -> container id) is one."""
    fillers = {p.base: cid for p in prims if (cid := container_of(p))}
    fillers.update(guest_connections)
    if not fillers:
        return fail_counts
    out = {node: dict(counts) for node, counts in fail_counts.items()}
    for node, status in state.nodes.items():
        counts = out.setdefault(node, {})
        for _name, rid, op, _interval, count in fail_count_attrs(status.attrs):
            cid = fillers.get(rid)
            if cid is not None and op is None and count > 0:
                counts[cid] = min(INFINITY, counts.get(cid, 0) + count)
    return out
