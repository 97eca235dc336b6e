"""One failed host's recovery, one recorded step at a time (the states: corral.openstack.records).

    fencing        fence the host (corral.openstack.fence) until a fence newer than its failure is
                   confirmed; failures back off 1 s doubling to 30 s
    forcing-down   force its nova-compute down and disable it with a reason; enable a reserved host
    selecting      list its instances, decide each one's recovery by policy, record them all
    evacuating     evacuate by priority within the bound on evacuations in flight; follow each to
                   ACTIVE (or the SHUTOFF it had) on another host; an ERROR is retried with backoff
                   up to retry.attempts requests, then the instance is `failed`
    evacuated      every instance is done: the report

Each step reads its record, acts, then advances the record by compare-and-set; a step that was
cut off is redone, and every redo is harmless (a second fence, a second force-down) except an
evacuation, which is guarded by its `requested` mark (see `_resolve_requested`). Nova is never
asked to evacuate before the fence is confirmed: the evacuated instance's disk and volumes must
not be used by two hosts at once.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from corral.model.yaml_compute import ComputeYaml
from corral.openstack.fence import HostFencer
from corral.openstack.nova import Nova, NovaError, Server
from corral.openstack.policy import Placement, decide, order
from corral.openstack.records import InstanceRecord, Recovery, RecoveryBook
from corral.openstack.slots import Slots

log = logging.getLogger("corral.openstack")
FENCE_BACKOFF_START_S = 1.0
FENCE_BACKOFF_MAX_S = 30.0
FOLLOW_EVERY_S = 0.5     # how often the instances in flight are read back from Nova
CHANGES_SINCE_MARGIN_S = 60.0
SEND_THREADS = 10        # Nova calls at once per host: evacuation requests, reads of instances in flight
RECOVERED_STATUSES = ("ACTIVE", "SHUTOFF")


class Stopped(Exception):
    """This controller no longer leads (or is stopping): leave the rest to the next one."""


@dataclass
class Env:
    """What a recovery works with; one per controller."""
    book: RecoveryBook
    nova: Nova
    settings: ComputeYaml
    fencer: HostFencer
    slots: Slots
    leading: Callable[[], bool]
    placement: Callable[[str], Placement]           # the host's availability zone and aggregates
    wait: Callable[[float], bool] = lambda s: (time.sleep(s), False)[1]  # True: stop now
    clock: Callable[[], float] = time.time
    follow_every: float = FOLLOW_EVERY_S
    fence_backoff: float = FENCE_BACKOFF_START_S


class HostRecovery:
    def __init__(self, env: Env, host: str) -> None:
        self.env = env
        self.host = host

    # --- driving ----------------------------------------------------------------------------
    def run(self) -> Recovery | None:
        """Advance the recovery until it is evacuated (or gone); raises Stopped, Deposed, StoreError."""
        while True:
            self._check()
            rec, insts = self.env.book.read(self.host)
            if rec is None or rec.state not in ("fencing", "forcing-down", "selecting", "evacuating"):
                return rec
            self.step(rec, insts)

    def step(self, rec: Recovery, insts: dict[str, InstanceRecord]) -> Recovery:
        """One step of the recovery from its recorded state; returns the record after it."""
        return {"fencing": self.fence, "forcing-down": self.force_down, "selecting": self.select,
                "evacuating": self.evacuate}[rec.state](rec, insts)

    def _check(self) -> None:
        if not self.env.leading():
            raise Stopped(f"recovery of {self.host}: no longer the controller")

    def _pause(self, seconds: float) -> None:
        if self.env.wait(max(0.0, seconds)):
            raise Stopped(f"recovery of {self.host}: stopping")

    # --- fencing ----------------------------------------------------------------------------
    def fence(self, rec: Recovery, _insts: dict[str, InstanceRecord]) -> Recovery:
        env = self.env
        done = env.fencer.confirmed(self.host, rec.since_revision)
        if done is None:
            wait = rec.next_fence_at - env.clock()
            if wait > 0:
                self._pause(min(wait, 1.0))
                return rec
            self._check()
            out = env.fencer.fence(self.host, env.settings.fence_action, rec.since_revision)
            if not out.confirmed:
                attempts = rec.fence_attempts + 1
                delay = min(FENCE_BACKOFF_MAX_S, env.fence_backoff * 2 ** (attempts - 1))
                log.error("fencing compute host %s failed (attempt %d): %s; retrying in %gs; its instances "
                          "are not evacuated until it is fenced", self.host, attempts, out.error, delay)
                return env.book.update(rec, fence_attempts=attempts, fence_error=out.error,
                                       fence_record=out.record, next_fence_at=env.clock() + delay,
                                       note=f"fence attempt {attempts} failed: {out.error}; retrying in {delay:g}s")
            done = out.record
        log.warning("compute host %s is fenced (record %s)", self.host, done)
        return env.book.update(rec, state="forcing-down", fence_record=done, fence_error="",
                               fence_attempts=rec.fence_attempts + 1, note="fenced")

    # --- telling Nova -----------------------------------------------------------------------
    def force_down(self, rec: Recovery, _insts: dict[str, InstanceRecord]) -> Recovery:
        env = self.env
        self._check()
        reason = f"corral: {rec.reason}; fenced ({rec.fence_record}); recovery {rec.id}"
        env.nova.force_down(self.host, True)
        env.nova.disable(self.host, reason[:255])  # Nova keeps 255 characters of a reason
        enabled = list(rec.reserved_enabled) or self._enable_reserved()
        log.warning("%s: nova-compute forced down and disabled%s", self.host,
                    f"; reserved host {', '.join(enabled)} enabled" if enabled else "")
        return env.book.update(rec, state="selecting", reserved_enabled=enabled, note="forced down")

    def _enable_reserved(self) -> list[str]:
        """One reserved host (disabled spare capacity), preferably in the failed host's zone."""
        reserved = self.env.settings.reserved_hosts
        if not reserved:
            return []
        services = {s.host: s for s in self.env.nova.compute_services()}
        zone = self.env.placement(self.host).zone
        spare = [h for h in reserved if h in services and h != self.host and services[h].up
                 and services[h].status == "disabled"]
        spare.sort(key=lambda h: (services[h].zone != zone, reserved.index(h)))
        if not spare:
            log.warning("%s: no reserved host is up and still disabled", self.host)
            return []
        self.env.nova.enable(spare[0])
        return [spare[0]]

    # --- choosing -----------------------------------------------------------------------------
    def select(self, rec: Recovery, insts: dict[str, InstanceRecord]) -> Recovery:
        env = self.env
        self._check()
        where = env.placement(self.host)
        servers = env.nova.servers_on(self.host)
        prior: dict[str, list[str]] = {}
        for m in env.nova.evacuations(self.host):
            prior.setdefault(m.server_id, []).append(m.id)
        images: dict[str, dict[str, str]] = {}  # one read per image, not per instance

        def image_properties(image_id: str) -> dict[str, str]:
            if image_id not in images:
                images[image_id] = env.nova.image_properties(image_id)
            return images[image_id]
        decisions = {s.id: decide(env.settings, s, where, image_properties) for s in servers}
        fresh = []
        for s in servers:
            if s.id in insts:
                continue  # recorded by a selection that was cut off
            d = decisions[s.id]
            fresh.append(InstanceRecord(
                id=s.id, host=self.host, name=s.name, recovery=d.recovery, policy=d.policy, priority=d.priority,
                storage=d.storage, state="skipped" if d.recovery == "none" else "pending",
                known_migrations=sorted(prior.get(s.id, [])), original_status=s.status))
        env.book.add_instances(fresh)
        wanted = order(decisions)
        log.warning("%s: %d instances, %d to recover (%s)", self.host, len(servers), len(wanted),
                    ", ".join(f"{decisions[i].policy}: {decisions[i].recovery}" for i in wanted[:5])
                    + (" ..." if len(wanted) > 5 else ""))
        return env.book.update(rec, state="evacuating", note=f"{len(wanted)} of {len(servers)} instances to recover")

    # --- evacuating ---------------------------------------------------------------------------
    def evacuate(self, rec: Recovery, insts: dict[str, InstanceRecord]) -> Recovery:
        """Until every instance is done: send what is due within the slots, follow what is in flight."""
        env = self.env
        work = dict(insts)
        # Requests an earlier controller marked but may not have sent, and evacuations in
        # flight: each holds a slot.
        inflight = {i for i, r in work.items() if r.state in ("requested", "rebuilding")}
        env.slots.hold(len(inflight))
        try:
            for iid in [i for i in inflight if work[i].state == "requested"]:
                work[iid] = self._resolve_requested(work[iid])
            next_follow = 0.0
            with ThreadPoolExecutor(SEND_THREADS, thread_name_prefix=f"evacuate-{self.host}") as pool:
                while True:
                    self._check()
                    now = env.clock()
                    for r in list(work.values()):  # resolve_requested may have put some back
                        if r.id in inflight and r.state not in ("requested", "rebuilding"):
                            inflight.discard(r.id)
                            env.slots.release()
                    self._send_due(work, inflight, pool, now)
                    if now >= next_follow:
                        self._follow(work, inflight, pool, now)
                        next_follow = env.clock() + env.follow_every
                    if all(r.done for r in work.values()):
                        break
                    self._pause(min(env.follow_every, max(0.01, next_follow - env.clock())))
        finally:
            env.slots.release(len(inflight))
        counts: dict[str, int] = {}
        for r in work.values():
            counts[r.state] = counts.get(r.state, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        log.warning("%s: recovery finished: %s", self.host, summary or "no instances")
        return env.book.update(rec, state="evacuated", finished=env.clock(), note=summary or "no instances")

    def _send_due(self, work: dict[str, InstanceRecord], inflight: set[str], pool: ThreadPoolExecutor,
                  now: float) -> None:
        env = self.env
        due = [r for r in work.values() if r.state == "pending" or (r.state == "retry" and r.next_at <= now)]
        if not due:
            return
        due.sort(key=lambda r: (-r.priority, r.id))
        n = env.slots.take(len(due))
        if n == 0:
            return
        batch = due[:n]
        known = self._known_migrations()
        # The mark comes first: a successor then checks with Nova before sending it again.
        # All marks in one transaction (per TXN_CHUNK): a store write per instance delays the requests.
        try:
            marked = env.book.update_instances([
                (r, {"state": "requested", "attempts": r.attempts + 1, "requested_at": now, "error": "",
                     "known_migrations": sorted(set(r.known_migrations) | set(known.get(r.id, [])))})
                for r in batch])
        except Exception:
            env.slots.release(len(batch))
            raise
        for r in marked:
            work[r.id] = r
            inflight.add(r.id)
        results = list(pool.map(self._send_one, marked))
        sent = [r for r, error in zip(marked, results, strict=True) if not error]
        for r in env.book.update_instances([(r, {"state": "rebuilding"}) for r in sent]):
            work[r.id] = r
        for r, error in zip(marked, results, strict=True):
            if error:
                work[r.id] = self._after_send(r, error, now)

    def _send_one(self, r: InstanceRecord) -> str:
        try:
            self.env.nova.evacuate(r.id)
            return ""
        except NovaError as exc:
            return str(exc)

    def _after_send(self, r: InstanceRecord, error: str, now: float) -> InstanceRecord:
        """A refused request: retried after the backoff, or failed after its attempts."""
        log.error("%s: evacuating %s (attempt %d) refused: %s", self.host, r.id, r.attempts, error)
        return self._failed_attempt(r, error, now)

    def _failed_attempt(self, r: InstanceRecord, error: str, now: float) -> InstanceRecord:
        retry = self.env.settings.retry
        if r.attempts >= retry.attempts:
            return self.env.book.update_instance(r, state="failed", error=f"{error} (after {r.attempts} attempts)")
        delay = min(retry.backoff_max, retry.backoff * 2 ** (r.attempts - 1))
        return self.env.book.update_instance(r, state="retry", error=error, next_at=now + delay)

    def _known_migrations(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for m in self.env.nova.evacuations(self.host):
            out.setdefault(m.server_id, []).append(m.id)
        return out

    def _resolve_requested(self, r: InstanceRecord) -> InstanceRecord:
        """A `requested` mark left by a controller that stopped: was the request sent?

        Sent if the instance has left the failed host or Nova has an evacuation record of it
        that was not there when the mark was written; then it is followed, never sent again.
        Otherwise the request never reached Nova and it is due again (same attempt)."""
        server = self.env.nova.server(r.id)
        if server is None:
            return self.env.book.update_instance(r, state="failed", error="the instance no longer exists")
        if server.host != self.host or server.task_state == "rebuilding":
            return self.env.book.update_instance(r, state="rebuilding")
        new = set(self._known_migrations().get(r.id, [])) - set(r.known_migrations)
        if new:
            return self.env.book.update_instance(r, state="rebuilding")
        log.info("%s: the evacuation of %s was marked but never reached Nova: sending it", self.host, r.id)
        return self.env.book.update_instance(r, state="pending", attempts=max(0, r.attempts - 1))

    def _follow(self, work: dict[str, InstanceRecord], inflight: set[str], pool: ThreadPoolExecutor,
                now: float) -> None:
        env = self.env
        ids = sorted(i for i in inflight if work[i].state == "rebuilding")
        if not ids:
            return
        # One list of the servers changed since the first request (an evacuation changes its
        # instance), not one read per instance: on a busy Nova those reads slow its rebuilds.
        # The margin absorbs a clock difference between this controller and Nova's database.
        since = min(work[i].requested_at for i in ids) - CHANGES_SINCE_MARGIN_S
        listed = {s.id: s for s in env.nova.servers_changed_since(since) if s.id in work}
        missing = [i for i in ids if i not in listed]  # unchanged (or a clock further off): read each
        servers: dict[str, Server | None] = {i: (None if s.status == "DELETED" else s) for i, s in listed.items()}
        servers.update(zip(missing, pool.map(env.nova.server, missing), strict=True))
        for iid in ids:
            r = work[iid]
            new = self._judge(r, servers[iid], now)
            if new is not None:
                work[iid] = new
                if new.state != "rebuilding":
                    inflight.discard(iid)
                    env.slots.release()

    def _judge(self, r: InstanceRecord, server: Server | None, now: float) -> InstanceRecord | None:
        """The record's next state from what Nova says of it (None: still on its way)."""
        if server is None:
            return self.env.book.update_instance(r, state="failed", error="the instance was deleted")
        wanted = r.original_status if r.original_status in RECOVERED_STATUSES else "ACTIVE"
        if server.host and server.host != self.host and server.status == wanted and not server.task_state:
            log.info("%s: %s is %s on %s", self.host, r.id, server.status, server.host)
            return self.env.book.update_instance(r, state="active", target=server.host, error="")
        if server.status == "ERROR" and not server.task_state:
            error = f"ERROR on {server.host or '?'}" + (f": {server.fault}" if server.fault else "")
            log.error("%s: %s (attempt %d)", self.host, error, r.attempts)
            return self._failed_attempt(r, error, now)
        if now - r.requested_at > self.env.settings.evacuation_timeout:
            return self._failed_attempt(r, f"not {wanted} within {self.env.settings.evacuation_timeout:g}s "
                                           f"(status {server.status}, task {server.task_state})", now)
        return None
