"""The coordination store: keys, compare-and-set transactions, leases, watches (see docs/store.md)."""
from corral.store.base import (
    Compare,
    Delete,
    KeyValue,
    LeaseExpired,
    Put,
    RevisionCompacted,
    Store,
    StoreError,
    StoreUnavailable,
    TxnResult,
    WatchEvent,
)
from corral.store.factory import open_store
from corral.store.fenced import Deposed, LeaderElection, check_lease_timing, fenced_txn

__all__ = [
    "Compare", "Delete", "Deposed", "KeyValue", "LeaderElection", "LeaseExpired", "Put",
    "RevisionCompacted", "Store", "StoreError", "StoreUnavailable", "TxnResult", "WatchEvent",
    "check_lease_timing", "fenced_txn", "open_store",
]
