"""The controller loop: watch the store, schedule on every change, drive the transition.

Runs in the agent that won the election, for as long as it leads. Bursts of
changes are coalesced (`coalesce_s`) into one scheduler run. The transition's
graph is executed action by action as their inputs are confirmed
(controller.executor); when it ends -- complete, failed (what did not depend on
the failure still ran), or aborted because membership / configuration / node
attributes changed -- the controller re-plans from a fresh read of the store.

Fencing (safety rule 1): while the scheduler says a node must be fenced, the
controller executes nothing but the fences (controller.fencing): each through
the configured devices, recorded in the fencing history under its epoch; a
confirmed fence marks the node cleanly down, and only the next transition,
planned from that state, recovers its resources. A failed fence is retried with
backoff while recovery stays blocked, and the status says why.

Failure detection: a node is lost when its lease-bound member key vanishes;
with fencing enabled and `heartbeat-timeout` set, also as soon as its heartbeat
has been silent that long (controller.liveness): it is fenced without waiting
for its lease to run out, which is what makes sub-second failover possible.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid

from corral.cluster import keys
from corral.cluster.follow import follow
from corral.cluster.operator import next_expiry
from corral.cluster.records import DONE, ActionRecord, dumps
from corral.cluster.resources import spec_of
from corral.cluster.snapshot import Snapshot, read_snapshot, scheduler_inputs
from corral.cluster.timing import Timing
from corral.controller.driver import Driver
from corral.controller.executor import GraphExecutor, Limits
from corral.controller.fencing import FenceCoordinator
from corral.controller.joining import JoinWindow, treat_as_pending
from corral.controller.liveness import Liveness, heartbeat_timeout
from corral.controller.recheck import next_recheck
from corral.controller.recurring import missing_monitors
from corral.model.config import Configuration
from corral.scheduler import Transition, schedule
from corral.scheduler.graph import Graph, GraphAction
from corral.store import Delete, Deposed, LeaderElection, Put, Store, StoreError

log = logging.getLogger("corral.controller")

# Changes under these prefixes abort a running transition (re-plan at once);
# history changes do not (our own actions make them), but they do trigger a re-plan.
ABORT_PREFIXES = (keys.MEMBERS, keys.CONFIG, keys.OPERATOR, keys.ATTRS, keys.NODE_ATTRS, keys.NODES,
                  keys.JOINING)
# Compute HA and the L3 mover (corral.openstack) follow their own keys; they never change a placement.
QUIET_PREFIXES = (keys.ACTIONS, keys.CONTROLLER_STATUS, keys.ELECTION_PREFIX, keys.REQUESTS, keys.COMPUTE,
                  keys.NETWORK)
# An idle controller plans again when the clock alone can change a decision (failure-timeout
# expiry, date rules, cluster-recheck-interval: controller.recheck), and at least this often
# as a safety net; not every few seconds (that was most of an idle controller's CPU).
IDLE_REPLAN_MAX_S = 60.0
LIVENESS_TICK_S = 0.02
LIVENESS_IDLE_S = 0.5  # no heartbeat-timeout configured


class Controller:
    def __init__(self, store: Store, election: LeaderElection, node: str, timing: Timing, *,
                 coalesce_s: float = 0.05) -> None:
        self.store = store
        self.election = election
        self.node = node
        self.timing = timing
        self.coalesce_s = coalesce_s
        self.epoch = election.epoch or 0
        self.liveness = Liveness(node)
        self.members: set[str] = set()       # as our watch last saw them
        self.heartbeat_timeout = 0.0         # seconds; 0 = wait for leases (no fencing, or not set)
        self.silent: dict[str, float] = {}   # members we treat as lost for their silence
        self._flagged: set[str] = set()      # silent as the liveness thread last saw them
        self.driver = Driver(store, self.epoch, self.leading,
                             silent=lambda: set(self.liveness.silent(self.members, self.heartbeat_timeout)))
        self.dirty = threading.Event()
        self.abort = threading.Event()
        self.wake = threading.Event()
        self.stopped = threading.Event()
        self.transition = 0
        self._planned_revision = 0  # the store revision the running transition was planned from
        self._own_failure_keys: set[str] = set()  # fail-count keys our own actions of this transition bump
        # Action ids start with this: unique to this controller instance, even when a
        # leader reclaims its own epoch after a blip and starts a new loop.
        self.prefix = f"{self.epoch}-{uuid.uuid4().hex[:8]}-"
        self._repeats = 0
        self._last_actions: list[str] = []
        self._last_cycle = 0.0
        self.urgent = False
        self.fences = FenceCoordinator(store, node, self.epoch)
        self.join_window = JoinWindow()
        self._retry_at: float | None = None  # monotonic: a failed fence is due again
        self._expiry_at: float | None = None  # wall clock: an operator constraint's lifetime ends
        self._recheck_at = 0.0                # wall clock: time alone may change a decision (recheck.py)

    def _lazy_prefixes(self) -> tuple[str, ...]:
        return () if self.heartbeat_timeout > 0 else (keys.HEARTBEATS,)

    def leading(self) -> bool:
        return self.election.is_leader and self.election.epoch == self.epoch

    def run(self) -> None:
        log.info("%s is the controller (epoch %d)", self.node, self.epoch)
        # Heartbeats matter to the controller only with heartbeat-timeout set: without it they
        # need not wake its watch at once (six a second in an idle 3-node cluster).
        watcher = threading.Thread(target=follow, args=(self.store, keys.ROOT, self._on_change, self.stopped),
                                   kwargs={"lazy": self._lazy_prefixes}, name="controller-watch", daemon=True)
        watcher.start()
        threading.Thread(target=self._watch_liveness, name="controller-liveness", daemon=True).start()
        self._start_compute_ha()
        self._start_l3_mover()
        self.dirty.set()
        try:
            self._settle_inherited()
            while self.leading():
                if not self.dirty.wait(0.1):
                    now = time.monotonic()
                    retry_due = self._retry_at is not None and now >= self._retry_at
                    expiry_due = self._expiry_at is not None and time.time() >= self._expiry_at
                    recheck_due = time.time() >= self._recheck_at or now - self._last_cycle >= IDLE_REPLAN_MAX_S
                    if not (retry_due or expiry_due or recheck_due):
                        continue
                if not self.urgent:  # let a burst of changes land before scheduling
                    time.sleep(self.coalesce_s)
                self.urgent = False
                self.dirty.clear()
                self.abort.clear()
                try:
                    self._cycle()
                except (Deposed, StoreError):
                    raise
                except Exception as exc:  # a bug in one cycle must not leave the cluster without a controller
                    log.exception("transition %d failed", self.transition)
                    self._error(exc)
        except Deposed as exc:
            log.warning("%s: deposed: %s", self.node, exc)
        except StoreError as exc:
            log.error("controller: store error: %s", exc)
        except Exception:
            log.exception("controller failed")
        finally:
            self.stopped.set()
            log.info("%s stops being the controller (epoch %d)", self.node, self.epoch)
            try:
                self.store.close()
            except StoreError:
                pass

    def _start_compute_ha(self) -> None:
        """Compute HA runs beside the scheduling loop, for as long as we lead (idle without a
        compute: section); a new controller resumes its recoveries from the store."""
        from corral.openstack.engine import start

        start(self.store, self.node, self.epoch, self.leading, self.stopped)

    def _start_l3_mover(self) -> None:
        """Neutron routers off dead L3 agents, beside the scheduling loop while we lead (idle
        without a neutron: section); a new controller finishes the moves of the last one."""
        from corral.openstack.l3_engine import start

        start(self.store, self.node, self.epoch, self.leading, self.stopped)

    def _on_change(self, key: str, value: str | None, _rev: int, initial: bool) -> None:
        if key.startswith(keys.HEARTBEATS):
            self.liveness.beat(key[len(keys.HEARTBEATS):], value)
            return
        if key.startswith(keys.MEMBERS):
            name = key[len(keys.MEMBERS):]
            if value is None:
                self.members.discard(name)
            else:
                self.members.add(name)
        if initial or key.startswith(QUIET_PREFIXES):
            if key.startswith(keys.ACTIONS):
                self.wake.set()
            return
        if key.startswith(ABORT_PREFIXES) and _rev > self._planned_revision and key not in self._own_failure_keys:
            self.abort.set()  # a change the running transition was not planned with (a late watch
            #                   event for one it was planned with must not abort it)
        if key.startswith(keys.MEMBERS) and value is None:
            self.urgent = True  # a node was lost: its resources wait for us, skip the coalescing
        self.dirty.set()
        self.wake.set()

    def _watch_liveness(self) -> None:
        """Wake the loop at once when a member falls silent (it is then fenced: see _silence)."""
        wait = LIVENESS_TICK_S
        while not self.stopped.wait(wait):
            # Without a heartbeat timeout there is nothing to detect here: look again now and
            # then (a configuration that sets one is read by the next cycle), not 50 times a second.
            wait = LIVENESS_TICK_S if self.heartbeat_timeout > 0 else LIVENESS_IDLE_S
            if self.heartbeat_timeout <= 0:
                continue
            now_silent = set(self.liveness.silent(self.members, self.heartbeat_timeout))
            newly = now_silent - set(self.silent) - self._flagged
            self._flagged = now_silent
            if newly:
                log.warning("heartbeat of %s silent for more than %gs", ", ".join(sorted(newly)),
                            self.heartbeat_timeout)
                self.urgent = True
                self.abort.set()
                self.dirty.set()
                self.wake.set()

    def _silence(self, snap: Snapshot) -> None:
        """Treat members whose heartbeat is silent as lost (only with fencing: the fence, not
        the silence, is what proves them stopped)."""
        cfg = snap.config
        self.heartbeat_timeout = heartbeat_timeout(cfg) if cfg is not None else 0.0
        self.silent = self.liveness.silent(snap.members, self.heartbeat_timeout)
        for name in self.silent:
            snap.members.pop(name, None)

    # --- one scheduling cycle ---------------------------------------------------
    def _cycle(self) -> None:
        self._last_cycle = time.monotonic()
        self._recheck_at = time.time() + IDLE_REPLAN_MAX_S  # until the inputs say sooner
        snap = read_snapshot(self.store)
        self._planned_revision = snap.revision
        self._expiry_at = next_expiry(snap.operator)
        self._silence(snap)
        self._tidy_actions(snap)
        if snap.config is None:
            self._status(snap, "idle", note=snap.config_error or "no configuration loaded (corral load FILE)")
            return
        joins = self.join_window.assess(snap, snap.config)
        treat_as_pending(snap, joins.pending + joins.held)  # never fenced, nothing read from them
        cfg, state = scheduler_inputs(snap)
        self._recheck_at = next_recheck(cfg, state, time.time())
        self.fences.warm(cfg, snap.config_revision)
        tr = schedule(cfg, state)
        if joins.hold and not tr.fences:
            # A cold start, or a node probing its way in: plan nothing until they are in (or the
            # window is over). Fences of nodes lost meanwhile still run: that is always safe.
            self._status(snap, "waiting", note="waiting for nodes to join", waiting=joins.waiting)
            self._retry_at = joins.until
            return
        if self.silent:
            tr.fences = [(n, a, f"heartbeat silent for {self.silent[n]:.2f}s" if n in self.silent else r)
                         for n, a, r in tr.fences]
        self.transition += 1
        graph = with_missing_monitors(tr.graph, missing_monitors(tr, snap))
        runnable = [a for a in graph.actions if _executable(a)]
        blocked = [f"{a.task} {a.rsc} on {a.node}" for a in graph.actions
                   if a.kind in ("rsc", "notify") and not a.runnable]
        self._retry_at = None
        if tr.fences:
            self._fence(snap, cfg, tr, blocked)
            return
        if not runnable:
            self._status(snap, "idle", tr, blocked=blocked)
            return
        signature = sorted(f"{a.key}:{a.node}" for a in runnable)
        self._repeats = self._repeats + 1 if signature == self._last_actions else 0
        self._last_actions = signature
        if self._repeats >= 3:  # the same transition again and again: do not spin
            time.sleep(min(5.0, 0.5 * self._repeats))
        self._status(snap, "executing", tr, blocked=blocked)
        self._execute(tr, cfg, graph)
        self.dirty.set()  # results changed the state: plan again

    def _fence(self, snap: Snapshot, cfg: Configuration, tr: Transition, blocked: list[str]) -> None:
        """Only the fences run in a transition that has any (rule 1); then plan again."""
        def announce(node: str, action: str, reason: str) -> None:
            self._status(snap, "fencing", tr, note=f"fencing {node} ({action})", blocked=blocked,
                         waiting=[f"fencing of {node} ({reason}): in progress; its resources are not "
                                  "recovered until it is fenced"])

        result = self.fences.run(snap, cfg, tr.fences, self.leading, announce)
        if result.confirmed:
            self.urgent = True
            self.dirty.set()  # the fenced nodes are cleanly down now: recover at once
        if result.waiting:
            self._status(snap, "waiting", tr, waiting=result.waiting, blocked=blocked)
        self._retry_at = result.retry_at

    def _execute(self, tr: Transition, cfg: Configuration, graph: Graph) -> None:
        seq = iter(range(1, 1_000_000))
        run = GraphExecutor(self.driver, graph, lambda a: self._record(tr, cfg, a, next(seq)),
                            Limits.from_config(cfg), self.abort, self.wake)
        try:
            out = run.run()
        finally:
            self._own_failure_keys = set()
        for s in out.skipped:
            log.info("transition %d: not run: %s", self.transition, s)
        for f in out.failures:
            log.warning("transition %d: %s", self.transition, f)
        state = "complete" if out.ok else ("aborted" if out.aborted else "failed")
        log.info("transition %d %s (%d actions confirmed)", self.transition, state, out.confirmed)

    def _record(self, tr: Transition, cfg: Configuration, a: GraphAction, seq: int) -> ActionRecord:
        prim = tr.resources.get(a.rsc or "")
        if prim is None or prim.kind != "primitive":
            raise ValueError(f"action on unknown resource {a.rsc}")
        src = a.meta.get("migrate_source")
        tgt = a.meta.get("migrate_target")
        if a.task in ("migrate_to", "migrate_from") and not (src and tgt):
            src, tgt = (prim.stop_on[0] if prim.stop_on else None), prim.start_on
        timeout_s = a.timeout_ms / 1000 if a.timeout_ms else prim.timeout_ms(a.task, a.interval_ms) / 1000
        # A failure of this action is the executor's to handle (it blocks only what depends on
        # it): the fail count its agent writes must not abort the rest of the transition.
        self._own_failure_keys |= {keys.attr(a.node or "", name(prim.base, a.task, a.interval_ms))
                                   for name in (keys.fail_count_attr, keys.last_failure_attr)}
        return ActionRecord(
            id=f"{self.prefix}{self.transition}-{seq}", task=a.task, rsc=prim.id, exec_rsc=prim.exec_id,
            base=prim.base, node=a.node or "", spec=spec_of(prim, a.task, a.interval_ms), interval_ms=a.interval_ms,
            timeout_s=timeout_s, role=a.meta.get("role") or prim.next_role, epoch=self.epoch,
            transition=self.transition, migrate_source=src, migrate_target=tgt, meta=dict(a.meta))

    # --- bookkeeping ---------------------------------------------------------------
    def _settle_inherited(self) -> None:
        """Wait for actions a previous controller left running on live nodes, then clear
        them, so we never plan around an operation whose outcome is not yet recorded."""
        deadline = time.monotonic() + 30.0
        while self.leading() and time.monotonic() < deadline:
            snap = read_snapshot(self.store, parse_config=False)
            pending = [k for k, a in snap.actions.items()
                       if not a.id.startswith(self.prefix) and a.state != DONE and a.node in snap.members]
            if not pending:
                break
            self.wake.wait(0.05)
            self.wake.clear()
        snap = read_snapshot(self.store, parse_config=False)
        stale = [k for k, a in snap.actions.items() if not a.id.startswith(self.prefix)]
        if stale:
            self.driver.write([Delete(k) for k in stale])

    def _tidy_actions(self, snap: Snapshot) -> None:
        """Results nobody is waiting for any more, and actions for nodes that left."""
        gone = [k for k, a in snap.actions.items() if a.state == DONE or a.node not in snap.members]
        if gone:
            self.driver.write([Delete(k) for k in gone])

    def _error(self, exc: Exception) -> None:
        try:
            record = {"controller": self.node, "epoch": self.epoch, "transition": self.transition,
                      "state": "error", "note": f"{type(exc).__name__}: {exc}", "updated": time.time(),
                      "summary": [], "waiting": [], "blocked": []}
            self.driver.write([Put(keys.CONTROLLER_STATUS, dumps(record))])
        except StoreError:
            pass
        time.sleep(1.0)  # and try again, without spinning
        self.dirty.set()

    def _status(self, snap: Snapshot, state: str, tr: Transition | None = None, *, note: str = "",
                waiting: list[str] | None = None, blocked: list[str] | None = None) -> None:
        record = {"controller": self.node, "epoch": self.epoch, "transition": self.transition,
                  "state": state, "note": note, "updated": time.time(),
                  "summary": tr.summary_text() if tr is not None else [],
                  "waiting": waiting or [], "blocked": blocked or []}
        self.driver.write([Put(keys.CONTROLLER_STATUS, dumps(record))])



def _executable(a: GraphAction) -> bool:
    return a.kind in ("rsc", "notify") and a.runnable and not a.optional


def with_missing_monitors(graph: Graph, monitors: list[GraphAction]) -> Graph:
    """The graph plus recurring monitors it lacks (controller.recurring), which need nothing."""
    if not monitors:
        return graph
    next_id = max((a.id for a in graph.actions), default=0) + 1
    extra = []
    for i, m in enumerate(monitors):
        m.id = next_id + i
        extra.append(m)
    return Graph(actions=[*graph.actions, *extra], edges=list(graph.edges))
