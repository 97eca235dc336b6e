"""A host's recovery, step by step, in the store: what lets a new controller resume it.

    /corral/compute/recoveries/<host>/record            the recovery (its state machine, below)
    /corral/compute/recoveries/<host>/instances/<id>    one instance: its policy and progress

Every write is compare-and-set on the key's revision (create-if-absent for a new key) and
fenced by the controller's epoch (safety rule 3): a deposed controller writes nothing, and two
writers never both advance one step. An instance is marked `requested` *before* its evacuation
is sent, with the evacuation records Nova already had for it, so a successor that finds it
`requested` can tell from Nova whether the request went out (a new record exists, or the
instance left the host) instead of sending it a second time.

Recovery states, in order: fencing -> forcing-down -> selecting -> evacuating -> evacuated
-> returning -> awaiting-operator -> (closed: the keys are removed).
Instance states: pending -> requested -> rebuilding -> active; an ERROR goes to retry (with a
backoff) and back to requested, until `failed`; instances whose policy says none are `skipped`.
"""
from __future__ import annotations

import dataclasses
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from corral.cluster import keys
from corral.store import Compare, Delete, Put, Store, fenced_txn

RECOVERY_STATES = ("fencing", "forcing-down", "selecting", "evacuating", "evacuated", "returning",
                   "awaiting-operator")
ACTIVE_STATES = ("fencing", "forcing-down", "selecting", "evacuating")  # the host's instances wait
INSTANCE_DONE = ("active", "failed", "skipped")
TXN_CHUNK = 100  # etcd refuses transactions of more than 128 operations by default


class Conflict(RuntimeError):
    """The record changed under us: someone else advanced it; re-read and decide again."""


@dataclass
class Recovery:
    host: str
    id: str
    state: str
    reason: str
    started: float
    since_revision: int          # a fence must be newer than this to count (corral.fencing.history)
    epoch: int = 0
    updated: float = 0.0
    fence_record: str = ""
    fence_attempts: int = 0
    fence_error: str = ""
    next_fence_at: float = 0.0   # wall clock: backoff after a failed fence
    reserved_enabled: list[str] = field(default_factory=list)
    note: str = ""
    finished: float = 0.0        # all instances done (evacuated)
    revision: int = 0            # the key's mod_revision when read (not stored)

    @property
    def key(self) -> str:
        return record_key(self.host)


@dataclass
class InstanceRecord:
    id: str
    host: str                    # the failed host it is recovered from
    name: str = ""
    recovery: str = "evacuate"   # evacuate, rebuild, none
    policy: str = ""
    priority: int = 0
    storage: str = "shared"
    state: str = "pending"
    attempts: int = 0            # evacuation requests sent (or about to be)
    target: str = ""             # where Nova put it
    error: str = ""
    next_at: float = 0.0         # wall clock: a retry is due
    requested_at: float = 0.0
    known_migrations: list[str] = field(default_factory=list)  # evacuation records before our request
    original_status: str = ""    # ACTIVE or SHUTOFF: what it is recovered to
    revision: int = 0

    @property
    def key(self) -> str:
        return instance_key(self.host, self.id)

    @property
    def done(self) -> bool:
        return self.state in INSTANCE_DONE


def recovery_prefix(host: str) -> str:
    return f"{keys.COMPUTE_RECOVERIES}{host}/"


def record_key(host: str) -> str:
    return f"{recovery_prefix(host)}record"


def instance_key(host: str, server_id: str) -> str:
    return f"{recovery_prefix(host)}instances/{server_id}"


def new_recovery(host: str, reason: str, since_revision: int) -> Recovery:
    now = time.time()
    return Recovery(host=host, id=uuid.uuid4().hex[:12], state="fencing", reason=reason, started=now,
                    since_revision=since_revision, updated=now)


def _encode(obj: Any) -> str:
    d = dataclasses.asdict(obj)
    d.pop("revision", None)
    return json.dumps(d, sort_keys=True)


def _decode(cls: type, value: str, revision: int) -> Any:
    d = json.loads(value)
    names = {f.name for f in dataclasses.fields(cls)}
    obj = cls(**{k: v for k, v in d.items() if k in names})
    obj.revision = revision
    return obj


def read_all(store: Store) -> tuple[dict[str, Recovery], dict[str, dict[str, InstanceRecord]], int]:
    """Every recovery and its instances, and the store revision they were read at."""
    kvs, rev = store.get_prefix(keys.COMPUTE_RECOVERIES)
    recs: dict[str, Recovery] = {}
    insts: dict[str, dict[str, InstanceRecord]] = {}
    for kv in kvs:
        host, _, rest = kv.key[len(keys.COMPUTE_RECOVERIES):].partition("/")
        try:
            if rest == "record":
                recs[host] = _decode(Recovery, kv.value, kv.mod_revision)
            elif rest.startswith("instances/"):
                insts.setdefault(host, {})[rest[len("instances/"):]] = _decode(InstanceRecord, kv.value,
                                                                              kv.mod_revision)
        except (ValueError, TypeError):
            continue  # a damaged record is not a recovery; status shows what it can read
    return recs, insts, rev


class RecoveryBook:
    """Compare-and-set writes of recovery records, fenced by the controller's epoch."""

    def __init__(self, store: Store, epoch: int) -> None:
        self.store = store
        self.epoch = epoch

    def _write(self, compares: list[Compare], ops: list[Put | Delete]) -> int:
        result = fenced_txn(self.store, keys.EPOCH, self.epoch, compares, ops)  # raises Deposed
        if not result.succeeded:
            raise Conflict("a recovery record changed under us")
        return result.revision

    def read(self, host: str) -> tuple[Recovery | None, dict[str, InstanceRecord]]:
        kvs, _ = self.store.get_prefix(recovery_prefix(host))
        rec: Recovery | None = None
        insts: dict[str, InstanceRecord] = {}
        for kv in kvs:
            rest = kv.key[len(recovery_prefix(host)):]
            if rest == "record":
                rec = _decode(Recovery, kv.value, kv.mod_revision)
            elif rest.startswith("instances/"):
                inst = _decode(InstanceRecord, kv.value, kv.mod_revision)
                insts[inst.id] = inst
        return rec, insts

    def create(self, rec: Recovery) -> Recovery:
        """A new recovery of rec.host; Conflict if one exists already."""
        rec.epoch, rec.updated = self.epoch, time.time()
        # The host's old instance records (of a closed recovery) go with the new one's creation.
        rev = self._write([Compare(rec.key, "create_revision", "==", 0)],
                          [Delete(f"{recovery_prefix(rec.host)}instances/", prefix=True), Put(rec.key, _encode(rec))])
        rec.revision = rev
        return rec

    def update(self, rec: Recovery, **changes: Any) -> Recovery:
        new = dataclasses.replace(rec, **changes, epoch=self.epoch, updated=time.time())
        new.revision = self._write([Compare(rec.key, "mod_revision", "==", rec.revision)],
                                   [Put(new.key, _encode(new))])
        return new

    def add_instances(self, insts: list[InstanceRecord]) -> list[InstanceRecord]:
        """Create the records that do not exist yet (a resumed selection writes only the rest)."""
        out = []
        for i in range(0, len(insts), TXN_CHUNK):
            chunk = insts[i:i + TXN_CHUNK]
            existing = {kv.key for inst in chunk if (kv := self.store.get(inst.key)) is not None}
            fresh = [inst for inst in chunk if inst.key not in existing]
            if fresh:
                rev = self._write([Compare(inst.key, "create_revision", "==", 0) for inst in fresh],
                                  [Put(inst.key, _encode(inst)) for inst in fresh])
                for inst in fresh:
                    inst.revision = rev
            out += fresh
        return out

    def update_instance(self, inst: InstanceRecord, **changes: Any) -> InstanceRecord:
        new = dataclasses.replace(inst, **changes)
        new.revision = self._write([Compare(inst.key, "mod_revision", "==", inst.revision)],
                                   [Put(new.key, _encode(new))])
        return new

    def update_instances(self, changes: list[tuple[InstanceRecord, dict[str, Any]]]) -> list[InstanceRecord]:
        """update_instance for many, in one transaction per TXN_CHUNK (all of a chunk or none)."""
        out = []
        for i in range(0, len(changes), TXN_CHUNK):
            chunk = [(inst, dataclasses.replace(inst, **c)) for inst, c in changes[i:i + TXN_CHUNK]]
            rev = self._write([Compare(old.key, "mod_revision", "==", old.revision) for old, _ in chunk],
                              [Put(new.key, _encode(new)) for _, new in chunk])
            for _, new in chunk:
                new.revision = rev
                out.append(new)
        return out

    def close(self, rec: Recovery) -> None:
        """The host is back in service: its recovery is over, its keys go."""
        self._write([Compare(rec.key, "mod_revision", "==", rec.revision)],
                    [Delete(recovery_prefix(rec.host), prefix=True)])
