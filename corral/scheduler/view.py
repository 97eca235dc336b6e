"""The scheduler's public result about resources: plain, frozen data.

Everything outside corral/scheduler/ that needs to know about a resource (its agent,
parameters, operations and timeouts, where it runs, where it goes) reads a
`ResourceView`; the runtime tree the scheduler works on (resources.py) stays inside.
`views_of(tree)` is built at the end of `schedule`; `configured_views(config)` builds
the same from a configuration alone (no state: nothing active, nothing placed), for an
agent probing what is configured.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from corral.model.config import STOPPED, Configuration, Primitive
from corral.scheduler import ops as op_rules
from corral.scheduler.nodes import NodeRt
from corral.scheduler.resources import CloneR, GroupR, Prim, ResourceTree, Rsc

EMPTY: Mapping[str, str] = MappingProxyType({})


def _empty() -> Mapping[str, str]:
    return EMPTY


def _frozen(d: Mapping[str, object]) -> Mapping:   # read-only, so a view cannot be edited
    return MappingProxyType(dict(d))


@dataclass(frozen=True)
class NodeView:
    """One node as the scheduler saw it (before its transition ran)."""
    name: str
    online: bool
    unclean: bool
    unclean_reason: str
    standby: bool
    maintenance: bool
    shutdown: bool
    remote: bool                # not a cluster member: a remote or guest node
    kind: str                   # cluster, remote or guest
    unseen: bool                # a remote node with no status entry: state unknown
    can_host: bool              # whether new resources may be placed here
    attrs: Mapping[str, str] = field(default_factory=_empty)
    utilization: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


def node_views(nodes: Mapping[str, NodeRt]) -> dict[str, NodeView]:
    return {name: NodeView(name=n.name, online=n.online, unclean=n.unclean, unclean_reason=n.unclean_reason,
                           standby=n.standby, maintenance=n.maintenance, shutdown=n.shutdown, remote=n.remote,
                           kind=n.kind, unseen=n.unseen, can_host=n.can_host, attrs=_frozen(n.attrs),
                           utilization=_frozen(n.utilization))
            for name, n in nodes.items()}


@dataclass(frozen=True)
class OpView:
    """One configured operation."""
    name: str
    interval_ms: int
    timeout_ms: int            # the effective timeout (op entry, probe borrowing, op defaults, 20 s)
    role: str | None
    enabled: bool
    params: Mapping[str, str] = field(default_factory=_empty)   # the operation's own instance attributes
    configured_timeout_ms: int = 0   # its own timeout setting, 0 if none


@dataclass(frozen=True)
class ResourceView:
    """One runtime resource: a primitive (instance), a group (instance) or a clone."""
    id: str                     # instance id ("web:1")
    base: str                   # configured id ("web"); for a group or clone, its own id
    exec_id: str                # what a node's executor knows it by (anonymous clone instances: base)
    kind: str                   # primitive, group or clone
    parent: str | None          # the enclosing group or clone instance/clone, if any
    top: str                    # the outermost resource (itself at top level)
    group: str | None = None    # the group a primitive is a member of
    clone: str | None = None    # the clone it is (in)
    clone_child: str | None = None   # that clone's configured child id
    promotable: bool = False
    unique: bool = False        # globally-unique clone
    members: tuple[str, ...] = ()    # a group's or clone's primitive instance ids, in order
    # the agent (primitives only)
    rsc_class: str = ""
    type: str = ""
    provider: str | None = None
    params: Mapping[str, str] = field(default_factory=_empty)
    meta: Mapping[str, str] = field(default_factory=_empty)  # merged: resource defaults, clone, group, own
    ops: tuple[OpView, ...] = ()
    default_timeout_ms: int = op_rules.DEFAULT_TIMEOUT_MS
    has_agent: bool = True      # False when the scheduler knows no agent for it
    # state, as the scheduler read it
    active: Mapping[str, str] = field(default_factory=_empty)    # node -> role
    pending: Mapping[str, str] = field(default_factory=_empty)   # node -> pending task
    failed: bool = False
    managed: bool = True
    blocked: bool = False
    orphan: bool = False
    # the decision
    assigned: str | None = None
    next_role: str = STOPPED
    scores: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    stop_on: tuple[str, ...] = ()    # nodes the transition stops it on
    start_on: str | None = None      # node the transition starts it on
    blocked_reason: str = ""         # why an action of it cannot run, if one cannot

    @property
    def agent(self) -> str:
        """class[:provider]:type, "?" without a configuration (as status shows it)."""
        if not self.has_agent:
            return "?"
        return ":".join(x for x in (self.rsc_class, self.provider, self.type) if x)

    @property
    def target_role(self) -> str | None:
        return self.meta.get("target-role")

    def params_for(self, task: str | None = None, interval_ms: int = 0) -> dict[str, str]:
        """The parameters one operation runs with: the primitive's, plus that operation's own
        (a deeper monitor's OCF_CHECK_LEVEL), which apply to it only."""
        out = dict(self.params)
        if task is not None:
            op = next((o for o in self.ops if o.name == task and o.interval_ms == interval_ms), None)
            if op is not None:
                out.update(op.params)
        return out

    def timeout_ms(self, task: str, interval_ms: int) -> int:
        """The configured timeout of one operation, configured or not (op_rules.timeout_ms)."""
        return op_rules.timeout_ms(_op_entries(self.ops), self.default_timeout_ms, task, interval_ms)

    def recurring_monitors(self, role: str) -> list[OpView]:
        """The enabled recurring monitors that apply in `role` (op_rules.recurring_applies)."""
        intervals = [o.interval_ms for o in self.ops if o.name == "monitor"]
        return [o for o in self.ops if op_rules.recurring_applies(o.name, o.interval_ms, o.enabled, o.role,
                                                                intervals, role)]


def _op_entries(op_views: tuple[OpView, ...]) -> list[tuple[str, int, int]]:
    return [(o.name, o.interval_ms, o.configured_timeout_ms) for o in op_views]


def _op_views(cfg: Primitive | None, default_ms: int) -> tuple[OpView, ...]:
    if cfg is None:
        return ()
    entries = [(o.name, o.interval_ms, o.timeout_ms or 0) for o in cfg.ops]
    return tuple(OpView(name=o.name, interval_ms=o.interval_ms,
                        timeout_ms=op_rules.timeout_ms(entries, default_ms, o.name, o.interval_ms),
                        role=o.role or None, enabled=o.enabled, params=_frozen(o.params),
                        configured_timeout_ms=o.timeout_ms or 0)
                 for o in cfg.ops)


def _exec_id(p: Prim) -> str:
    clone = p.clone
    return p.base if clone is not None and not clone.unique else p.id


def _prim_view(p: Prim, default_ms: int, plan: object | None) -> ResourceView:
    top = p.top
    clone = p.clone
    cfg = p.cfg
    return ResourceView(
        id=p.id, base=p.base, exec_id=_exec_id(p), kind="primitive",
        parent=p.parent.id if p.parent is not None else None, top=top.id,
        group=p.group.id if p.group is not None else None,
        clone=clone.id if clone is not None else None,
        clone_child=clone.child_base if clone is not None and clone.template is not None else None,
        promotable=bool(clone is not None and clone.promotable), unique=bool(clone is not None and clone.unique),
        members=(p.id,),
        rsc_class=cfg.rsc_class if cfg else "", type=cfg.type if cfg else "",
        provider=cfg.provider if cfg else None,
        params=_frozen(cfg.params) if cfg else EMPTY, meta=_frozen(p.meta),
        ops=_op_views(cfg, default_ms), default_timeout_ms=default_ms, has_agent=cfg is not None,
        active=_frozen(p.active), pending=_frozen(p.pending), failed=p.failed, managed=p.managed,
        blocked=p.blocked, orphan=p.orphan, assigned=p.assigned, next_role=p.next_role,
        scores=_frozen(p.scores),
        stop_on=tuple(getattr(plan, "stop_on", ()) or ()), start_on=getattr(plan, "start_on", None),
        blocked_reason=getattr(plan, "reason", "") or "")


def _composite_view(r: Rsc) -> ResourceView:
    clone = r if isinstance(r, CloneR) else next((a for a in _ancestors(r) if isinstance(a, CloneR)), None)
    prims = r.primitives()
    return ResourceView(
        id=r.id, base=r.id, exec_id=r.id, kind="clone" if isinstance(r, CloneR) else "group",
        parent=r.parent.id if r.parent is not None else None, top=r.top.id,
        clone=clone.id if clone is not None else None,
        clone_child=clone.child_base if clone is not None and clone.template is not None else None,
        promotable=bool(clone is not None and clone.promotable), unique=bool(clone is not None and clone.unique),
        members=tuple(p.id for p in prims), meta=_frozen(r.meta),
        active=_frozen({n: role for p in prims for n, role in p.active.items()}))


def _ancestors(r: Rsc) -> list[Rsc]:
    out = []
    a = r.parent
    while a is not None:
        out.append(a)
        a = a.parent
    return out


def views_of(tree: ResourceTree, orphans: list[Prim], plans: Mapping[Prim, object] | None = None
             ) -> dict[str, ResourceView]:
    """Every runtime resource by instance id: configured primitives in configuration order,
    then groups and clones, then orphans (active resources no longer configured)."""
    default_ms = op_rules.default_timeout_ms(tree.config)
    plans = plans or {}
    out: dict[str, ResourceView] = {}
    for p in tree.primitives():
        out[p.id] = _prim_view(p, default_ms, plans.get(p))
    for r in tree.by_id.values():
        if isinstance(r, (GroupR, CloneR)):
            out[r.id] = _composite_view(r)
    for r in list(tree.by_id.values()) + list(orphans):
        if isinstance(r, Prim) and r.orphan and r.id not in out:
            out[r.id] = _prim_view(r, default_ms, plans.get(r))
    return out


def configured_views(config: Configuration) -> dict[str, ResourceView]:
    """The views of a configuration alone: nothing active, nothing placed."""
    return views_of(ResourceTree(config), [])


def primitives(views: Mapping[str, ResourceView]) -> list[ResourceView]:
    """The primitive views, configured ones first (configuration order), then orphans."""
    return [v for v in views.values() if v.kind == "primitive"]


def resolve(views: Mapping[str, ResourceView], rid: str) -> ResourceView | None:
    """A resource by id; a clone's configured child (or a member of it) resolves to the clone."""
    v = views.get(rid)
    if v is not None:
        return v
    for v in views.values():
        if v.kind == "clone" and v.parent is None and (v.clone_child == rid or any(
                views[m].base == rid for m in v.members if m in views)):
            return v
    return None


def resource_defaults(config: Configuration) -> dict[str, str]:
    """The resource defaults every resource's meta attributes start from (with the legacy
    cluster options they stand for)."""
    return dict(ResourceTree(config).defaults)
