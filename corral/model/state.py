"""The recorded cluster state: membership and each node's operation history.

Produced from a CIB `status` section (corral.model.cib_status) or from the
store by the live controller; read by the scheduler.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# Operation execution status, as the executor records it (Pacemaker's op-status).
EXEC_DONE, EXEC_PENDING, EXEC_CANCELLED, EXEC_TIMEOUT = 0, -1, 1, 2
EXEC_NOT_SUPPORTED, EXEC_ERROR, EXEC_ERROR_HARD, EXEC_ERROR_FATAL, EXEC_NOT_INSTALLED = 3, 4, 5, 6, 7
PENDING_RC = 193


@dataclass
class OpRecord:
    """One recorded operation of a resource on a node."""
    rsc: str
    op: str
    interval_ms: int
    rc: int
    op_status: int
    call_id: int
    target_rc: int | None = None
    transition: int | None = None   # the transition that ran it (its transition key)
    last_rc_change: int = 0
    exit_reason: str = ""
    id: str = ""
    migrate_source: str | None = None
    migrate_target: str | None = None
    op_digest: str | None = None
    # Pacemaker's digest of the parameters minus the secret ones (op-secure-params): a CIB
    # handed around with its secrets masked still matches the configuration by this one.
    op_secure_params: tuple[str, ...] = ()
    op_secure_digest: str | None = None
    exec_ms: int | None = None    # how long it ran (exec-time), as status tools show it
    queue_ms: int | None = None   # how long it waited (queue-time)


@dataclass
class ResourceHistory:
    rsc: str
    rsc_class: str = ""
    provider: str | None = None
    type: str = ""
    container: str | None = None
    ops: list[OpRecord] = field(default_factory=list)


@dataclass
class NodeStatus:
    name: str
    in_cluster: bool = False       # a member of the membership layer (etcd lease / corosync)
    agent_online: bool = False     # the node's agent (crmd) answers
    join: str = "down"             # member, down, pending, banned
    expected: str | None = None    # member or down: what the node should be
    attrs: dict[str, str] = field(default_factory=dict)   # transient attributes
    history: dict[str, ResourceHistory] = field(default_factory=dict)
    seen: bool = True              # a status entry exists for it at all
    remote: bool = False
    shutdown: bool = False
    fenced_at: int = 0             # a remote node: when it was last fenced (node_fenced), epoch s


@dataclass
class ClusterState:
    nodes: dict[str, NodeStatus] = field(default_factory=dict)
    have_quorum: bool = True
    quorum_lost: bool = False   # quorum was had and lost (the CIB's no-quorum-panic), not never had
    now: int | None = None  # epoch seconds the decisions are made at (failure-timeout)
    dc: str | None = None
    tickets: dict[str, TicketState] = field(default_factory=dict)


@dataclass
class TicketState:
    granted: bool = False
    standby: bool = False
    ever_granted: bool = False
