"""Pacemaker CIB `status` section -> ClusterState."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime

from corral.model.cib import nvpairs
from corral.model.config import Configuration, parse_interval_ms
from corral.model.state import ClusterState, NodeStatus, OpRecord, ResourceHistory, TicketState


def _truthy(text: str | None) -> bool:
    """in_ccm/crmd may be 'true'/'online' or, in newer CIBs, a timestamp of the change."""
    if text is None:
        return False
    t = text.strip().lower()
    if t in ("true", "online", "yes", "member", "1"):
        return True
    return t.isdigit() and int(t) > 0


def _int(text: str | None, default: int = 0) -> int:
    try:
        return int(text) if text not in (None, "") else default
    except ValueError:
        return default


def _opt_int(text: str | None) -> int | None:
    return None if text is None else _int(text, 0)


def _target_rc(transition_key: str | None) -> int | None:
    if not transition_key:
        return None
    parts = transition_key.split(":")
    return _int(parts[2], 0) if len(parts) >= 4 else None


def _transition(op: ET.Element) -> int | None:
    key = op.get("transition-key") or (op.get("transition-magic") or "").partition(";")[2]
    parts = key.split(":")
    return _int(parts[1], 0) if len(parts) >= 4 else None


def parse_status(root: ET.Element, config: Configuration) -> ClusterState:
    state = ClusterState(have_quorum=root.get("have-quorum", "1").lower() in ("1", "true"),
                         dc=None,
                         quorum_lost=root.get("no-quorum-panic", "0").lower() in ("1", "true"))
    exec_date = root.get("execution-date")
    if exec_date and exec_date.isdigit():
        state.now = int(exec_date)
    elif exec_date:
        try:
            state.now = int(datetime.strptime(exec_date, "%Y-%m-%d %H:%M:%SZ").timestamp())
        except ValueError:
            state.now = None
    ids_to_name = {n.id: n.name for n in config.nodes.values()}
    state.dc = ids_to_name.get(root.get("dc-uuid", ""))
    status = root.find("status")
    for name in config.nodes:
        state.nodes[name] = NodeStatus(name=name, seen=False,
                                       remote=config.nodes[name].kind == "remote")
    if status is None:
        return state
    for ts in status.findall("tickets/ticket_state"):
        granted = ts.get("granted", "false").lower() == "true"
        state.tickets[ts.get("id", "")] = TicketState(
            granted=granted, standby=ts.get("standby", "false").lower() == "true",
            ever_granted=granted or ts.get("last-granted") is not None or ts.get("granted") is not None)
    for ns in status.findall("node_state"):
        name = ns.get("uname") or ids_to_name.get(ns.get("id", ""), ns.get("id", ""))
        node = state.nodes.get(name) or NodeStatus(name=name)
        state.nodes[name] = node
        node.seen = True
        node.remote = node.remote or ns.get("remote_node", "false").lower() == "true"
        node.in_cluster = _truthy(ns.get("in_ccm"))
        node.agent_online = _truthy(ns.get("crmd"))
        node.join = ns.get("join", "down")
        node.expected = ns.get("expected")
        node.shutdown = ns.get("shutdown", "0") not in ("0", "", "false")
        node.fenced_at = _int(ns.get("node_fenced"), 0)
        node.attrs = nvpairs(ns.find("transient_attributes"), "instance_attributes")
        for lrm_rsc in ns.findall("lrm/lrm_resources/lrm_resource"):
            rid = lrm_rsc.get("id", "")
            hist = ResourceHistory(rsc=rid, rsc_class=lrm_rsc.get("class", ""),
                                   provider=lrm_rsc.get("provider"), type=lrm_rsc.get("type", ""),
                                   container=lrm_rsc.get("container"))
            for op in lrm_rsc.findall("lrm_rsc_op"):
                interval = op.get("interval", "0")
                hist.ops.append(OpRecord(
                    rsc=rid, op=op.get("operation", ""),
                    interval_ms=_int(interval) if interval.isdigit() else parse_interval_ms(interval),
                    rc=_int(op.get("rc-code"), 0), op_status=_int(op.get("op-status"), 0),
                    call_id=_int(op.get("call-id"), 0),
                    target_rc=_target_rc(op.get("transition-key")), transition=_transition(op),
                    last_rc_change=_int(op.get("last-rc-change") or op.get("last-run"), 0),
                    exit_reason=op.get("exit-reason", ""), id=op.get("id", ""),
                    migrate_source=op.get("migrate_source"), migrate_target=op.get("migrate_target"),
                    op_digest=op.get("op-digest"),
                    op_secure_params=tuple((op.get("op-secure-params") or "").split()),
                    op_secure_digest=op.get("op-secure-digest"),
                    exec_ms=_opt_int(op.get("exec-time")), queue_ms=_opt_int(op.get("queue-time"))))
            node.history[rid] = hist
    # Nodes in the order the status section lists them, then those it does not mention:
    # the order in which histories are read decides anonymous clone instance numbers.
    listed = [n for n in (ns.get("uname") or ids_to_name.get(ns.get("id", ""), ns.get("id", ""))
                          for ns in status.findall("node_state")) if n in state.nodes]
    order = list(dict.fromkeys(listed + list(state.nodes)))
    state.nodes = {name: state.nodes[name] for name in order}
    return state
