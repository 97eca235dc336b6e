"""Fold each node's operation history into what runs where, in which role,
and what failed (Pacemaker's status unpacking, from its documented behaviour)."""
from __future__ import annotations

from dataclasses import dataclass, field

from corral.model.config import PROMOTED, STARTED, STOPPED, UNPROMOTED, Primitive, parse_interval_ms
from corral.model.digest import operation_redefined
from corral.model.ocf_codes import OCF_ERR_UNIMPLEMENTED
from corral.model.scores import INFINITY
from corral.model.state import (
    EXEC_CANCELLED,
    EXEC_DONE,
    EXEC_ERROR,
    EXEC_NOT_INSTALLED,
    EXEC_PENDING,
    PENDING_RC,
    ClusterState,
    OpRecord,
    ResourceHistory,
)
from corral.scheduler.containers import RESTART_CONTAINER, container_of
from corral.scheduler.failcounts import effective_fail_counts, fail_count_attrs
from corral.scheduler.instances import InstanceNumbering, member
from corral.scheduler.migration_history import reconcile_migrations
from corral.scheduler.nodes import NodeRt
from corral.scheduler.resources import CloneR, Prim, ResourceTree

RC_OK, RC_NOT_RUNNING, RC_PROMOTED, RC_FAILED_PROMOTED, RC_NOT_INSTALLED = 0, 7, 8, 9, 5
RC_FATAL = 6
HARD_ERRORS = (2, 3, 4, 5)
STICKY_ON_FAIL = ("stop", "fence", "standby", "block", "migrate")


@dataclass
class Folded:
    """The result of reading one resource's history on one node."""
    role: str = STOPPED
    failed: bool = False
    on_fail: str = "ignore"
    failed_stop: bool = False
    demote_on_fail: bool = False
    ban: bool = False
    ban_everywhere: bool = False
    pending: str | None = None
    migrate_to: OpRecord | None = None
    migrate_from: OpRecord | None = None
    last_failure: OpRecord | None = None
    failures: list[OpRecord] = field(default_factory=list)
    digest_op: OpRecord | None = None   # the operation that made it active, with its digest


def _configured_on_fail(prim: Prim, op: OpRecord, fencing: bool) -> str:
    if prim.cfg is not None:
        for cop in prim.cfg.ops:
            if cop.name == op.op and cop.interval_ms == op.interval_ms and cop.on_fail:
                return cop.on_fail
    if container_of(prim):
        return RESTART_CONTAINER
    if op.op == "stop":
        return "fence" if fencing else "block"
    return "restart"


def _in_execution_order(ops: list[OpRecord]) -> list[OpRecord]:
    """Completed operations by call id; a pending one (call id -1) after them, except
    before those that a later transition ran (its result was superseded)."""
    done = sorted((o for o in ops if o.call_id >= 0), key=lambda o: o.call_id)
    for pending in sorted((o for o in ops if o.call_id < 0), key=lambda o: o.transition or 0):
        at = len(done)
        if pending.transition is not None:
            while at > 0 and (done[at - 1].transition or 0) > pending.transition \
                    and done[at - 1].call_id >= 0:
                at -= 1
        done.insert(at, pending)
    return done


def fold_history(prim: Prim, hist: ResourceHistory, fencing: bool, now: int | None,
                 failure_timeout_s: int) -> Folded:
    f = Folded()
    ops = _in_execution_order(hist.ops)
    promotable = prim.is_promotable_instance
    for op in ops:
        if op.op in ("notify", "meta-data", "reload", "reload-agent", "validate-all"):
            continue
        if op.op_status == EXEC_CANCELLED:
            continue
        if op.op_status == EXEC_PENDING or op.rc == PENDING_RC:
            f.pending = op.op
            if op.op in ("start", "migrate_from"):
                f.role = STARTED
            elif op.op == "promote":
                f.role = PROMOTED
            elif op.op == "demote":
                f.role = UNPROMOTED
            elif op.op == "monitor" and op.interval_ms == 0 and f.role == STOPPED:
                pass
            continue
        probe = op.op == "monitor" and op.interval_ms == 0
        expired = (failure_timeout_s > 0 and now is not None and op.last_rc_change
                   and op.last_rc_change + failure_timeout_s <= now)
        if probe and (op.op_status == EXEC_NOT_INSTALLED or op.rc == RC_NOT_INSTALLED):
            f.ban = True      # the agent cannot run here, and nothing runs
            f.role = STOPPED
            continue
        # Done and error both mean "the agent answered": judge by its return code.
        answered = op.op_status in (EXEC_DONE, EXEC_ERROR)
        rc = {190: RC_OK, 191: RC_PROMOTED}.get(op.rc, op.rc)  # "degraded" still runs
        expected = op.target_rc if op.target_rc is not None else (RC_NOT_RUNNING if probe else RC_OK)
        if answered and op.op == "monitor":
            if rc == RC_NOT_RUNNING and (probe or expected == RC_NOT_RUNNING):
                f.role = STOPPED
                f.digest_op = None
                continue
            if rc == RC_OK and (probe or expected == RC_OK):
                if f.role in (STOPPED, PROMOTED) or probe:
                    f.role = STARTED
                if probe and f.digest_op is None:  # found running: all we know of its parameters
                    f.digest_op = op
                continue
            if rc == RC_PROMOTED and (probe or expected == RC_PROMOTED):
                if probe and f.digest_op is None:
                    f.digest_op = op
                f.role = PROMOTED
                continue
        elif answered and (rc == expected or (op.op == "stop" and rc == RC_NOT_RUNNING)):
            clear = True
            if op.op in ("start", "migrate_from") or (op.op in ("promote", "demote") and op.op_digest):
                f.digest_op = op
            if op.op == "start":
                f.role = STARTED
            elif op.op == "stop":
                f.role = STOPPED
                f.migrate_to = None
                f.digest_op = None
            elif op.op == "promote":
                f.role = PROMOTED
            elif op.op == "demote":
                f.role = UNPROMOTED
            elif op.op == "migrate_from":
                f.role = STARTED
                f.migrate_from = op
            elif op.op == "migrate_to":
                f.migrate_to = op
                f.role = STARTED
                clear = False
            else:
                clear = False
            if clear:
                if f.on_fail not in STICKY_ON_FAIL:
                    f.on_fail = "ignore"
                    f.failed = False
                f.demote_on_fail = False
            continue
        # A failure.
        if expired and op.op == "monitor":
            continue
        f.failures.append(op)
        f.last_failure = op
        on_fail = _configured_on_fail(prim, op, fencing)
        if op.op_status == EXEC_NOT_INSTALLED and on_fail == "ignore":
            on_fail = "restart"   # the executor found no agent: that is never ignored
        ignored = on_fail == "ignore"   # "failure ignored": no recovery, no ban
        # "unimplemented" from a recurring operation only means that check is unsupported:
        # a soft failure (recover in place), not a verdict on the node
        hard = rc in HARD_ERRORS and not (rc == OCF_ERR_UNIMPLEMENTED and op.interval_ms > 0)
        if not ignored and ((answered and hard) or op.op_status == EXEC_NOT_INSTALLED):
            f.ban = True          # the agent said it can never work on this node
        if not ignored and answered and rc == RC_FATAL:
            f.ban_everywhere = True
        # A failed start bans nothing by itself: start-failure-is-fatal makes the node's
        # agent record an INFINITY fail count, and migration-threshold bans by that count
        # (a CIB whose failed start has no fail count keeps the node, as in crm_simulate).
        if op.op == "stop":
            f.failed_stop = True
        if op.op in ("promote",) or rc == RC_FAILED_PROMOTED:
            f.role = PROMOTED
        elif op.op == "demote":
            f.role = PROMOTED if on_fail == "block" else UNPROMOTED
        elif op.op == "migrate_to":
            f.migrate_to = None
        elif f.role == STOPPED:
            f.role = STARTED
        if on_fail == "demote" and _demotable_failure(op, f.role, prim):
            f.demote_on_fail = True
            continue
        if on_fail != "ignore":
            f.failed = True
        if _severity(on_fail) >= _severity(f.on_fail):
            f.on_fail = on_fail
    if promotable and f.role == STARTED:
        f.role = UNPROMOTED
    return f


def _demotable_failure(op: OpRecord, role: str, prim: Prim) -> bool:
    """on-fail=demote applies to promotes and to monitors of the promoted role; any
    other operation gets the default reaction instead (Pacemaker Explained)."""
    if not prim.is_promotable_instance:
        return False
    return op.op == "promote" or (op.op == "monitor" and op.interval_ms > 0 and role == PROMOTED)


def _severity(on_fail: str) -> int:
    return {"ignore": 0, "demote": 1, "restart": 2, "restart-container": 2, "migrate": 3,
            "block": 4, "stop": 5, "standby": 6, "fence": 7}.get(on_fail, 2)


def fail_counts(attrs: dict[str, str]) -> dict[str, int]:
    """Sum of fail counts per resource id from a node's transient attributes (raw: expired
    and ignored failures included; failcounts.effective_fail_counts is what placement uses)."""
    out: dict[str, int] = {}
    for _name, rid, _op, _interval, count in fail_count_attrs(attrs):
        out[rid] = min(INFINITY, out.get(rid, 0) + count)
    return out


def _history_base(rid: str) -> tuple[str, int | None]:
    base, sep, num = rid.rpartition(":")
    if sep and num.isdigit():
        return base, int(num)
    return rid, None


class HistoryUnpacker:
    """Attach histories to runtime primitives, creating orphans where needed."""

    def __init__(self, tree: ResourceTree, nodes: dict[str, NodeRt], state: ClusterState,
                 fencing: bool) -> None:
        self.tree = tree
        self.nodes = nodes
        self.state = state
        self.fencing = fencing
        self.orphans: list[Prim] = []
        self.numbering = InstanceNumbering(tree)
        self.fail_counts: dict[str, dict[str, int]] = {}  # node -> rsc base -> count
        self.prims_by_base: dict[str, Prim] = {}
        self.histories: dict[Prim, dict[str, ResourceHistory]] = {}  # of primitives outside clones
        # where each primitive id lives inside clones: base id -> (clone, member index or None)
        self.clone_bases: dict[str, CloneR] = {}
        for r in tree.top:
            if isinstance(r, CloneR) and r.template is not None:
                if isinstance(r.template, Primitive):
                    self.clone_bases[r.template.id] = r
                else:
                    for m in r.template.members:
                        self.clone_bases[m.id] = r

    def settle_migrations(self) -> None:
        """A migration that completed on its target leaves nothing on its source."""
        for prim in [p for p in self.tree.by_id.values() if isinstance(p, Prim)]:
            mig = prim.partial_migration
            if mig is None:
                continue
            source, target = mig
            if target in prim.active and source in prim.active and source != target:
                del prim.active[source]
                prim.partial_migration = None

    def run(self) -> None:
        self.prims_by_base = {}
        for p in self.tree.primitives():
            self.prims_by_base.setdefault(p.base, p)
        for node_name, status in self.state.nodes.items():
            self.fail_counts[node_name] = effective_fail_counts(status, self.prims_by_base, self.state.now)
            rt = self.nodes.get(node_name)
            if rt is not None and not rt.online and not rt.unclean and not rt.remote and not self.fencing:
                continue  # cleanly down: nothing can be running there
            for rid, hist in status.history.items():
                self._attach(node_name, rid, hist)
                self._forget_redefined_fail_count(node_name, rid, hist)
        for prim, hists in self.histories.items():
            if any(o.op in ("migrate_to", "migrate_from") for h in hists.values() for o in h.ops):
                reconcile_migrations(prim, hists, self.nodes)
        self.settle_migrations()

    def _forget_redefined_fail_count(self, node: str, rid: str, hist: ResourceHistory) -> None:
        """A failure recorded with parameters the configuration no longer has belongs to an
        older definition: its fail count is cleared and bans nothing (crm_simulate schedules
        clear_failcount, "resource parameters have changed")."""
        prim = self.prims_by_base.get(_history_base(rid)[0])
        if prim is None or prim.cfg is None:
            return
        failure = next((o for o in hist.ops if o.id.endswith("_last_failure_0")), None)
        if failure is not None and operation_redefined(
                failure.op_digest, prim.cfg, failure.op, failure.interval_ms, self.tree.config.op_defaults,
                failure.op_secure_params, failure.op_secure_digest):
            self.fail_counts.get(node, {}).pop(prim.base, None)

    def _attach(self, node: str, rid: str, hist: ResourceHistory) -> None:
        target = self.tree.by_id.get(rid)
        if isinstance(target, Prim) and target.clone is None and not target.orphan:
            self._apply(target, node, hist)
            return
        base, num = _history_base(rid)
        clone = self.clone_bases.get(base)
        if clone is None:
            plain = self.tree.by_id.get(base)
            if base != rid and isinstance(plain, Prim) and plain.clone is None:
                self._apply(plain, node, hist)
                return
            self._orphan(rid, node, hist)
            return
        # clone-max=0 leaves no configured instance: a transient one reads the history,
        # and every active copy becomes an orphan that stops
        template = clone.instances[0] if clone.instances else self.tree.new_instance(clone, i=0)
        probe = member(template, base)
        if probe is None:
            return
        folded = self._fold(probe, hist)
        if folded.role == STOPPED:
            if folded.ban:
                for p in clone.primitives():
                    if p.base == base:
                        p.banned.add(node)
            return
        inst = self.numbering.instance_for(clone, node, base, num)
        prim = member(inst, base)
        if prim is None:
            return
        self._record(prim, node, folded)
        if (folded.ban or folded.ban_everywhere) and not clone.unique:
            # in an anonymous clone a hard error bans the agent, not just this copy: no
            # other instance goes there (a globally-unique clone bans only the instance)
            banned = set(self.nodes) if folded.ban_everywhere else {node}
            for p in clone.primitives():
                if p.base == base:
                    p.banned.update(banned)
        _note_agent(prim, node, hist)
        prim.history_ids[node] = rid
        self.numbering.found_active(inst, node)

    def _orphan(self, rid: str, node: str, hist: ResourceHistory) -> None:
        prim = self.tree.by_id.get(rid)
        if not isinstance(prim, Prim) or not prim.orphan:
            cfg = Primitive(id=rid, rsc_class=hist.rsc_class or "ocf", type=hist.type or "unknown",
                            provider=hist.provider)
            prim = Prim(id=rid, meta=dict(self.tree.defaults), cfg=cfg, base=rid, orphan=True)
            self.tree.by_id[rid] = prim
            self.orphans.append(prim)
        self._apply(prim, node, hist)

    def _fold(self, prim: Prim, hist: ResourceHistory) -> Folded:
        timeout_s = 0
        ft = prim.meta.get("failure-timeout")
        if ft:
            try:
                timeout_s = parse_interval_ms(ft) // 1000
            except ValueError:
                timeout_s = 0
        return fold_history(prim, hist, self.fencing, self.state.now, timeout_s)

    def _apply(self, prim: Prim, node: str, hist: ResourceHistory) -> None:
        self.histories.setdefault(prim, {})[node] = hist
        self._record(prim, node, self._fold(prim, hist))
        _note_agent(prim, node, hist)

    def _record(self, prim: Prim, node: str, folded: Folded) -> None:
        if folded.ban:
            prim.banned.add(node)
        if folded.ban_everywhere:
            prim.banned.update(self.nodes)
        if folded.migrate_to is not None and folded.role != STOPPED:
            prim.partial_migration = (node, folded.migrate_to.migrate_target or "")
        if folded.pending:
            prim.pending[node] = folded.pending
        if folded.failed and folded.on_fail == RESTART_CONTAINER:
            prim.container_restarts.add(node)
            if folded.failed_stop:
                return   # the container's stop takes it down: stopped, nothing to recover
        if folded.role == STOPPED:
            return
        prim.active[node] = folded.role
        last = folded.digest_op
        if prim.cfg is not None and last is not None and operation_redefined(
                last.op_digest, prim.cfg, last.op, last.interval_ms, self.tree.config.op_defaults,
                last.op_secure_params, last.op_secure_digest):
            prim.redefined.add(node)
        if folded.failed:
            prim.failed = True
            prim.on_fail = folded.on_fail
            if folded.on_fail == "block":
                prim.blocked = True
            elif folded.on_fail == "standby" and node in self.nodes:
                self.nodes[node].standby = True
            elif folded.on_fail == "migrate":
                prim.banned.add(node)
        if folded.failed_stop:
            prim.failed_stop_nodes.add(node)
        if folded.demote_on_fail and folded.role == PROMOTED:
            prim.demote_on_fail = True

def _note_agent(prim: Prim, node: str, hist: ResourceHistory) -> None:
    """A resource whose history was written by another agent (class, provider or type)
    than the configured one restarts there."""
    cfg = prim.cfg
    if cfg is None or node not in prim.active or not hist.rsc_class or not hist.type:
        return
    if (hist.rsc_class, hist.provider or "", hist.type) != (cfg.rsc_class, cfg.provider or "", cfg.type):
        prim.agent_changed.add(node)


__all__ = ["HistoryUnpacker", "fold_history", "fail_counts", "Folded", "STARTED", "UNPROMOTED", "PROMOTED"]
