"""Leadership through the store, and writes fenced by the leader's epoch.

Safety rule 3: a controller's writes carry its epoch, and the store itself
refuses them once another controller has won a later epoch (every fenced txn
compares the epoch key). Safety rule 2: check_lease_timing.
"""
from __future__ import annotations

import time

from corral.store.base import Compare, Delete, LeaseExpired, Put, Store, StoreError, TxnResult


class Deposed(StoreError):
    """A fenced write was refused: a later leader has bumped the epoch."""


def check_lease_timing(renew_interval: float, store_timeout: float, ttl: float) -> None:
    """Safety rule 2: a holder that loses the store must see that before its lease can expire.

    A renewal sent just before the store goes away may take store_timeout to
    fail, and the next one another store_timeout: renew_interval + 2 x
    store_timeout must stay below the TTL.
    """
    for name, value in (("renew interval", renew_interval), ("store timeout", store_timeout), ("ttl", ttl)):
        if not value > 0:
            raise ValueError(f"lease timing: {name} must be positive, got {value!r}")
    if not renew_interval + 2 * store_timeout < ttl:
        raise ValueError(
            f"lease timing: renew interval {renew_interval:g}s + 2 x store timeout {store_timeout:g}s "
            f"= {renew_interval + 2 * store_timeout:g}s must be less than the lease TTL {ttl:g}s"
        )


def fenced_txn(store: Store, epoch_key: str, epoch: int, compares: list[Compare],
               ops: list[Put | Delete]) -> TxnResult:
    """ops if every compare holds and epoch_key still holds epoch.

    Returns the TxnResult (succeeded False: one of `compares` failed); raises
    Deposed if the epoch moved on. There is no failure branch: a deposed
    controller must write nothing at all.
    """
    result = store.txn([Compare(epoch_key, "value", "==", str(epoch)), *compares], ops)
    if not result.succeeded:
        # Epochs only grow, so a mismatch now means the txn was refused for it (or would be now).
        current = store.get(epoch_key)
        if current is None or current.value != str(epoch):
            now = current.value if current else "absent"
            raise Deposed(f"{epoch_key}: epoch {epoch} is over (now {now}); write refused")
    return result


class LeaderElection:
    """One candidate of an election held in the store.

    campaign() creates `<prefix><name>/leader` (bound to our lease) only if it is
    absent and, in the same txn, bumps the counter `<prefix><name>/epoch`; the
    winner fences its writes with fenced_txn(store, election.epoch_key,
    election.epoch, ...). Call keepalive() every renew interval; is_leader turns
    False as soon as the lease may have run out by our own clock, even if the
    store is unreachable, so the holder stops acting before anyone else can win.
    """

    def __init__(self, store: Store, name: str, candidate: str, ttl: float,
                 prefix: str = "/corral/election/") -> None:
        self.store = store
        self.candidate = candidate
        self.ttl = ttl
        self.key = f"{prefix}{name}/leader"
        self.epoch_key = f"{prefix}{name}/epoch"
        self.lease: int | None = None
        self._epoch: int | None = None
        self._valid_until = 0.0

    @property
    def is_leader(self) -> bool:
        return self.lease is not None and time.monotonic() < self._valid_until

    @property
    def valid_until(self) -> float:
        """Monotonic time until which we lead by our own clock (0 when we do not)."""
        return self._valid_until if self.lease is not None else 0.0

    @property
    def epoch(self) -> int | None:
        """The epoch we won, while we hold it."""
        return self._epoch if self.is_leader else None

    def leader(self) -> str | None:
        """The current leader's candidate name, as the store sees it."""
        kv = self.store.get(self.key)
        return kv.value if kv else None

    def campaign(self) -> bool:
        """One attempt to become leader (never blocks waiting for the seat)."""
        if self.is_leader:
            return True
        if self.lease is not None and self._reclaim():
            return True
        self._drop()
        if self.store.get(self.key) is not None:
            return False  # the seat is taken: one read, instead of granting a lease to lose with
        started = time.monotonic()  # the lease counts from before the grant was sent
        lease = self.store.lease_grant(self.ttl)
        try:
            current = self.store.get(self.epoch_key)
            epoch = int(current.value) + 1 if current else 1
            won = self.store.txn(
                [Compare(self.key, "exists", "==", False),
                 Compare(self.epoch_key, "mod_revision", "==", current.mod_revision if current else 0)],
                [Put(self.key, self.candidate, lease), Put(self.epoch_key, str(epoch))],
            ).succeeded
        except BaseException:
            self._revoke_quietly(lease)
            raise
        if not won:
            self._revoke_quietly(lease)
            return False
        self.lease, self._epoch, self._valid_until = lease, epoch, started + self.ttl
        return True

    def keepalive(self) -> bool:
        """Renew our lease; False (and no longer leader) if it is gone.

        StoreUnavailable propagates: leadership then simply runs out with the
        local deadline that is_leader checks.
        """
        if self.lease is None:
            return False
        started = time.monotonic()
        try:
            self.store.lease_keepalive(self.lease)
        except LeaseExpired:
            self._drop()
            return False
        self._valid_until = started + self.ttl
        return True

    def _reclaim(self) -> bool:
        """Our local deadline passed; if the store still has our lease and key, nobody
        else can have led in between, so we lead on with the same epoch."""
        lease = self.lease
        if not self.keepalive():
            return False
        kv = self.store.get(self.key)
        if kv is None or kv.lease != lease:  # the key was removed by hand
            self.resign()
            return False
        return True

    def resign(self) -> None:
        """Give up leadership now: revoking the lease deletes the leader key."""
        lease = self.lease
        self._drop()
        if lease is not None:
            self.store.lease_revoke(lease)

    def _drop(self) -> None:
        self.lease, self._epoch, self._valid_until = None, None, 0.0

    def _revoke_quietly(self, lease: int) -> None:
        try:
            self.store.lease_revoke(lease)
        except StoreError:
            pass  # it expires by itself
