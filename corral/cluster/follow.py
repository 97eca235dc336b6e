"""Follow a key prefix: list it, then watch from the listed revision, re-listing on any
trouble (a lost store, compacted history) and at least every `relist_s` seconds, so a
missed event is never missed for long."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from corral.store import RevisionCompacted, Store, StoreError

log = logging.getLogger("corral.cluster")

# handler(key, value or None for a delete, mod_revision, initial listing?)
Handler = Callable[[str, str | None, int, bool], None]


def follow(store: Store, prefix: str, handler: Handler, stopped: threading.Event,
           relist_s: float = 2.0, on_listed: Callable[[], None] | None = None,
           lazy: Callable[[], tuple[str, ...]] | None = None) -> None:
    while not stopped.is_set():
        try:
            kvs, revision = store.get_prefix(prefix)
            for kv in kvs:
                handler(kv.key, kv.value, kv.mod_revision, True)
            if on_listed is not None:
                on_listed()
            for ev in store.watch_prefix(prefix, start_revision=revision + 1, timeout=relist_s, lazy=lazy):
                if stopped.is_set():
                    return
                handler(ev.key, ev.value if ev.kind == "put" else None, ev.mod_revision, False)
        except RevisionCompacted:
            continue
        except StoreError as exc:
            log.debug("following %s: %s", prefix, exc)
            stopped.wait(0.2)
        except Exception:  # a handler bug must not end the agent's only view of its inbox
            log.exception("following %s", prefix)
            stopped.wait(0.2)
