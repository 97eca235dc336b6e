"""Text rendering of cluster state and transitions, in crm_simulate's shapes."""
from __future__ import annotations

from corral.model.config import PROMOTED, STARTED, STOPPED, UNPROMOTED
from corral.model.scores import format_score
from corral.scheduler import ResourceView, Transition, primitives, resolve


def node_list(tr: Transition) -> list[str]:
    """crm_mon's node list: cluster nodes, then remote and guest nodes by state."""
    out = ["  * Node List:"]
    for kind, word in (("cluster", "Node"), ("remote", "RemoteNode"), ("guest", "GuestNode")):
        nodes = [n for n in tr.nodes.values() if n.kind == kind]
        for n in nodes:
            if n.unclean or n.unseen:
                out.append(f"    * {word} {n.name}: UNCLEAN (offline)")
        for n in nodes:
            if n.online and n.standby:
                out.append(f"    * {word} {n.name}: standby")
        prefix = {"cluster": "", "remote": "Remote", "guest": "Guest"}[kind]
        online = [n.name for n in nodes if n.online and not n.standby and not n.unclean]
        offline = [n.name for n in nodes if not n.online and not n.unclean and not n.unseen]
        if online:
            out.append(f"    * {prefix}Online: [ {' '.join(online)} ]")
        if offline:
            out.append(f"    * {prefix}{'OFFLINE' if kind != 'guest' else 'Offline'}: [ {' '.join(offline)} ]")
    return out


def _role_word(role: str, promotable: bool) -> str:
    if role == STARTED and promotable:
        return UNPROMOTED
    return role


def resource_lines(tr: Transition, after: bool) -> list[str]:
    out = ["  * Full List of Resources:"]
    for p in _all_prims(tr):
        agent = p.agent
        if after:
            node = p.assigned if p.next_role != STOPPED else None
            where = {node: p.next_role} if node else {}
        else:
            where = dict(p.active)
        flags = []
        if not p.managed:
            flags.append("unmanaged")
        if p.failed and not after:
            flags.append("FAILED")
        if p.orphan:
            flags.append("ORPHANED")
        suffix = f" ({', '.join(flags)})" if flags else ""
        if not where:
            out.append(f"    * {p.id}\t({agent}):\t Stopped{suffix}")
        for node, role in where.items():
            out.append(f"    * {p.id}\t({agent}):\t {_role_word(role, p.promotable)} {node}{suffix}")
    return out


def _all_prims(tr: Transition) -> list[ResourceView]:
    return primitives(tr.resources)


def action_lines(tr: Transition) -> list[str]:
    out = []
    for a in tr.actions:
        if a.task == "fence":
            out.append(f"  * Fencing {a.node} ({a.reason})")
            continue
        task = a.task if not a.interval_ms else f"{a.task}={a.interval_ms}"
        blocked = "" if a.runnable else " (blocked)"
        out.append(f"  * Resource action: {a.rsc:<15} {task} on {a.node}{blocked}")
    return out


def score_lines(tr: Transition) -> list[str]:
    out = []
    for p in _all_prims(tr):
        for node, score in sorted(p.scores.items()):
            out.append(f"pcmk__native_allocate: {p.id} allocation score on {node}: {format_score(score)}")
    return out


def explain_lines(tr: Transition, rsc: str) -> list[str]:
    placement = tr.placements.get(rsc)
    if placement is None:
        candidates = [k for k in tr.placements if k.split(":")[0] == rsc]
        if not candidates:  # a group or a clone: explain what it is made of
            r = resolve(tr.resources, rsc)
            prims = [p for p in r.members if p in tr.placements] if r is not None else []
            if not prims or r is None:
                raise KeyError(rsc)
            kind = r.kind
            return [f"{rsc} ({kind} of {', '.join(prims)}):"] + [line for c in prims for line in explain_lines(tr, c)]
        return [line for c in candidates for line in explain_lines(tr, c)]
    out = [f"{rsc}:"]
    cur = ", ".join(f"{role} on {node}" for node, role in placement.current.items()) or "stopped"
    out.append(f"  now: {cur}{' (failed)' if placement.failed else ''}")
    nxt = f"{placement.role} on {placement.node}" if placement.node else "stopped"
    out.append(f"  next: {nxt}")
    if placement.scores:
        out.append("  scores (higher wins; -INFINITY means never):")
        for node, score in sorted(placement.scores.items(), key=lambda kv: -kv[1]):
            n = tr.nodes.get(node)
            why = "" if n is None or n.can_host else "  (node cannot host resources)"
            out.append(f"    {node:<20} {format_score(score)}{why}")
    view = tr.resources.get(rsc)
    if view is not None and view.blocked_reason:
        out.append(f"  blocked by: {view.blocked_reason}")
    return out


__all__ = ["node_list", "resource_lines", "action_lines", "score_lines", "explain_lines", "PROMOTED"]
