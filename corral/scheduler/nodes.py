"""Node membership as the scheduler sees it: online, offline, unclean, standby."""
from __future__ import annotations

from dataclasses import dataclass, field

from corral.model.config import Configuration, is_true
from corral.model.state import ClusterState, NodeStatus


@dataclass(eq=False)
class NodeRt:
    name: str
    online: bool = False
    unclean: bool = False
    unclean_reason: str = ""
    standby: bool = False
    maintenance: bool = False
    shutdown: bool = False
    remote: bool = False      # not a cluster member: a remote or guest node
    kind: str = "cluster"     # cluster, remote or guest (corral.scheduler.remote)
    unseen: bool = False      # a remote node with no status entry: state unknown
    joining: bool = False     # up with its agent running but not joined yet (join=pending): no probes
    attrs: dict[str, str] = field(default_factory=dict)
    utilization: dict[str, int] = field(default_factory=dict)
    assigned_count: int = 0
    order: int = 0

    @property
    def can_host(self) -> bool:
        """Whether new resources may be placed here."""
        return self.online and not (self.unclean or self.standby or self.shutdown or self.maintenance)


def build_nodes(config: Configuration, state: ClusterState, fencing_enabled: bool) -> dict[str, NodeRt]:
    startup_fencing = config.option_bool("startup-fencing", True)
    nodes: dict[str, NodeRt] = {}
    names = list(config.nodes) + [n for n in state.nodes if n not in config.nodes]
    # Pacemaker keeps its node list sorted by name: that order breaks placement ties.
    names.sort(key=lambda n: (n.lower(), n))
    for order, name in enumerate(names):
        cfg_node = config.nodes.get(name)
        status = state.nodes.get(name) or NodeStatus(name=name, seen=False)
        rt = NodeRt(name=name, order=order, remote=status.remote or (cfg_node is not None and cfg_node.kind in ("remote", "guest")))
        attrs = dict(cfg_node.attrs) if cfg_node else {}
        attrs.update(status.attrs)
        attrs.setdefault("#uname", name)
        attrs.setdefault("#id", cfg_node.id if cfg_node else name)
        attrs.setdefault("#kind", "remote" if rt.remote else "cluster")
        attrs["#is_dc"] = "true" if state.dc == name else "false"
        rt.attrs = attrs
        if cfg_node:
            for k, v in cfg_node.utilization.items():
                try:
                    rt.utilization[k] = int(v)
                except ValueError:
                    pass
        rt.standby = is_true(attrs.get("standby"))
        rt.maintenance = is_true(attrs.get("maintenance"))
        shutdown = attrs.get("shutdown", "0")
        rt.shutdown = shutdown not in ("", "0", "false") or status.shutdown
        _membership(rt, status, fencing_enabled, startup_fencing)
        if cfg_node is None and rt.remote:
            rt.online = False  # guest/remote nodes defined by resources are not modelled: never host
        if is_true(attrs.get("terminate")) and fencing_enabled:
            rt.unclean, rt.unclean_reason, rt.online = True, "termination was requested", False
        nodes[name] = rt
    # Pacemaker keeps its node list sorted by name (byte order): that list, not the
    # configuration's, breaks ties between equally good nodes.
    for rank, name in enumerate(sorted(nodes, key=lambda n: n.encode())):
        nodes[name].order = rank
    return nodes


def _membership(rt: NodeRt, st: NodeStatus, fencing: bool, startup_fencing: bool) -> None:
    if not st.seen:
        # Never seen since the cluster started: its state is unknown.
        rt.online = False
        if fencing and startup_fencing and not rt.remote:
            rt.unclean, rt.unclean_reason = True, "node is unclean"
        return
    if rt.remote:
        rt.online = st.in_cluster or st.agent_online or st.join == "member"
        return
    member = st.in_cluster and st.agent_online and st.join == "member"
    rt.joining = st.in_cluster and st.agent_online and st.join == "pending"
    if not fencing:
        rt.online = member
        return
    if member:
        rt.online = True
        return
    if st.expected == "down" or (st.join == "down" and st.expected != "member"):
        return  # cleanly offline
    if rt.shutdown and not st.in_cluster and not st.agent_online:
        return  # it asked to shut down, and is gone: it left cleanly
    if st.expected == "member" or st.join == "member":
        if not st.in_cluster:
            rt.unclean, rt.unclean_reason = True, "peer is no longer part of the cluster"
        elif not st.agent_online:
            rt.unclean, rt.unclean_reason = True, "peer process is no longer available"
    # otherwise: pending / joining, not online
