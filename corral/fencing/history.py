"""Fencing history in the coordination store.

Key layout (values are JSON):

    /corral/fencing/history/<node>/<id>   one fence request and its outcome
        {"id", "node", "action", "state": "pending"|"done"|"failed", "origin",
         "epoch", "requested_at", "completed_at", "device", "level", "attempts", "error"}

`<id>` is `<requested_at in ms, 13 digits>-<8 hex>`, so keys sort by time.
A record is created `pending` before any device runs and moved to `done` or
`failed` once. With an epoch, both writes are fenced by the controller's
leadership epoch (safety rule 3): a deposed controller's outcome is refused,
and its new successor, seeing a stale pending record, simply fences again.

`confirmed_fenced(store, node, since)` is the gate of `requires=fencing`: a
lost node's resources may start elsewhere only once a fence of it (off or
reboot) *requested after it was lost* has completed successfully.
"""
from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from corral.fencing.topology import Fencer, FenceResult
from corral.store import Compare, Delete, Deposed, Put, Store, StoreError, fenced_txn

PREFIX = "/corral/fencing/"
HISTORY = f"{PREFIX}history/"
#: The controller's epoch counter (corral.cluster.keys.EPOCH); fenced writes compare it.
DEFAULT_EPOCH_KEY = "/corral/election/controller/epoch"
STATES = ("pending", "done", "failed")
CONFIRMING_ACTIONS = ("off", "reboot")


class HistoryConflict(RuntimeError):
    """The record changed under us (another writer completed or removed it)."""


@dataclass(frozen=True)
class FenceRecord:
    id: str
    node: str
    action: str
    state: str
    origin: str                  # who asked: the controller's name (or "operator")
    epoch: int | None            # its leadership epoch, None for unfenced (manual) requests
    requested_at: float          # wall clock of the asker
    completed_at: float | None = None
    device: str | None = None
    level: int | None = None
    attempts: int = 0
    error: str = ""
    revision: int = 0            # mod_revision when read (the compare-and-set guard)
    create_revision: int = 0

    @property
    def key(self) -> str:
        return record_key(self.node, self.id)

    def to_json(self) -> str:
        d = asdict(self)
        del d["revision"], d["create_revision"]
        return json.dumps(d, sort_keys=True)


def node_prefix(node: str) -> str:
    if not node or "/" in node:
        raise ValueError(f"node name {node!r} cannot be part of a store key")
    return f"{HISTORY}{node}/"


def record_key(node: str, record_id: str) -> str:
    return node_prefix(node) + record_id


def _decode(value: str, revision: int, create_revision: int) -> FenceRecord:
    d: Any = json.loads(value)
    if not (isinstance(d, dict) and all(isinstance(d.get(k), str) for k in ("id", "node", "action", "state"))
            and d["state"] in STATES and isinstance(d.get("requested_at"), int | float)):
        raise ValueError("not a fence record")
    return FenceRecord(id=d["id"], node=d["node"], action=d["action"], state=d["state"],
                       origin=str(d.get("origin", "")), epoch=d.get("epoch"),
                       requested_at=float(d["requested_at"]), completed_at=d.get("completed_at"),
                       device=d.get("device"), level=d.get("level"), attempts=int(d.get("attempts", 0)),
                       error=str(d.get("error", "")), revision=revision, create_revision=create_revision)


def decode_record(value: str, revision: int = 0, create_revision: int = 0) -> FenceRecord:
    """A record from its stored JSON (ValueError if it is not one)."""
    try:
        return _decode(value, revision, create_revision)
    except (TypeError, KeyError) as exc:
        raise ValueError(f"not a fence record: {exc}") from None


def _write(store: Store, compares: list[Compare], ops: list[Put | Delete], epoch: int | None,
           epoch_key: str) -> tuple[bool, int]:
    if epoch is None:
        r = store.txn(compares, ops)
    else:
        r = fenced_txn(store, epoch_key, epoch, compares, ops)  # raises Deposed
    return r.succeeded, r.revision


def record_pending(store: Store, node: str, action: str, origin: str, epoch: int | None = None, *,
                   epoch_key: str = DEFAULT_EPOCH_KEY,
                   now: Callable[[], float] = time.time) -> FenceRecord:
    """Record that origin (at epoch) is about to fence node; before any device runs."""
    at = now()
    rec = FenceRecord(id=f"{int(at * 1000):013d}-{secrets.token_hex(4)}", node=node, action=action,
                      state="pending", origin=origin, epoch=epoch, requested_at=at)
    ok, rev = _write(store, [Compare(rec.key, "create_revision", "==", 0)], [Put(rec.key, rec.to_json())],
                     epoch, epoch_key)
    if not ok:
        raise HistoryConflict(f"{rec.key} already exists")
    return replace(rec, revision=rev, create_revision=rev)


def record_result(store: Store, rec: FenceRecord, result: FenceResult | None = None, *,
                  ok: bool | None = None, error: str = "", epoch_key: str = DEFAULT_EPOCH_KEY,
                  now: Callable[[], float] = time.time) -> FenceRecord:
    """Complete a pending record: done or failed, from a FenceResult (or ok/error given directly).

    Fenced by the record's epoch; only the pending record as we wrote it may be completed.
    """
    if rec.state != "pending":
        raise HistoryConflict(f"{rec.key} is already {rec.state}")
    if result is not None:
        if (result.node, result.action) != (rec.node, rec.action):
            raise ValueError(f"{rec.key}: result of {result.action} {result.node} does not belong to "
                             f"{rec.action} {rec.node}")
        new = replace(rec, state="done" if result.ok else "failed", completed_at=result.finished,
                      device=result.device, level=result.level, attempts=result.attempts,
                      error=result.error)
    else:
        if ok is None:
            raise ValueError("record_result needs a FenceResult or ok=")
        new = replace(rec, state="done" if ok else "failed", completed_at=now(), error=error)
    succeeded, rev = _write(store, [Compare(rec.key, "mod_revision", "==", rec.revision)],
                            [Put(rec.key, new.to_json())], rec.epoch, epoch_key)
    if not succeeded:
        raise HistoryConflict(f"{rec.key} changed since revision {rec.revision}")
    return replace(new, revision=rev)


ABANDONED = "abandoned: "  # the error of a pending record settled by a successor (abandon)


def abandon(store: Store, rec: FenceRecord, reason: str, epoch: int | None, *,
            epoch_key: str = DEFAULT_EPOCH_KEY, now: Callable[[], float] = time.time) -> FenceRecord | None:
    """Settle a pending record its requester can no longer complete (a deposed controller's:
    its own write is refused by its epoch; or a requester that died): failed, with the error
    "abandoned: <reason>", written under `epoch` (the current controller's). It never counts
    as a fence, and the node is fenced again if it still needs it. None if the record changed
    meanwhile (it was completed after all)."""
    if rec.state != "pending":
        return None
    new = replace(rec, state="failed", completed_at=now(), error=ABANDONED + reason)
    ok, rev = _write(store, [Compare(rec.key, "mod_revision", "==", rec.revision)], [Put(rec.key, new.to_json())],
                     epoch, epoch_key)
    return replace(new, revision=rev) if ok else None


def list_history(store: Store, node: str | None = None) -> list[FenceRecord]:
    """Every record (of one node, or all), oldest request first."""
    prefix = node_prefix(node) if node is not None else HISTORY
    kvs, _ = store.get_prefix(prefix)
    recs = []
    for kv in kvs:
        try:
            recs.append(_decode(kv.value, kv.mod_revision, kv.create_revision))
        except (ValueError, TypeError, KeyError):
            continue  # a foreign or damaged value is not a fence
    recs.sort(key=lambda r: (r.requested_at, r.id))
    return recs


def last_confirmed(store: Store, node: str, since: float | None = None,
                   since_revision: int | None = None) -> FenceRecord | None:
    """The latest successful off/reboot of node requested at or after `since` (wall clock)
    and, if given, created after store revision `since_revision`."""
    for rec in reversed(list_history(store, node)):
        if rec.state != "done" or rec.action not in CONFIRMING_ACTIONS:
            continue
        if since is not None and rec.requested_at < since:
            continue
        if since_revision is not None and rec.create_revision <= since_revision:
            continue
        return rec
    return None


def confirmed_fenced(store: Store, node: str, since: float | None = None,
                     since_revision: int | None = None) -> bool:
    """True if node has certainly been fenced since it was lost (see last_confirmed).

    Pass the moment (or the store revision, which needs no clock agreement) at
    which the node was declared lost: a fence that started before that proves nothing
    about what the node did afterwards.
    """
    if since is None and since_revision is None:
        # "Ever fenced" would let a node that was fenced last week and came back count now.
        raise ValueError("confirmed_fenced needs since (when the node was lost) or since_revision")
    return last_confirmed(store, node, since, since_revision) is not None


def pending(store: Store, node: str | None = None) -> list[FenceRecord]:
    return [r for r in list_history(store, node) if r.state == "pending"]


def prune_history(store: Store, node: str, keep: int = 20, epoch: int | None = None, *,
                  epoch_key: str = DEFAULT_EPOCH_KEY) -> int:
    """Drop all but the newest `keep` completed records of node; pending ones stay. Returns how many."""
    done = [r for r in list_history(store, node) if r.state != "pending"]
    old = done[:-keep] if keep > 0 else done
    if not old:
        return 0
    compares = [Compare(r.key, "mod_revision", "==", r.revision) for r in old]
    ok, _ = _write(store, compares, [Delete(r.key) for r in old], epoch, epoch_key)
    return len(old) if ok else 0


def fence_and_record(store: Store, fencer: Fencer, node: str, action: str, origin: str,
                     epoch: int | None = None, *, epoch_key: str = DEFAULT_EPOCH_KEY,
                     deadline_s: float | None = None) -> tuple[FenceResult, FenceRecord]:
    """pending -> fence -> done/failed: what the controller does for a lost node.

    A Deposed raised by the pending write means no device was touched; raised by the
    result write, the fence did run but a newer controller owns the decision now.
    """
    rec = record_pending(store, node, action, origin, epoch, epoch_key=epoch_key)
    try:
        result = fencer.fence(node, action, deadline_s)
    except Exception as e:
        record_result(store, rec, ok=False, error=f"fencer error: {e}", epoch_key=epoch_key)
        raise
    return result, complete(store, rec, result, epoch_key=epoch_key)


RESULT_TRIES = 3
RESULT_RETRY_S = 0.2


class OutcomeNotRecorded(RuntimeError):
    """The fence ran, but its outcome could not be written (the store out of reach): the record
    stays pending. Whoever holds `record` and `result` may complete it later (complete())."""

    def __init__(self, record: FenceRecord, result: FenceResult, cause: Exception) -> None:
        super().__init__(f"the outcome of fence {record.id} ({record.action} {record.node}: "
                         f"{'ok' if result.ok else 'failed'}) could not be recorded: {cause}")
        self.record, self.result = record, result


def complete(store: Store, rec: FenceRecord, result: FenceResult, *, epoch_key: str = DEFAULT_EPOCH_KEY,
             tries: int = RESULT_TRIES) -> FenceRecord:
    """record_result, retried while the store is out of reach: a fence that ran must not stay
    pending for a moment's store trouble (e.g. right after fencing the etcd leader's host). A
    retry that finds the record completed already (the write that timed out had landed) returns
    it. Raises Deposed, HistoryConflict, or OutcomeNotRecorded once the tries are spent."""
    for attempt in range(1, tries + 1):
        try:
            return record_result(store, rec, result, epoch_key=epoch_key)
        except Deposed:
            raise
        except HistoryConflict:
            if attempt == 1:
                raise
            now = store.get(rec.key)
            landed = decode_record(now.value, now.mod_revision, now.create_revision) if now else None
            if landed is not None and landed.state != "pending" and landed.completed_at == result.finished:
                return landed
            raise
        except StoreError as exc:
            if attempt == tries:
                raise OutcomeNotRecorded(rec, result, exc) from exc
            time.sleep(RESULT_RETRY_S * attempt)
    raise AssertionError("unreachable")
