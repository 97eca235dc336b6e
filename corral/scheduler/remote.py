"""Pacemaker Remote in the scheduler: remote nodes and guest nodes.

A *remote node* exists while its connection resource (an `ocf:pacemaker:remote`
primitive, whose id is the node's name) runs on a cluster node. A *guest node*
lives inside a resource (its *container*) that carries the `remote-node` meta
attribute; the cluster gives it an implicit connection resource of the guest's
name, colocated with the container and started after it. Both kinds run
resources but never run connection or fencing resources, and never host the
controller. A lost remote node is fenced by a fencing device run from a cluster
node; a guest is "fenced" by recovering its container.

Behaviour learnt from Pacemaker Explained / "Pacemaker Remote" and from the
real crm_simulate on the corpus and on hand-made CIBs.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace

from corral.model.config import (
    STOPPED,
    Clone,
    Colocation,
    Configuration,
    Group,
    Node,
    Operation,
    Order,
    Primitive,
    parse_interval_ms,
)
from corral.model.scores import INFINITY
from corral.model.state import ClusterState
from corral.scheduler.constraints import ConstraintIndex, Ord
from corral.scheduler.nodes import NodeRt
from corral.scheduler.placement import Placer
from corral.scheduler.resources import Prim, ResourceTree

CLUSTER, REMOTE, GUEST = "cluster", "remote", "guest"
GUEST_UNCLEAN = "guest is unclean"
CONNECTION_LOST = "remote connection is unrecoverable"
# The parameters of a guest's implicit connection, from the container's meta attributes.
_GUEST_PARAMS = {"remote-addr": "server", "remote-port": "port"}
_GUEST_META = ("remote-connect-timeout",)


@dataclass(frozen=True)
class RemoteSpec:
    """A node that is not a cluster member: how it is reached."""
    name: str
    kind: str                 # REMOTE or GUEST
    connection: str           # id of the connection resource
    container: str | None = None   # GUEST: id of the resource it lives in


def is_connection_agent(p: Primitive) -> bool:
    return (p.rsc_class, p.provider or "", p.type) == ("ocf", "pacemaker", "remote")


def _primitives(config: Configuration) -> list[Primitive]:
    out: list[Primitive] = []
    for r in config.resources:
        if isinstance(r, Primitive):
            out.append(r)
        elif isinstance(r, Group):
            out += r.members
        elif isinstance(r, Clone):
            out += [r.child] if isinstance(r.child, Primitive) else r.child.members
    return out


def remote_specs(config: Configuration) -> dict[str, RemoteSpec]:
    specs: dict[str, RemoteSpec] = {}
    for p in _primitives(config):
        if is_connection_agent(p):
            specs[p.id] = RemoteSpec(name=p.id, kind=REMOTE, connection=p.id)
        guest = p.meta.get("remote-node")
        if guest:
            specs[guest] = RemoteSpec(name=guest, kind=GUEST, connection=guest, container=p.id)
    return specs


def orphaned_connections(config: Configuration, state: ClusterState) -> dict[str, RemoteSpec]:
    """Connections that still run but are no longer configured: their node exists until
    they are stopped."""
    configured = {p.id for p in _primitives(config)}
    configured |= {p.meta["remote-node"] for p in _primitives(config) if p.meta.get("remote-node")}
    out: dict[str, RemoteSpec] = {}
    for status in state.nodes.values():
        if status.remote:
            continue
        for rid, hist in status.history.items():
            if (hist.rsc_class, hist.provider or "", hist.type) == ("ocf", "pacemaker", "remote") \
                    and rid not in configured:
                out[rid] = RemoteSpec(name=rid, kind=REMOTE, connection=rid)
    return out


def expand(config: Configuration, state: ClusterState) -> tuple[Configuration, dict[str, RemoteSpec]]:
    """A copy of `config` with a node for every remote and guest node, each guest's
    implicit connection resource, and the constraints that tie a resource to the
    container named by its `container` meta attribute."""
    specs = remote_specs(config)
    specs.update(orphaned_connections(config, state))
    has_container_meta = any(p.meta.get("container") for p in _primitives(config))
    if not specs and not has_container_meta:
        return config, specs
    cfg = copy.copy(config)
    cfg.nodes = dict(config.nodes)
    cfg.resources = list(config.resources)
    cfg.colocations = list(config.colocations)
    cfg.orders = list(config.orders)
    for spec in specs.values():
        node = cfg.nodes.get(spec.name)
        if node is None:
            cfg.nodes[spec.name] = Node(name=spec.name, id=spec.name, kind=spec.kind)
        else:
            cfg.nodes[spec.name] = replace(node, kind=spec.kind)
    # A connection migrates between cluster nodes unless told otherwise (crm_simulate moves
    # an idle connection with migrate_to/migrate_from).
    cfg.resources = [replace(r, meta={"allow-migrate": "true", **r.meta})
                     if isinstance(r, Primitive) and is_connection_agent(r) else r for r in cfg.resources]
    known = {p.id for p in _primitives(config)}
    by_id = {p.id: p for p in _primitives(config)}
    for spec in specs.values():
        if spec.kind != GUEST or spec.connection in known:
            continue
        container = by_id[spec.container or ""]
        params = {_GUEST_PARAMS[k]: v for k, v in container.meta.items() if k in _GUEST_PARAMS}
        # Without remote-addr the connection reaches the guest by its name and has no
        # parameters of its own: its recorded digests are those of an empty parameter set.
        meta = {k: v for k, v in container.meta.items() if k in _GUEST_META}
        meta["allow-migrate"] = container.meta.get("remote-allow-migrate", "true")
        cfg.resources.append(Primitive(
            id=spec.name, rsc_class="ocf", provider="pacemaker", type="remote", params=params,
            meta=meta, ops=[Operation(name="monitor", interval_ms=30_000, id=f"{spec.name}-monitor-30s")]))
        _tie(cfg, spec.name, container.id)
    for p in _primitives(config):
        if p.meta.get("container"):
            _tie(cfg, p.id, p.meta["container"])
    return cfg, specs


def guest_connections(specs: dict[str, RemoteSpec]) -> dict[str, str]:
    """Each guest node's connection id -> the id of its container."""
    return {s.connection: s.container for s in specs.values()
            if s.kind == GUEST and s.connection and s.container}


def _tie(cfg: Configuration, rsc: str, container: str) -> None:
    """rsc runs where its container runs, and starts after it."""
    cfg.colocations.append(Colocation(id=f"{rsc}-with-{container}", rsc=rsc, with_rsc=container,
                                      score=INFINITY))
    cfg.orders.append(Order(id=f"{container}-then-{rsc}", first=container, then=rsc))


def mark_kinds(nodes: dict[str, NodeRt], specs: dict[str, RemoteSpec]) -> None:
    for spec in specs.values():
        n = nodes.get(spec.name)
        if n is None:
            continue
        n.kind, n.remote = spec.kind, True
        n.attrs["#kind"] = "container" if spec.kind == GUEST else "remote"
        n.attrs["#is_dc"] = "false"


def connections(tree: ResourceTree, specs: dict[str, RemoteSpec]) -> list[Prim]:
    out = []
    for spec in specs.values():
        p = tree.by_id.get(spec.connection)
        if isinstance(p, Prim):
            out.append(p)
    return out


class RemoteMembership:
    """Which remote and guest nodes are up, lost or never seen, from the state of their
    connections and containers (after the history is unpacked)."""

    def __init__(self, specs: dict[str, RemoteSpec], nodes: dict[str, NodeRt], tree: ResourceTree,
                 state: ClusterState) -> None:
        self.specs = specs
        self.nodes = nodes
        self.tree = tree
        self.state = state
        self.failed_containers: list[Prim] = []

    def _prim(self, rid: str | None) -> Prim | None:
        p = self.tree.by_id.get(rid or "")
        return p if isinstance(p, Prim) else None

    def settle(self, prims: list[Prim], fencing: bool) -> None:
        """Set online/unclean for every remote and guest node; forget what a cleanly
        disconnected node reports running (its history is stale)."""
        for node in self.nodes.values():
            if node.remote and node.name not in self.specs:
                # No connection resource at all: unreachable, and nothing can be done there.
                node.online = node.unclean = False
                self._forget(node.name, prims)
        for spec in self.specs.values():
            node = self.nodes.get(spec.name)
            conn = self._prim(spec.connection)
            if node is None or conn is None:
                continue
            status = self.state.nodes.get(spec.name)
            node.online = node.unclean = False
            has_resources = any(spec.name in p.active for p in prims)
            host = conn.current_node
            host_rt = self.nodes.get(host or "")
            running = host_rt is not None and conn.current_role != STOPPED
            if spec.kind == GUEST:
                container = self._prim(spec.container)
                c_host = self.nodes.get(container.current_node or "") if container else None
                lost = (container is not None and (container.failed or not container.active)) or \
                    conn.failed or (c_host is not None and c_host.unclean)
                if running and lost and fencing:
                    node.unclean, node.unclean_reason = True, GUEST_UNCLEAN
                elif running and host_rt is not None and host_rt.online:
                    node.online = True
                elif not running and has_resources and fencing and container is not None \
                        and not container.active:
                    # Resources reported active inside a guest whose container runs nowhere:
                    # it is lost, fenced by starting its container anew.
                    node.unclean, node.unclean_reason = True, GUEST_UNCLEAN
                elif not running:
                    self._forget(spec.name, prims)
                continue
            if status is None or not status.seen:
                node.unseen = True   # never connected since the cluster started: not fenced, not used
                continue
            if running and conn.failed and self._failed_op(conn, host) == "start":
                continue   # never connected: what it reports running is merely thought to be
            if running and conn.failed:
                if fencing:
                    node.unclean, node.unclean_reason = True, CONNECTION_LOST
                continue
            if running and host_rt is not None and host_rt.unclean:
                if any(n.kind == CLUSTER and n.can_host and n is not host_rt for n in self.nodes.values()):
                    node.online = True   # the connection will be re-established elsewhere
                elif has_resources and fencing:
                    culprit = next(p for p in prims if spec.name in p.active)
                    node.unclean = True
                    node.unclean_reason = (f"{culprit.id} is active there (fencing will be revoked if "
                                           "remote connection can be re-established elsewhere)")
                continue
            if running:
                node.online = True
                continue
            if self.reconnect_wait(conn) and fencing and \
                    (status.fenced_at or 0) < self._last_failure(conn):
                node.unclean, node.unclean_reason = True, CONNECTION_LOST  # lost, and not fenced since
                continue
            if has_resources and fencing and not conn.failed:
                culprit = next(p for p in prims if spec.name in p.active)
                node.unclean = True
                node.unclean_reason = (f"{culprit.id} is active there (fencing will be revoked if "
                                       "remote connection can be re-established elsewhere)")

    def _failed_op(self, conn: Prim, host: str | None) -> str | None:
        status = self.state.nodes.get(host or "")
        hist = status.history.get(conn.id) if status else None
        if hist is None:
            return None
        last = None
        for op in sorted(hist.ops, key=lambda o: o.call_id):
            probe = op.op == "monitor" and op.interval_ms == 0
            if op.rc not in (0, 7) or (op.rc == 7 and not probe) or op.op_status not in (0,):
                last = op.op
        return last

    @staticmethod
    def _forget(node: str, prims: list[Prim]) -> None:
        for p in prims:
            p.active.pop(node, None)

    def after_fencing(self, fences: list[tuple[str, str, str]], action: str, prims: list[Prim]) -> None:
        """A guest whose host is fenced goes with it. What a fenced guest had running is
        gone (so it is recovered, in place if it may come back); its container recovers."""
        fenced = {n for n, _, _ in fences}
        for spec in self.specs.values():
            if spec.kind != GUEST:
                continue
            container = self._prim(spec.container)
            node = self.nodes.get(spec.name)
            if container is None or node is None or not container.active:
                continue
            if any(h in fenced and self.nodes[h].kind == CLUSTER for h in container.active if h in self.nodes):
                node.unclean, node.unclean_reason, node.online = True, GUEST_UNCLEAN, False
                if spec.name not in fenced:
                    fences.append((spec.name, action, GUEST_UNCLEAN))
                    fenced.add(spec.name)
        self.failed_containers = [c for spec in self.specs.values() if spec.name in fenced
                                  for c in [self._prim(spec.container)] if c is not None and c.failed]
        for spec in self.specs.values():
            node = self.nodes.get(spec.name)
            if spec.name not in fenced or spec.kind != GUEST or node is None:
                continue
            inside = [p for p in prims if spec.name in p.active]
            if node.unclean_reason == GUEST_UNCLEAN:
                # Lost before this transition (its container or host went): what ran
                # inside is gone, and is recovered. Otherwise (fenced for what happened
                # inside) it restarts behind its recovering container.
                for p in inside:
                    if p.managed:
                        p.failed = True
            container = self._prim(spec.container)
            if inside and container is not None and container.active:
                container.failed = True   # fencing a guest with resources is recovering its container
                self.failed_containers.append(container)

    def keep_container_failures(self) -> None:
        """A failed container whose guest is fenced is recovered, even where fencing its
        host settles the container's failed stop."""
        for c in self.failed_containers:
            c.failed = True

    def reconnect_wait(self, conn: Prim) -> bool:
        """Whether a failed connection must wait `reconnect_interval` before it is retried."""
        interval_text = conn.cfg.params.get("reconnect_interval") if conn.cfg else None
        if not interval_text or self.state.now is None:
            return False
        try:
            interval_s = parse_interval_ms(interval_text) // 1000
        except ValueError:
            return False
        last = self._last_failure(conn)
        return last > 0 and last + interval_s > self.state.now

    def _last_failure(self, conn: Prim) -> int:
        """When the connection last failed on any cluster node (epoch s; 0 if never)."""
        last = 0
        for status in self.state.nodes.values():
            hist = status.history.get(conn.id)
            if hist is None:
                continue
            for op in hist.ops:
                probe = op.op == "monitor" and op.interval_ms == 0
                if op.rc not in (0, 7) or (op.rc == 7 and not probe):
                    last = max(last, op.last_rc_change)
            for name, value in status.attrs.items():
                if name == f"last-failure-{conn.id}" or name.startswith(f"last-failure-{conn.id}#"):
                    last = max(last, int(value) if value.isdigit() else 0)
        return last

    def place_connections(self, placer: Placer) -> None:
        """Connections are placed before anything else: where resources may go depends on
        which remote and guest nodes will be up."""
        for conn in connections(self.tree, self.specs):
            if self.reconnect_wait(conn):
                for node in placer.base[conn]:
                    placer.base[conn][node] = -INFINITY
        for conn in connections(self.tree, self.specs):
            if conn in placer.base:   # an orphaned connection only stops
                placer.allocate(conn)
        self.hostable_after_connections()

    def hostable_after_connections(self) -> None:
        """After the connections are placed: a remote or guest node may receive resources
        when its connection will run and it is not being lost for good."""
        for spec in self.specs.values():
            node = self.nodes.get(spec.name)
            conn = self._prim(spec.connection)
            if node is None or conn is None:
                continue
            will_run = conn.assigned is not None and conn.next_role != STOPPED
            if spec.kind == GUEST:
                node.online = will_run
                node.unclean = node.unclean and not will_run
            else:
                node.online = will_run and not node.unclean


def restrict(placer_base: dict[Prim, dict[str, int]], specs: dict[str, RemoteSpec],
             nodes: dict[str, NodeRt]) -> None:
    """Connections, fencing devices and guests' containers never run on remote or guest nodes."""
    if not specs:
        return
    not_cluster = [n for n, rt in nodes.items() if rt.kind != CLUSTER]
    conn_ids = {s.connection for s in specs.values()}
    container_ids = {s.container for s in specs.values() if s.container}
    for p, scores in placer_base.items():
        cfg = p.cfg
        if cfg is None:
            continue
        if p.base in conn_ids or p.base in container_ids or cfg.rsc_class == "stonith":
            for n in not_cluster:
                scores[n] = -INFINITY


def guest_fence_lines(summary: list[tuple[str, str, str]], specs: dict[str, RemoteSpec],
                      tree: ResourceTree) -> list[tuple[str, str, str]]:
    """crm_simulate names the container that carries out a guest's fencing (whatever made
    the guest unclean, the reason shown is the same). Fencing a guest is stopping its
    container: "off" when the container stays stopped, "reboot" when it starts again."""
    out = []
    for verb, rsc, details in summary:
        spec = specs.get(rsc)
        if verb.startswith("Fence") and spec is not None and spec.kind == GUEST:
            container = tree.by_id.get(spec.container or "")
            if isinstance(container, Prim) and (container.next_role == STOPPED or container.assigned is None):
                verb = "Fence (off)"
            rsc, details = f"{rsc} (resource: {spec.container})", f"'{GUEST_UNCLEAN}'"
        out.append((verb, rsc, details))
    return out


def remote_order(index: ConstraintIndex, specs: dict[str, RemoteSpec], tree: ResourceTree,
                 prims: list[Prim]) -> None:
    """What stays on a guest node restarts when its container does: the guest goes away
    meanwhile. (A remote node's resources survive its connection moving: the node itself
    keeps running.)"""
    for spec in specs.values():
        first = tree.by_id.get(spec.container or "")
        if spec.kind != GUEST or first is None:
            continue
        for p in prims:
            if spec.name in p.active and p.assigned == spec.name and p is not first:
                o = Ord(id=f"{first.id}-then-{p.id}-on-{spec.name}", first=first, then=p,
                        first_action="start", then_action="start", kind="Mandatory", symmetrical=True)
                index._ord(o)
                # Its guest is what it depends on first (and what explains its restart).
                index.orders.remove(o)
                index.orders.insert(0, o)
