"""A small YAML format for a cluster STATE (`corral simulate --config c.yaml --state s.yaml`).

It produces the same ClusterState a CIB status section does (corral.model.cib_status),
with operation records shaped like the ones Pacemaker writes, so a scheduler sees
no difference between the two sources:

- `running: [web, db:promoted]` -> `<rsc>_last_0` (start, or promote) plus one record
  per configured recurring monitor for that role (rc 0, or 8 when promoted);
- `failed: [{rsc, op, rc}]` -> the failed result as `<rsc>_last_failure_0` (a failed
  recurring monitor keeps its earlier good record, as `crm_simulate -i` does), and
  `fail-count-<rsc>#<op>_<interval>` / `last-failure-...` node attributes;
- `history:` entries are taken as given.
Call ids increase in file order unless given. The format is in docs/configuration.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ValidationError

from corral.model.config import (
    PROMOTED,
    STARTED,
    STOPPED,
    UNPROMOTED,
    Clone,
    Configuration,
    Group,
    Primitive,
    normalise_role,
)
from corral.model.state import (
    EXEC_CANCELLED,
    EXEC_DONE,
    EXEC_ERROR,
    EXEC_ERROR_FATAL,
    EXEC_ERROR_HARD,
    EXEC_NOT_INSTALLED,
    EXEC_NOT_SUPPORTED,
    EXEC_PENDING,
    EXEC_TIMEOUT,
    ClusterState,
    NodeStatus,
    OpRecord,
    ResourceHistory,
    TicketState,
)
from corral.model.validate import ConfigErrors, is_role
from corral.model.yaml_config import _read_text
from corral.model.yaml_reader import PathT, YamlDoc, read_yaml
from corral.model.yaml_schema import Attrs, Interval, Name, Text, _Yaml, pydantic_problems

# OCF exit codes by name (OCF resource agent API); kept here so the model does not
# depend on the resource_agents package.
RC_NAMES = {"success": 0, "ok": 0, "error": 1, "generic": 1, "err-generic": 1, "args": 2,
            "err-args": 2, "unimplemented": 3, "err-unimplemented": 3, "perm": 4, "err-perm": 4,
            "installed": 5, "err-installed": 5, "not-installed": 5, "configured": 6,
            "err-configured": 6, "not-running": 7, "running-promoted": 8, "running-master": 8,
            "failed-promoted": 9, "failed-master": 9, "degraded": 190, "degraded-promoted": 191}
EXEC_STATUS = {"done": EXEC_DONE, "pending": EXEC_PENDING, "cancelled": EXEC_CANCELLED,
               "timeout": EXEC_TIMEOUT, "not-supported": EXEC_NOT_SUPPORTED, "error": EXEC_ERROR,
               "error-hard": EXEC_ERROR_HARD, "error-fatal": EXEC_ERROR_FATAL,
               "not-installed": EXEC_NOT_INSTALLED}
OCF_NOT_RUNNING, OCF_RUNNING_PROMOTED = 7, 8


def _rc(v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str):
        key = v.strip().lower().removeprefix("ocf_").replace("_", "-")
        if key in RC_NAMES:
            return RC_NAMES[key]
    raise ValueError(f"{v!r} is not an exit code (a number, or a name like not-running, "
                     "OCF_ERR_GENERIC)")


def _exec_status(v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in EXEC_STATUS:
        return EXEC_STATUS[v.strip().lower()]
    raise ValueError(f"{v!r} is not an execution status ({', '.join(EXEC_STATUS)})")


def _epoch(v: Any) -> int | None:
    """Epoch seconds, or an ISO 8601 date-time (UTC unless it says otherwise)."""
    if v is None:
        return None
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str):
        try:
            when = datetime.fromisoformat(v.strip())
        except ValueError:
            pass
        else:
            return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())
    raise ValueError(f"{v!r} is not a time (epoch seconds or 2024-05-01T12:00:00Z)")


RC = Annotated[int, BeforeValidator(_rc)]
ExecStatus = Annotated[int, BeforeValidator(_exec_status)]
Epoch = Annotated[int | None, BeforeValidator(_epoch)]


class HistoryEntryYaml(_Yaml):
    rsc: Name
    op: Text
    interval: Interval = 0
    rc: RC = 0
    status: ExecStatus = EXEC_DONE
    call: int | None = None
    target_rc: RC | None = None
    rc_change: Epoch = None
    exit_reason: Text = ""
    id: Name | None = None


class FailedYaml(_Yaml):
    rsc: Name
    op: Text = "monitor"
    interval: Interval | None = None
    rc: RC = 1
    status: ExecStatus = EXEC_DONE
    call: int | None = None
    target_rc: RC | None = None
    exit_reason: Text = ""


class NodeStateYaml(_Yaml):
    name: Name
    state: Literal["online", "offline", "unclean", "standby", "pending"] = "online"
    attributes: Attrs = {}
    running: list[Name] = []
    failed: list[FailedYaml] = []
    fail_counts: dict[Name, int] = {}
    history: list[HistoryEntryYaml] = []


class TicketStateYaml(_Yaml):
    granted: bool = False
    standby: bool = False


def _ticket(v: Any) -> Any:
    """'granted', 'revoked', 'standby' (granted but in standby) or {granted, standby}."""
    shorthand = {"granted": {"granted": True}, "revoked": {"granted": False},
                 "standby": {"granted": True, "standby": True}}
    if isinstance(v, str):
        if v not in shorthand:
            raise ValueError(f"{v!r} is not a ticket state (granted, revoked, standby, or "
                             "{granted: ..., standby: ...})")
        return shorthand[v]
    return v


class StateYaml(_Yaml):
    version: Literal[1] = 1
    quorum: bool = True
    now: Epoch = None
    dc: Name | None = None
    tickets: dict[Name, Annotated[TicketStateYaml, BeforeValidator(_ticket)]] = {}
    nodes: list[NodeStateYaml] = []


# membership flags of each state, as a CIB node_state would carry them
_MEMBERSHIP = {  # in_cluster, agent_online, join, expected
    "online": (True, True, "member", "member"),
    "standby": (True, True, "member", "member"),
    "pending": (True, True, "pending", "member"),
    "offline": (False, False, "down", "down"),
    "unclean": (False, False, "down", "member"),  # lost while expected up: must be fenced
}


@dataclass
class _Target:
    """A primitive a `running:`/`failed:` entry refers to, and the clone around it."""
    prim: Primitive
    clone: Clone | None


class _StateBuilder:
    def __init__(self, doc: YamlDoc, model: StateYaml, config: Configuration) -> None:
        self.doc = doc
        self.m = model
        self.config = config
        self.errors: list[tuple[str, str]] = []
        self.call = 0
        self.now = model.now
        self.instances: dict[str, int] = {}  # globally-unique clone instance counters
        self.by_id: dict[str, tuple[Primitive | Group | Clone, Clone | None]] = {}
        for rsc in config.resources:
            self._index(rsc, None)

    def _index(self, rsc: Primitive | Group | Clone, clone: Clone | None) -> None:
        self.by_id[rsc.id] = (rsc, clone)
        if isinstance(rsc, Group):
            for m in rsc.members:
                self._index(m, clone)
        elif isinstance(rsc, Clone):
            self._index(rsc.child, rsc)

    def error(self, path: PathT, problem: str) -> None:
        self.errors.append((self.doc.where(path), problem))

    def next_call(self, given: int | None) -> int:
        if given is not None:
            self.call = max(self.call, given)
            return given
        self.call += 1
        return self.call

    def build(self) -> ClusterState:
        state = ClusterState(have_quorum=self.m.quorum, now=self.m.now, dc=self.m.dc)
        for name, t in self.m.tickets.items():  # listed = known to the cluster, like a CIB ticket_state
            state.tickets[name] = TicketState(granted=t.granted, standby=t.standby, ever_granted=True)
        for name, node in self.config.nodes.items():
            state.nodes[name] = NodeStatus(name=name, seen=False, remote=node.kind == "remote")
        seen: dict[str, int] = {}
        for i, n in enumerate(self.m.nodes):
            path: PathT = ("nodes", i)
            if n.name not in self.config.nodes:
                known = ", ".join(self.config.nodes) or "none"
                self.error((*path, "name"), f"unknown node {n.name!r} (the configuration has: {known})")
                continue
            if n.name in seen:
                self.error((*path, "name"), f"node {n.name!r} is listed twice (first as nodes[{seen[n.name]}])")
                continue
            seen[n.name] = i
            state.nodes[n.name] = self.node(n, path, state.nodes[n.name].remote)
        if self.m.dc is not None and self.m.dc not in self.config.nodes:
            self.error(("dc",), f"unknown node {self.m.dc!r}")
        return state

    def node(self, n: NodeStateYaml, path: PathT, remote: bool) -> NodeStatus:
        in_cluster, agent_online, join, expected = _MEMBERSHIP[n.state]
        ns = NodeStatus(name=n.name, in_cluster=in_cluster, agent_online=agent_online, join=join,
                        expected=expected, attrs=dict(n.attributes), seen=True, remote=remote)
        if n.state == "standby":
            ns.attrs["standby"] = "on"
        for j, h in enumerate(n.history):
            self.history_entry(ns, h, (*path, "history", j))
        promoted: set[str] = set()
        for j, item in enumerate(n.running):
            self.running(ns, item, (*path, "running", j), promoted)
        counted = {self.base(r) for r in n.fail_counts}
        for j, f in enumerate(n.failed):
            self.failed(ns, f, (*path, "failed", j), promoted, count=self.base(f.rsc) not in counted)
        for rsc, count in n.fail_counts.items():
            if self.lookup(self.base(rsc), (*path, "fail-counts", rsc)) is not None:
                ns.attrs[f"fail-count-{rsc}"] = str(count)
        return ns

    @staticmethod
    def base(rsc: str) -> str:
        """'web:1' -> 'web', 'web#monitor_10000' -> 'web'."""
        return rsc.partition("#")[0].partition(":")[0]

    def lookup(self, rid: str, path: PathT) -> tuple[Primitive | Group | Clone, Clone | None] | None:
        found = self.by_id.get(rid)
        if found is None:
            self.error(path, f"unknown resource {rid!r}")
        return found

    def hist(self, ns: NodeStatus, rsc: str, prim: Primitive) -> ResourceHistory:
        if rsc not in ns.history:
            ns.history[rsc] = ResourceHistory(rsc=rsc, rsc_class=prim.rsc_class, provider=prim.provider,
                                              type=prim.type)
        return ns.history[rsc]

    def record(self, ns: NodeStatus, rsc: str, prim: Primitive, rec: OpRecord) -> OpRecord:
        """Add rec, replacing an earlier record with the same id (as the CIB keeps one per id)."""
        h = self.hist(ns, rsc, prim)
        h.ops = [o for o in h.ops if o.id != rec.id] + [rec]
        return rec

    def op(self, rsc: str, name: str, interval_ms: int, rc: int, target: int, call: int | None = None, *,
           op_status: int = EXEC_DONE, last_rc_change: int | None = None, exit_reason: str = "") -> OpRecord:
        """A record named as Pacemaker names it: <rsc>_<op>_<interval> if recurring, else <rsc>_last_0."""
        ident = f"{rsc}_{name}_{interval_ms}" if interval_ms else f"{rsc}_last_0"
        return OpRecord(rsc=rsc, op=name, interval_ms=interval_ms, rc=rc, op_status=op_status,
                        call_id=self.next_call(call), target_rc=target,
                        last_rc_change=last_rc_change or self.now or 0, exit_reason=exit_reason, id=ident)

    # -- entry kinds ------------------------------------------------------------------
    def history_entry(self, ns: NodeStatus, h: HistoryEntryYaml, path: PathT) -> None:
        found = self.lookup(self.base(h.rsc), (*path, "rsc"))
        if found is None:
            return
        prim = self.primitive_of(found, path)
        if prim is None:
            return
        target = h.target_rc if h.target_rc is not None else self.expected_rc(h.op, h.interval, None)
        rec = self.op(h.rsc, h.op, h.interval, h.rc, target, h.call, op_status=h.status,
                      last_rc_change=h.rc_change, exit_reason=h.exit_reason)
        if h.id:
            rec.id = h.id
        elif h.interval == 0:
            rec.id = f"{h.rsc}_{h.op}_0_{rec.call_id}"  # keep every given entry
        self.hist(ns, h.rsc, prim).ops.append(rec)

    def primitive_of(self, found: tuple[Primitive | Group | Clone, Clone | None], path: PathT) -> Primitive | None:
        rsc = found[0]
        if isinstance(rsc, Primitive):
            return rsc
        self.error(path, f"{rsc.id!r} is a {type(rsc).__name__.lower()}; history entries name a primitive")
        return None

    def targets(self, rid: str, path: PathT) -> list[tuple[str, _Target]]:
        """Instance names and primitives that a resource, group or clone id stands for."""
        base, _, instance = rid.partition(":")
        found = self.lookup(base, path)
        if found is None:
            return []
        rsc, clone = found
        if isinstance(rsc, Clone):
            clone, rsc = rsc, rsc.child
        prims = rsc.members if isinstance(rsc, Group) else [rsc] if isinstance(rsc, Primitive) else []
        out = []
        for p in prims:
            name = p.id
            if instance:
                name = f"{p.id}:{instance}"
            elif clone is not None and clone.meta.get("globally-unique", "false").lower() == "true":
                n = self.instances.get(p.id, 0)
                self.instances[p.id] = n + 1
                name = f"{p.id}:{n}"
            out.append((name, _Target(p, clone)))
        return out

    @staticmethod
    def expected_rc(op: str, interval_ms: int, role: str | None) -> int:
        if op == "monitor" and interval_ms == 0:
            return OCF_NOT_RUNNING  # a probe expects "not running"
        if op == "monitor" and role == PROMOTED:
            return OCF_RUNNING_PROMOTED
        return 0

    def monitors(self, prim: Primitive, role: str) -> list[int]:
        roles = {PROMOTED: (PROMOTED,), UNPROMOTED: (None, UNPROMOTED, STARTED)}.get(role, (None, STARTED))
        return [o.interval_ms for o in prim.ops
                if o.name == "monitor" and o.interval_ms > 0 and o.enabled and o.role in roles]

    def running(self, ns: NodeStatus, item: str, path: PathT, promoted: set[str]) -> None:
        rid, role = item, STARTED
        head, _, tail = item.rpartition(":")
        if head and is_role(tail):
            rid, role = head, _role_name(tail)
        if role == STOPPED:
            self.error(path, "a running resource cannot be stopped; leave it out instead")
            return
        for name, t in self.targets(rid, path):
            if role in (PROMOTED, UNPROMOTED) and (t.clone is None or not t.clone.promotable):
                self.error(path, f"{rid!r} is not promotable, so it cannot be {role.lower()}")
                return
            action = "promote" if role == PROMOTED else "start"
            self.record(ns, name, t.prim, self.op(name, action, 0, 0, 0))
            for ms in self.monitors(t.prim, role):
                rc = OCF_RUNNING_PROMOTED if role == PROMOTED else 0
                self.record(ns, name, t.prim, self.op(name, "monitor", ms, rc, rc))
            if role == PROMOTED:
                promoted.add(name)

    def failed(self, ns: NodeStatus, f: FailedYaml, path: PathT, promoted: set[str], count: bool) -> None:
        for name, t in self.targets(f.rsc, (*path, "rsc")):
            role = PROMOTED if name in promoted else None
            interval = f.interval
            if interval is None:
                configured = self.monitors(t.prim, role or STARTED) if f.op == "monitor" else [0]
                if not configured:
                    self.error((*path, "interval"), f"{t.prim.id!r} has no recurring monitor configured; "
                               "give the interval (0 for a probe)")
                    return
                interval = configured[0]
            target = f.target_rc if f.target_rc is not None else self.expected_rc(f.op, interval, role)
            h = self.hist(ns, name, t.prim)
            if f.op != "start" and not (f.op == "monitor" and interval == 0) and not h.ops:
                self.record(ns, name, t.prim, self.op(name, "start", 0, 0, 0))  # it must have been started
            if interval:
                # The recurring op keeps its earlier good result under its own id; the
                # failure is a newer call, as `crm_simulate -i` records it.
                if not any(o.id == f"{name}_{f.op}_{interval}" for o in h.ops):
                    self.record(ns, name, t.prim, self.op(name, f.op, interval, target, target))
                call = self.next_call(f.call)
            else:
                call = self.record(ns, name, t.prim, self.op(name, f.op, 0, f.rc, target, f.call,
                                                             op_status=f.status, exit_reason=f.exit_reason)).call_id
            failure = OpRecord(rsc=name, op=f.op, interval_ms=interval, rc=f.rc, op_status=f.status,
                               call_id=call, target_rc=target, last_rc_change=self.now or 0,
                               exit_reason=f.exit_reason, id=f"{name}_last_failure_0")
            self.record(ns, name, t.prim, failure)
            if count and f.rc != target:
                key = f"{name.partition(':')[0]}#{f.op}_{interval}"
                ns.attrs[f"fail-count-{key}"] = str(int(ns.attrs.get(f"fail-count-{key}", "0")) + 1)
                if self.now is not None:
                    ns.attrs[f"last-failure-{key}"] = str(self.now)


def _role_name(text: str) -> str:
    return normalise_role(text) or STARTED


def parse_yaml_state(text: str, config: Configuration, source: str = "<state>") -> ClusterState:
    """YAML state text -> ClusterState for `config`; every problem raises in one ConfigErrors."""
    doc = read_yaml(text, source)
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigErrors(source, [(doc.where(()), "the state must be a mapping (nodes:, quorum:, now:)")])
    try:
        model = StateYaml.model_validate(data)
    except ValidationError as exc:
        raise ConfigErrors(source, pydantic_problems(exc, doc, StateYaml)) from None
    builder = _StateBuilder(doc, model, config)
    state = builder.build()
    if builder.errors:
        raise ConfigErrors(source, builder.errors)
    return state


def load_yaml_state(path: str | Path, config: Configuration) -> ClusterState:
    return parse_yaml_state(_read_text(path), config, str(path))


load_state = load_yaml_state  # the name `corral simulate` imports
