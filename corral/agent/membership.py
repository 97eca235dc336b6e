"""This node's membership: a lease-bound member key, renewed, and proven valid locally.

Safety rule 2. The lease is valid at the store until at least (time the last
successful renewal was *sent*) + TTL. A watchdog, separate from the renewing
thread (which may hang for a store timeout), fires `on_lost` as soon as
renew + 2 x store timeout have passed since then without a new success; the
lease-timing rule guarantees the remaining TTL - (renew + 2 x store timeout) > 0
to stop everything before the lease can expire and the node be declared lost.

After every successful renewal the node also rewrites its lease-bound
heartbeat key ({"seq": n, "every": renew interval}): on a store that renews
and writes in one cheap local transaction (SQLite, `renews_with_writes`) in
the renewal itself, elsewhere (etcd) from a thread of its own, right after. The lease alone cannot
tell a controller that a node went silent a moment ago (etcd reports a lease's
remaining TTL in whole seconds); the heartbeat's watch events can, so with
fencing enabled a silent node is fenced after `heartbeat-timeout` instead of
after its lease runs out (corral.controller.liveness).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from corral.cluster import keys
from corral.cluster.records import dumps, loads
from corral.cluster.timing import Timing
from corral.store import Compare, Delete, LeaseExpired, Put, Store, StoreError

log = logging.getLogger("corral.agent")
WATCHDOG_TICK_S = 0.02
RETRY_S = 0.02  # after a failed renewal


class NodeClaimed(Exception):
    """Another agent holds this node's name: its member key is present and renewed."""


def describe_claim(kv_value: str | None) -> str:
    info = loads(kv_value, {}) or {}
    since = info.get("since")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, int | float) else "?"
    return f"pid {info.get('pid', '?')} on host {info.get('host', '?')}, a member since {when}"


TAKEOVER_MARGIN_S = 0.5


def wait_unclaimed(store: Store, node: str, timing: Timing, stopped: threading.Event | None = None) -> int | None:
    """Wait until no live agent holds `node`'s name; raise NodeClaimed if one does.

    Returns None when the name is free, or the mod_revision of a member key whose agent
    is dead, for the join to replace (a restarted agent takes over its predecessor's claim
    at once, without waiting for the old lease: its services may still run). A live
    holder's heartbeat advances after every lease renewal: refuse as soon as it does. A
    holder whose heartbeat has been silent longer than its own self-fencing limit
    (renew + 2 x store timeout, from its member record) plus a margin is dead, or has
    stopped everything and treats its membership as lost: its claim is over."""
    kv = store.get(keys.member(node))
    if kv is None:
        return None
    info = loads(kv.value, {}) or {}
    try:
        silent_limit = float(info.get("renew", timing.renew)) + 2 * float(info.get("store_timeout",
                                                                                  timing.store_timeout))
    except (TypeError, ValueError):
        silent_limit = timing.self_fence_after
    silent_limit += TAKEOVER_MARGIN_S
    first = store.get(keys.heartbeat(node))
    beat_info = loads(first.value if first else None, {}) or {}
    # How long the heartbeat has been silent already, by its own timestamp (a restart on the same
    # host reads the same clock); at least two of the holder's beats are still watched for.
    every = beat_info.get("every", timing.renew)
    every = float(every) if isinstance(every, int | float) else timing.renew
    at = beat_info.get("at")
    age = max(0.0, time.time() - float(at)) if isinstance(at, int | float) else 0.0
    wait_s = max(2 * every + 0.1, silent_limit - age)
    log.warning("%s: node name held by %s; its agent is dead if its heartbeat stays silent for %.1fs more",
                node, describe_claim(kv.value), wait_s)
    started = time.monotonic()
    while not (stopped is not None and stopped.is_set()):
        time.sleep(min(0.05, timing.renew))
        now = store.get(keys.member(node))
        if now is None:
            return None
        beat = store.get(keys.heartbeat(node))
        if now.mod_revision != kv.mod_revision or (beat is not None and (
                first is None or beat.mod_revision != first.mod_revision)):
            raise NodeClaimed(f"node name {node!r} is already claimed by a running agent ({describe_claim(now.value)}) "
                              "on this store: its heartbeat advances. Give this agent another --node name, "
                              "or stop the other one first")
        if time.monotonic() - started > wait_s:
            log.warning("%s: the previous holder's heartbeat has been silent for %.1fs: taking over its claim",
                        node, wait_s + age)
            return kv.mod_revision
    return None


class Membership:
    def __init__(self, store: Store, node: str, timing: Timing, on_lost: Callable[[str], None]) -> None:
        self.store = store
        self.node = node
        self.timing = timing
        self.on_lost = on_lost
        self.lease: int | None = None
        self.joining_lease: int | None = None  # the join marker's, while joining (announce)
        self._last_ok = 0.0  # monotonic send time of the last successful grant/renewal
        self._beat = 0
        self._ever_joined = False
        self._member_value: str | None = None  # what our last join wrote: our claim on the name
        self._joining_value: str | None = None  # what the join under way writes (its watch event may come first)
        self.takeover_revision: int | None = None  # a dead predecessor's member key we may replace
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._beat_due = threading.Event()
        # The beat rides in the renewal where that costs nothing extra; else it has its own thread.
        self._beat_in_renewal = store.renews_with_writes
        self._threads = [threading.Thread(target=self._renew_loop, name="lease", daemon=True),
                         threading.Thread(target=self._watchdog, name="watchdog", daemon=True)]
        if not self._beat_in_renewal:
            self._threads.append(threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True))
        for t in self._threads:
            t.start()

    @property
    def valid_until(self) -> float:
        """Monotonic time until which the lease is certainly still valid at the store."""
        return self._last_ok + self.timing.ttl

    @property
    def joined(self) -> bool:
        return self.lease is not None

    def announce(self, info: dict) -> None:
        """Publish the lease-bound join marker before the join's probes: the controller then
        knows this node's agent is on its way and neither fences it nor plans without it."""
        with self._lock:
            if self.joining_lease is not None:
                return
        lease = self.store.lease_grant(self.timing.ttl)
        try:
            self.store.put(keys.joining(self.node), dumps(info), lease)
        except BaseException:
            self._revoke(lease)
            raise
        with self._lock:
            self.joining_lease = lease

    def join(self, info: dict, ops: list[Put | Delete] | None = None) -> None:
        """Grant a lease and publish the member key (and the persistent node record) with it,
        in one transaction with `ops` (the node's fresh history); the join marker goes."""
        try:
            claim = self._claim_guard()
        except NodeClaimed:
            self._drop_marker()  # the name is someone else's: our marker must not speak for it
            raise
        sent = time.monotonic()
        # Joining a cluster of nobody starts a new life of it: the controller's join window counts
        # from here, and nodes whose record is older have not been seen since (controller.joining).
        first = not self.store.get_prefix(keys.MEMBERS)[0]
        life = [Put(keys.LIFE, dumps({"since": time.time(), "by": self.node}))] if first else []
        lease = self.store.lease_grant(self.timing.ttl)
        value = dumps(info)
        self._joining_value = value
        try:
            joined = self.store.txn([claim], [*life, Put(keys.member(self.node), value, lease),
                                              self._heartbeat(lease),
                                              Put(keys.node(self.node), dumps({"expected": "member"})),
                                              Delete(keys.joining(self.node)), *(ops or [])]).succeeded
        except BaseException:
            self._revoke(lease)
            raise
        if not joined:
            self._revoke(lease)
            self._drop_marker()
            kv = self.store.get(keys.member(self.node))
            raise NodeClaimed(f"node name {self.node!r} was claimed by another agent meanwhile "
                              f"({describe_claim(kv.value if kv else None)})")
        self._member_value = value
        with self._lock:
            self.lease, self._last_ok, self._ever_joined = lease, sent, True
            marker, self.joining_lease = self.joining_lease, None
        if marker is not None:
            self._revoke(marker)
        log.info("%s joined the cluster (lease %s, ttl %.1fs)", self.node, lease, self.timing.ttl)

    def _drop_marker(self) -> None:
        with self._lock:
            marker, self.joining_lease = self.joining_lease, None
        if marker is not None:
            self._revoke(marker)

    def ours(self, member_value: str) -> bool:
        """Whether a member key value is one this agent wrote (its claim on the name)."""
        return member_value in (self._member_value, self._joining_value)

    def _claim_guard(self) -> Compare:
        """Join only if the member key is absent, or still the one our previous join wrote
        (a rejoin before our old lease expired), or a dead predecessor's (wait_unclaimed):
        never over a live agent's claim."""
        kv = self.store.get(keys.member(self.node))
        if kv is None:
            return Compare(keys.member(self.node), "create_revision", "==", 0)
        if self._member_value is not None and kv.value == self._member_value:
            return Compare(keys.member(self.node), "mod_revision", "==", kv.mod_revision)
        if self.takeover_revision is not None and kv.mod_revision == self.takeover_revision:
            return Compare(keys.member(self.node), "mod_revision", "==", kv.mod_revision)
        raise NodeClaimed(f"node name {self.node!r} is claimed by another agent ({describe_claim(kv.value)})")

    def leave(self) -> None:
        """Clean leave: expected=down first, so the node reads as cleanly offline, not lost."""
        with self._lock:
            lease, self.lease = self.lease, None
            marker, self.joining_lease = self.joining_lease, None
        if marker is not None:
            self._revoke(marker)
        if not self._ever_joined:
            return
        try:
            self.store.put(keys.node(self.node), dumps({"expected": "down"}))
        except StoreError as exc:
            log.error("could not record the clean leave: %s", exc)
        if lease is not None:
            self._revoke(lease)

    def drop(self) -> None:
        """Forget the lease without touching the store (after self-fencing)."""
        with self._lock:
            self.lease = None

    def close(self) -> None:
        self._stopped.set()

    def _revoke(self, lease: int) -> None:
        try:
            self.store.lease_revoke(lease)
        except StoreError:
            pass  # it expires by itself

    def _renew_loop(self) -> None:
        wait = self.timing.renew
        while not self._stopped.wait(wait):
            wait = self.timing.renew
            marker = self.joining_lease
            if marker is not None:  # best effort: a lapsed marker only makes the controller wait less
                try:
                    self.store.lease_keepalive(marker)
                except LeaseExpired:
                    with self._lock:
                        if self.joining_lease == marker:
                            self.joining_lease = None  # the next join attempt announces again
                except StoreError as exc:
                    log.debug("join marker renewal failed: %s", exc)
            lease = self.lease
            if lease is None:
                continue
            sent = time.monotonic()
            try:
                if self._beat_in_renewal:
                    self.store.lease_keepalive_and_put(lease, [self._heartbeat(lease)])
                else:
                    self.store.lease_keepalive(lease)
            except LeaseExpired:
                if self.lease == lease:
                    self._lost("the store says our lease has expired")
                continue
            except StoreError as exc:
                log.warning("lease renewal failed: %s", exc)
                wait = RETRY_S  # the call already took its time: try again at once, not a renew later
                continue
            with self._lock:
                if self.lease != lease:
                    continue
                self._last_ok = sent
            if not self._beat_in_renewal:
                self._beat_due.set()

    def _heartbeat_loop(self) -> None:
        """Beats on a thread of their own: a slow heartbeat write must never hold back the
        next renewal (the lease is what keeps the node safe; the beat only says so sooner)."""
        while not self._stopped.is_set():
            if not self._beat_due.wait(0.5):
                continue
            self._beat_due.clear()
            lease = self.lease
            if lease is None:
                continue
            try:
                self.store.txn([], [self._heartbeat(lease)])
            except StoreError as exc:  # the lease holds; a missed beat only makes us look slower
                log.debug("heartbeat failed: %s", exc)

    def _heartbeat(self, lease: int) -> Put:
        self._beat += 1
        return Put(keys.heartbeat(self.node), dumps({"seq": self._beat, "every": self.timing.renew,
                                                     "at": time.time()}), lease)

    def _watchdog(self) -> None:
        """Sleeps until the moment the lease can no longer be proven valid (re-reading the
        last renewal then, since it only moves later), not in short ticks: as exact, and
        an idle node does not wake 50 times a second for it."""
        wait = WATCHDOG_TICK_S
        while not self._stopped.wait(wait):
            wait = WATCHDOG_TICK_S  # not joined: check again soon, a join may come any time
            if self.lease is None:
                continue
            silent = time.monotonic() - self._last_ok
            if silent > self.timing.self_fence_after:
                self._lost(f"no lease renewal for {silent:.2f}s (limit {self.timing.self_fence_after:g}s)")
                continue
            wait = max(0.001, self.timing.self_fence_after - silent + 0.001)

    def _lost(self, reason: str) -> None:
        with self._lock:
            if self.lease is None:
                return
            self.lease = None
        log.error("%s: membership lost: %s; stopping everything before the lease can expire",
                  self.node, reason)
        self.on_lost(reason)
