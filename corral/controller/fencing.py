"""Fencing lost (or failed) nodes before their resources are recovered: safety rule 1.

When the scheduler asks for fences, the controller runs *only* those: for each
node it fences through corral.fencing (the configuration's `stonith` primitives,
its fencing topology), records the request and its outcome in the fencing
history under its leadership epoch (`fence_and_record`), and once
`confirmed_fenced` holds for the node -- a successful off/reboot *created after*
the store revision at which this controller first saw the node in need of
fencing -- marks it cleanly down (corral.cluster.fenced.mark_fenced). Only the
next transition, planned from that state, starts the node's resources
elsewhere. A fence an operator ran (`corral fence NODE`) after that revision
counts the same.

A failed fence is retried with exponential backoff (1 s doubling to 30 s) at
most `stonith-max-attempts` times (default 10) per loss of the node; recovery
stays blocked meanwhile, and afterwards until an operator fences the node.

A node that came back before its fence ran -- joining again, rejoined, or (lost for
its silence) beating again, read from the store just before each attempt
(controller.comeback) -- is not fenced: the episode is settled ("cancelled") and the
controller plans again from the store, where the rejoined node has fresh probes.

A fence whose outcome could not be written (the store out of reach a moment, e.g.
right after fencing the etcd leader's host; corral.fencing.history.complete retries
it first) is not left pending: its outcome is written on a later cycle, and a
confirmed one then counts as any other. Fence requests left pending by others are
settled (`settle_abandoned`, every cycle): a previous controller's (an older epoch:
its own result write would be refused), a takeover fence of this node's whose
outcome could not be recorded, and any other older than STALE_PENDING_S. They are
recorded failed ("abandoned: ..."), never count as a fence, and whatever still needs
fencing is fenced again by this controller.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from corral.cluster.fenced import mark_fenced, member_guard
from corral.cluster.snapshot import Snapshot
from corral.controller.comeback import came_back
from corral.fencing import Fencer, FenceRecord, FenceResult, fence_and_record, last_confirmed, prune_history
from corral.fencing.history import OutcomeNotRecorded
from corral.model.config import Configuration
from corral.store import Deposed, Store

log = logging.getLogger("corral.controller")
BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 30.0
DEFAULT_MAX_ATTEMPTS = 10
KEEP_HISTORY = 20
STALE_PENDING_S = 600.0  # a request without an epoch (operator, takeover) pending this long is dead


@dataclass
class NodeFence:
    """One episode of a node needing a fence, as this controller saw it."""
    node: str
    since_revision: int             # the snapshot revision where we first saw it needing a fence
    reason: str
    attempts: int = 0
    next_at: float = 0.0            # monotonic: not before this
    last_error: str = ""
    records: list[str] = field(default_factory=list)


@dataclass
class FenceRound:
    confirmed: list[str] = field(default_factory=list)   # marked cleanly down: plan again at once
    waiting: list[str] = field(default_factory=list)     # why recovery waits, one line per node
    cancelled: list[str] = field(default_factory=list)   # came back before the fence ran: plan again at once
    retry_at: float | None = None                        # monotonic: when to try again


class FenceCoordinator:
    def __init__(self, store: Store, origin: str, epoch: int) -> None:
        self.store = store
        self.origin = origin
        self.epoch = epoch
        self.episodes: dict[str, NodeFence] = {}
        self._warmed = -1
        self._unrecorded: dict[str, tuple[FenceRecord, FenceResult]] = {}  # key -> a fence that ran, unwritten

    def settle_abandoned(self, records: list[FenceRecord], now: float | None = None) -> list[FenceRecord]:
        """Record the pending requests nobody can complete any more as abandoned (see the module
        docstring); returns those settled. Raises Deposed."""
        from corral.fencing.history import HistoryConflict, abandon, complete

        now = time.time() if now is None else now
        settled = []
        for rec in records:
            if rec.state != "pending":
                continue
            ran = self._unrecorded.get(rec.key)
            if ran is not None:  # ours: the fence ran, its outcome is known; write it now
                try:
                    settled.append(complete(self.store, ran[0], ran[1]))
                except HistoryConflict:
                    pass
                except OutcomeNotRecorded:
                    continue  # the store is still out of reach: next cycle
                del self._unrecorded[rec.key]
                continue
            if rec.epoch is not None and rec.epoch < self.epoch:
                reason = (f"controller {rec.origin} (epoch {rec.epoch}) stopped leading before it recorded the "
                          f"outcome; epoch {self.epoch} fences again what still needs it")
            elif rec.epoch is None and rec.origin == self.origin:
                reason = f"{self.origin}'s own takeover fence, whose outcome could not be recorded"
            elif rec.epoch is None and now - rec.requested_at > STALE_PENDING_S:
                reason = f"pending for more than {STALE_PENDING_S:g}s; its requester {rec.origin} is gone"
            else:
                continue
            done = abandon(self.store, rec, reason, self.epoch)
            if done is not None:
                log.warning("fence request %s (%s of %s by %s) settled: %s", rec.id, rec.action, rec.node,
                            rec.origin, done.error)
                settled.append(done)
        return settled

    def warm(self, cfg: Configuration, revision: int) -> None:
        """Fetch the devices' meta-data ahead of need (in the background, once per configuration
        revision), so that the first fence does not also wait for a meta-data run of its agent."""
        if revision == self._warmed or not cfg.option_bool("stonith-enabled", True):
            return
        self._warmed = revision

        def fetch() -> None:
            try:
                for device in Fencer.from_config(cfg, rounds=1).devices.values():
                    device.metadata()
            except Exception as exc:  # noqa: BLE001 - a bad device is reported when it is used
                log.debug("fetching fence agents' meta-data: %s", exc)

        threading.Thread(target=fetch, name="fence-metadata", daemon=True).start()

    def run(self, snap: Snapshot, cfg: Configuration, fences: list[tuple[str, str, str]],
            leading: Callable[[], bool],
            announce: Callable[[str, str, str], None] | None = None,
            heard: Callable[[str], int | None] | None = None) -> FenceRound:
        """Fence what is due; mark confirmed nodes down. Raises Deposed. `heard(node)`: for a
        node lost for its silence, the store revision of its last heartbeat we heard (else None)."""
        out = FenceRound()
        needed = {n for n, _a, _r in fences}
        for node in [n for n in self.episodes if n not in needed]:
            del self.episodes[node]  # fenced, rejoined or left cleanly: a later loss starts afresh
        max_attempts = _int_option(cfg, "stonith-max-attempts", DEFAULT_MAX_ATTEMPTS)
        fencer: Fencer | None = None
        fencer_error = ""
        for node, action, reason in fences:
            ep = self.episodes.get(node)
            if ep is None:
                ep = self.episodes[node] = NodeFence(node, snap.revision, reason)
                log.warning("%s must be fenced (%s)", node, reason)
            guard = member_guard(self.store, node)
            done = last_confirmed(self.store, node, since_revision=ep.since_revision)
            if done is None:
                now = time.monotonic()
                if ep.attempts >= max_attempts:
                    out.waiting.append(f"fencing of {node} ({reason}): gave up after {ep.attempts} failed "
                                       f"attempts ({ep.last_error}); its resources are not recovered until it "
                                       f"is fenced (fix the device, then: corral fence {node})")
                    continue
                if now < ep.next_at:
                    out.waiting.append(f"fencing of {node} ({reason}): attempt {ep.attempts} failed "
                                       f"({ep.last_error}); retrying in {ep.next_at - now:.1f}s; its resources "
                                       "are not recovered until it is fenced")
                    out.retry_at = min(out.retry_at or ep.next_at, ep.next_at)
                    continue
                if fencer is None and not fencer_error:
                    try:
                        fencer = Fencer.from_config(cfg, rounds=1)
                    except ValueError as exc:  # FenceDeviceError: a bad stonith resource
                        fencer_error = str(exc)
                if not leading():
                    return out
                back = came_back(self.store, node, ep.since_revision, heard(node) if heard else None)
                if back is not None:
                    log.warning("%s is not fenced after all: %s", node, back)
                    out.cancelled.append(node)
                    del self.episodes[node]
                    continue
                if announce is not None:
                    announce(node, action, reason)
                ep.attempts += 1
                rec = self._fence(fencer, fencer_error, node, action)
                ep.records.append(rec.id)
                if rec.state != "done" or rec.action not in ("off", "reboot"):
                    ep.last_error = rec.error or rec.state
                    delay = min(BACKOFF_MAX_S, BACKOFF_START_S * 2 ** (ep.attempts - 1))
                    ep.next_at = time.monotonic() + delay
                    out.retry_at = min(out.retry_at or ep.next_at, ep.next_at)
                    more = f"retrying in {delay:g}s" if ep.attempts < max_attempts else "giving up"
                    log.error("fencing %s failed (attempt %d/%d): %s; %s", node, ep.attempts, max_attempts,
                              ep.last_error, more)
                    out.waiting.append(f"fencing of {node} ({reason}): attempt {ep.attempts} failed "
                                       f"({ep.last_error}); {more}; its resources are not recovered until "
                                       "it is fenced")
                    continue
                done = last_confirmed(self.store, node, since_revision=ep.since_revision)
                if done is None:  # cannot happen with a consistent store; never assume
                    out.waiting.append(f"fencing of {node}: done, but not confirmed in the history yet")
                    out.retry_at = time.monotonic() + BACKOFF_START_S
                    continue
            if mark_fenced(self.store, node, guard, record_id=done.id, action=done.action,
                           by=done.origin, epoch=self.epoch):
                log.warning("%s is fenced (%s by %s, device %s): its resources may now be recovered", node,
                            done.action, done.origin, done.device or "?")
                prune_history(self.store, node, KEEP_HISTORY, self.epoch)
            out.confirmed.append(node)
            del self.episodes[node]
        return out

    def _fence(self, fencer: Fencer | None, fencer_error: str, node: str, action: str) -> FenceRecord:
        from corral.fencing import record_pending, record_result

        if fencer is None:
            rec = record_pending(self.store, node, action, self.origin, self.epoch)
            return record_result(self.store, rec, ok=False, error=f"no usable fence devices: {fencer_error}")
        log.warning("fencing %s (%s)", node, action)
        try:
            _result, rec = fence_and_record(self.store, fencer, node, action, self.origin, self.epoch)
        except Deposed:
            raise
        except OutcomeNotRecorded as exc:  # written by a later cycle (settle_abandoned); retried meanwhile
            log.error("fencing %s: %s", node, exc)
            self._unrecorded[exc.record.key] = (exc.record, exc.result)
            return replace(exc.record, state="failed", error=f"outcome not recorded yet: {exc}")
        except Exception as exc:  # recorded failed by fence_and_record; keep the controller alive
            log.exception("fencing %s", node)
            from corral.fencing import list_history

            failed = [r for r in list_history(self.store, node) if r.origin == self.origin]
            if failed and failed[-1].state != "pending":
                return failed[-1]
            raise RuntimeError(f"fencing {node}: {exc}") from exc
        return rec


def _int_option(cfg: Configuration, name: str, default: int) -> int:
    try:
        return max(1, int(cfg.option(name, str(default))))
    except (TypeError, ValueError):
        return default
