"""The controller's side of the action inbox: send actions to nodes, read their results.

Each action is written to /corral/actions/<node>/<id> in a transaction fenced by
the controller's epoch (safety rule 3: once another controller has won, the
store refuses the write). The node's agent executes it and writes the result
back into the same key; the driver then removes the key (fenced too). What to
send and when is the graph executor's business (controller.executor).
"""
from __future__ import annotations

import time
from collections.abc import Callable

from corral.cluster import keys
from corral.cluster.records import ActionRecord
from corral.store import Delete, Put, Store, fenced_txn

MEMBERS_EVERY_S = 1.0  # re-read membership at least this often while actions are in flight


class Driver:
    def __init__(self, store: Store, epoch: int, leading: Callable[[], bool],
                 silent: Callable[[], set[str]] = set) -> None:
        self.store = store
        self.epoch = epoch
        self.leading = leading
        self.silent = silent  # members counted as lost though their lease lives (controller.liveness)
        self._members_at = 0.0
        self._members: set[str] = set()

    def write(self, ops: list[Put | Delete]) -> None:
        fenced_txn(self.store, keys.EPOCH, self.epoch, [], ops)  # raises Deposed

    def launch(self, rec: ActionRecord) -> str:
        """Send one action to its node; returns its key."""
        key = keys.action(rec.node, rec.id)
        self.write([Put(key, rec.to_json())])
        return key

    def results(self) -> dict[str, ActionRecord | None]:
        """Every action key now in the store, with its record (None if unreadable)."""
        out: dict[str, ActionRecord | None] = {}
        for kv in self.store.get_prefix(keys.ACTIONS)[0]:
            try:
                out[kv.key] = ActionRecord.from_json(kv.value)
            except (ValueError, KeyError, TypeError):
                out[kv.key] = None
        return out

    def members(self, fresh: bool = False) -> set[str]:
        """Live members (silent ones excluded), re-read at most every MEMBERS_EVERY_S unless fresh."""
        now = time.monotonic()
        if fresh or now - self._members_at > MEMBERS_EVERY_S:
            self._members = {kv.key[len(keys.MEMBERS):] for kv in self.store.get_prefix(keys.MEMBERS)[0]}
            self._members_at = now
        return self._members - self.silent()

    def finish(self, done: list[str]) -> None:
        """Remove answered (or abandoned) actions from the inboxes."""
        if done:
            self.write([Delete(k) for k in done])
