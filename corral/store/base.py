"""The coordination store's narrow interface.

Every backend (embedded SQLite, etcd, in-memory for unit tests) implements
`Store`; one contract test suite (tests/store/test_contract.py) runs against
all of them. Keys and values are str; revisions are a single cluster-wide,
monotonically increasing integer per backend.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

# Sub-prefixes whose changes need not wake a watch at once (see Store.watch_prefix).
Lazy = Callable[[], tuple[str, ...]]

class StoreError(Exception):
    """The store could not be reached or refused the request."""


class StoreUnavailable(StoreError):
    """The store did not answer within its timeout (network, lock, quorum loss)."""


class LeaseExpired(StoreError):
    """A lease that an operation referred to has expired or never existed."""


class RevisionCompacted(StoreError):
    """A watch asked for history the store no longer keeps.

    Events before compact_revision are gone: re-read the state with get_prefix
    and watch again from the revision it returns + 1.
    """

    def __init__(self, compact_revision: int, message: str | None = None) -> None:
        super().__init__(message or f"revisions before {compact_revision} have been compacted")
        self.compact_revision = compact_revision


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: str
    mod_revision: int
    create_revision: int
    lease: int | None = None


@dataclass(frozen=True)
class Compare:
    """A guard of a transaction.

    target: "value", "mod_revision", "create_revision" or "exists".
    For "exists", value must be True/False. create_revision == 0 means absent.
    """
    key: str
    target: str
    op: str  # "==", "!=", "<", ">"
    value: object


@dataclass(frozen=True)
class Put:
    key: str
    value: str
    lease: int | None = None


@dataclass(frozen=True)
class Delete:
    key: str
    prefix: bool = False


@dataclass
class TxnResult:
    """succeeded: whether every compare held. revision: the store revision after the txn.

    responses: one entry per operation of the branch that ran: the revision for a
    Put, the number of keys removed for a Delete.
    """
    succeeded: bool
    revision: int
    responses: list[object] = field(default_factory=list)


@dataclass(frozen=True)
class WatchEvent:
    kind: str  # "put" or "delete"
    key: str
    value: str | None
    mod_revision: int


class Store(ABC):
    """Keys with revisions, compare-and-set transactions, leases, watches.

    A transaction is atomic and takes one revision however many keys it writes;
    writing nothing (a failed compare with no failure ops, deleting absent keys)
    takes none. A txn whose branch writes one key twice raises ValueError (etcd
    refuses it, so every backend does). Leases are identified by positive ints.
    """

    #: Longest a single call may wait for the store before StoreUnavailable
    #: (seconds); the "store timeout" of the lease-timing rule.
    timeout: float = 5.0

    @abstractmethod
    def get(self, key: str) -> KeyValue | None: ...

    @abstractmethod
    def get_prefix(self, prefix: str) -> tuple[list[KeyValue], int]:
        """All keys under prefix (sorted by key) and the store revision they were read at."""

    @abstractmethod
    def put(self, key: str, value: str, lease: int | None = None) -> int:
        """Write a key; returns the new store revision."""

    @abstractmethod
    def delete(self, key: str, prefix: bool = False) -> int: ...

    @abstractmethod
    def txn(self, compares: list[Compare], success: list[Put | Delete],
            failure: list[Put | Delete] | None = None) -> TxnResult: ...

    @abstractmethod
    def lease_grant(self, ttl: float) -> int:
        """A new lease of ttl seconds; keys attached to it vanish when it expires."""

    @abstractmethod
    def lease_keepalive(self, lease: int) -> float:
        """Renew; returns the remaining TTL. Raises LeaseExpired if it is gone."""

    #: Whether lease_keepalive_and_put() renews and writes in one step that costs about what a
    #: renewal alone does (an embedded store: one local transaction). Otherwise a caller that must
    #: not let a slow write hold back its next renewal keeps the write off the renewal's path.
    renews_with_writes: bool = False

    def lease_keepalive_and_put(self, lease: int, puts: list[Put]) -> float:
        """Renew `lease` and write `puts` (keys bound to that lease); returns the remaining TTL.
        Raises LeaseExpired if the lease is gone, and then writes nothing. This default renews,
        then writes in a transaction of its own; a backend with renews_with_writes does both
        in one transaction."""
        ttl = self.lease_keepalive(lease)
        self.txn([], list(puts))
        return ttl

    @abstractmethod
    def lease_revoke(self, lease: int) -> None:
        """Drop a lease and its keys now; a lease that is already gone is not an error."""

    @abstractmethod
    def watch_prefix(self, prefix: str, start_revision: int | None = None,
                     timeout: float | None = None, *, lazy: Lazy | None = None) -> Iterator[WatchEvent]:
        """Events under prefix in revision order, from start_revision (inclusive) if given.

        `lazy`, a hint a backend may ignore: keys under the sub-prefixes it returns need not
        wake the watch at once; their events are still delivered, in order, with the next
        ones (within about a second). A watcher that does not need, say, heartbeats promptly
        is then not woken by each of them.

        The iterator ends when timeout seconds pass with no event (None: never)
        or when close() is called. With no start_revision it starts at the call,
        not at the first next(). Raises RevisionCompacted if start_revision is
        older than the kept history, StoreUnavailable if the store is lost.
        """

    @abstractmethod
    def close(self) -> None: ...


def open_store(url: str) -> Store:
    """A store from its URL: sqlite:///path/cluster.db, etcd://host:port[,host:port], memory://"""
    from corral.store.factory import open_store as _open

    return _open(url)
