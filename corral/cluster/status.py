"""What `corral status` shows, computed from one store snapshot.

Roles come from the scheduler's own reading of the histories (so status and
controller never disagree on what runs where); nothing here writes.
"""
from __future__ import annotations

from typing import Any

from corral.cluster.snapshot import Snapshot, scheduler_inputs
from corral.model.config import STOPPED
from corral.model.state import EXEC_DONE
from corral.resource_agents.codes import rc_name
from corral.scheduler import schedule
from corral.scheduler.history import fail_counts
from corral.scheduler.resources import CloneR, Prim

EXEC_STATUS = {0: "complete", -1: "pending", 1: "cancelled", 2: "Timed Out", 3: "not supported",
               4: "Error", 5: "Hard error", 6: "Fatal error", 7: "not installed"}


def _node_state(n: Any) -> str:
    if n.unclean:
        return "unclean"
    if not n.online:
        return "offline"
    if n.maintenance:
        return "maintenance"
    if n.standby:
        return "standby"
    return "online"


FENCE_EVENTS_SHOWN = 10


def fence_event(rec: Any, epoch: int | None = None) -> dict[str, Any]:
    """One fencing history record as status shows it. A controller's record still pending
    after a newer controller took over (current `epoch`) was abandoned: its successor
    did not count it and fenced again."""
    result = {"done": "success", "failed": "failed", "pending": "pending"}.get(rec.state, rec.state)
    if result == "pending" and rec.epoch is not None and epoch is not None and rec.epoch < epoch:
        result = "abandoned"
    return {"node": rec.node, "action": rec.action, "result": result, "device": rec.device,
            "origin": rec.origin, "epoch": rec.epoch, "requested_at": rec.requested_at,
            "completed_at": rec.completed_at, "attempts": rec.attempts, "error": rec.error, "id": rec.id}


def fencing_status(snap: Snapshot) -> dict[str, Any]:
    """The last fencing events (newest last), fences in progress, and nodes the controller
    is waiting to fence (from its status)."""
    waiting = [w for w in (snap.controller_status or {}).get("waiting", []) if w.startswith("fencing of ")]
    events = [fence_event(r, snap.epoch) for r in snap.fence_history]
    return {"history": events[-FENCE_EVENTS_SHOWN:], "pending": [e for e in events if e["result"] == "pending"],
            "waiting": waiting}


def operator_status(snap: Snapshot) -> dict[str, Any]:
    """The operator's node modes and move/ban constraints (cluster/operator.py)."""
    import time

    now = time.time()
    return {"revision": snap.operator_revision, "error": snap.operator_error,
            "node_modes": snap.operator.node_modes,
            "constraints": [{"id": c.id, "rsc": c.rsc, "node": c.node, "score": c.score, "role": c.role,
                             "expires": c.expires, "expired": c.expired(now)} for c in snap.operator.constraints]}


def cluster_status(snap: Snapshot) -> dict[str, Any]:
    out: dict[str, Any] = {"controller": snap.leader, "epoch": snap.epoch, "revision": snap.revision,
                           "config": {"source": snap.config_source, "revision": snap.config_revision,
                                      "error": snap.config_error},
                           "nodes": [], "resources": [], "failures": [],
                           "controller_status": snap.controller_status,
                           "fencing": fencing_status(snap), "operator": operator_status(snap)}
    if snap.config is None:
        out["nodes"] = [{"name": n, "state": "online" if n in snap.members else "offline"}
                        for n in sorted(set(snap.members) | set(snap.nodes))]
        return out
    cfg, state = scheduler_inputs(snap)
    tr = schedule(cfg, state)
    for n in tr.nodes.values():
        out["nodes"].append({"name": n.name, "state": _node_state(n), "member": n.name in snap.members,
                             "unclean_reason": n.unclean_reason or None})
    counts = {node: fail_counts(st.attrs) for node, st in state.nodes.items()}
    for p in _prims(tr):
        top = p.top
        parent = top.id if top is not p else None
        group = p.group.id if p.group is not None else None
        entry = {"id": p.id, "base": p.base, "parent": parent, "group": group,
                 "clone": top.id if isinstance(top, CloneR) else None,
                 "agent": p.cfg.agent if p.cfg else "?", "managed": p.managed, "failed": p.failed,
                 "orphan": p.orphan, "target_role": p.meta.get("target-role")}
        if not p.active:
            out["resources"].append({**entry, "role": STOPPED, "node": None, "failcount": 0})
        for node, role in p.active.items():
            out["resources"].append({**entry, "role": role, "node": node,
                                     "failcount": counts.get(node, {}).get(p.base, 0)})
    for node, recs in sorted(snap.history.items()):
        for rid, rec in sorted(recs.items()):
            for op in rec.ops:
                if not op.id.endswith("_last_failure_0"):
                    continue
                extra = rec.extra.get(op.id, {})
                out["failures"].append({
                    "rsc": rid, "node": node, "op": op.op, "interval_ms": op.interval_ms, "rc": op.rc,
                    "rc_name": rc_name(op.rc), "status": EXEC_STATUS.get(op.op_status, str(op.op_status)),
                    "exit_reason": op.exit_reason, "call_id": op.call_id, "time": op.last_rc_change,
                    "exec_ms": extra.get("exec_ms"), "timed_out": op.op_status != EXEC_DONE})
    out["pending"] = tr.summary_text()
    return out


def _when(t: float | None) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "?"


def _prims(tr: Any) -> list[Prim]:
    seen: list[Prim] = []
    for top in tr.tree.top:
        for p in top.primitives():
            seen.append(p)
    for p in tr.tree.by_id.values():
        if isinstance(p, Prim) and p.orphan and p not in seen:
            seen.append(p)
    return seen


def render_text(st: dict[str, Any], store_url: str) -> list[str]:
    """crm_mon-like text."""
    cs = st.get("controller_status") or {}
    lines = ["Cluster Summary:", f"  * Store: {store_url.split('?')[0]}"]
    if st.get("controller"):
        lines.append(f"  * Current controller: {st['controller']} (epoch {st.get('epoch')})")
    else:
        lines.append("  * Current controller: NONE")
    conf = st.get("config") or {}
    if conf.get("revision"):
        lines.append(f"  * Configuration: {conf.get('source') or '?'} (store revision {conf['revision']})")
    else:
        lines.append("  * Configuration: none loaded (corral load --store URL FILE)")
    if conf.get("error"):
        lines.append(f"  * Configuration error: {conf['error']}")
    instances = len(st["resources"])
    lines.append(f"  * {len(st['nodes'])} nodes, {instances} resource instances")
    if cs:
        lines.append(f"  * Controller state: {cs.get('state', '?')} (transition {cs.get('transition', 0)})")
        if cs.get("note"):
            lines.append(f"  * Controller note: {cs['note']}")
    lines += ["", "Node List:"]
    by_state: dict[str, list[str]] = {}
    for n in st["nodes"]:
        by_state.setdefault(n["state"], []).append(n["name"])
    for n in st["nodes"]:
        if n["state"] == "unclean":
            lines.append(f"  * Node {n['name']}: UNCLEAN (offline): {n.get('unclean_reason') or ''}".rstrip(": "))
    for state, word in (("online", "Online"), ("standby", "Standby"), ("maintenance", "Maintenance"),
                        ("offline", "OFFLINE")):
        if by_state.get(state):
            lines.append(f"  * {word}: [ {' '.join(by_state[state])} ]")
    lines += ["", "Full List of Resources:"]
    shown_parents: set[str] = set()
    for r in st["resources"]:
        indent = "  "
        if r["clone"]:
            if r["clone"] not in shown_parents:
                lines.append(f"  * Clone Set: {r['clone']} [{r['group'] or r['base']}]:")
                shown_parents.add(r["clone"])
            indent = "    "
        elif r["group"]:
            if r["group"] not in shown_parents:
                lines.append(f"  * Resource Group: {r['group']}:")
                shown_parents.add(r["group"])
            indent = "    "
        where = f"{r['role']} {r['node']}" if r["node"] else "Stopped"
        flags = [f for f, on in (("FAILED", r["failed"] and r["node"]), ("unmanaged", not r["managed"]),
                                 ("ORPHANED", r["orphan"]),
                                 ("disabled", (r.get("target_role") or "").lower() == "stopped")) if on]
        if r["failcount"]:
            flags.append(f"fail-count={r['failcount']}")
        suffix = f" ({', '.join(flags)})" if flags else ""
        lines.append(f"{indent}* {r['id']}\t({r['agent']}):\t {where}{suffix}")
    if st["failures"]:
        lines += ["", "Failed Resource Actions:"]
        for f in st["failures"]:
            op = f"{f['rsc']}_{f['op']}_{f['interval_ms']}"
            reason = f" exitreason='{f['exit_reason']}'," if f["exit_reason"] else ""
            lines.append(f"  * {op} on {f['node']} '{f['rc_name']}' ({f['rc']}): call={f['call_id']}, "
                         f"status='{f['status']}',{reason} exec={f.get('exec_ms') or 0}ms")
    fencing = st.get("fencing") or {}
    if fencing.get("pending") or fencing.get("waiting"):
        lines += ["", "Pending Fencing Actions:"]
        lines += [f"  * {e['action']} of {e['node']} pending: asked by {e['origin']} at {_when(e['requested_at'])}"
                  for e in fencing.get("pending", [])]
        lines += [f"  * {w}" for w in fencing.get("waiting", [])]
    if fencing.get("history"):
        lines += ["", "Fencing History:"]
        for e in reversed(fencing["history"]):
            if e["result"] == "pending":
                continue
            device = f" by {e['device']}" if e["device"] else ""
            error = f": {e['error']}" if e["error"] else ""
            lines.append(f"  * {e['action']} of {e['node']} {e['result']}{device} (asked by {e['origin']}) "
                         f"at {_when(e['completed_at'] or e['requested_at'])}{error}")
    other_waits = [w for w in cs.get("waiting") or [] if w not in fencing.get("waiting", [])]
    if other_waits:
        lines += ["", "Waiting:"] + [f"  * {w}" for w in other_waits]
    if cs.get("blocked"):
        lines += ["", "Blocked actions:"] + [f"  * {b}" for b in cs["blocked"]]
    if st.get("pending"):
        lines += ["", "Pending actions:"] + list(st["pending"])
    op = st.get("operator") or {}
    if op.get("constraints"):
        lines += ["", "Operator constraints (corral resource clear RSC removes them):"]
        for c in op["constraints"]:
            how = "prefers" if c["score"] > 0 else "avoids"
            until = f", {'expired' if c['expired'] else 'until'} {_when(c['expires'])}" if c.get("expires") else ""
            role = f" (role {c['role']})" if c.get("role") else ""
            lines.append(f"  * {c['rsc']} {how} {c['node']}{role} [{c['id']}{until}]")
    if op.get("error"):
        lines += ["", f"Operator state error: {op['error']}"]
    return lines
