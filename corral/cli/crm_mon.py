"""Cluster status as text, in the shapes of Pacemaker 2.1.5's `crm_mon -1` (and of the
status sections of `crm_simulate`): one renderer for `corral status` and `corral simulate`.

It reads the status document of corral.cluster.status (what `corral status --json`
prints): nodes, resource instances, failed operations, fencing, and draws

    Cluster Summary / Node List / Full List of Resources / Migration Summary /
    Failed Resource Actions / Fencing History

Clones are summarised as crm_mon does (`Started: [ n1 n2 ]`, `Promoted:`,
`Unpromoted:`, `Stopped:`); an instance that needs attention (failed, orphaned,
unmanaged, on an unclean node, in a pending operation) gets a line of its own.
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

STOPPED, STARTED, UNPROMOTED, PROMOTED = "Stopped", "Started", "Unpromoted", "Promoted"

# OCF return codes as crm_mon words them in "returned '...'"
RC_WORDS = {0: "ok", 1: "error", 2: "invalid parameter", 3: "unimplemented feature", 4: "insufficient privileges",
            5: "not installed", 6: "not configured", 7: "not running", 8: "promoted", 9: "promoted (failed)",
            190: "degraded", 191: "promoted (degraded)"}
# operation (executor) statuses, for "could not be executed (...)"
EXEC_WORDS = {-1: "Pending", 1: "Cancelled", 2: "Timed Out", 3: "Not supported", 4: "Error", 5: "Hard error",
              6: "Fatal error", 7: "Not installed", 8: "Not connected", 9: "Invalid"}
EXEC_NAMES = {"pending": -1, "cancelled": 1, "Timed Out": 2, "not supported": 3, "Error": 4, "Hard error": 5,
              "Fatal error": 6, "not installed": 7}
PENDING_WORDS = {"start": "Starting", "stop": "Stopping", "promote": "Promoting", "demote": "Demoting",
                 "migrate_to": "Migrating", "migrate_from": "Migrating", "monitor": "Monitoring"}


def ctime(t: float | None) -> str:
    """Pacemaker's time format: 'Tue Dec  1 21:01:32 2026'."""
    return time.ctime(t) if t else "?"


def duration(ms: int | float) -> str:
    """'10ms', '9.030s', '1m35.134s', as crm_mon words exec times and intervals."""
    ms = int(ms)
    if ms < 1000:
        return f"{ms}ms"
    minutes, rest = divmod(ms, 60_000)
    seconds = f"{rest // 1000}s" if rest % 1000 == 0 else f"{rest / 1000:.3f}s"
    if minutes:
        hours, minutes = divmod(minutes, 60)
        head = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
        return head + (seconds if rest else "")
    return seconds


# --- the sections -------------------------------------------------------------------------
def summary_lines(st: dict[str, Any], store_url: str | None, now: float | None = None) -> list[str]:
    conf = st.get("config") or {}
    out = ["Cluster Summary:", f"  * Stack: corral ({(store_url or '?').split('?')[0]})"]
    dc = st.get("controller")
    if dc:
        quorum = "with quorum" if st.get("have_quorum", True) else "WITHOUT quorum"
        out.append(f"  * Current DC: {dc} (epoch {st.get('epoch')}) - partition {quorum}")
    else:
        out.append("  * Current DC: NONE")
    out.append(f"  * Last updated: {ctime(now if now is not None else time.time())}")
    if conf.get("revision"):
        via = f" via corral from {conf['source']}" if conf.get("source") else ""
        out.append(f"  * Last change:  {ctime(conf.get('loaded_at'))}{via} (store revision {conf['revision']})")
    else:
        out.append("  * Last change:  none: no configuration loaded (corral load --store URL FILE)")
    if conf.get("error"):
        out.append(f"  * Configuration error: {conf['error']}")
    nodes = len(st.get("nodes") or [])
    instances = len({(r["id"]) for r in st.get("resources") or []})
    disabled = len({r["id"] for r in st.get("resources") or [] if _disabled(r)})
    out.append(f"  * {nodes} node{'s' if nodes != 1 else ''} configured")
    out.append(f"  * {instances} resource instance{'s' if instances != 1 else ''} configured"
               + (f" ({disabled} DISABLED)" if disabled else ""))
    cs = st.get("controller_status") or {}
    if cs:
        out.append(f"  * Controller: {cs.get('state', '?')} (transition {cs.get('transition', 0)})"
                   + (f": {cs['note']}" if cs.get("note") else ""))
    if st.get("maintenance_mode"):
        out += ["", "              *** Resource management is DISABLED ***",
                "  The cluster will not attempt to start, stop or recover services"]
    return out


def node_lines(nodes: list[dict[str, Any]], resources: list[dict[str, Any]] | None = None,
               indent: str = "  ") -> list[str]:
    """The Node List's items (without its heading)."""
    hosting = {r["node"] for r in resources or [] if r.get("node")}
    out: list[str] = []
    nodes = sorted(nodes, key=lambda n: n["name"])
    for n in nodes:
        if n["state"] == "unclean":
            out.append(f"{indent}* Node {n['name']}: UNCLEAN (offline)")
    for n in nodes:
        if n["state"] in ("standby", "maintenance"):
            extra = " (with active resources)" if n["state"] == "standby" and n["name"] in hosting else ""
            out.append(f"{indent}* Node {n['name']}: {n['state']}{extra}")
    for state, word in (("online", "Online"), ("offline", "OFFLINE")):
        names = sorted(n["name"] for n in nodes if n["state"] == state)
        if names:
            out.append(f"{indent}* {word}: [ {' '.join(names)} ]")
    return out


def resource_lines(resources: list[dict[str, Any]], nodes: list[dict[str, Any]],
                   indent: str = "  ") -> list[str]:
    """The Full List of Resources' items (without its heading)."""
    unclean = {n["name"] for n in nodes if n["state"] == "unclean"}
    all_nodes = sorted(n["name"] for n in nodes)
    out: list[str] = []
    for kind, name, entries in _tops(resources):
        if kind == "clone":
            out += _clone_lines(name, entries, unclean, all_nodes, indent)
        elif kind == "group":
            out += _group_lines(name, entries, unclean, indent)
        else:
            out += _primitive_lines(entries, unclean, indent)
    return out


def failure_lines(failures: list[dict[str, Any]], indent: str = "  ") -> list[str]:
    out = []
    for f in failures:
        interval = f.get("interval_ms") or 0
        op = f["op"]
        if op == "monitor" and not interval:
            what = "probe"
        elif interval:
            what = f"{duration(interval)}-interval {op}"
        else:
            what = op
        status = f.get("status")
        if f.get("timed_out") or (status not in (None, "complete")):
            code = EXEC_NAMES.get(status, None) if isinstance(status, str) else None
            result = f"could not be executed ({EXEC_WORDS.get(code, status) if code is not None else status})"
        else:
            result = f"returned '{RC_WORDS.get(f['rc'], 'rc=' + str(f['rc']))}'"
        reason = f" ({f['exit_reason']})" if f.get("exit_reason") else ""
        when = f" at {ctime(f['time'])}" if f.get("time") else ""
        took = f" after {duration(f['exec_ms'])}" if f.get("exec_ms") else ""
        out.append(f"{indent}* {f['rsc']} {what} on {f['node']} {result}{reason}{when}{took}")
    return out


def migration_lines(resources: list[dict[str, Any]], indent: str = "  ") -> list[str]:
    """Fail counts per node (crm_mon -f's Migration Summary), only where there are any."""
    per_node: dict[str, dict[str, int]] = {}
    for r in resources:
        if r.get("failcount") and r.get("node"):
            per_node.setdefault(r["node"], {})[r["base"]] = r["failcount"]
    out = []
    for node, counts in sorted(per_node.items()):
        out.append(f"{indent}* Node: {node}:")
        out += [f"{indent}  * {rsc}: fail-count={n}" for rsc, n in sorted(counts.items())]
    return out


def fencing_lines(fencing: dict[str, Any], waiting_other: Iterable[str] = ()) -> list[str]:
    out: list[str] = []
    if fencing.get("pending") or fencing.get("waiting"):
        out += ["", "Pending Fencing Actions:"]
        out += [f"  * {e['action']} of {e['node']} pending: client={e['origin']}, origin={e['origin']}, "
                f"requested='{ctime(e['requested_at'])}'" for e in fencing.get("pending", [])]
        out += [f"  * {w}" for w in fencing.get("waiting", [])]
    done = [e for e in reversed(fencing.get("history") or []) if e["result"] != "pending"]
    if done:
        out += ["", "Fencing History:"]
        for e in done:
            word = {"success": "successful", "failed": "failed", "abandoned": "abandoned"}.get(e["result"], e["result"])
            device = f" by {e['device']}" if e.get("device") else ""
            error = f": {e['error']}" if e.get("error") else ""
            out.append(f"  * {e['action']} of {e['node']} {word}{device}: origin={e['origin']}, "
                       f"{'completed' if e['result'] == 'success' else 'last-failed'}="
                       f"'{ctime(e.get('completed_at') or e['requested_at'])}'{error}")
    return out


def render_status(st: dict[str, Any], store_url: str | None, now: float | None = None) -> list[str]:
    """`corral status`: the whole crm_mon -1 page."""
    lines = summary_lines(st, store_url, now)
    lines += ["", "Node List:", *node_lines(st["nodes"], st.get("resources"))]
    lines += ["", "Full List of Resources:"]
    items = resource_lines(st.get("resources") or [], st["nodes"])
    lines += items or ["  * No resources"]
    migration = migration_lines(st.get("resources") or [])
    if migration:
        lines += ["", "Migration Summary:", *migration]
    if st.get("failures"):
        lines += ["", "Failed Resource Actions:", *failure_lines(st["failures"])]
    cs = st.get("controller_status") or {}
    fencing = st.get("fencing") or {}
    lines += fencing_lines(fencing)
    other_waits = [w for w in cs.get("waiting") or [] if w not in fencing.get("waiting", [])]
    if other_waits:
        lines += ["", "Waiting:"] + [f"  * {w}" for w in other_waits]
    if cs.get("blocked"):
        lines += ["", "Blocked actions:"] + [f"  * {b}" for b in cs["blocked"]]
    if st.get("pending"):
        lines += ["", "Pending actions:"] + list(st["pending"])
    lines += operator_lines(st.get("operator") or {})
    return lines


def operator_lines(op: dict[str, Any]) -> list[str]:
    """The operator's move/ban constraints (cluster/operator.py), with their lifetimes."""
    out: list[str] = []
    if op.get("constraints"):
        out += ["", "Operator constraints (corral resource clear RSC removes them):"]
        for c in op["constraints"]:
            how = "prefers" if c["score"] > 0 else "avoids"
            until = f", {'expired' if c['expired'] else 'until'} {ctime(c['expires'])}" if c.get("expires") else ""
            role = f" (role {c['role']})" if c.get("role") else ""
            out.append(f"  * {c['rsc']} {how} {c['node']}{role} [{c['id']}{until}]")
    if op.get("error"):
        out += ["", f"Operator state error: {op['error']}"]
    return out


def render_simulated(nodes: list[dict[str, Any]], resources: list[dict[str, Any]]) -> list[str]:
    """crm_simulate's "Current cluster status" / "Revised Cluster Status" body."""
    items = resource_lines(resources, nodes, indent="    ")
    return ["  * Node List:", *node_lines(nodes, resources, indent="    "), "",
            "  * Full List of Resources:", *(items or ["    * No resources"])]


# --- building blocks ----------------------------------------------------------------------
def _tops(resources: list[dict[str, Any]]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """Entries gathered by top-level resource, in order: ("clone"|"group"|"primitive", id, entries)."""
    order: list[tuple[str, str]] = []
    by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in resources:
        key = ("clone", r["clone"]) if r.get("clone") else (("group", r["group"]) if r.get("group")
                                                          else ("primitive", r["id"]))
        if key not in by:
            by[key] = []
            order.append(key)
        by[key].append(r)
    return [(kind, name, by[(kind, name)]) for kind, name in order]


def _disabled(r: dict[str, Any]) -> bool:
    return (r.get("target_role") or "").lower() == "stopped"


def _role_word(r: dict[str, Any]) -> str:
    role = r["role"]
    if role == STARTED and r.get("promotable"):
        return UNPROMOTED
    return role


def _state(r: dict[str, Any], unclean: set[str]) -> str:
    """'Started n1 (unmanaged)', 'FAILED Promoted n2 (UNCLEAN)', 'Stopped (disabled)', ..."""
    node = r.get("node")
    if not node:
        words = "ORPHANED Stopped" if r.get("orphan") else STOPPED
    else:
        role = _role_word(r)
        pending = r.get("pending")
        if pending and pending in PENDING_WORDS:
            words = f"{PENDING_WORDS[pending]} {node}"
        elif r.get("failed"):
            words = f"FAILED {role + ' ' if role == PROMOTED else ''}{node}"
        else:
            words = f"{role} {node}"
        if r.get("orphan"):
            words = f"ORPHANED {words}"
    flags = []
    if node and node in unclean:
        flags.append("UNCLEAN")
    if _disabled(r):
        flags.append("disabled")
    if not r.get("managed", True):
        flags.append("unmanaged")
    if r.get("blocked"):
        flags.append("blocked")
    return words + (f" ({', '.join(flags)})" if flags else "")


def _line(name: str, r: dict[str, Any], unclean: set[str], indent: str) -> str:
    return f"{indent}* {name}\t({r['agent']}):\t {_state(r, unclean)}"


def _primitive_lines(entries: list[dict[str, Any]], unclean: set[str], indent: str,
                     name: str | None = None) -> list[str]:
    r = entries[0]
    name = name or r["id"]
    active = [e for e in entries if e.get("node")]
    if len(active) > 1:  # active on several nodes at once
        roles = {_role_word(e) for e in active}
        role = roles.pop() if len(roles) == 1 else STARTED
        prefix = "ORPHANED " if r.get("orphan") else ""
        failed = "FAILED " if any(e.get("failed") for e in active) else ""
        flags = [f for f, on in (("disabled", _disabled(r)), ("unmanaged", not r.get("managed", True))) if on]
        return [f"{indent}* {name}\t({r['agent']}):\t {prefix}{failed}{role}"
                + (f" ({', '.join(flags)})" if flags else "")
                + f" [ {' '.join(e['node'] for e in active)} ]"]
    return [_line(name, e, unclean, indent) for e in entries]


def _header_flags(entries: list[dict[str, Any]], *extra: str) -> str:
    flags = list(extra)
    if entries and all(not e.get("managed", True) for e in entries):
        flags.append("unmanaged")
    if entries and all(_disabled(e) for e in entries):
        flags.append("disabled")
    return f" ({', '.join(flags)})" if flags else ""


def _group_lines(name: str, entries: list[dict[str, Any]], unclean: set[str], indent: str) -> list[str]:
    out = [f"{indent}* Resource Group: {name}{_header_flags(entries)}:"]
    for _kind, _id, members in _tops([{**e, "group": None} for e in entries]):
        out += _primitive_lines(members, unclean, indent + "  ")
    return out


def _interesting(e: dict[str, Any], unclean: set[str], clone_managed: bool) -> bool:
    return bool(e.get("failed") or e.get("orphan") or e.get("pending") or e.get("blocked")
                or (e.get("node") in unclean) or (clone_managed and not e.get("managed", True)))


def _clone_lines(name: str, entries: list[dict[str, Any]], unclean: set[str], all_nodes: list[str],
                 indent: str) -> list[str]:
    first = entries[0]
    child = first.get("clone_child") or first.get("group") or first["base"]
    extra = [f for f, on in (("promotable", first.get("promotable")), ("unique", first.get("unique"))) if on]
    out = [f"{indent}* Clone Set: {name} [{child}]{_header_flags(entries, *extra)}:"]
    inner = indent + "  "
    managed = any(e.get("managed", True) for e in entries)
    # one clone instance = a primitive instance, or a group instance with its members
    instances: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        instances.setdefault(e["group"] or e["id"], []).append(e)
    listed: dict[str, list[str]] = {}
    stopped = False
    lines: list[str] = []
    for inst, members in instances.items():
        is_group = bool(members[0].get("group"))
        active = [m for m in members if m.get("node")]
        nodes = {m["node"] for m in active}
        roles = {_role_word(m) for m in active}
        whole = (not first.get("unique") and not any(_interesting(m, unclean, managed) for m in members)
                 and (not active or (len(active) == len(members) and len(nodes) == 1 and len(roles) == 1)))
        if whole and not active:
            stopped = True
            continue
        if whole:
            listed.setdefault(roles.pop(), []).append(nodes.pop())
            continue
        if is_group:
            lines.append(f"{inner}* Resource Group: {inst}{_header_flags(members)}:")
            for _k, _i, member in _tops([{**m, "group": None} for m in members]):
                lines += _primitive_lines(member, unclean, inner + "  ",
                                          name=None if first.get("unique") else member[0]["base"])
        else:
            lines += _primitive_lines(members, unclean, inner,
                                      name=inst if first.get("unique") else members[0]["base"])
    out += lines
    for role in (PROMOTED, STARTED, UNPROMOTED):
        if listed.get(role):
            out.append(f"{inner}* {role}: [ {' '.join(_in_order(listed[role], all_nodes))} ]")
    for role in sorted(set(listed) - {PROMOTED, STARTED, UNPROMOTED}):
        out.append(f"{inner}* {role}: [ {' '.join(_in_order(listed[role], all_nodes))} ]")
    if stopped:
        hosting = {e["node"] for e in entries if e.get("node")}
        idle = [n for n in all_nodes if n not in hosting]
        if idle:
            word = "Stopped (disabled)" if all(_disabled(e) for e in entries) else STOPPED
            out.append(f"{inner}* {word}: [ {' '.join(idle)} ]")
    return out


def _in_order(names: list[str], all_nodes: list[str]) -> list[str]:
    rank = {n: i for i, n in enumerate(all_nodes)}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))
