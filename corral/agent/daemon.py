"""`corral agent`: one node's daemon.

    join:   wipe this node's old history, attributes and inbox (Pacemaker erases a
            node's status when it rejoins), probe every configured resource, then
            publish the lease-bound member key
    serve:  execute the actions in /corral/actions/<node>/, run recurring monitors,
            carry out operator requests, probe resources new in the configuration
    lead:   campaign for controller; the winner runs the controller loop
    lose:   membership lost, or expelled (our member key deleted by a fence) -> stop
            everything before the lease can expire; a stop that overruns is escalated to
            the watchdog's hard action (watchdog.py); rejoin
    leave:  SIGTERM -> `shutdown` attribute: the controller moves what runs here away;
            then stop any leftovers, record expected=down, revoke the lease
"""
from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from corral.agent.attr_tools import (
    NODE_ENV,
    OFFLINE_ENV,
    SOCKET_ENV,
    STORE_ENV,
    Attributes,
    AttrServer,
    install_shims,
)
from corral.agent.book import HistoryBook
from corral.agent.executor import Executor, Outcome
from corral.agent.membership import Membership, NodeClaimed, wait_unclaimed
from corral.agent.monitors import RecurringMonitors
from corral.agent.watchdog import TAG_ENV, Watchdog, margin, node_tag, resolve
from corral.cluster import configstore, keys
from corral.cluster.follow import follow
from corral.cluster.records import DONE, PENDING, ActionRecord, AgentSpec, loads
from corral.cluster.resources import op_timeout_s, spec_of
from corral.cluster.timing import Timing, with_store_timeout
from corral.controller.liveness import Liveness, heartbeat_timeout
from corral.controller.takeover import Takeover
from corral.model.config import PROMOTED, STARTED, Configuration, Primitive, is_true
from corral.resource_agents.environment import DEFAULT_PATH, RSCTMP_ENV, rsctmp_dir
from corral.scheduler import ResourceView, configured_views, primitives, resource_defaults
from corral.store import (
    Compare,
    Delete,
    LeaderElection,
    Put,
    StoreError,
    check_lease_timing,
    open_store,
)

log = logging.getLogger("corral.agent")

ONE_SHOT = ("start", "stop", "promote", "demote", "migrate_to", "migrate_from")


class Agent:
    def __init__(self, node: str, store_url: str, timing: Timing | None = None, *,
                 rsctmp: str | None = None, parallel: int = 8, campaign: bool = True,
                 shutdown_timeout: float = 60.0, watchdog: str = "auto", watchdog_timeout: float | None = None,
                 self_fence_command: str | None = None) -> None:
        self.node = node
        self.timing = timing or Timing()
        self.timing.check()  # safety rule 2, before anything else
        self.watchdog_cfg = resolve(watchdog, self.timing, watchdog_timeout, self_fence_command)
        self.url = with_store_timeout(store_url, self.timing.store_timeout)
        self.tag = node_tag(node, store_url)
        self.rsctmp = rsctmp
        self.parallel = parallel
        self.campaign_enabled = campaign
        self.shutdown_timeout = shutdown_timeout
        self.stopped = threading.Event()   # shutdown requested (SIGTERM)
        self.halted = threading.Event()    # drained: the agent's threads stop
        self.config: Configuration | None = None
        self.config_revision = 0
        self._meta_cache: tuple[Configuration, dict] | None = None
        self.node_modes: dict[str, str] = {}  # this node's operator modes (/corral/operator): standby, maintenance
        self._probed: set[str] = set()
        self._dispatched: set[str] = set()
        self._state_lock = threading.RLock()
        self._probe_lock = threading.Lock()
        self._serving = False       # joined and not self-fencing: actions may run
        self._fencing = False
        self._stopping = False      # self-fencing stops under way: the watchdog is not fed
        self._join_gen = 0          # successful joins so far: tells our own rejoin from an expulsion
        self._member_listed = False
        self._threads: list[threading.Thread] = []
        self.controller_thread: threading.Thread | None = None
        self.attr_server: AttrServer | None = None

    # --- lifecycle -----------------------------------------------------------------
    def run(self) -> None:
        """Join and serve until stop() (SIGTERM); then leave cleanly."""
        if self.rsctmp:
            os.makedirs(self.rsctmp, exist_ok=True)
            os.environ[RSCTMP_ENV] = self.rsctmp
        os.environ[TAG_ENV] = self.tag  # inherited by every agent and service run here: what a watchdog kills
        self.store = open_store(self.url)
        # Before anything that touches this node's name (its attribute socket, watchdog tag, keys):
        # a second agent for a name that is in use must leave the real one alone.
        takeover = wait_unclaimed(self.store, self.node, self.timing, self.stopped)
        self._export_attr_tools()
        lease_store = open_store(self.url)       # renewals never queue behind other work
        self.elect_store = open_store(self.url)
        for s in (self.store, lease_store, self.elect_store):
            check_lease_timing(self.timing.renew, s.timeout, self.timing.ttl)
        self.pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="exec")
        self.book = HistoryBook()
        self.executor = Executor(self.store, self.node, self.book, self.node_attrs, self._start_failure_fatal,
                                 lambda: self._fencing)
        self.monitors = RecurringMonitors(self.executor, self.pool, self.in_maintenance)
        self.membership = Membership(lease_store, self.node, self.timing, self._on_lost)
        self.membership.takeover_revision = takeover
        self.watchdog = Watchdog(self.watchdog_cfg, self.node, self.tag, self._watchdog_limit)
        self.watchdog.start()  # before anything can start a resource
        self._read_config()
        try:
            self._join_until_done()
        except NodeClaimed:  # lost a race for the name: nothing was started, leave quietly
            self.watchdog.close()
            self.membership.close()
            self.pool.shutdown(wait=False, cancel_futures=True)
            if self.attr_server is not None:
                self.attr_server.close()
            raise
        threads = [threading.Thread(target=fn, name=name, daemon=True) for fn, name in (
            (self._follow_actions, "actions"), (self._follow_config, "config"),
            (self._follow_requests, "requests"), (self._campaign, "campaign"), (self._follow_member, "member"),
            (self._follow_operator, "operator"))]
        for t in threads:
            t.start()
        self._threads = threads
        self.stopped.wait()
        self._drain()
        self.halted.set()
        self._leave()
        if self.attr_server is not None:
            self.attr_server.close()
        for s in (self.store, lease_store, self.elect_store):
            s.close()
        # Only a clean exit disarms it: an agent that dies on an exception is a crash.
        self.watchdog.close()

    def stop(self) -> None:
        self.stopped.set()

    def _export_attr_tools(self) -> None:
        """Agents set node attributes (promotion scores, bootstrap facts) with Pacemaker's
        tools: point them at Corral's (HA_SBIN_DIR for ocf-shellfuncs, PATH for the rest),
        which ask this agent (AttrServer) rather than open the store on every call."""
        shims = str(install_shims(os.path.join(rsctmp_dir(), ".corral-sbin")))
        os.environ.update({NODE_ENV: self.node, STORE_ENV: self.url, "HA_SBIN_DIR": shims})
        sock = os.path.join(rsctmp_dir(), ".corral-attrd.sock")
        if len(sock.encode()) < 100:  # AF_UNIX path limit; beyond it the tools open the store
            self.attr_server = AttrServer(sock, Attributes(store=self.store, offline=lambda: self._fencing))
            os.environ[SOCKET_ENV] = sock
        else:
            log.warning("%s: %s is too long for a Unix socket: agents' attribute tools open the store "
                        "themselves (slower)", self.node, sock)
        path = os.environ.get("PATH", DEFAULT_PATH).split(os.pathsep)
        os.environ["PATH"] = os.pathsep.join([shims, *(d for d in path if d != shims)])

    def node_attrs(self) -> dict[str, str]:
        cfg = self.config
        attrs = dict(cfg.nodes[self.node].attrs) if cfg and self.node in cfg.nodes else {}
        attrs["#uname"] = self.node
        return attrs

    def in_maintenance(self, rid: str) -> bool:
        """Whether rid's recurring monitors are paused: cluster maintenance-mode, this node's
        maintenance attribute, or maintenance=true in the resource's (inherited) meta."""
        cfg = self.config
        if cfg is None:
            return False
        if cfg.option_bool("maintenance-mode", False) or is_true(self.node_attrs().get("maintenance")) \
                or is_true(self.node_modes.get("maintenance")):
            return True
        cached = self._meta_cache
        if cached is None or cached[0] is not cfg:  # one tree build per configuration, not per check
            cached = self._meta_cache = (cfg, _base_meta(cfg))
        meta = cached[1].get(rid.split(":")[0])
        return meta is not None and is_true(meta[0].get("maintenance", "false"))

    def _start_failure_fatal(self) -> bool:
        return self.config.option_bool("start-failure-is-fatal", True) if self.config else True

    # --- joining -------------------------------------------------------------------
    def _join_until_done(self) -> None:
        while not self.stopped.is_set():
            try:
                self._join()
                return
            except StoreError as exc:
                log.warning("%s: cannot join yet: %s", self.node, exc)
                self.stopped.wait(0.5)

    def _join(self) -> None:
        """Probe, then replace this node's old status with the probe results and publish the
        member key, all in one transaction: the controller never sees this node as a member
        whose history is missing or half re-probed (services may still run from before)."""
        with self._state_lock:
            self.book.reset()
            self._probed.clear()
            self._dispatched.clear()
        self.executor.deferring = True
        self.executor.deferred_fails.clear()
        try:
            self.membership.announce({"pid": os.getpid(), "since": time.time()})  # before the probes
            with self._probe_lock:
                self._probe_new()
            fresh: dict[str, str] = {}
            for rid in list(self.book.records):
                rec = self.book.snapshot(rid)
                if rec is not None:
                    fresh[keys.history_rsc(self.node, rid)] = rec.to_json()
            for base, op, interval in self.executor.deferred_fails:
                fresh[keys.attr(self.node, keys.fail_count_attr(base, op, interval))] = "1"
            old = [kv.key for prefix in (keys.history(self.node), keys.attrs(self.node), keys.actions(self.node))
                   for kv in self.store.get_prefix(prefix)[0]]
            ops: list[Put | Delete] = [Delete(k) for k in old if k not in fresh]
            ops += [Put(k, v) for k, v in fresh.items()]
            self.membership.join({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(),
                                  "url": self.url.split("?")[0], "renew": self.timing.renew,
                                  "store_timeout": self.timing.store_timeout,
                                  "candidate": self.campaign_enabled}, ops)
        finally:
            self.executor.deferring = False
        with self._state_lock:
            self._serving, self._fencing = True, False
            self._join_gen += 1

    def _read_config(self) -> None:
        try:
            stored = configstore.read(self.store)
        except (StoreError, ValueError) as exc:
            log.error("cannot read the configuration: %s", exc)
            return
        if stored is not None:
            self.config, self.config_revision = stored.config, stored.revision

    def _probe_new(self) -> None:
        """Probe (monitor, interval 0) every configured resource not probed since joining."""
        cfg = self.config
        if cfg is None:
            return
        todo = {}
        for prim in primitives(configured_views(self._with_known_nodes(cfg))):
            rid = prim.exec_id
            if rid not in self._probed and rid not in todo and prim.has_agent:
                todo[rid] = prim
        futures = []
        for rid, prim in todo.items():
            self._probed.add(rid)
            futures.append(self.pool.submit(self._probe, rid, prim))
        for f in futures:
            f.result()

    def _probe(self, rid: str, prim: ResourceView) -> None:
        base, spec, timeout = prim.base, spec_of(prim), prim.timeout_ms("monitor", 0) / 1000
        # A probe is no graph action, but agents validate on every call: galera refuses to run
        # unless it sees it is promotable (OCF_RESKEY_CRM_meta_promotable, as Pacemaker exports it).
        meta = {"promotable": "true"} if prim.promotable else None
        self.monitors.cancel(rid)
        out = self.executor.run(rid, spec, "monitor", interval_ms=0, timeout_s=timeout, target_rc=7, base=base,
                                meta=meta)
        # Found running: monitor it as configured (the scheduler only asks for monitors with a start).
        if out.op.rc in (0, 8) and not out.failed:
            promoted = out.op.rc == 8
            for op in prim.recurring_monitors(PROMOTED if promoted else STARTED):
                self.monitors.start(rid, base, spec, op.interval_ms, op.timeout_ms / 1000, 8 if promoted else 0,
                                    meta=meta)

    # --- following the store -------------------------------------------------------
    def _follow_actions(self) -> None:
        follow(self.store, keys.actions(self.node), self._on_action, self.halted)

    def _on_action(self, key: str, value: str | None, mod_revision: int, _initial: bool) -> None:
        if value is None:
            return
        try:
            rec = ActionRecord.from_json(value)
        except (ValueError, KeyError, TypeError):
            log.error("unreadable action %s", key)
            return
        log.debug("action %s (%s, revision %d): %s", rec.id, rec.describe(), mod_revision, rec.state)
        with self._state_lock:
            if rec.state != PENDING or rec.id in self._dispatched or not self._serving:
                return
            self._dispatched.add(rec.id)
        self.pool.submit(self._execute_action, key, rec, mod_revision)

    def _execute_action(self, key: str, rec: ActionRecord, mod_revision: int) -> None:
        try:
            out = self._perform(rec)
        except Exception as exc:  # never leave the controller waiting on a bug
            log.exception("action %s", rec.describe())
            rec.state, rec.rc, rec.op_status, rec.exit_reason = DONE, 1, 4, f"agent error: {exc}"
        else:
            rec.state, rec.rc, rec.op_status = DONE, out.op.rc, out.op.op_status
            rec.exit_reason, rec.call_id, rec.duration_s = out.op.exit_reason, out.op.call_id, out.result.duration_s
        try:
            reported = self.store.txn([Compare(key, "mod_revision", "==", mod_revision)], [Put(key, rec.to_json())])
            log.debug("reported %s: %s", rec.id, "ok" if reported.succeeded else "the action is gone")
        except StoreError as exc:
            log.error("could not report %s: %s", rec.describe(), exc)

    def _perform(self, rec: ActionRecord) -> Outcome:
        rid = rec.exec_rsc
        if not self._serving:
            raise RuntimeError("this node is not serving (self-fencing or leaving)")
        # Only a monitor of the promoted role expects "running promoted" (8); promote, demote
        # and stop succeed with 0 whatever the role.
        target = 8 if rec.role == PROMOTED and rec.task == "monitor" else 0
        if rec.task == "monitor" and rec.interval_ms > 0:
            return self.monitors.start(rid, rec.base, rec.spec, rec.interval_ms, rec.timeout_s, target,
                                       meta=rec.meta)
        spec = rec.spec
        if rec.task in ONE_SHOT:
            self.monitors.cancel(rid)
        if rec.task == "stop":  # stop what was started, even if the configuration changed since
            recorded = self.book.snapshot(rid)
            known = self.executor.running.get(rid) or (recorded.spec if recorded else None)
            if known is not None and known.rsc_class:
                spec = known
        env = {}
        if rec.task in ("migrate_to", "migrate_from"):
            env = {"OCF_RESKEY_CRM_meta_migrate_source": rec.migrate_source or "",
                   "OCF_RESKEY_CRM_meta_migrate_target": rec.migrate_target or ""}
        probe = rec.task == "monitor" and rec.interval_ms == 0
        # A notification is not the resource's state: never in its history, never a fail count.
        notify = rec.task == "notify"
        out = self.executor.run(rid, spec, rec.task, interval_ms=rec.interval_ms, timeout_s=rec.timeout_s,
                                target_rc=7 if probe else target, base=rec.base, env_extra=env,
                                migrate=(rec.migrate_source, rec.migrate_target), meta=rec.meta,
                                record=not notify)
        if notify:
            log.log(logging.INFO if out.result.rc == 0 else logging.WARNING, "%s notify (%s-%s) on %s: rc=%d",
                    rid, rec.meta.get("notify_type", "?"), rec.meta.get("notify_operation", "?"), self.node,
                    out.result.rc)
        return out

    def _follow_config(self) -> None:
        follow(self.store, keys.CONFIG, self._on_config, self.halted)

    def _on_config(self, key: str, value: str | None, mod_revision: int, _initial: bool) -> None:
        if key != keys.CONFIG or value is None or mod_revision == self.config_revision:
            return
        try:
            self.config = configstore.decode(value)[0]
            self.config_revision = mod_revision
        except ValueError as exc:
            log.error("unreadable configuration in the store: %s", exc)
            return
        self.monitors.resume()  # maintenance may have ended
        if self._serving:  # its own thread: it waits on probes that run in the pool
            threading.Thread(target=self._probe_new_locked, name="probe", daemon=True).start()

    def _with_known_nodes(self, cfg: Configuration) -> Configuration:
        """cfg with every node that ever joined (and this one) in its node list, as the controller
        sees it: clone-max defaults to the number of nodes, so with nodes missing from the file a
        clone would have no instance here to probe."""
        from corral.model.config import Node as ConfigNode

        names = {kv.key[len(keys.NODES):] for kv in self.store.get_prefix(keys.NODES)[0]} | {self.node}
        missing = sorted(n for n in names if n not in cfg.nodes)
        if not missing:
            return cfg
        nodes = dict(cfg.nodes)
        nodes.update({n: ConfigNode(name=n, id=n) for n in missing})
        return replace(cfg, nodes=nodes)

    def _probe_new_locked(self) -> None:
        with self._probe_lock:
            try:
                self._probe_new()
            except Exception:
                log.exception("probing new resources")

    def _follow_operator(self) -> None:
        follow(self.store, keys.OPERATOR, self._on_operator, self.halted)

    def _on_operator(self, key: str, value: str | None, _rev: int, _initial: bool) -> None:
        """The operator's node modes: `corral node maintenance` pauses this node's monitors."""
        if key != keys.OPERATOR:
            return
        from corral.cluster import operator

        try:
            modes = operator.decode(value).node_modes.get(self.node, {})
        except ValueError as exc:
            log.error("unreadable operator state: %s", exc)
            return
        self.node_modes = dict(modes)
        self.monitors.resume()  # maintenance may have ended

    def _follow_requests(self) -> None:
        follow(self.store, keys.requests(self.node), self._on_request, self.halted)

    def _on_request(self, key: str, value: str | None, _rev: int, _initial: bool) -> None:
        if value is None or not self._serving:
            return
        req = loads(value, {}) or {}
        if req.get("type") == "cleanup":
            self.pool.submit(self._cleanup, key, req.get("rsc"))

    def _cleanup(self, key: str, rsc: str | None) -> None:
        """Forget failures of rsc (all resources if None) here, then re-probe it."""
        cfg = self.config
        for rid, rec in list(self.book.records.items()):
            base = rid.split(":")[0]
            if rsc not in (None, rid, base):
                continue
            with self.executor.lock_for(rid):
                self.book.clear_failures(rid)
                try:
                    self.store.delete(keys.attrs(self.node) + f"fail-count-{base}#", prefix=True)
                    self.store.delete(keys.attrs(self.node) + f"last-failure-{base}#", prefix=True)
                except StoreError as exc:
                    log.error("cleanup of %s: %s", rid, exc)
            prim = next((p for p in _primitives(cfg) if p.id == base), None) if cfg else None
            timeout = op_timeout_s(prim, cfg, "monitor", 0) if cfg else 20.0
            self.executor.run(rid, rec.spec, "monitor", timeout_s=timeout, target_rc=7, base=base)
        try:
            self.store.delete(key)
        except StoreError as exc:
            log.error("could not finish request %s: %s", key, exc)

    # --- controller candidacy ------------------------------------------------------
    def _campaign(self) -> None:
        from corral.controller.loop import Controller

        election = LeaderElection(self.elect_store, keys.ELECTION_NAME, self.node, self.timing.ttl,
                                  prefix=keys.ELECTION_PREFIX)
        self.election = election
        # Heartbeats, to take over from a controller whose node fell silent (controller.takeover).
        liveness = Liveness(self.node)
        takeover = Takeover(self.elect_store, self.node, liveness)
        heartbeats: threading.Event | None = None  # set to stop following them
        while not self.halted.wait(self.timing.renew):
            # Only a takeover reads heartbeats here, and only with heartbeat-timeout set: follow
            # them only then, or every beat of every node wakes this agent for nothing.
            needed = self.config is not None and heartbeat_timeout(self.config) > 0
            if needed and heartbeats is None:
                heartbeats = threading.Event()
                threading.Thread(target=follow, name="heartbeats", daemon=True,
                                 args=(self.store, keys.HEARTBEATS,
                                       lambda k, v, r, _i: liveness.beat(k[len(keys.HEARTBEATS):], v, revision=r),
                                       heartbeats)).start()  # set when halted too (below)
            elif not needed and heartbeats is not None:
                heartbeats.set()
                heartbeats = None
            try:
                if not (self.campaign_enabled and self._serving):
                    if election.lease is not None:
                        election.resign()
                    continue
                if election.lease is not None:
                    election.keepalive()
                if not election.is_leader:
                    takeover.attempt(self.config, liveness.known())
                if election.is_leader or election.campaign():
                    if self.controller_thread is None or not self.controller_thread.is_alive():
                        ctl = Controller(open_store(self.url), election, self.node, self.timing)
                        self.controller_thread = threading.Thread(target=ctl.run, name="controller", daemon=True)
                        self.controller_thread.start()
            except StoreError as exc:
                log.debug("campaign: %s", exc)
        if heartbeats is not None:
            heartbeats.set()
        try:
            if election.lease is not None:
                election.resign()
        except StoreError:
            pass

    # --- the watchdog ----------------------------------------------------------------------
    def _watchdog_limit(self) -> float | str:
        """The latest time the watchdog may fire if not fed again, or why it must not be fed:
        only while the lease is provably valid (last good renewal sent less than renew +
        2 x store timeout ago, Membership's own limit) and the agent's threads live."""
        if self._stopping:
            return "stopping everything after losing membership"
        if not self.halted.is_set():
            dead = [t.name for t in self._threads if not t.is_alive()]
            if dead:
                return f"agent thread(s) {', '.join(dead)} died"
        m = self.membership
        if self._serving or m.joined:
            if time.monotonic() >= m.valid_until - self.timing.stop_budget:
                return "the membership lease is not being renewed"
            return m.valid_until - margin(self.timing)  # fired by then, the kill still has its margin
        return math.inf  # no lease: nothing can expire elsewhere

    # --- expelled: our member key deleted by someone else ----------------------------------
    def _follow_member(self) -> None:
        follow(self.store, keys.member(self.node), self._on_member, self.halted, on_listed=self._member_listing)

    def _on_member(self, key: str, value: str | None, _rev: int, initial: bool) -> None:
        if key != keys.member(self.node):  # the prefix also matches longer node names
            return
        if initial:
            self._member_listed = True
        elif value is None:
            self._check_expelled("its member key was deleted")
        elif not self.membership.ours(value):
            self._check_taken_over()

    def _member_listing(self) -> None:
        """After each (re)listing: a delete missed while the watch was down shows as absence."""
        listed, self._member_listed = self._member_listed, False
        if not listed:
            self._check_expelled("its member key is gone")

    def _check_expelled(self, what: str) -> None:
        """A member key deleted while we hold the lease it was put with: a controller (or an
        operator) fenced this node and marked it down (cluster/fenced.py). Whatever the fence
        did, the cluster now recovers our resources elsewhere: self-fence at once. Our own
        leave and self-fencing clear _serving first; a late delete event of an older
        incarnation finds the key back (a fresh read after our join)."""
        gen = self._join_gen
        if not self._serving:
            return
        try:
            kv = self.store.get(keys.member(self.node))
            record = None if kv is not None else self.store.get(keys.node(self.node))
        except StoreError as exc:
            log.debug("checking our member key: %s", exc)
            return  # the store out of reach is the lease watchdog's business
        if kv is not None:
            return
        fenced = (loads(record.value if record else None, {}) or {}).get("fenced") or {}
        by = f" (fenced by {fenced.get('by')}, record {fenced.get('record')})" if fenced else ""
        self._self_fence(f"expelled: {what} while this node was a member{by}", expelled_gen=gen)

    def _check_taken_over(self) -> None:
        """Our member key rewritten by another agent: it took our name over, having found our
        heartbeat silent past our own self-fencing limit (membership.wait_unclaimed) -- we were
        frozen or cut off. Whatever we run, the cluster now counts on the other one: stop."""
        gen = self._join_gen
        if not self._serving:
            return
        try:
            kv = self.store.get(keys.member(self.node))
        except StoreError as exc:
            log.debug("checking our member key: %s", exc)
            return
        if kv is None or self.membership.ours(kv.value):
            return
        from corral.agent.membership import describe_claim

        self._self_fence(f"expelled: another agent took over this node's name ({describe_claim(kv.value)})",
                         expelled_gen=gen)

    # --- losing the store and leaving --------------------------------------------------
    def _on_lost(self, reason: str) -> None:
        policy = self._freeze_policy()
        if policy is None:
            self._self_fence(reason, demote=self._quorum_policy() == "demote")
            return
        # no-quorum-policy freeze/ignore, with fencing: as in Pacemaker, a node without quorum
        # keeps what it runs; the quorate side fences it before recovering any of it (and with
        # the fence failing, recovery stays blocked). Without fencing that would be a split
        # brain, so there it is always stop (safety rule 2).
        with self._state_lock:
            if self._fencing:
                return
            self._serving, self._fencing = False, True
        self.monitors.cancel_all()
        log.error("%s: %s; no-quorum-policy=%s with fencing: leaving %d resource(s) running, frozen, until "
                  "the store is back (the cluster fences this node before it recovers them)", self.node, reason,
                  policy, len(self.executor.running))
        threading.Thread(target=self._rejoin, name="rejoin", daemon=True).start()

    def _freeze_policy(self) -> str | None:
        """'freeze' or 'ignore' when the node keeps its resources on losing the store, else None."""
        cfg = self.config
        if cfg is None or not cfg.option_bool("stonith-enabled", True):
            return None
        policy = self._quorum_policy()
        return policy if policy in ("freeze", "ignore") else None

    def _quorum_policy(self) -> str:
        cfg = self.config
        return "stop" if cfg is None else str(cfg.option("no-quorum-policy", "stop")).strip().lower()

    def _self_fence(self, reason: str, expelled_gen: int | None = None, demote: bool = False) -> None:
        """Stop everything in parallel before the lease can expire (and before the watchdog,
        no longer fed, fires); what is not confirmed stopped by then is escalated.
        demote (no-quorum-policy=demote): promotable clone instances are demoted and left
        running unpromoted instead (one that fails to demote is stopped)."""
        with self._state_lock:
            if self._fencing:
                return
            if expelled_gen is not None and (not self._serving or expelled_gen != self._join_gen):
                return
            self._serving, self._fencing, self._stopping = False, True, True
        old_lease = None
        if expelled_gen is not None:
            old_lease = self.membership.lease
            self.membership.drop()
            log.error("%s: %s; stopping everything", self.node, reason)
        deadline = self.membership.valid_until
        until = min(deadline - 0.05, self.watchdog.expires_at - min(0.05, self.watchdog.timeout / 4))
        started = time.monotonic()
        self.monitors.cancel_all()
        # Unmanaged resources (maintenance) are the operator's: nobody recovers them elsewhere,
        # so they keep running, as when the node leaves.
        keep = _unmanaged_ids(self.config, self.executor.running)
        if keep:
            log.error("%s: %s; leaving %s running (unmanaged)", self.node, reason, ", ".join(keep))
        demoting: list[str] = []
        if demote:
            promotable = [rid for rid in _promotable_ids(self.config, self.executor.running) if rid not in keep]
            demoting = [rid for rid in promotable if self.book.promoted(rid)]
            log.error("%s: %s; no-quorum-policy=demote: demoting %s, keeping %d unpromoted instance(s)",
                      self.node, reason, ", ".join(demoting) or "nothing", len(promotable) - len(demoting))
            keep += [rid for rid in promotable if rid not in demoting]
        left = self._stop_all(lambda _rid: max(0.2, until - time.monotonic()), parallel=True, until=until,
                              keep=keep, demote=demoting)
        if left:
            what = "; ".join(f"{rid}: {why}" for rid, why in left.items())
            log.error("%s: self-fencing: %d resource(s) not confirmed stopped after %.2fs (%s); escalating to "
                      "the watchdog's hard action: %s", self.node, len(left), time.monotonic() - started, what,
                      self.watchdog.describe())
            self.watchdog.fire(f"stop of {', '.join(left)} overran the self-fencing budget ({reason})")
        with self._state_lock:
            self._stopping = False
        self.watchdog.pet()  # confirmed stopped (or escalated): nothing left to guard
        log.error("%s: self-fenced (%s); %.2fs of the lease were left", self.node, reason,
                  deadline - time.monotonic())
        threading.Thread(target=self._rejoin, args=(old_lease,), name="rejoin", daemon=True).start()

    def _rejoin(self, old_lease: int | None = None) -> None:
        if old_lease is not None:  # expelled: its other keys (heartbeat) go with it
            try:
                self.store.lease_revoke(old_lease)
            except StoreError as exc:
                log.debug("revoking lease %s: %s", old_lease, exc)
        while not self.stopped.is_set():
            self.stopped.wait(self.timing.renew)
            try:
                self._join()
                return
            except StoreError as exc:
                log.debug("rejoin: %s", exc)
            except NodeClaimed as exc:  # another agent took our name while we were out
                log.error("%s: cannot rejoin: %s", self.node, exc)
                self.stopped.wait(self.timing.ttl)

    def _stop_all(self, timeout_s: Callable[[str], float], parallel: bool,
                  until: float | None = None, keep: Iterable[str] = (),
                  demote: Iterable[str] = ()) -> dict[str, str]:
        """Stop everything that may run here but `keep`; in parallel, wait at most until `until`.
        Those in `demote` are demoted instead (stopped if that fails).
        Returns the resources not confirmed stopped (or demoted), with why."""
        kept, demoting = set(keep), set(demote)
        running = [(rid, spec) for rid, spec in self.executor.running.items() if rid not in kept]
        if not running:
            return {}
        results: dict[str, str] = {}
        demoted: set[str] = set()

        def stop(rid: str, spec: AgentSpec) -> None:
            base = rid.split(":")[0]
            fencing = self._fencing  # the store is out of reach: do not wait on it to record
            try:
                budget = timeout_s(rid)
                # Cut off from the store, an agent's attribute calls answer at once (Pacemaker's
                # are local too) instead of spending the stop's budget waiting on the store.
                env = {OFFLINE_ENV: "1"} if fencing else None
                # A promoted instance is demoted before it is stopped, as Pacemaker always does
                # (agents such as Stateful refuse to stop a promoted instance: rc 8).
                if rid in demoting or self.book.promoted(rid):
                    out = self.executor.run(rid, spec, "demote", timeout_s=budget, base=base, record=not fencing,
                                            lock_wait=budget / 3 if fencing else None, env_extra=env)
                    log.warning("%s: demote %s before stopping: rc=%d", "self-fencing" if fencing else "leaving",
                                rid, out.op.rc)
                    if rid in demoting and not out.failed:
                        demoted.add(rid)
                        return
                    budget = timeout_s(rid)
                out = self.executor.run(rid, spec, "stop", timeout_s=budget, base=base, record=not fencing,
                                        lock_wait=budget / 3 if fencing else None, env_extra=env)
                results[rid] = f"rc={out.op.rc}" + (f" {out.op.exit_reason}" if out.op.exit_reason else "")
                if fencing:
                    log.warning("self-fencing: stop %s: %s", rid, results[rid])
            except Exception as exc:
                results[rid] = f"error: {exc}"
                log.exception("stopping %s", rid)

        threads: dict[str, threading.Thread] = {}
        if parallel:
            threads = {rid: threading.Thread(target=stop, args=(rid, spec), daemon=True) for rid, spec in running}
            for t in threads.values():
                t.start()
            for t in threads.values():
                t.join(None if until is None else max(0.0, until - time.monotonic()))
        else:
            for rid, spec in reversed(running):
                stop(rid, spec)
        left = {}
        for rid, _spec in running:
            if rid in demoted:
                continue
            if rid in threads and threads[rid].is_alive():
                left[rid] = "its stop is still running"
            elif rid in self.executor.running:
                left[rid] = f"still active after its stop ({results.get(rid, 'no result')})"
        return left

    def _drain(self) -> None:
        """Orderly shutdown, as Pacemaker does it: set the node's `shutdown` attribute so the
        controller moves (or stops) what runs here in dependency order, and wait for it --
        until nothing runs here, the controller has nothing left to do, there is no
        controller, or `shutdown_timeout` passes. Whatever is left is stopped locally."""
        if not self._serving or not self.executor.running or self.shutdown_timeout <= 0:
            return
        started = time.time()
        try:
            self.store.put(keys.attr(self.node, "shutdown"), str(int(started)))
        except StoreError:
            return
        log.info("%s: shutting down: asking the controller to move %d resource(s) away", self.node,
                 len(self.executor.running))
        deadline = time.monotonic() + self.shutdown_timeout
        leaderless_since: float | None = None
        while self.executor.running and time.monotonic() < deadline and self._serving:
            time.sleep(0.1)
            try:
                snap_leader = self.store.get(keys.LEADER)
                kv = self.store.get(keys.CONTROLLER_STATUS)
                status = loads(kv.value if kv else None, {}) or {}
            except StoreError:
                return
            now = time.monotonic()
            if snap_leader is None:
                leaderless_since = leaderless_since or now
                if now - leaderless_since > self.timing.ttl + 1:
                    return  # nobody to move them: stop them here
                continue
            leaderless_since = None
            if status.get("state") in ("idle", "waiting") and status.get("updated", 0) > started + 0.2:
                return  # the controller re-planned since and leaves the rest here (e.g. unmanaged)

    def _leave(self) -> None:
        log.info("%s: leaving the cluster", self.node)
        with self._state_lock:
            self._serving = False
        self.monitors.close()
        cfg = self.config

        def timeout(rid: str) -> float:
            prim = next((p for p in _primitives(cfg) if p.id == rid.split(":")[0]), None) if cfg else None
            return op_timeout_s(prim, cfg, "stop", 0) if cfg else 20.0

        kept = _unmanaged_ids(cfg, self.executor.running)
        if kept:
            log.info("%s: leaving %s running (unmanaged%s)", self.node, ", ".join(kept),
                     ", maintenance mode" if cfg is not None and cfg.option_bool("maintenance-mode", False) else "")
        self._stop_all(timeout, parallel=False, keep=kept)
        self.membership.leave()
        self.membership.close()
        self.pool.shutdown(wait=False, cancel_futures=True)


def _unmanaged_ids(cfg: Configuration | None, running: Iterable[str]) -> list[str]:
    """Which of the running resources Corral must not stop (maintenance-mode, is-managed=false):
    Pacemaker leaves unmanaged resources running when its node leaves."""
    if cfg is None:
        return []
    if cfg.option_bool("maintenance-mode", False):
        return sorted(running)
    unmanaged = {base for base, (meta, _) in _base_meta(cfg).items()
                 if not is_true(meta.get("is-managed", "true")) or is_true(meta.get("maintenance", "false"))}
    return sorted(rid for rid in running if rid.split(":")[0] in unmanaged)


def _promotable_ids(cfg: Configuration | None, running: Iterable[str]) -> list[str]:
    """Which of the running resources are instances of a promotable clone."""
    promotable = {base for base, (_, is_promotable) in _base_meta(cfg).items() if is_promotable}
    return sorted(rid for rid in running if rid.split(":")[0] in promotable)


def _base_meta(cfg: Configuration | None) -> dict[str, tuple[dict[str, str], bool]]:
    """Per configured primitive: its meta attributes as inherited from resource defaults, its
    clone and group, and whether it is in a promotable clone. By configured id, so clone
    instances are covered however many nodes have joined (the scheduler sizes clones by nodes)."""
    from corral.model.config import Clone, Group

    out: dict[str, tuple[dict[str, str], bool]] = {}
    if cfg is None:
        return out
    defaults = resource_defaults(cfg)
    for r in cfg.resources:
        promotable = isinstance(r, Clone) and r.promotable
        outer = {**defaults, **r.meta}
        child = r.child if isinstance(r, Clone) else r
        inner = {**outer, **child.meta} if child is not r else outer
        for m in (child.members if isinstance(child, Group) else [child]):
            out[m.id] = ({**inner, **m.meta} if m is not child else inner, promotable)
    return out


def _primitives(cfg: Configuration | None) -> Iterator[Primitive]:
    from corral.model.config import Clone, Group

    if cfg is None:
        return
    for r in cfg.resources:
        child = r.child if isinstance(r, Clone) else r
        if isinstance(child, Group):
            yield from child.members
        elif isinstance(child, Primitive):
            yield child

