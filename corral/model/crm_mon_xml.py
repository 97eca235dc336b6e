"""`crm_mon -1 --output-as=xml` (and the legacy `--as-xml`) as Pacemaker 2.1.5 prints it, from a
configuration and recorded state (a CIB, or Corral's live state exported as one).

Resource agents grep this text: galera decides whether a promoted instance exists from one
`<resource ... role="Promoted" active="true" orphaned="false" failed="false" ...>` line, and
rabbitmq-cluster and galera count `<node ... online="true" .../>` elements with xmllint. So the
element order, attribute order and quoting follow Pacemaker's output exactly (checked against the
real crm_mon on the scheduler corpus, tests/agent/test_cib_tools_differential.py).

Sections: summary, nodes, resources, node_attributes, node_history, failures, status (the
`<pacemaker-result>` form) -- those crm_mon prints for a CIB file. Not rendered: bundles (Corral
refuses them), fencing history (a CIB file has none), tickets, bans.
"""
from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field

from corral.model.config import Clone, Configuration, Primitive
from corral.model.scores import INFINITY
from corral.model.state import ClusterState, OpRecord
from corral.model.xml_out import element, to_text
from corral.scheduler.view import ResourceView

PACEMAKER_VERSION = "2.1.5"
API_VERSION = "2.25"
FEATURE_SET_UNKNOWN = "<3.15.1"   # what crm_mon says of a node that never reported #feature-set
RC_TEXT = {0: "ok", 1: "error", 2: "invalid parameter", 3: "unimplemented feature", 4: "insufficient privileges",
           5: "not installed", 6: "not configured", 7: "not running", 8: "promoted", 9: "promoted (failed)",
           190: "degraded", 191: "promoted (degraded)", 193: "pending"}
EXEC_TEXT = {0: "complete", -1: "pending", 1: "Cancelled", 2: "Timed Out", 3: "NOT SUPPORTED", 4: "Error",
             5: "Hard error", 6: "Fatal error", 7: "Not installed", 8: "Not connected", 9: "Invalid"}
PENDING_ROLES = {"start": "Starting", "stop": "Stopping", "promote": "Promoting", "demote": "Demoting",
                 "migrate_to": "Migrating", "migrate_from": "Migrating"}
PENDING_WORDS = {"monitor": "Monitoring", "notify": "Notifying"}
DEFAULT_MIGRATION_THRESHOLD = "1000000"
# Node attributes crm_mon leaves out of node_attributes: node modes and the controller's own.
HIDDEN_ATTRS = ("shutdown", "terminate", "standby", "maintenance")


@dataclass
class CibHeader:
    """What the `<cib>` element and the crm_config say of the CIB itself."""
    attrs: Mapping[str, str] = field(default_factory=dict)   # the <cib> element's attributes
    dc_version: str | None = None                            # crm_config dc-version
    stack: str | None = None                                 # crm_config cluster-infrastructure


def natural_key(name: str) -> list[object]:
    """Pacemaker sorts node names case-insensitively with numbers compared as numbers."""
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", name)]


def _b(value: bool) -> str:
    return "true" if value else "false"


def _ctime(t: float | int | None) -> str:
    return time.ctime(t) if t else time.ctime(0)


def render(cfg: Configuration, state: ClusterState, header: CibHeader, *, legacy: bool = False,
           request: str = "crm_mon -1 --output-as=xml", now: float | None = None) -> str:
    """The whole document. legacy: `--as-xml`/`-X` (a `<crm_mon version=...>` root, no status)."""
    from corral.scheduler import schedule

    tr = schedule(cfg, state)
    if legacy:
        root = element("crm_mon", {"version": PACEMAKER_VERSION})
    else:
        root = element("pacemaker-result", {"api-version": API_VERSION, "request": request})
    views = tr.resources
    root.append(_summary(cfg, state, header, views, now))
    root.append(_nodes(cfg, state, tr, views))
    root.append(_resources(cfg, views))
    attrs = _node_attributes(cfg, state)
    if attrs is not None:
        root.append(attrs)
    root.append(_node_history(cfg, state, tr, views))
    for section in (_failures(state), _bans(cfg)):
        if section is not None:
            root.append(section)
    if not legacy:
        element("status", {"code": "0", "message": "OK"}, root)
    return to_text(root)


# -- summary ---------------------------------------------------------------------------------------
def _summary(cfg: Configuration, state: ClusterState, header: CibHeader, views: Mapping, now: float | None
             ) -> ET.Element:
    s = element("summary")
    element("stack", {"type": header.stack or "unknown"}, s)
    dc = state.dc if state.dc in cfg.nodes else None
    if dc is None:
        element("current_dc", {"present": "false"}, s)
    else:
        element("current_dc", {"present": "true", "version": header.dc_version or "", "name": dc,
                               "id": cfg.nodes[dc].id or dc, "with_quorum": _b(state.have_quorum),
                               "mixed_version": "false"}, s)
    element("last_update", {"time": _ctime(now if now is not None else time.time())}, s)
    a = header.attrs
    element("last_change", {"time": a.get("cib-last-written", ""), "user": a.get("update-user", ""),
                            "client": a.get("update-client", ""), "origin": a.get("update-origin", "")}, s)
    element("nodes_configured", {"number": str(len(cfg.nodes))}, s)
    prims = [v for v in views.values() if v.kind == "primitive" and not v.orphan]
    disabled = sum(1 for v in prims if _target_role(v) == "stopped")
    blocked = sum(1 for v in prims if not v.managed and v.blocked)
    element("resources_configured", {"number": str(len(prims)), "disabled": str(disabled),
                                     "blocked": str(blocked)}, s)
    element("cluster_options", {
        "stonith-enabled": _b(cfg.option_bool("stonith-enabled", True)),
        "symmetric-cluster": _b(cfg.option_bool("symmetric-cluster", True)),
        "no-quorum-policy": cfg.option("no-quorum-policy", "stop"),
        "maintenance-mode": _b(cfg.option_bool("maintenance-mode", False)),
        "stop-all-resources": _b(cfg.option_bool("stop-all-resources", False)),
        "stonith-timeout-ms": str(_interval_ms(cfg.option("stonith-timeout", "60s"))),
        "priority-fencing-delay-ms": str(_interval_ms(cfg.option("priority-fencing-delay", "0")))}, s)
    return s


def _interval_ms(text: str) -> int:
    from corral.model.config import parse_interval_ms

    try:
        return parse_interval_ms(text)
    except ValueError:
        return 0


def _target_role(v: ResourceView) -> str | None:
    role = v.meta.get("target-role")
    return role.lower() if role else None


# -- nodes -----------------------------------------------------------------------------------------
def _nodes(cfg: Configuration, state: ClusterState, tr: object, views: Mapping) -> ET.Element:
    out = element("nodes")
    running: dict[str, int] = {}
    for v in views.values():
        if v.kind == "primitive":
            for n in v.active:
                running[n] = running.get(n, 0) + 1
    for name in sorted(tr.nodes, key=natural_key):  # type: ignore[attr-defined]
        n = tr.nodes[name]  # type: ignore[attr-defined]
        st = state.nodes.get(name)
        attrs = st.attrs if st else {}
        remote = cfg.nodes[name].kind == "remote" if name in cfg.nodes else n.remote
        pending = bool(st and st.in_cluster and st.join == "pending")
        a = {"name": name, "id": (cfg.nodes[name].id if name in cfg.nodes else "") or name,
             "online": _b(n.online), "standby": _b(n.standby), "standby_onfail": "false",
             "maintenance": _b(n.maintenance), "pending": _b(pending), "unclean": _b(n.unclean),
             "health": "green"}
        if not remote and n.online:
            a["feature_set"] = attrs.get("#feature-set", FEATURE_SET_UNKNOWN)
        a.update({"shutdown": _b(n.shutdown),
                  "expected_up": _b(bool(st and st.expected == "member" and not remote)),
                  "is_dc": _b(state.dc == name), "resources_running": str(running.get(name, 0)),
                  "type": "remote" if remote else "member"})
        element("node", a, out)
    return out


# -- resources -------------------------------------------------------------------------------------
@dataclass
class _Tree:
    children: dict[str | None, list[ResourceView]]   # parent id -> its instances/members
    clone_roles: dict[str, str]                       # clone id -> its primitive child's own target-role
    node_ids: dict[str, str]                          # node name -> CIB node id


def _resources(cfg: Configuration, views: Mapping[str, ResourceView]) -> ET.Element:
    out = element("resources")
    children: dict[str | None, list[ResourceView]] = {}
    for v in views.values():
        children.setdefault(v.parent, []).append(v)
    # A clone of a primitive shows the primitive's own target-role when it has none (as 2.1.5 does).
    roles = {r.id: r.child.meta["target-role"] for r in cfg.resources
             if isinstance(r, Clone) and isinstance(r.child, Primitive) and r.child.meta.get("target-role")}
    tree = _Tree(children, roles, {n.name: n.id or n.name for n in cfg.nodes.values()})
    order = {r.id: i for i, r in enumerate(cfg.resources)}
    # Configured resources in configuration order, orphans (no longer configured) after them.
    tops = sorted(children.get(None, []), key=lambda v: (v.orphan, order.get(v.base, len(order))))
    for v in tops:
        if not (v.orphan and not v.active):  # a stopped orphan is history only
            _resource_xml(out, v, tree)
    return out


def _instance_number(v: ResourceView) -> int:
    head, _, num = v.id.rpartition(":")
    return int(num) if head and num.isdigit() else -1


def _leaves(views: list[ResourceView], tree: _Tree) -> list[ResourceView]:
    out: list[ResourceView] = []
    for v in views:
        out.extend([v] if v.kind == "primitive" else _leaves(tree.children.get(v.id, []), tree))
    return out


def _resource_xml(parent: ET.Element, v: ResourceView, tree: _Tree, anonymous: bool = False) -> None:
    """anonymous: v is (in) an instance of an anonymous clone, whose primitives crm_mon names by
    their configured id."""
    kids = tree.children.get(v.id, [])
    if v.kind == "clone":
        kids = sorted(kids, key=_instance_number)
        a = {"id": v.id, "multi_state": _b(v.promotable), "unique": _b(v.unique),
             "managed": _b(all(k.managed for k in _leaves(kids, tree))),
             "disabled": _b(_target_role(v) == "stopped"),
             "failed": _b(any(k.failed for k in _leaves(kids, tree))), "failure_ignored": "false"}
        role = v.meta.get("target-role") or tree.clone_roles.get(v.id)
        if role:
            a["target_role"] = role
        el = element("clone", a, parent)
        for k in kids:
            _resource_xml(el, k, tree, anonymous=not v.unique)
    elif v.kind == "group":  # members in configuration order
        el = element("group", {"id": v.id, "number_resources": str(len(kids)),
                               "managed": _b(all(k.managed for k in kids)),
                               "disabled": _b(_target_role(v) == "stopped")}, parent)
        for k in kids:
            _resource_xml(el, k, tree, anonymous)
    else:
        _primitive_xml(parent, v, tree, anonymous)


def _primitive_xml(parent: ET.Element, v: ResourceView, tree: _Tree, anonymous: bool) -> None:
    active = dict(v.active)
    roles = set(active.values())
    role = next(iter(roles)) if len(roles) == 1 else ("Started" if active else "Stopped")
    pending = next(iter(v.pending.values()), None) if v.pending else None
    if pending in PENDING_ROLES:  # an action under way shows as the role it leads to
        role, pending = PENDING_ROLES[pending], None
    a = {"id": v.base if anonymous else v.id, "resource_agent": v.agent, "role": role}
    if v.meta.get("target-role"):
        a["target_role"] = v.meta["target-role"]
    a.update({"active": _b(bool(active)), "orphaned": _b(v.orphan), "blocked": _b(v.blocked),
              "managed": _b(v.managed), "failed": _b(v.failed), "failure_ignored": "false",
              "nodes_running_on": str(len(active))})
    if pending:
        a["pending"] = PENDING_WORDS.get(pending, pending)
    el = element("resource", a, parent)
    for node in active:
        element("node", {"name": node, "id": tree.node_ids.get(node, node), "cached": "true"}, el)


# -- node attributes ---------------------------------------------------------------------------------
def _hidden_attr(name: str) -> bool:
    return name.startswith(("#", "fail-count-", "last-failure-")) or name in HIDDEN_ATTRS


def _node_attributes(cfg: Configuration, state: ClusterState) -> ET.Element | None:
    out = element("node_attributes")
    for name in sorted(state.nodes, key=natural_key):
        st = state.nodes[name]
        if not (st.in_cluster and st.agent_online) and not st.remote:
            continue
        # The configuration's node attributes and the status section's (transient) ones, these winning.
        merged = {**(cfg.nodes[name].attrs if name in cfg.nodes else {}), **st.attrs}
        shown = sorted((k, v) for k, v in merged.items() if not _hidden_attr(k))
        if not shown:
            continue
        node = element("node", {"name": name}, out)
        for k, val in shown:
            element("attribute", {"name": k, "value": val}, node)
    return out if len(out) else None


# -- node history ------------------------------------------------------------------------------------
def _shown_ops(ops: list[OpRecord]) -> list[OpRecord]:
    keep = [o for o in ops if o.op != "notify" and not (o.op == "monitor" and o.interval_ms == 0 and o.rc == 7)]
    return sorted(keep, key=lambda o: o.call_id if o.call_id >= 0 else float("inf"))  # pending ones last


def _failures_of(attrs: Mapping[str, str], rids: set[str]) -> tuple[int, int]:
    """(fail count summed over operations, newest last-failure) of a resource on one node."""
    from corral.scheduler.failcounts import fail_count_attrs

    count = sum(c for _n, rid, _op, _i, c in fail_count_attrs(dict(attrs)) if rid in rids)
    last = 0
    for name, value in attrs.items():
        if name.startswith("last-failure-") and name[len("last-failure-"):].split("#", 1)[0] in rids \
                and value.isdigit():
            last = max(last, int(value))
    return count, last


def _node_history(cfg: Configuration, state: ClusterState, tr: object, views: Mapping) -> ET.Element:
    out = element("node_history")
    by_exec: dict[str, object] = {}
    for v in views.values():
        if v.kind == "primitive":
            by_exec.setdefault(v.exec_id, v)
    for name, st in state.nodes.items():
        nv = tr.nodes.get(name)  # type: ignore[attr-defined]
        if nv is None or not nv.online:
            continue
        node_el: ET.Element | None = None
        for rid, hist in st.history.items():
            ops = _shown_ops(hist.ops)
            # Older CIBs record anonymous clone instances as "rsc:N"; the history is the primitive's.
            v = by_exec.get(rid) or by_exec.get(rid.rpartition(":")[0])
            if not ops or v is None:
                continue
            if node_el is None:
                node_el = element("node", {"name": name}, out)
            ha = {"id": v.base if not v.unique else v.id, "orphan": _b(v.orphan),  # type: ignore[attr-defined]
                  "migration-threshold": v.meta.get("migration-threshold", DEFAULT_MIGRATION_THRESHOLD)}  # type: ignore[attr-defined]
            count, last = _failures_of(st.attrs, {rid, rid.rpartition(":")[0]} - {""})
            if count:
                ha["fail-count"] = str(min(count, INFINITY))
            if last:
                ha["last-failure"] = _ctime(last)
            r = element("resource_history", ha, node_el)
            for o in ops:
                a = {"call": str(o.call_id), "task": "probe" if o.op == "monitor" and o.interval_ms == 0 else o.op,
                     "rc": str(o.rc), "rc_text": RC_TEXT.get(o.rc, "unknown")}
                if o.interval_ms:
                    a["interval"] = f"{o.interval_ms}ms"
                if o.last_rc_change:
                    a["last-rc-change"] = _ctime(o.last_rc_change)
                if o.exec_ms is not None:
                    a["exec-time"] = f"{o.exec_ms}ms"
                if o.queue_ms is not None:
                    a["queue-time"] = f"{o.queue_ms}ms"
                element("operation_history", a, r)
    return out


# -- failures ----------------------------------------------------------------------------------------
def _failures(state: ClusterState) -> ET.Element | None:
    out = element("failures")
    for name, st in state.nodes.items():
        for hist in st.history.values():
            for o in hist.ops:
                if not o.id.endswith("_last_failure_0"):
                    continue
                key = f"{hist.rsc}_{o.op}_{o.interval_ms}"
                a = {"op_key": key, "node": name, "exitstatus": RC_TEXT.get(o.rc, "unknown"),
                     "exitreason": o.exit_reason, "exitcode": str(o.rc), "call": str(o.call_id),
                     "status": EXEC_TEXT.get(o.op_status, "unknown")}
                if o.last_rc_change:  # the timing attributes come with it
                    a.update({"last-rc-change": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(o.last_rc_change)),
                              "queued": str(o.queue_ms or 0), "exec": str(o.exec_ms or 0),
                              "interval": str(o.interval_ms), "task": o.op})
                element("failure", a, out)
    return out if len(out) else None


def inputs_from_cib(root: ET.Element) -> tuple[Configuration, ClusterState, CibHeader]:
    """A CIB (with its status section) as render() takes it."""
    from corral.model.cib import parse_cib
    from corral.model.cib_status import parse_status

    cfg = parse_cib(root, "cib")
    state = parse_status(root, cfg)
    if state.now is None:
        state.now = int(time.time())  # as crm_mon: without an execution-date it is now
    header = CibHeader(attrs=dict(root.attrib), dc_version=cfg.options.get("dc-version"),
                       stack=cfg.options.get("cluster-infrastructure"))
    return cfg, state, header


def _bans(cfg: Configuration) -> ET.Element | None:
    """Negative node locations, newest first (as crm_mon lists them)."""
    out = element("bans")
    for loc in reversed(cfg.locations):
        if loc.rules or loc.node is None or loc.rsc is None or loc.score >= 0:
            continue
        promoted = loc.role in ("Promoted", "Master")
        element("ban", {"id": loc.id, "resource": loc.rsc, "node": loc.node, "weight": str(loc.score),
                        "promoted-only": _b(promoted), "master_only": _b(promoted)}, out)
    return out if len(out) else None
