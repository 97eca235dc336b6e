"""After a confirmed fence: the node is cleanly down until it rejoins.

Pacemaker erases a fenced node's status (its operation history and transient
attributes) and records it as down: whatever it ran is known stopped. Here
that is one transaction, guarded by the node's member key as it was before the
fence (its mod_revision: every join rewrites it, also a restarted agent's join
that takes over its dead predecessor's key, which keeps the key's
create_revision; so a node that rebooted and already rejoined, with fresh
probes, is left alone) and, for the controller, fenced by its epoch (safety
rule 3):

    /corral/nodes/<node>     {"expected": "down", "fenced": {record, action, revision, at, by}}
    /corral/members/<node>   deleted (its agent is dead; its lease would only expire later)
    /corral/history/<node>/  deleted
    /corral/attrs/<node>/    deleted
    /corral/actions/<node>/  deleted

The scheduler then reads the node as cleanly offline (expected=down), not
unclean, and the next transition recovers its resources elsewhere.
"""
from __future__ import annotations

import time
from typing import Any

from corral.cluster import keys
from corral.cluster.records import dumps
from corral.store import Compare, Delete, Put, Store, fenced_txn


def member_guard(store: Store, node: str) -> int:
    """The member key's mod_revision now (0 if absent): pass it to mark_fenced."""
    kv = store.get(keys.member(node))
    return kv.mod_revision if kv is not None else 0


def mark_fenced(store: Store, node: str, member_revision: int, *, record_id: str, action: str,
                by: str, epoch: int | None = None) -> bool:
    """Record node as fenced and cleanly down. False if its member key was written since
    `member_revision` (member_guard: it rejoined, and its own join already replaced its state)."""
    info: dict[str, Any] = {"record": record_id, "action": action, "at": time.time(), "by": by}
    compares = [Compare(keys.member(node), "mod_revision", "==", member_revision)]
    ops: list[Put | Delete] = [
        Put(keys.node(node), dumps({"expected": "down", "fenced": info})),
        Delete(keys.history(node), prefix=True),
        Delete(keys.attrs(node), prefix=True),
        Delete(keys.actions(node), prefix=True),
    ]
    if member_revision:
        ops.append(Delete(keys.member(node)))
    if epoch is None:
        return store.txn(compares, ops).succeeded
    return fenced_txn(store, keys.EPOCH, epoch, compares, ops).succeeded  # raises Deposed
