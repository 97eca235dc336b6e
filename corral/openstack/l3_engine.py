"""The L3 mover: Neutron routers off dead L3 agents, run by the elected controller only.

Every `poll-interval` one cycle: read the configuration's `neutron:` section and Neutron's L3
agents; finish every move a controller started and did not finish (records in the store);
plan new moves (corral.openstack.l3_plan: the dead agents, the gate, the targets); move each
router — record it, unschedule it from the dead agent, schedule it to the target, record it
done — a few at once; and write what it saw and held back to /corral/network/l3/status.

A move is recorded *before* the router is unscheduled: a router taken off its agent is hosted
by no agent, so Neutron's listings no longer show it, and only the record lets the next
controller put it back on a live agent. Every record write is an epoch-fenced transaction, so
a deposed controller moves nothing more.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from corral.cluster import configstore, keys
from corral.cluster.records import dumps, loads
from corral.model.yaml_neutron import NeutronYaml, neutron_settings
from corral.openstack.l3_plan import Move, Plan, pick_target, plan
from corral.openstack.neutron import L3Agent, Neutron, NeutronError, Router
from corral.store import Delete, Deposed, Put, Store, StoreError, fenced_txn

log = logging.getLogger("corral.openstack.l3")
IDLE_S = 2.0                  # no neutron: section: look again this often
STATUS_EVERY_S = 30.0         # rewrite an unchanged status this often
DONE_KEPT_S = 24 * 3600.0     # finished moves stay visible this long
MOVING, DONE, FAILED = "moving", "done", "failed"
MAX_ATTEMPTS = 5


@dataclass
class MoveRecord:
    router: str
    source_agent: str
    source_host: str
    target_agent: str
    target_host: str
    state: str = MOVING
    attempts: int = 0
    started: float = 0.0
    finished: float = 0.0
    error: str = ""


def move_key(router_id: str) -> str:
    return f"{keys.L3_MOVES}{router_id}"


def read_moves(store: Store) -> dict[str, MoveRecord]:
    out: dict[str, MoveRecord] = {}
    for kv in store.get_prefix(keys.L3_MOVES)[0]:
        d = loads(kv.value, {})
        if isinstance(d, dict):
            try:
                out[kv.key[len(keys.L3_MOVES):]] = MoveRecord(**d)
            except TypeError:
                log.warning("L3 mover: unreadable move record %s ignored", kv.key)
    return out


def read_status(store: Store) -> dict[str, Any]:
    kv = store.get(keys.L3_STATUS)
    d = loads(kv.value, {}) if kv is not None else {}
    return d if isinstance(d, dict) else {}


class L3Mover:
    def __init__(self, store: Store, node: str, epoch: int, leading: Callable[[], bool], *,
                 neutron_factory: Callable[[str], Neutron] | None = None,
                 stopped: threading.Event | None = None, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.node = node
        self.epoch = epoch
        self.leading = leading
        self.neutron_factory = neutron_factory or _sdk_neutron
        self.stopped = stopped or threading.Event()
        self.clock = clock
        self._neutron: tuple[str, Neutron] | None = None
        self._down_since: dict[str, float] = {}
        self._status_written: tuple[str, float] = ("", 0.0)

    def run(self) -> None:
        while self.leading() and not self.stopped.is_set():
            wait = IDLE_S
            try:
                wait = self.cycle()
            except Deposed as exc:
                log.warning("L3 mover: deposed: %s", exc)
                break
            except StoreError as exc:
                log.error("L3 mover holds back: the store (its majority) cannot be reached: %s", exc)
            except Exception:  # a bug in one cycle must not end the mover for the whole term
                log.exception("L3 mover cycle failed")
            self.stopped.wait(wait)

    def cycle(self) -> float:
        """One look at Neutron; returns how long to wait before the next."""
        stored = configstore.read(self.store)
        cfg = stored.config if stored is not None else None
        if cfg is None or cfg.neutron is None:
            self._status("idle", "no neutron: section in the configuration", [], Plan(), {})
            return IDLE_S
        settings = neutron_settings(cfg.neutron)
        now = self.clock()
        try:
            neutron = self._neutron_for(settings.cloud)
            agents = neutron.l3_agents()
        except NeutronError as exc:
            log.error("L3 mover: Neutron cannot be reached (%s): no router is moved", exc)
            self._status("neutron-unreachable", str(exc), [], Plan(), {})
            return settings.poll_interval
        self._track(agents, now)
        records = read_moves(self.store)
        unfinished = [r for r in records.values() if r.state == MOVING]
        self._run_all(settings, [lambda r=r: self._finish(neutron, agents, r) for r in unfinished])
        hosted: dict[str, list[Router]] = {}
        the_plan = plan(agents, {}, self._down_since, settings, now)
        for agent in the_plan.dead:
            try:
                hosted[agent.id] = neutron.routers_on(agent.id)
            except NeutronError as exc:
                log.error("L3 mover: the routers of dead agent %s cannot be listed: %s", agent.host, exc)
        if the_plan.dead:
            for a in agents:  # the load of the live agents decides the targets
                if a.takes_routers and a.id not in hosted:
                    try:
                        hosted[a.id] = neutron.routers_on(a.id)
                    except NeutronError:
                        hosted[a.id] = []
            busy = {r.router for r in read_moves(self.store).values() if r.state == MOVING}
            the_plan = plan(agents, hosted, self._down_since, settings, now, busy)
        self._run_all(settings, [lambda m=m: self._move(neutron, agents, m) for m in the_plan.moves])
        self._log_held(the_plan.held)
        self._prune(now)
        self._status("running", "", agents, the_plan, hosted)
        return settings.poll_interval

    # --- moving -----------------------------------------------------------------------------
    def _run_all(self, settings: NeutronYaml, jobs: list[Callable[[], None]]) -> None:
        if not jobs:
            return
        with ThreadPoolExecutor(max_workers=min(settings.concurrency, len(jobs)),
                                thread_name_prefix="l3-move") as pool:
            for f in [pool.submit(job) for job in jobs]:
                f.result()  # Deposed and StoreError end the cycle (a Neutron error is recorded)

    def _move(self, neutron: Neutron, agents: list[L3Agent], move: Move) -> None:
        rec = MoveRecord(router=move.router.id, source_agent=move.source.id, source_host=move.source.host,
                         target_agent=move.target.id, target_host=move.target.host, started=self.clock())
        self._write(rec)  # first: once unscheduled the router is in no listing but this record
        log.warning("L3 agent on %s is dead: moving router %s to %s", move.source.host, move.router.id,
                    move.target.host)
        self._finish(neutron, agents, rec)

    def _finish(self, neutron: Neutron, agents: list[L3Agent], rec: MoveRecord) -> None:
        """Bring a recorded move to its end: the router on exactly one live agent."""
        by_id = {a.id: a for a in agents}
        rec.attempts += 1
        try:
            on = neutron.agents_of(rec.router)
            live = [a for a in on if a in by_id and by_id[a].alive]
            if live:  # on a live agent already (the previous controller got that far, or Neutron did)
                rec.target_agent, rec.target_host = live[0], by_id[live[0]].host
                self._done(rec)
                return
            for agent_id in on:
                neutron.remove_router(agent_id, rec.router)
            target = by_id.get(rec.target_agent)
            if target is None or not target.takes_routers:
                source = by_id.get(rec.source_agent) or L3Agent(rec.source_agent, rec.source_host, False)
                target = pick_target(Router(rec.router), source, agents, {})
                if target is None:
                    raise NeutronError(f"no live {source.agent_mode} L3 agent to take router {rec.router}")
                rec.target_agent, rec.target_host = target.id, target.host
            neutron.add_router(target.id, rec.router)
            self._done(rec)
        except NeutronError as exc:
            if exc.status == 404 and "router" in str(exc).lower() and not self._router_exists(neutron, rec):
                rec.error, rec.state, rec.finished = "the router was deleted", DONE, self.clock()
                self._write(rec)
                return
            rec.error = str(exc)
            if rec.attempts >= MAX_ATTEMPTS:
                rec.state, rec.finished = FAILED, self.clock()
                log.error("L3 mover: router %s not moved after %d attempts: %s", rec.router, rec.attempts, exc)
            else:
                log.warning("L3 mover: router %s: %s (attempt %d, retried next cycle)", rec.router, exc,
                            rec.attempts)
            self._write(rec)

    def _router_exists(self, neutron: Neutron, rec: MoveRecord) -> bool:
        try:
            neutron.agents_of(rec.router)
        except NeutronError as exc:
            return exc.status != 404
        return True

    def _done(self, rec: MoveRecord) -> None:
        rec.state, rec.finished, rec.error = DONE, self.clock(), ""
        self._write(rec)
        log.warning("router %s moved from %s to %s in %.2fs", rec.router, rec.source_host, rec.target_host,
                    rec.finished - rec.started)

    def _write(self, rec: MoveRecord) -> None:
        fenced_txn(self.store, keys.EPOCH, self.epoch, [], [Put(move_key(rec.router), dumps(asdict(rec)))])

    def _prune(self, now: float) -> None:
        old = [Delete(move_key(r.router)) for r in read_moves(self.store).values()
               if r.state != MOVING and r.finished and now - r.finished > DONE_KEPT_S]
        if old:
            fenced_txn(self.store, keys.EPOCH, self.epoch, [], old[:100])

    # --- inputs and reports -------------------------------------------------------------------
    def _neutron_for(self, cloud: str) -> Neutron:
        if self._neutron is None or self._neutron[0] != cloud:
            self._neutron = (cloud, self.neutron_factory(cloud))
        return self._neutron[1]

    def _track(self, agents: list[L3Agent], now: float) -> None:
        dead = {a.id for a in agents if not a.alive}
        for a in dead:
            self._down_since.setdefault(a, now)
        for a in list(self._down_since):
            if a not in dead:
                del self._down_since[a]

    def _log_held(self, held: dict[str, str]) -> None:
        for what, why in sorted(held.items()):
            log.warning("L3 mover holds back %s: %s", what, why)

    def _status(self, state: str, note: str, agents: list[L3Agent], the_plan: Plan,
                hosted: dict[str, list[Router]]) -> None:
        dead = {a.id for a in the_plan.dead}
        body = {"controller": self.node, "epoch": self.epoch, "state": state, "note": note,
                "agents": [{"id": a.id, "host": a.host, "alive": a.alive, "admin_state_up": a.admin_state_up,
                            "mode": a.agent_mode, "zone": a.availability_zone,
                            "state": "dead" if a.id in dead else ("up" if a.alive else "down"),
                            **({"routers": len(hosted[a.id])} if a.id in hosted else {})}
                           for a in sorted(agents, key=lambda a: (a.host, a.id))],
                "held": [{"what": w, "reason": r} for w, r in sorted(the_plan.held.items())],
                "waiting": the_plan.waiting}
        text = dumps(body)
        now = time.monotonic()
        if text == self._status_written[0] and now - self._status_written[1] < STATUS_EVERY_S:
            return
        fenced_txn(self.store, keys.EPOCH, self.epoch, [],
                   [Put(keys.L3_STATUS, dumps({**body, "updated": time.time()}))])
        self._status_written = (text, now)


def _sdk_neutron(cloud: str) -> Neutron:
    from corral.openstack.neutron_sdk import SdkNeutron

    return SdkNeutron.for_cloud(cloud)


def start(store: Store, node: str, epoch: int, leading: Callable[[], bool],
          stopped: threading.Event) -> threading.Thread:
    """The L3 mover of a controller, in its own thread (idle without a neutron: section)."""
    mover = L3Mover(store, node, epoch, leading, stopped=stopped)
    t = threading.Thread(target=mover.run, name="l3-mover", daemon=True)
    t.start()
    return t


__all__ = ["L3Mover", "MoveRecord", "move_key", "read_moves", "read_status", "start"]
