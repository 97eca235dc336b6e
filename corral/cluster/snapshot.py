"""One consistent read of the cluster from the store, and the scheduler's inputs from it.

Membership follows Pacemaker's CIB status: a node whose lease-bound member key
is present is in the cluster, its agent online, joined as a member. A node that
joined once (it has a /corral/nodes/<node> record) and whose member key has
vanished is out of the cluster but still *expected* as a member, so the
scheduler sees it lost: unclean with fencing enabled; with stonith-enabled=false
it is simply offline. A node that left cleanly recorded expected=down first.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from corral.cluster import keys, operator
from corral.cluster.configstore import decode
from corral.cluster.operator import OperatorState
from corral.cluster.records import ActionRecord, HistoryRecord, loads
from corral.model.config import Configuration
from corral.model.config import Node as ConfigNode
from corral.model.state import ClusterState, NodeStatus
from corral.store import KeyValue, Store


@dataclass
class Snapshot:
    revision: int
    config: Configuration | None = None
    config_revision: int = 0
    config_error: str | None = None
    config_source: str = ""
    config_loaded_at: float = 0.0    # when it was loaded or last edited (wall clock)
    operator: OperatorState = field(default_factory=OperatorState)  # node modes, move/ban constraints
    operator_revision: int = 0
    operator_error: str | None = None
    members: dict[str, dict] = field(default_factory=dict)
    member_revisions: dict[str, int] = field(default_factory=dict)  # member key -> create_revision
    joining: dict[str, dict] = field(default_factory=dict)          # join markers (agents probing)
    nodes: dict[str, dict] = field(default_factory=dict)            # persistent node records
    node_revisions: dict[str, int] = field(default_factory=dict)    # node record -> mod_revision
    life: dict = field(default_factory=dict)                        # /corral/life: the cluster's start
    life_revision: int = 0
    attrs: dict[str, dict[str, str]] = field(default_factory=dict)       # transient (lifetime reboot)
    node_attrs: dict[str, dict[str, str]] = field(default_factory=dict)  # permanent (lifetime forever)
    history: dict[str, dict[str, HistoryRecord]] = field(default_factory=dict)
    actions: dict[str, ActionRecord] = field(default_factory=dict)  # key -> action
    action_revisions: dict[str, int] = field(default_factory=dict)
    requests: dict[str, dict] = field(default_factory=dict)
    leader: str | None = None
    epoch: int = 0
    controller_status: dict = field(default_factory=dict)
    fence_history: list = field(default_factory=list)               # FenceRecords, oldest first


def read_snapshot(store: Store, parse_config: bool = True) -> Snapshot:
    kvs, revision = store.get_prefix(keys.ROOT)
    return snapshot_from(kvs, revision, parse_config)


def snapshot_from(kvs: list[KeyValue], revision: int, parse_config: bool = True) -> Snapshot:
    snap = Snapshot(revision=revision)
    for kv in kvs:
        k = kv.key
        if k == keys.CONFIG:
            snap.config_revision = kv.mod_revision
            if parse_config:
                try:
                    snap.config, snap.config_source, snap.config_loaded_at = decode(kv.value)
                except ValueError as exc:  # ConfigError is a ValueError
                    snap.config_error = str(exc)
        elif k == keys.OPERATOR:
            snap.operator_revision = kv.mod_revision
            try:
                snap.operator = operator.decode(kv.value)
            except ValueError as exc:  # unreadable: ignored (and shown), never fatal
                snap.operator_error = str(exc)
        elif k.startswith(keys.MEMBERS):
            snap.members[k[len(keys.MEMBERS):]] = loads(kv.value, {}) or {}
            snap.member_revisions[k[len(keys.MEMBERS):]] = kv.create_revision
        elif k.startswith(keys.JOINING):
            snap.joining[k[len(keys.JOINING):]] = loads(kv.value, {}) or {}
        elif k == keys.LIFE:
            snap.life = loads(kv.value, {}) or {}
            snap.life_revision = kv.mod_revision
        elif k.startswith(keys.NODES):
            snap.nodes[k[len(keys.NODES):]] = loads(kv.value, {}) or {}
            snap.node_revisions[k[len(keys.NODES):]] = kv.mod_revision
        elif k.startswith(keys.ATTRS):
            node, name = keys.split(k, keys.ATTRS)
            snap.attrs.setdefault(node, {})[name] = kv.value
        elif k.startswith(keys.NODE_ATTRS):
            node, name = keys.split(k, keys.NODE_ATTRS)
            snap.node_attrs.setdefault(node, {})[name] = kv.value
        elif k.startswith(keys.HISTORY):
            node, rsc = keys.split(k, keys.HISTORY)
            try:
                snap.history.setdefault(node, {})[rsc] = HistoryRecord.from_json(kv.value)
            except (ValueError, KeyError, TypeError):
                continue  # a record we cannot read is skipped, not fatal
        elif k.startswith(keys.ACTIONS):
            try:
                snap.actions[k] = ActionRecord.from_json(kv.value)
                snap.action_revisions[k] = kv.mod_revision
            except (ValueError, KeyError, TypeError):
                continue
        elif k.startswith(keys.REQUESTS):
            snap.requests[k] = loads(kv.value, {}) or {}
        elif k == keys.LEADER:
            snap.leader = kv.value
        elif k == keys.EPOCH:
            snap.epoch = int(kv.value) if kv.value.isdigit() else 0
        elif k == keys.CONTROLLER_STATUS:
            snap.controller_status = loads(kv.value, {}) or {}
        elif k.startswith(keys.FENCE_HISTORY):
            from corral.fencing.history import decode_record

            try:
                snap.fence_history.append(decode_record(kv.value, kv.mod_revision, kv.create_revision))
            except ValueError:
                continue
    snap.fence_history.sort(key=lambda r: (r.requested_at, r.id))
    return snap


def scheduler_inputs(snap: Snapshot, now: float | None = None) -> tuple[Configuration, ClusterState]:
    """(configuration, state) for schedule(): the stored configuration with every node
    that has joined added to its node list (as Pacemaker's membership layer adds nodes
    to the CIB), and the state assembled from membership, attributes and histories."""
    if snap.config is None:
        raise ValueError(snap.config_error or "the cluster has no configuration (corral load FILE)")
    cfg = snap.config
    t = now if now is not None else time.time()
    for name in sorted(set(snap.nodes) | set(snap.members)):
        if name not in cfg.nodes:
            cfg.nodes[name] = ConfigNode(name=name, id=name)
    for name, values in snap.node_attrs.items():  # set by agents (crm_attribute -l forever)
        if name in cfg.nodes:
            cfg.nodes[name].attrs.update(values)
    operator.merge_into(cfg, snap.operator, t)  # after the nodes: a mode never adds a node
    fencing = cfg.option_bool("stonith-enabled", True)
    state = ClusterState(now=int(t), dc=snap.leader)
    for name in sorted(set(snap.nodes) | set(snap.members)):
        member = name in snap.members
        record = snap.nodes.get(name, {})
        expected = "member" if member else str(record.get("expected", "member"))
        st = NodeStatus(name=name, in_cluster=member, agent_online=member,
                        join="member" if member else "down", expected=expected,
                        attrs=dict(snap.attrs.get(name, {})))
        # Like Pacemaker's unpacking: without fencing, an offline node's history is not
        # read (its lease ran out, so its agent has stopped everything it ran: rule 2).
        if member or fencing:
            st.history = {rsc: rec.to_history() for rsc, rec in snap.history.get(name, {}).items()}
        state.nodes[name] = st
    return cfg, state
