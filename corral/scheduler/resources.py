"""The scheduler's working copy of the resource tree.

Configuration resources are expanded into runtime objects: clone instances
become concrete primitives ("web:0", "web:1"), group members keep a link to
their group, and every primitive carries its merged meta attributes, its
current state on each node and, once placed, its next node and role.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from corral.model.config import (
    PROMOTED,
    STARTED,
    STOPPED,
    UNPROMOTED,
    Clone,
    Configuration,
    Group,
    Primitive,
    is_true,
)
from corral.model.scores import INFINITY, parse_score

ROLE_ORDER = {STOPPED: 0, STARTED: 1, UNPROMOTED: 2, PROMOTED: 3}


@dataclass(eq=False)
class Rsc:
    """Common part of every runtime resource."""
    id: str
    meta: dict[str, str]
    parent: Rsc | None = None

    def primitives(self) -> list[Prim]:
        raise NotImplementedError

    @property
    def top(self) -> Rsc:
        r: Rsc = self
        while r.parent is not None:
            r = r.parent
        return r

    def meta_bool(self, name: str, default: bool) -> bool:
        value = self.meta.get(name)
        return default if value is None else is_true(value)

    def meta_int(self, name: str, default: int) -> int:
        value = self.meta.get(name)
        if value is None or value == "":
            return default
        try:
            return parse_score(value)
        except ValueError:
            return default


@dataclass(eq=False)
class Prim(Rsc):
    cfg: Primitive | None = None
    base: str = ""                       # the configured id, without instance suffix
    # current state
    active: dict[str, str] = field(default_factory=dict)   # node -> role
    failed: bool = False
    on_fail: str = "ignore"
    failed_stop_nodes: set[str] = field(default_factory=set)
    demote_on_fail: bool = False     # a promoted-role failure with on-fail=demote: demote, no restart
    blocked: bool = False
    managed: bool = True
    orphan: bool = False
    pending: dict[str, str] = field(default_factory=dict)  # node -> pending task
    partial_migration: tuple[str, str] | None = None       # (source, target) of an unfinished migration
    migrated_from: str | None = None
    banned: set[str] = field(default_factory=set)
    redefined: set[str] = field(default_factory=set)       # nodes where it runs with other parameters
    agent_changed: set[str] = field(default_factory=set)   # nodes where it runs as another agent
    history_ids: dict[str, str] = field(default_factory=dict)  # node -> id its history there is recorded under
    uncertain: set[str] = field(default_factory=set)       # nodes where a failed migration left it unknown
    container_restarts: set[str] = field(default_factory=set)  # nodes where it failed with restart-container
    restart_on: set[str] = field(default_factory=set)      # nodes where it restarts for what runs inside
    migration_blocked: bool = False                        # an unfinished migration: move by stop and start
    # placement
    scores: dict[str, int] = field(default_factory=dict)
    promotion_scores: dict[str, int] = field(default_factory=dict)
    assigned: str | None = None
    allocated: bool = False
    next_role: str = STOPPED
    reasons: list[str] = field(default_factory=list)

    def primitives(self) -> list[Prim]:
        return [self]

    @property
    def current_node(self) -> str | None:
        return next(iter(self.active), None)

    @property
    def current_role(self) -> str:
        if not self.active:
            return STOPPED
        return max(self.active.values(), key=lambda r: ROLE_ORDER.get(r, 0))

    @property
    def is_promotable_instance(self) -> bool:
        clone = self.clone
        return clone is not None and clone.promotable

    @property
    def clone(self) -> CloneR | None:
        r = self.parent
        while r is not None:
            if isinstance(r, CloneR):
                return r
            r = r.parent
        return None

    @property
    def group(self) -> GroupR | None:
        return self.parent if isinstance(self.parent, GroupR) else None

    @property
    def stickiness(self) -> int:
        default = 1 if self.clone is not None else 0
        return self.meta_int("resource-stickiness", default)


@dataclass(eq=False)
class GroupR(Rsc):
    members: list[Prim] = field(default_factory=list)

    def primitives(self) -> list[Prim]:
        return list(self.members)


@dataclass(eq=False)
class CloneR(Rsc):
    promotable: bool = False
    instances: list[Prim | GroupR] = field(default_factory=list)
    template: Primitive | Group | None = None
    clone_max: int = 1
    clone_node_max: int = 1
    promoted_max: int = 1
    promoted_node_max: int = 1
    unique: bool = False
    interleave: bool = False

    def primitives(self) -> list[Prim]:
        return [p for inst in self.instances for p in inst.primitives()]

    @property
    def child_base(self) -> str:
        assert self.template is not None
        return self.template.id


def _merge(*dicts: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for d in dicts:
        out.update(d)
    return out


class ResourceTree:
    """All runtime resources of a configuration, with lookups by id."""

    def __init__(self, config: Configuration) -> None:
        self.config = config
        self.top: list[Rsc] = []
        self.by_id: dict[str, Rsc] = {}
        defaults = dict(config.rsc_defaults)
        if "resource-stickiness" not in defaults and "default-resource-stickiness" in config.options:
            defaults["resource-stickiness"] = config.options["default-resource-stickiness"]
        if "is-managed" not in defaults and "is-managed-default" in config.options:
            defaults["is-managed"] = config.options["is-managed-default"]
        self.defaults = defaults
        n_nodes = len(config.nodes)
        for rsc in config.resources:
            if isinstance(rsc, Primitive):
                runtime: Rsc = self._prim(rsc, _merge(defaults, rsc.meta), None, rsc.id)
            elif isinstance(rsc, Group):
                runtime = self._group(rsc, _merge(defaults, rsc.meta), None, "")
            else:
                runtime = self._clone(rsc, defaults, n_nodes)
            self.top.append(runtime)
            self.by_id[runtime.id] = runtime

    def _prim(self, cfg: Primitive, meta: dict[str, str], parent: Rsc | None, rid: str) -> Prim:
        p = Prim(id=rid, meta=meta, parent=parent, cfg=cfg, base=cfg.id)
        self.by_id[rid] = p
        return p

    def _group(self, cfg: Group, meta: dict[str, str], parent: Rsc | None, suffix: str) -> GroupR:
        g = GroupR(id=cfg.id + suffix, meta=meta, parent=parent)
        for m in cfg.members:
            g.members.append(self._prim(m, _merge(meta, m.meta), g, m.id + suffix))
        self.by_id[g.id] = g
        return g

    def _clone(self, cfg: Clone, defaults: dict[str, str], n_nodes: int) -> CloneR:
        meta = _merge(defaults, cfg.meta)
        c = CloneR(id=cfg.id, meta=meta, promotable=cfg.promotable, template=cfg.child)

        def num(*names: str, default: int) -> int:
            for name in names:
                if name in meta:
                    try:
                        return max(0, int(meta[name]))
                    except ValueError:
                        pass
            return default

        c.clone_max = num("clone-max", default=n_nodes)
        c.clone_node_max = num("clone-node-max", default=1)
        c.promoted_max = num("promoted-max", "master-max", default=1)
        c.promoted_node_max = num("promoted-node-max", "master-node-max", default=1)
        c.unique = is_true(meta.get("globally-unique"))
        c.interleave = is_true(meta.get("interleave"))
        self.by_id[c.id] = c
        child_meta = _merge(meta, cfg.child.meta)
        for i in range(c.clone_max):
            c.instances.append(self.new_instance(c, child_meta, i))
        return c

    def new_instance(self, c: CloneR, child_meta: dict[str, str] | None = None, i: int | None = None) -> Prim | GroupR:
        cfg = c.template
        assert cfg is not None
        if child_meta is None:
            child_meta = _merge(c.meta, cfg.meta)
        if i is None:
            i = len(c.instances)
        suffix = f":{i}"
        inst: Prim | GroupR
        if isinstance(cfg, Primitive):
            inst = self._prim(cfg, child_meta, c, cfg.id + suffix)
        else:
            inst = self._group(cfg, child_meta, c, suffix)
        return inst

    def primitives(self) -> list[Prim]:
        return [p for r in self.top for p in r.primitives()]

    def resolve(self, rid: str) -> Rsc | None:
        """A resource by configured id; clone children resolve to their clone."""
        r = self.by_id.get(rid)
        if r is not None:
            return r
        for top in self.top:
            if isinstance(top, CloneR) and top.template is not None:
                if top.template.id == rid:
                    return top
                if isinstance(top.template, Group) and any(m.id == rid for m in top.template.members):
                    return top
        return None


INF = INFINITY
