"""Corral's live state as the CIB `cibadmin -Q` prints on a Pacemaker 2.1.5 cluster.

Resource agents read the cluster through it (rabbitmq-cluster greps transient attributes out of
`cibadmin -Q --xpath ...`; galera feeds it to `crm_mon` through CIB_file). Built from one store
snapshot:

    <cib ...>                         epoch = the configuration's revision, num_updates = the store's
      <configuration>                 the loaded configuration (corral.model.cib_dump), node
                                      attributes set with `crm_attribute -l forever` included
      <status>
        <node_state ...>              one per known node: in_ccm/crmd from the membership lease
          <lrm>                       the node's operation history (lrm_rsc_op as the controller writes it)
          <transient_attributes>      lifetime-reboot attributes (promotion scores, fail counts, ...)

Element and attribute order follow Pacemaker's; ids follow its conventions (`status-<node>`,
`status-<node>-<name>`, `nodes-<node>-<name>`).
"""
from __future__ import annotations

import time
import xml.etree.ElementTree as ET

from corral.cluster.snapshot import Snapshot, scheduler_inputs
from corral.model.cib_dump import dump_cib
from corral.model.state import OpRecord
from corral.model.xml_out import element

FEATURE_SET = "3.16.2"      # Pacemaker 2.1.5's
SCHEMA = "pacemaker-3.9"    # the newest schema 2.1.5 ships (what a new cluster validates with)
UPDATE_CLIENT = "corral"
TRANSITION_UUID = "00000000-0000-0000-0000-000000000000"  # Corral has no transition uuids


def live_cib(snap: Snapshot) -> ET.Element:
    """The CIB of a live cluster (raises ValueError when no configuration is loaded)."""
    cfg, state = scheduler_inputs(snap)
    conf_root = ET.fromstring(dump_cib(cfg))
    node_ids = {n.name: n.id or n.name for n in cfg.nodes.values()}
    root = element("cib", {
        "crm_feature_set": FEATURE_SET, "validate-with": SCHEMA, "epoch": str(snap.config_revision),
        "num_updates": str(snap.revision), "admin_epoch": "0",
        "cib-last-written": time.ctime(snap.config_loaded_at or time.time()),
        "update-origin": snap.leader or "", "update-client": UPDATE_CLIENT, "update-user": "root",
        "have-quorum": "1" if state.have_quorum else "0"})
    if snap.leader:
        root.set("dc-uuid", node_ids.get(snap.leader, snap.leader))
    configuration = conf_root.find("configuration")
    assert configuration is not None  # dump_cib always writes one
    root.append(_strip_text(configuration))
    status = element("status", parent=root)
    for name, st in state.nodes.items():
        nid = node_ids.get(name, name)
        online = st.in_cluster and st.agent_online
        ns = element("node_state", {"id": nid, "uname": name, "in_ccm": "true" if st.in_cluster else "false",
                                    "crmd": "online" if online else "offline",
                                    "crm-debug-origin": "corral", "join": st.join,
                                    "expected": st.expected or "down"}, status)
        records = snap.history.get(name, {}) if online else {}
        if records:
            lrm = element("lrm", {"id": nid}, ns)
            resources = element("lrm_resources", parent=lrm)
            for rsc, rec in records.items():
                spec = rec.spec
                r = element("lrm_resource", {"id": rsc, "type": spec.type, "class": spec.rsc_class,
                                             "provider": spec.provider or None}, resources)
                for op in sorted(rec.ops, key=lambda o: o.call_id):
                    _lrm_rsc_op(r, op, name, rec.extra.get(op.id, {}))
        attrs = dict(st.attrs)
        if online:
            attrs.setdefault("#feature-set", FEATURE_SET)  # what a 2.1.5 controller reports of itself
        if attrs:
            ta = element("transient_attributes", {"id": nid}, ns)
            ia = element("instance_attributes", {"id": f"status-{nid}"}, ta)
            for k in sorted(attrs, key=_attr_order):
                element("nvpair", {"id": f"status-{nid}-{k}", "name": k, "value": attrs[k]}, ia)
    return root


def _attr_order(name: str) -> tuple[bool, str]:
    return (not name.startswith("#"), name)   # the controller's own (#...) first, as attrd writes them


def _strip_text(el: ET.Element) -> ET.Element:
    """dump_cib indents with whitespace text; xml_out writes its own indentation."""
    for e in el.iter():
        e.text = None if e.text is None or not e.text.strip() else e.text
        e.tail = None
    return el


def _lrm_rsc_op(parent: ET.Element, op: OpRecord, node: str, extra: dict) -> None:
    key = f"0:0:{op.target_rc if op.target_rc is not None else 0}:{TRANSITION_UUID}"
    a = {"id": op.id or f"{op.rsc}_last_0", "operation_key": f"{op.rsc}_{op.op}_{op.interval_ms}",
         "operation": op.op, "crm-debug-origin": "corral", "crm_feature_set": FEATURE_SET,
         "transition-key": key, "transition-magic": f"{op.op_status}:{op.rc};{key}",
         "exit-reason": op.exit_reason, "on_node": node, "call-id": str(op.call_id), "rc-code": str(op.rc),
         "op-status": str(op.op_status), "interval": str(op.interval_ms)}
    if op.migrate_source:
        a["migrate_source"] = op.migrate_source
    if op.migrate_target:
        a["migrate_target"] = op.migrate_target
    if op.last_rc_change:
        a["last-rc-change"] = str(op.last_rc_change)
    a["exec-time"] = str(extra.get("exec_ms", op.exec_ms or 0))
    a["queue-time"] = str(op.queue_ms or 0)
    if op.op_digest:
        a["op-digest"] = op.op_digest
    element("lrm_rsc_op", a, parent)
