"""Embedded store in one SQLite file, shared by the processes of one host: `sqlite:///path/cluster.db`.

Why it is safe across processes:
- WAL journal: readers never block the writer nor each other; each read runs
  in one transaction, so it sees one consistent revision.
- Every write starts with BEGIN IMMEDIATE (take the write lock up front, waiting
  up to busy_timeout) so a read-then-write never fails half way on a lock upgrade.
- synchronous=FULL: a committed write (an epoch bump, a lease) survives a power cut.
- Leases carry an absolute deadline in wall-clock seconds (time.time()), the one
  clock all processes of the host share. Any reader or writer first reaps
  expired leases and their keys, in the same transaction as its own work, so
  nobody ever sees a key of an expired lease and watchers get the delete events.
- A global revision counter in `meta`; every change is appended to `events`,
  which is compacted to the last `history` revisions.
- Watches are woken by one change feed per file and process (_ChangeFeed):
  when a commit writes the database's files (inotify on its directory,
  store.file_events; without inotify every 20 ms), at least once a second, and
  when a lease is due, it asks SQLite whether the file changed at all (PRAGMA
  data_version, a read of shared memory), and only then which keys changed; a watch queries its events only when a key under its
  prefix changed, or a lease is due to expire (someone must reap it so that
  watchers get its delete events). An idle agent thus costs a few cheap
  checks per commit instead of one transaction per watch every 20 ms.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from corral.store._common import check_ttl, compare_holds, prefix_end, validate_txn
from corral.store.base import (
    Compare,
    Delete,
    KeyValue,
    Lazy,
    LeaseExpired,
    Put,
    RevisionCompacted,
    Store,
    StoreError,
    StoreUnavailable,
    TxnResult,
    WatchEvent,
)
from corral.store.file_events import FileEvents

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY, value TEXT NOT NULL,
    create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL, lease INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_by_lease ON kv(lease) WHERE lease IS NOT NULL;
CREATE TABLE IF NOT EXISTS leases (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ttl REAL NOT NULL, expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS leases_by_expiry ON leases(expires_at);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, rev INTEGER NOT NULL,
    kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT
);
CREATE INDEX IF NOT EXISTS events_by_rev ON events(rev);
INSERT OR IGNORE INTO meta VALUES ('schema', 1), ('revision', 1), ('compacted', 1);
"""
# meta: revision = the store revision (1 = empty, as in etcd);
#       compacted = the oldest revision whose events are all still kept.


class SqliteStore(Store):
    def __init__(self, path: str, *, timeout: float = 5.0, history: int = 10000,
                 poll_interval: float = 0.02) -> None:
        if history < 1:
            raise ValueError(f"history must be at least 1, got {history}")
        self.path = path
        self.timeout = timeout
        self.history = history
        self.poll_interval = poll_interval
        self._closed = False
        # One shared connection for plain calls (serialized by _lock); each
        # watch opens its own so a poll never waits behind a busy writer here.
        self._lock = threading.RLock()
        self._conn = self._connect()
        self._init_schema()
        self._feed: _ChangeFeed | None = None
        self._watch_events: set[threading.Event] = set()  # set by close(): its watches end at once
        self._idle_conns: list[sqlite3.Connection] = []  # of finished watches, for the next ones

    # --- connections and transactions ---------------------------------------

    def _connect(self) -> sqlite3.Connection:
        with self._errors():
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
                                   check_same_thread=False)
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
                self._retry_busy(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
                conn.execute("PRAGMA synchronous = FULL")
            except BaseException:
                conn.close()
                raise
            return conn

    def _retry_busy(self, fn: Callable[[], T]) -> T:
        # Switching to WAL needs a moment of exclusive access, and SQLite does
        # not always call the busy handler for it: retry until our timeout.
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _init_schema(self) -> None:
        # BEGIN IMMEDIATE waits out another process initializing the same file.
        with self._lock, self._errors():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as e:
            text = str(e)
            if "locked" in text or "busy" in text:
                raise StoreUnavailable(f"{self.path}: store busy for more than {self.timeout}s ({text})") from e
            if "disk" in text or "unable to open" in text:
                raise StoreUnavailable(f"{self.path}: {text}") from e
            raise StoreError(f"{self.path}: {text}") from e
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: {e}") from e

    def _run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = False,
             conn: sqlite3.Connection | None = None) -> T:
        """fn inside one transaction, after reaping expired leases in that same transaction."""
        if self._closed:
            raise StoreError(f"{self.path}: store is closed")
        if conn is not None:
            return self._transaction(conn, fn, write, time.monotonic() + self.timeout)
        # Waiting for our own threads counts against the same timeout as waiting
        # for other processes: a call never blocks much longer than self.timeout.
        deadline = time.monotonic() + self.timeout
        if not self._lock.acquire(timeout=self.timeout):
            raise StoreUnavailable(f"{self.path}: store busy in this process for more than {self.timeout}s")
        try:
            if self._closed:
                raise StoreError(f"{self.path}: store is closed")
            return self._transaction(self._conn, fn, write, deadline)
        finally:
            self._lock.release()

    def _transaction(self, c: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T],
                     write: bool, deadline: float) -> T:
        with self._errors():
            if not write:
                # A read upgrades to a write only when it has leases to reap.
                c.execute("BEGIN")
                try:
                    if c.execute("SELECT 1 FROM leases WHERE expires_at <= ? LIMIT 1",
                                 (time.time(),)).fetchone() is None:
                        return fn(c)
                finally:
                    c.execute("COMMIT")
            left_ms = max(1, int((deadline - time.monotonic()) * 1000))
            c.execute(f"PRAGMA busy_timeout = {left_ms}")
            c.execute("BEGIN IMMEDIATE")
            try:
                self._reap(c, time.time())  # after BEGIN IMMEDIATE: the clock read is not stale
                result = fn(c)
                self._compact(c)
                c.execute("COMMIT")
                return result
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise

    # --- helpers inside a transaction -----------------------------------------

    @staticmethod
    def _meta(c: sqlite3.Connection, name: str) -> int:
        return c.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()[0]

    @staticmethod
    def _set_meta(c: sqlite3.Connection, name: str, value: int) -> None:
        c.execute("UPDATE meta SET value = ? WHERE name = ?", (value, name))

    @staticmethod
    def _get(c: sqlite3.Connection, key: str) -> KeyValue | None:
        row = c.execute("SELECT key, value, mod_rev, create_rev, lease FROM kv WHERE key = ?",
                        (key,)).fetchone()
        return KeyValue(*row) if row else None

    @staticmethod
    def _keys(c: sqlite3.Connection, key: str, prefix: bool) -> list[str]:
        if not prefix:
            return [r[0] for r in c.execute("SELECT key FROM kv WHERE key = ?", (key,))]
        end = prefix_end(key)
        if end is None:
            rows = c.execute("SELECT key FROM kv WHERE key >= ? ORDER BY key", (key,))
        else:
            rows = c.execute("SELECT key FROM kv WHERE key >= ? AND key < ? ORDER BY key", (key, end))
        return [r[0] for r in rows]

    def _reap(self, c: sqlite3.Connection, now: float) -> None:
        expired = c.execute("SELECT id FROM leases WHERE expires_at <= ? ORDER BY expires_at",
                            (now,)).fetchall()
        for (lease_id,) in expired:
            self._drop_lease(c, lease_id)

    def _drop_lease(self, c: sqlite3.Connection, lease_id: int) -> None:
        keys = [r[0] for r in c.execute("SELECT key FROM kv WHERE lease = ? ORDER BY key", (lease_id,))]
        c.execute("DELETE FROM leases WHERE id = ?", (lease_id,))
        if keys:
            self._apply(c, [Delete(k) for k in keys])  # one revision per lease, as etcd does

    def _apply(self, c: sqlite3.Connection, ops: list[Put | Delete]) -> list[object]:
        for op in ops:  # check first: a txn is all or nothing
            if isinstance(op, Put) and op.lease is not None and c.execute(
                    "SELECT 1 FROM leases WHERE id = ?", (op.lease,)).fetchone() is None:
                raise LeaseExpired(f"lease {op.lease} has expired or never existed")
        rev = self._meta(c, "revision") + 1
        changed = False
        responses: list[object] = []
        for op in ops:
            if isinstance(op, Put):
                c.execute("INSERT INTO kv (key, value, create_rev, mod_rev, lease) VALUES (?, ?, ?, ?, ?)"
                          " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                          " mod_rev = excluded.mod_rev, lease = excluded.lease",
                          (op.key, op.value, rev, rev, op.lease))
                c.execute("INSERT INTO events (rev, kind, key, value) VALUES (?, 'put', ?, ?)",
                          (rev, op.key, op.value))
                changed = True
                responses.append(rev)
            else:
                keys = self._keys(c, op.key, op.prefix)
                for key in keys:
                    c.execute("DELETE FROM kv WHERE key = ?", (key,))
                    c.execute("INSERT INTO events (rev, kind, key, value) VALUES (?, 'delete', ?, NULL)",
                              (rev, key))
                changed = changed or bool(keys)
                responses.append(len(keys))
        if changed:
            self._set_meta(c, "revision", rev)
        return responses

    def _compact(self, c: sqlite3.Connection) -> None:
        # Batch the deletes: compact once every history/4 revisions, not on every write.
        rev, compacted = self._meta(c, "revision"), self._meta(c, "compacted")
        keep_from = rev - self.history + 1
        if keep_from - compacted >= max(1, self.history // 4):
            c.execute("DELETE FROM events WHERE rev < ?", (keep_from,))
            self._set_meta(c, "compacted", keep_from)

    # --- the Store interface ------------------------------------------------

    def get(self, key: str) -> KeyValue | None:
        return self._run(lambda c: self._get(c, key))

    def get_prefix(self, prefix: str) -> tuple[list[KeyValue], int]:
        def read(c: sqlite3.Connection) -> tuple[list[KeyValue], int]:
            end = prefix_end(prefix)
            sql = "SELECT key, value, mod_rev, create_rev, lease FROM kv WHERE key >= ?"
            args: tuple[str, ...] = (prefix,)
            if end is not None:
                sql, args = sql + " AND key < ?", (prefix, end)
            rows = c.execute(sql + " ORDER BY key", args).fetchall()
            return [KeyValue(*r) for r in rows], self._meta(c, "revision")
        return self._run(read)

    def put(self, key: str, value: str, lease: int | None = None) -> int:
        return self.txn([], [Put(key, value, lease)]).revision

    def delete(self, key: str, prefix: bool = False) -> int:
        return self.txn([], [Delete(key, prefix)]).revision

    def txn(self, compares: list[Compare], success: list[Put | Delete],
            failure: list[Put | Delete] | None = None) -> TxnResult:
        failure = failure or []
        validate_txn(compares, success, failure)

        def run(c: sqlite3.Connection) -> TxnResult:
            ok = all(compare_holds(cmp, self._get(c, cmp.key)) for cmp in compares)
            responses = self._apply(c, success if ok else failure)
            return TxnResult(ok, self._meta(c, "revision"), responses)
        return self._run(run, write=True)

    def lease_grant(self, ttl: float) -> int:
        check_ttl(ttl)

        def grant(c: sqlite3.Connection) -> int:
            cur = c.execute("INSERT INTO leases (ttl, expires_at) VALUES (?, ?)", (ttl, time.time() + ttl))
            assert cur.lastrowid is not None
            return cur.lastrowid
        return self._run(grant, write=True)

    def lease_keepalive(self, lease: int) -> float:
        return self.lease_keepalive_and_put(lease, [])

    #: A renewal is a local transaction; the agent's heartbeat rides in it (one commit, and one
    #: wake-up of every other process's change feed, per renewal instead of two).
    renews_with_writes = True

    def lease_keepalive_and_put(self, lease: int, puts: list[Put]) -> float:
        validate_txn([], list(puts), [])

        def renew(c: sqlite3.Connection) -> float:
            row = c.execute("SELECT ttl FROM leases WHERE id = ?", (lease,)).fetchone()
            if row is None:
                raise LeaseExpired(f"lease {lease} has expired or never existed")
            c.execute("UPDATE leases SET expires_at = ? WHERE id = ?", (time.time() + row[0], lease))
            if puts:
                self._apply(c, list(puts))
            return float(row[0])
        return self._run(renew, write=True)

    def lease_revoke(self, lease: int) -> None:
        def revoke(c: sqlite3.Connection) -> None:
            if c.execute("SELECT 1 FROM leases WHERE id = ?", (lease,)).fetchone():
                self._drop_lease(c, lease)
        self._run(revoke, write=True)

    def _watch_conn(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle_conns:
                return self._idle_conns.pop()
        return self._connect()

    def _release_conn(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if not self._closed and not conn.in_transaction and len(self._idle_conns) < 8:
                self._idle_conns.append(conn)
                return
        conn.close()

    def _change_feed(self) -> _ChangeFeed:
        with self._lock:
            if self._closed:
                raise StoreError(f"{self.path}: store is closed")
            if self._feed is None:
                self._feed = _ChangeFeed.acquire(self.path, self.poll_interval, self._connect)
            return self._feed

    def watch_prefix(self, prefix: str, start_revision: int | None = None,
                     timeout: float | None = None, *, lazy: Lazy | None = None) -> Iterator[WatchEvent]:
        conn = self._watch_conn()
        try:
            cursor = (self._run(lambda c: self._meta(c, "revision"), conn=conn) + 1
                      if start_revision is None else max(start_revision, 1))
        except BaseException:
            conn.close()
            raise
        return self._watch(conn, prefix, cursor, timeout, lazy)

    def _watch(self, conn: sqlite3.Connection, prefix: str, cursor: int,
               timeout: float | None, lazy: Lazy | None = None) -> Iterator[WatchEvent]:
        end = prefix_end(prefix)
        sql = "SELECT rev, kind, key, value FROM events WHERE rev >= ? AND key >= ?"
        sql += " AND key < ? ORDER BY id" if end is not None else " ORDER BY id"

        def poll(c: sqlite3.Connection) -> tuple[list[tuple[int, str, str, str | None]], int]:
            compacted = self._meta(c, "compacted")
            if cursor < compacted:
                raise RevisionCompacted(compacted)
            args = (cursor, prefix, end) if end is not None else (cursor, prefix)
            return c.execute(sql, args).fetchall(), self._meta(c, "revision")

        feed = self._change_feed()
        changed = feed.subscribe(prefix, end, lazy)
        with self._lock:
            self._watch_events.add(changed)
        try:
            idle_since = time.monotonic()
            while not self._closed:
                changed.clear()  # before the query: a change committed after it sets it again
                try:
                    rows, rev = self._run(poll, conn=conn)
                except StoreError:
                    if self._closed:
                        return
                    raise
                cursor = rev + 1
                for r_rev, kind, key, value in rows:
                    yield WatchEvent(kind, key, value, r_rev)
                    idle_since = time.monotonic()
                if rows:
                    continue
                wait = _FEED_WAIT_MAX_S
                if timeout is not None:
                    left = timeout - (time.monotonic() - idle_since)
                    if left <= 0:
                        return
                    wait = min(wait, left)
                changed.wait(wait)
        finally:
            feed.unsubscribe(changed)
            with self._lock:
                self._watch_events.discard(changed)
            self._release_conn(conn)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._conn.close()
            idle, self._idle_conns = self._idle_conns, []
            feed, self._feed = self._feed, None
            watching = list(self._watch_events)
        for ev in watching:
            ev.set()
        for conn in idle:
            conn.close()
        if feed is not None:
            feed.release()


_FEED_WAIT_MAX_S = 1.0  # a watch re-checks that its store is open at least this often


class _ChangeFeed:
    """Tells a store's watches when keys under their prefixes changed (see the module doc).

    Runs on a connection of its own that never writes, so PRAGMA data_version
    changes with every commit to the file, by any process."""

    _shared: dict[tuple[str, float], _ChangeFeed] = {}
    _shared_lock = threading.Lock()

    @classmethod
    def acquire(cls, path: str, interval: float, connect: Callable[[], sqlite3.Connection]) -> _ChangeFeed:
        """The feed of this file in this process (an agent opens several stores on one file:
        one feed serves them all); release() it with the store."""
        key = (os.path.realpath(path), interval)
        with cls._shared_lock:
            feed = cls._shared.get(key)
            if feed is None or feed._closed.is_set():
                feed = cls._shared[key] = _ChangeFeed(connect(), interval, path)
                feed._key = key
            feed._users += 1
            return feed

    def release(self) -> None:
        with self._shared_lock:
            self._users -= 1
            if self._users > 0:
                return
            if self._shared.get(self._key) is self:
                del self._shared[self._key]
        self.close()

    def __init__(self, conn: sqlite3.Connection, interval: float, path: str = "") -> None:
        self._path = path
        self._users = 0
        self._key: tuple[str, float] = ("", interval)
        self._conn = conn
        self._interval = interval
        self._lock = threading.Lock()
        self._subs: dict[threading.Event, tuple[str, str | None, Lazy | None]] = {}
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sqlite-feed", daemon=True)
        self._thread.start()

    def subscribe(self, prefix: str, end: str | None, lazy: Lazy | None = None) -> threading.Event:
        ev = threading.Event()
        with self._lock:
            self._subs[ev] = (prefix, end, lazy)
        return ev

    def unsubscribe(self, ev: threading.Event) -> None:
        with self._lock:
            self._subs.pop(ev, None)

    def close(self) -> None:
        self._closed.set()
        self._wake_all()

    def _wake_all(self) -> None:
        with self._lock:
            subs = list(self._subs)
        for ev in subs:
            ev.set()

    def _loop(self) -> None:
        version: int | None = None
        revision: int | None = None
        expiry = float("inf")  # wall-clock time the next lease runs out
        # Woken by writes to the database's files (inotify on its directory: every commit
        # writes the -wal) rather than polling; at least once a second regardless, and when the
        # next lease is due. Without inotify: every `interval`. Never open the -shm or database
        # file behind SQLite's back to peek at it: closing such a descriptor drops every POSIX
        # lock this process holds on the file, SQLite's own included, and another process may
        # then reset the WAL under our readers (sqlite.org/howtocorrupt.html).
        directory, name = os.path.split(os.path.abspath(self._path)) if self._path else ("", "")
        events = FileEvents(directory, name) if self._path else None
        try:
            while not self._closed.is_set():
                if events is not None and events.available:
                    due = expiry - time.time()
                    events.wait(min(_FEED_WAIT_MAX_S, max(self._interval, due)))
                else:
                    time.sleep(self._interval)  # cheaper than waiting on an Event; close() is seen next tick
                try:
                    now_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
                    if now_version != version:
                        version = now_version
                        revision, expiry = self._changes(revision)
                    elif time.time() >= expiry:
                        expiry = float("inf")
                        self._wake_all()
                except sqlite3.Error:
                    revision = None  # trouble: let every watch look for itself
                    self._wake_all()
        finally:
            if events is not None:
                events.close()
            self._conn.close()

    def _changes(self, since: int | None) -> tuple[int, float]:
        """Wake the watches whose prefixes hold keys changed after revision `since` (all of
        them if unknown); returns the current revision and the next lease expiry."""
        c = self._conn
        # One statement, so one consistent read; most commits (lease renewals) change no key.
        revision, compacted, expiry = c.execute(
            "SELECT (SELECT value FROM meta WHERE name = 'revision'), (SELECT value FROM meta WHERE name = "
            "'compacted'), (SELECT MIN(expires_at) FROM leases)").fetchone()
        keys: list[str] | None = None
        if since is not None and since >= compacted - 1 and revision >= since:
            keys = [] if revision == since else [
                r[0] for r in c.execute("SELECT DISTINCT key FROM events WHERE rev > ?", (since,))]
        if keys is None:
            self._wake_all()
        elif keys:
            with self._lock:
                subs = list(self._subs.items())
            for ev, (prefix, end, lazy) in subs:
                quiet = lazy() if lazy is not None else ()
                if any(k >= prefix and (end is None or k < end) and not k.startswith(quiet) for k in keys):
                    ev.set()
        if expiry is not None and expiry <= time.time():
            self._wake_all()  # overdue: a watch's query reaps it
        return revision, float("inf") if expiry is None else float(expiry)
