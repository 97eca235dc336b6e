"""The compute-HA loop: run by the elected controller only, resumed by the next one from the store.

Every `poll-interval` (and at once when a compute member's key vanishes) one cycle:
read the configuration's `compute:` section, the compute members, the hosts ever seen as
members, Nova's nova-compute services and the recoveries in the store; judge every host
(corral.openstack.detection); ask for nova-compute restarts; start a recovery for each failed
host the gates let through (corral.openstack.gates); make sure every unfinished recovery has a
worker (corral.openstack.workflow); bring returning hosts back into service once their
evacuations are `completed`; and write what it saw and held back to /corral/compute/status.

The store-majority gate: every write here is an epoch-fenced transaction, which a store
without its majority cannot commit (and a controller cut off from it loses its lease), so no
step is taken without the majority; while the store fails, nothing is started and the log says
why (the status, kept in the store, cannot say it until the store answers again).
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from corral.cluster import configstore, keys
from corral.cluster.follow import follow
from corral.cluster.records import dumps, loads
from corral.model.yaml_compute import ComputeYaml, compute_settings
from corral.openstack.detection import FAILED, NOVA_DOWN, UP, HostView, assess
from corral.openstack.fence import HostFencer
from corral.openstack.gates import gate
from corral.openstack.nova import ComputeService, Nova, NovaError
from corral.openstack.policy import Placement
from corral.openstack.records import (
    ACTIVE_STATES,
    TXN_CHUNK,
    Conflict,
    Recovery,
    RecoveryBook,
    new_recovery,
    read_all,
    recovery_prefix,
)
from corral.openstack.slots import Slots
from corral.openstack.workflow import Env, HostRecovery, Stopped
from corral.store import Deposed, Put, Store, StoreError, fenced_txn

log = logging.getLogger("corral.openstack")
IDLE_S = 2.0                 # no compute: section: look again this often
AGGREGATES_EVERY_S = 60.0    # aggregates change rarely
STATUS_EVERY_S = 30.0        # rewrite an unchanged status this often (its `updated` shows liveness)
WORKER_RETRY_S = 2.0         # after a worker stopped on a Nova or store error
STILL_IN_PROGRESS = ("accepted", "pre-migrating", "done")  # evacuation records a returning host must finish


def enable_request_key(host: str) -> str:
    """Written by `corral compute enable HOST`: the operator lets a returned host back in."""
    return f"{recovery_prefix(host)}enable"


class ComputeHA:
    def __init__(self, store: Store, node: str, epoch: int, leading: Callable[[], bool], *,
                 nova_factory: Callable[[str], Nova] | None = None, fencer: Callable[[], Any] | None = None,
                 stopped: threading.Event | None = None, clock: Callable[[], float] = time.time,
                 env_overrides: dict[str, Any] | None = None) -> None:
        self.store = store
        self.node = node
        self.epoch = epoch
        self.leading = leading
        self.nova_factory = nova_factory or _sdk_nova
        self.stopped = stopped or threading.Event()
        self.clock = clock
        self.book = RecoveryBook(store, epoch)
        self.fencer = HostFencer(store, node, epoch, fencer=fencer)
        self.env_overrides = env_overrides or {}
        self.wake = threading.Event()
        self._nova: tuple[str, Nova] | None = None
        self._slots: Slots | None = None
        self._services: dict[str, ComputeService] = {}
        self._aggregates: dict[str, tuple[str, ...]] = {}
        self._aggregates_at = -AGGREGATES_EVERY_S
        self._workers: dict[str, threading.Thread] = {}
        self._worker_retry: dict[str, float] = {}
        self._nova_down_since: dict[str, float] = {}
        self._restarted: set[str] = set()
        self._held_logged: dict[str, str] = {}
        self._status_written: tuple[str, float] = ("", 0.0)
        self.settings: ComputeYaml | None = None
        self.last_held: dict[str, str] = {}

    # --- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        halt = threading.Event()  # ours: `stopped` may be the controller's, which we never set
        watcher = threading.Thread(target=follow, args=(self.store, keys.COMPUTE_MEMBERS, self._on_member, halt),
                                   name="compute-members", daemon=True)
        watcher.start()
        try:
            while self.leading() and not self.stopped.is_set():
                wait = IDLE_S
                try:
                    wait = self.cycle()
                except Deposed as exc:
                    log.warning("compute HA: deposed: %s", exc)
                    break
                except StoreError as exc:
                    log.error("compute HA holds back: the store (its majority) cannot be reached: %s", exc)
                except Exception:  # a bug in one cycle must not end compute HA for the whole term
                    log.exception("compute HA cycle failed")
                self.wake.wait(wait)
                self.wake.clear()
        finally:
            halt.set()

    def _on_member(self, _key: str, value: str | None, _rev: int, initial: bool) -> None:
        if value is None and not initial:
            self.wake.set()  # a member's lease ran out: judge it now, not at the next poll

    def cycle(self) -> float:
        """One look at everything; returns how long to wait before the next."""
        stored = configstore.read(self.store)
        cfg = stored.config if stored is not None else None
        if cfg is None or cfg.compute is None:
            self._status("idle", "no compute: section in the configuration", [], {})
            return IDLE_S
        settings = self.settings = compute_settings(cfg.compute)
        self.fencer.config = cfg
        now = self.clock()
        members, known, rev = self._members()
        try:
            nova = self._nova_for(settings.cloud)
            self._services = {s.host: s for s in nova.compute_services()}
            if now - self._aggregates_at >= AGGREGATES_EVERY_S:
                self._aggregates = {a.name: a.hosts for a in nova.aggregates()}
                self._aggregates_at = now
        except NovaError as exc:
            log.error("compute HA: Nova cannot be reached (%s): no new recoveries", exc)
            self._status("nova-unreachable", str(exc), [], {})
            return settings.poll_interval
        recs, _insts, _ = read_all(self.store)
        self._track_nova_down(members, settings, now)
        views = assess(self._services, members, known, recs, self._nova_down_since, settings, now)
        newly = [h for h, v in views.items() if v.state == FAILED]
        zone_of = {h: s.zone for h, s in self._services.items()}
        recovering = {h for h, r in recs.items() if r.state in ACTIVE_STATES}
        gated = gate(newly, recovering, known | members, zone_of, self._aggregates, settings.gates)
        for host in gated.allowed:
            self._start(host, views[host], rev)
        self._log_held(gated.held)
        recs, _insts, _ = read_all(self.store)
        self._ensure_workers(recs, nova, settings, now)
        self._bring_back(recs, members, nova, settings)
        self._status("running", "", list(views.values()), gated.held)
        return settings.poll_interval

    # --- inputs -----------------------------------------------------------------------------
    def _members(self) -> tuple[set[str], set[str], int]:
        kvs, rev = self.store.get_prefix(keys.COMPUTE_MEMBERS)
        members = {kv.key[len(keys.COMPUTE_MEMBERS):] for kv in kvs}
        known = {kv.key[len(keys.COMPUTE_KNOWN):] for kv in self.store.get_prefix(keys.COMPUTE_KNOWN)[0]}
        new = sorted(members - known)
        for i in range(0, len(new), TXN_CHUNK):  # remembered, so a host that dies is known to be ours
            fenced_txn(self.store, keys.EPOCH, self.epoch, [],
                       [Put(f"{keys.COMPUTE_KNOWN}{h}", dumps({"since": self.clock()})) for h in new[i:i + TXN_CHUNK]])
        return members, known | members, rev

    def _nova_for(self, cloud: str) -> Nova:
        if self._nova is None or self._nova[0] != cloud:
            self._nova = (cloud, self.nova_factory(cloud))
        return self._nova[1]

    def _track_nova_down(self, members: set[str], settings: ComputeYaml, now: float) -> None:
        """Member alive, nova-compute down: when it was first seen so, and one restart request."""
        for host in list(self._nova_down_since):
            svc = self._services.get(host)
            if host not in members or svc is None or svc.up or svc.forced_down:
                del self._nova_down_since[host]
                self._restarted.discard(host)
        for host in members:
            svc = self._services.get(host)
            if svc is None or svc.up or svc.forced_down:
                continue
            self._nova_down_since.setdefault(host, now)
            if settings.nova_compute_resource and host not in self._restarted:
                self._restarted.add(host)
                log.warning("%s: nova-compute is down while its member lives: restarting %s there", host,
                            settings.nova_compute_resource)
                # The host's agent forgets the resource's failures and probes it again; the scheduler
                # then starts it where it belongs (the same request as `corral resource cleanup`).
                fenced_txn(self.store, keys.EPOCH, self.epoch, [],
                           [Put(keys.request(host, uuid.uuid4().hex),
                                dumps({"type": "cleanup", "rsc": settings.nova_compute_resource}))])

    def placement(self, host: str) -> Placement:
        svc = self._services.get(host)
        return Placement(zone=svc.zone if svc else "",
                         aggregates=frozenset(n for n, hosts in self._aggregates.items() if host in hosts))

    # --- recoveries ---------------------------------------------------------------------------
    def _start(self, host: str, view: HostView, revision: int) -> None:
        try:
            self.book.create(new_recovery(host, view.reason, revision))
        except Conflict:
            return  # another cycle (or controller) started it
        log.warning("compute host %s failed (%s): recovery started", host, view.reason)

    def _ensure_workers(self, recs: dict[str, Recovery], nova: Nova, settings: ComputeYaml, now: float) -> None:
        if self._slots is None or self._slots.limit != settings.max_concurrent_evacuations:
            self._slots = Slots(settings.max_concurrent_evacuations)
        for host, rec in sorted(recs.items()):
            if rec.state not in ACTIVE_STATES:
                continue
            t = self._workers.get(host)
            if t is not None and t.is_alive():
                continue
            if self._worker_retry.get(host, 0.0) > now:
                continue
            env = Env(book=self.book, nova=nova, settings=settings, fencer=self.fencer, slots=self._slots,
                      leading=lambda: self.leading() and not self.stopped.is_set(), placement=self.placement,
                      wait=self.stopped.wait, clock=self.clock, **self.env_overrides)
            t = threading.Thread(target=self._work, args=(env, host), name=f"recover-{host}", daemon=True)
            self._workers[host] = t
            t.start()

    def _work(self, env: Env, host: str) -> None:
        try:
            HostRecovery(env, host).run()
        except (Stopped, Deposed) as exc:
            log.info("recovery of %s left to the next controller: %s", host, exc)
        except (NovaError, StoreError, Conflict) as exc:
            log.error("recovery of %s interrupted (%s); resuming in %gs", host, exc, WORKER_RETRY_S)
            self._worker_retry[host] = self.clock() + WORKER_RETRY_S
        except Exception:
            log.exception("recovery of %s failed", host)
            self._worker_retry[host] = self.clock() + WORKER_RETRY_S
        self.wake.set()

    def _bring_back(self, recs: dict[str, Recovery], members: set[str], nova: Nova, settings: ComputeYaml) -> None:
        """A recovered host whose member is back: in service again once its evacuations are done."""
        for host, rec in sorted(recs.items()):
            if rec.state not in ("evacuated", "returning", "awaiting-operator") or host not in members:
                continue
            try:
                if rec.state == "evacuated":
                    log.warning("%s is back: waiting until its evacuations are completed", host)
                    rec = self.book.update(rec, state="returning", note="back: waiting for its evacuations "
                                                                        "to be completed")
                busy = [m for m in nova.evacuations(host) if m.status in STILL_IN_PROGRESS]
                if busy:
                    continue
                asked = self.store.get(enable_request_key(host)) is not None
                if settings.enable_returning_hosts == "operator" and not asked:
                    if rec.state != "awaiting-operator":
                        log.warning("%s: evacuations completed; it stays disabled until an operator runs "
                                    "`corral compute enable %s`", host, host)
                        self.book.update(rec, state="awaiting-operator",
                                         note=f"evacuations completed: corral compute enable {host}")
                    continue
                nova.force_down(host, False)
                nova.enable(host)
                self.book.close(rec)
                log.warning("%s is back in service (unforced, enabled)", host)
            except NovaError as exc:
                log.error("%s: bringing it back: %s", host, exc)
            except Conflict:
                continue

    # --- telling -----------------------------------------------------------------------------
    def _log_held(self, held: dict[str, str]) -> None:
        for host, why in held.items():
            if self._held_logged.get(host) != why:
                log.warning("compute host %s: recovery held back: %s", host, why)
        self._held_logged = dict(held)
        self.last_held = dict(held)

    def _status(self, state: str, note: str, views: list[HostView], held: dict[str, str]) -> None:
        hosts = [{"name": v.name, "state": "held" if v.name in held else v.state,
                  "reason": held.get(v.name, v.reason), "member": v.member, "nova": v.nova, "zone": v.zone}
                 for v in views if v.state != UP or v.name in held]
        counts: dict[str, int] = {}
        for v in views:
            counts[v.state] = counts.get(v.state, 0) + 1
        body = {"controller": self.node, "epoch": self.epoch, "state": state, "note": note,
                "hosts": hosts, "held": [{"host": h, "reason": r} for h, r in sorted(held.items())],
                "counts": counts, "nova_down": sorted(h for h in self._nova_down_since
                                                      if any(v.name == h and v.state == NOVA_DOWN for v in views))}
        text = dumps(body)
        now = time.monotonic()
        if text == self._status_written[0] and now - self._status_written[1] < STATUS_EVERY_S:
            return
        fenced_txn(self.store, keys.EPOCH, self.epoch, [],
                   [Put(keys.COMPUTE_STATUS, dumps({**body, "updated": time.time()}))])
        self._status_written = (text, now)


def read_status(store: Store) -> dict[str, Any]:
    kv = store.get(keys.COMPUTE_STATUS)
    d = loads(kv.value, {}) if kv is not None else {}
    return d if isinstance(d, dict) else {}


def request_enable(store: Store, host: str) -> None:
    store.put(enable_request_key(host), dumps({"at": time.time()}))


def forget_host(store: Store, host: str) -> None:
    store.delete(f"{keys.COMPUTE_KNOWN}{host}")


def _sdk_nova(cloud: str) -> Nova:
    from corral.openstack.sdk import SdkNova

    return SdkNova.for_cloud(cloud)


def start(store: Store, node: str, epoch: int, leading: Callable[[], bool],
          stopped: threading.Event) -> threading.Thread:
    """The compute-HA loop of a controller, in its own thread (idle without a compute: section)."""
    ha = ComputeHA(store, node, epoch, leading, stopped=stopped)
    t = threading.Thread(target=ha.run, name="compute-ha", daemon=True)
    t.start()
    return t


__all__ = ["ComputeHA", "enable_request_key", "forget_host", "read_status", "request_enable", "start"]
