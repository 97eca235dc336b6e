"""Taking over from a controller whose node fell silent.

The controller's seat is bound to its lease, so a new controller could only be
elected once that lease runs out (TTL, plus etcd's expiry tick) -- which would
make losing the controller's node much slower than losing any other. With
fencing enabled and `heartbeat-timeout` set, the candidates do what the
controller would have done to any silent member: one of them fences the
controller's node, records it cleanly down (corral.cluster.fenced.mark_fenced)
and deletes the seat, and the election proceeds at once. Safety does not rest
on the silence: a fence that is not confirmed changes nothing, and a controller
that was merely slow is fenced (killed), and its writes are fenced by epoch.

A controller's node that came back meanwhile is not fenced (controller.comeback, read
from the store just before the fence): if it rejoined since it took the seat, or is
joining again -- typically after a power cut of a majority, when etcd, once it has
quorum again, renews every lease and the dead controller's seat outlives it by a TTL
while its rebooted node already rejoins -- the controller that held the seat is gone
(its node's new agent claimed the name only after the old one's heartbeat had been silent
past its self-fencing limit), so the seat is freed without a fence; if it merely beats
again (our watch was late) nothing is done.

Exactly one candidate acts: the first, by name, of the members that campaign
(their member key says "candidate") and whose heartbeat this node hears in
time (itself included); if that one is silent too, the next one acts.
"""
from __future__ import annotations

import logging
import time

from corral.cluster import keys
from corral.cluster.fenced import mark_fenced, member_guard
from corral.cluster.records import loads
from corral.controller.comeback import Comeback, came_back
from corral.controller.liveness import Liveness, heartbeat_timeout
from corral.model.config import Configuration
from corral.store import Compare, Delete, Store, StoreError

log = logging.getLogger("corral.controller")
RETRY_S = 1.0  # after a failed fence, before trying again


class Takeover:
    def __init__(self, store: Store, node: str, liveness: Liveness) -> None:
        self.store = store
        self.node = node
        self.liveness = liveness
        self._not_before = 0.0

    def attempt(self, cfg: Configuration | None, members: list[str]) -> bool:
        """Fence a silent controller's node and free the seat if it is our turn.
        True if the seat was freed (campaign now)."""
        if cfg is None or time.monotonic() < self._not_before:
            return False
        timeout = heartbeat_timeout(cfg)
        if timeout <= 0:
            return False
        seat = self.store.get(keys.LEADER)
        if seat is None or seat.value == self.node:
            return False
        leader = seat.value
        silent = self.liveness.silent([*members, leader], timeout)
        if leader not in silent:
            return False
        candidates = {kv.key[len(keys.MEMBERS):] for kv in self.store.get_prefix(keys.MEMBERS)[0]
                      if (loads(kv.value, {}) or {}).get("candidate", True)}
        hearing = sorted(n for n in (set(members) & candidates) | {self.node} if n not in silent and n != leader)
        if not hearing or hearing[0] != self.node:
            return False
        try:
            back = came_back(self.store, leader, seat.create_revision, self.liveness.heard(leader))
            if back is not None:
                return self._free_without_fence(leader, seat.create_revision, back)
            log.warning("the controller %s has been silent for %.2fs: fencing it to take over", leader,
                        silent[leader])
            return self._fence_and_free(cfg, leader, seat.create_revision)
        finally:
            self._not_before = time.monotonic() + RETRY_S

    def _free_without_fence(self, leader: str, seat_revision: int, why: Comeback) -> bool:
        if not why.rejoined:
            log.info("the controller %s is not silent after all: %s", leader, why)
            return False
        freed = self._free(seat_revision)
        log.warning("the controller %s had fallen silent, but %s: not fenced; its seat is %s", leader, why,
                    "free" if freed else "already taken")
        return freed

    def _free(self, seat_revision: int) -> bool:
        return self.store.txn([Compare(keys.LEADER, "create_revision", "==", seat_revision)],
                              [Delete(keys.LEADER)]).succeeded

    def _fence_and_free(self, cfg: Configuration, leader: str, seat_revision: int) -> bool:
        from corral.fencing import Fencer, fence_and_record

        guard = member_guard(self.store, leader)  # before the fence: a reboot that rejoined is left alone
        try:
            fencer = Fencer.from_config(cfg, rounds=1)
        except ValueError as exc:
            log.error("cannot fence %s: %s", leader, exc)
            return False
        action = str(cfg.option("stonith-action", "reboot")).replace("poweroff", "off")
        try:
            _result, rec = fence_and_record(self.store, fencer, leader, action, self.node)
        except StoreError:
            raise
        except Exception as exc:  # recorded failed; the seat stays until its lease expires
            log.error("fencing the silent controller %s failed: %s", leader, exc)
            return False
        if rec.state != "done" or rec.action not in ("off", "reboot"):
            log.error("fencing the silent controller %s failed: %s", leader, rec.error or rec.state)
            return False
        mark_fenced(self.store, leader, guard, record_id=rec.id, action=rec.action, by=self.node)
        freed = self._free(seat_revision)
        log.warning("%s fenced (%s); the controller's seat is %s", leader, rec.action,
                    "free" if freed else "already taken")
        return freed
