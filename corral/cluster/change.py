"""An operator's change to a live cluster: read, build, validate, compare-and-set.

Every operator verb goes through `apply`: it reads the configuration and the
operator state (cluster/operator.py) at one store revision, lets the verb build
the changed versions, and then checks the result the way `corral load` checks
a file -- the configuration round-trips through its stored form and is
validated, the merged view the scheduler will read is validated, and the
scheduler is run on it -- before writing anything. The write is one
transaction guarded by the revisions it read: a concurrent change makes it
start over from a fresh read (up to `attempts` times). A verb refuses by
raising ConfigError; then nothing is written.
"""
from __future__ import annotations

import copy
import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from corral.cluster import configstore, keys, operator
from corral.cluster.snapshot import Snapshot, read_snapshot
from corral.model.config import Clone, Configuration, Group, Primitive, Resource
from corral.model.errors import ConfigError
from corral.store import Compare, Delete, Put, Store

T = TypeVar("T")


class Rejected(ConfigError):
    """A verb's refusal: what, and why."""

    def __init__(self, problem: str) -> None:
        super().__init__("refused", problem)

    def __str__(self) -> str:
        return self.problem


@dataclass
class Current:
    """What a verb reads and changes. Set config_changed / operator_changed after editing
    `config` / `operator`; `ops` and `compares` add to the transaction."""
    snap: Snapshot
    config: Configuration
    operator: operator.OperatorState
    config_changed: bool = False
    operator_changed: bool = False
    ops: list[Put | Delete] = field(default_factory=list)
    compares: list[Compare] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)   # what the scheduler will do, once checked

    def known_nodes(self) -> set[str]:
        return set(self.config.nodes) | set(self.snap.nodes) | set(self.snap.members)

    def node(self, name: str) -> str:
        """name, if the cluster knows that node; else refuse, naming the known ones."""
        return require_node(name, self.known_nodes())

    def resource(self, name: str) -> Found:
        return resolve(self.config, name)

    def running_on(self, rid: str) -> list[str]:
        """Nodes where rid (a primitive, group or clone id) has an active instance now."""
        from corral.cluster.snapshot import scheduler_inputs
        from corral.scheduler import resolve, schedule

        snap = copy.copy(self.snap)
        snap.config = copy.deepcopy(self.snap.config)
        tr = schedule(*scheduler_inputs(snap))
        r = resolve(tr.resources, rid)
        if r is None:
            return []
        return sorted(r.active)


@dataclass
class Found:
    rsc: Resource
    clone: Clone | None = None   # the clone it is (or is inside)
    group: Group | None = None   # the group it is a member of

    @property
    def kind(self) -> str:
        return {Primitive: "primitive", Group: "group", Clone: "clone"}[type(self.rsc)]

    def descendants(self) -> list[Resource]:
        if isinstance(self.rsc, Clone):
            inner = self.rsc.child
            return [inner, *(inner.members if isinstance(inner, Group) else [])]
        if isinstance(self.rsc, Group):
            return list(self.rsc.members)
        return []

    def ancestors(self) -> list[Resource]:
        return [r for r in (self.group, self.clone) if r is not None and r is not self.rsc]


def _names(text: str) -> str:
    return repr(text) if text.strip() == text and text else f"{text!r} (empty or padded with blanks)"


def _hint(name: str, known: set[str]) -> str:
    folded = [k for k in known if k.lower() == name.strip().lower()]
    close = folded or difflib.get_close_matches(name, sorted(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def require_node(name: str, known: set[str]) -> str:
    if not name or not name.strip():
        raise Rejected("a node name is needed (got an empty one)")
    if name not in known:
        listed = ", ".join(sorted(known)) or "no nodes yet"
        raise Rejected(f"unknown node {_names(name)}{_hint(name, known)} (the cluster knows: {listed})")
    return name


def _walk(cfg: Configuration) -> list[Found]:
    out: list[Found] = []
    for r in cfg.resources:
        if isinstance(r, Clone):
            out.append(Found(r, clone=r))
            inner = r.child
            out.append(Found(inner, clone=r, group=inner if isinstance(inner, Group) else None))
            if isinstance(inner, Group):
                out += [Found(m, clone=r, group=inner) for m in inner.members]
        elif isinstance(r, Group):
            out.append(Found(r, group=r))
            out += [Found(m, group=r) for m in r.members]
        else:
            out.append(Found(r))
    return out


def resolve(cfg: Configuration, name: str) -> Found:
    """The configured resource called name; refuse empty names, clone instance ids
    ('dc:1') and unknown names, with a hint."""
    if not name or not name.strip():
        raise Rejected("a resource name is needed (got an empty one)")
    found = {f.rsc.id: f for f in _walk(cfg)}
    if name in found:
        return found[name]
    base, colon, instance = name.partition(":")
    if colon and base in found and found[base].clone is not None:
        clone = found[base].clone
        raise Rejected(f"{name!r} is an instance of clone {clone.id!r} (instance {instance!r}); "  # type: ignore[union-attr]
                       f"name the clone ({clone.id!r}): its instances are not changed one by one")  # type: ignore[union-attr]
    listed = ", ".join(sorted(f.rsc.id for f in _walk(cfg) if f.rsc in cfg.resources)) or "none"
    raise Rejected(f"unknown resource {_names(name)}{_hint(name, set(found))} (configured: {listed})")


def check(cur: Current) -> None:
    """Refuse (ConfigError) unless the changed configuration reads back as written, passes
    validation with the operator's state merged in, and the scheduler can plan on it."""
    from corral.cluster.snapshot import scheduler_inputs
    from corral.model.validate import validate
    from corral.scheduler import schedule

    cfg = cur.config
    if cur.config_changed:
        text = configstore.encode(cfg, cur.snap.config_source)
        cfg, _, _ = configstore.decode(text)  # what every reader will parse
        validate(copy.deepcopy(cfg), configstore.STORE_SOURCE, lenient=True)
        # Strictly, too: what an imported CIB had is tolerated (lenient), but a verb must not
        # add a problem Pacemaker would only log and ignore (a target-role of 'Bogus').
        added = _strict_problems(cfg) - _strict_problems(cur.snap.config)  # type: ignore[arg-type]
        if added:
            raise Rejected("; ".join(f"{w}: {p}" for w, p in sorted(added)))
    snap = copy.copy(cur.snap)
    snap.config = copy.deepcopy(cfg)
    snap.operator = cur.operator
    try:
        merged, state = scheduler_inputs(snap)
        validate(copy.deepcopy(merged), "the configuration with the operator's state", lenient=True)
        cur.summary = schedule(merged, state).summary_text()
    except ConfigError:
        raise
    except Exception as exc:  # the controller would fail the same way: never store it
        raise Rejected(f"the scheduler cannot plan with this change ({type(exc).__name__}: {exc})") from None


def _strict_problems(cfg: Configuration) -> set[tuple[str, str]]:
    from corral.model.validate import ConfigErrors, validate

    try:
        validate(copy.deepcopy(cfg), configstore.STORE_SOURCE, lenient=False)
    except ConfigErrors as exc:
        return set(exc.problems)
    return set()


def apply(store: Store, build: Callable[[Current], T], attempts: int = 10) -> tuple[T, Current]:
    """Run `build` on a fresh read until its change is written without a concurrent one
    in between; refuse (ConfigError) if it or the checks refuse."""
    for _ in range(attempts):
        snap = read_snapshot(store)
        if snap.config is None:
            raise Rejected(snap.config_error or "the cluster has no configuration yet (corral load FILE)")
        if snap.operator_error:
            raise Rejected(f"{snap.operator_error}; nothing was changed")
        cur = Current(snap, copy.deepcopy(snap.config), copy.deepcopy(snap.operator))
        result = build(cur)
        if not (cur.config_changed or cur.operator_changed or cur.ops):
            return result, cur
        check(cur)
        compares = [Compare(keys.CONFIG, "mod_revision", "==", snap.config_revision),
                    Compare(keys.OPERATOR, "mod_revision", "==", snap.operator_revision), *cur.compares]
        ops: list[Put | Delete] = []
        if cur.config_changed:
            ops.append(Put(keys.CONFIG, configstore.encode(cur.config, snap.config_source)))
        if cur.operator_changed:
            ops.append(Put(keys.OPERATOR, operator.encode(cur.operator)) if not cur.operator.empty()
                       else Delete(keys.OPERATOR))
        if store.txn(compares, ops + cur.ops).succeeded:
            return result, cur
    raise Rejected(f"the cluster changed under this command {attempts} times in a row; nothing was changed, "
                   "try again")
