"""The store key layout of a live cluster (documented in docs/architecture.md).

    /corral/config                      the configuration (JSON envelope around canonical YAML)
    /corral/operator                    the operator's state apart from the configuration: node modes
                                        (standby, maintenance) and move/ban constraints (cluster/operator.py)
    /corral/members/<node>              lease-bound: present while the node's agent holds its lease
    /corral/heartbeat/<node>            lease-bound: rewritten after every lease renewal (liveness)
    /corral/joining/<node>              lease-bound: the node's agent is joining (probing); gone once it is a
                                        member (controller.joining: a joining node is never fenced)
    /corral/nodes/<node>                persistent: the node has joined once; {"expected": member|down}
    /corral/life                        when the cluster last started from no members ({"since", "by"}),
                                        written by the agent whose join found nobody (controller.joining)
    /corral/attrs/<node>/<name>         transient node attributes (fail-count-*, last-failure-*, shutdown,
                                        promotion scores master-<rsc> set by agents)
    /corral/node-attrs/<node>/<name>    permanent node attributes set by agents (crm_attribute -l forever)
    /corral/history/<node>/<rsc>        the node's operation history of one resource (written by its agent)
    /corral/actions/<node>/<id>         an action assigned by the controller (fenced by its epoch),
                                        then its result written back by the node's agent
    /corral/requests/<node>/<id>        operator requests the node's agent carries out (cleanup)
    /corral/election/controller/leader  lease-bound: the controller's node name
    /corral/election/controller/epoch   the leadership epoch every controller write is fenced with
    /corral/controller/status           what the controller last decided, and why it waits (fenced)
    /corral/fencing/history/<node>/<id> fence requests and their outcomes (corral.fencing.history)
    /corral/compute/members/<host>      lease-bound: a compute host's light member
                                        ({"host", "since", "ttl"}; `corral agent --role compute`)
    /corral/compute/recoveries/<host>/  the compute-HA recovery of a failed host, step by step
                                        (corral.openstack.records; written by the controller, fenced)
    /corral/compute/known/<host>        persistent: the host has had a compute member once (managed)
    /corral/compute/status              what compute HA last saw and held back, and why (fenced)
    /corral/network/l3/moves/<router>   a Neutron router being (or moved) off a dead L3 agent (fenced)
    /corral/network/l3/status           what the L3 mover last saw and held back, and why (fenced)
"""
from __future__ import annotations

ROOT = "/corral/"
CONFIG = "/corral/config"
OPERATOR = "/corral/operator"
MEMBERS = "/corral/members/"
HEARTBEATS = "/corral/heartbeat/"
JOINING = "/corral/joining/"
LIFE = "/corral/life"
NODES = "/corral/nodes/"
ATTRS = "/corral/attrs/"
NODE_ATTRS = "/corral/node-attrs/"   # permanent (lifetime forever) node attributes
HISTORY = "/corral/history/"
ACTIONS = "/corral/actions/"
REQUESTS = "/corral/requests/"
ELECTION_PREFIX = "/corral/election/"
ELECTION_NAME = "controller"
LEADER = f"{ELECTION_PREFIX}{ELECTION_NAME}/leader"
EPOCH = f"{ELECTION_PREFIX}{ELECTION_NAME}/epoch"
CONTROLLER_STATUS = "/corral/controller/status"
FENCING = "/corral/fencing/"
FENCE_HISTORY = "/corral/fencing/history/"
COMPUTE = "/corral/compute/"
COMPUTE_MEMBERS = "/corral/compute/members/"
COMPUTE_RECOVERIES = "/corral/compute/recoveries/"
COMPUTE_KNOWN = "/corral/compute/known/"
COMPUTE_STATUS = "/corral/compute/status"
NETWORK = "/corral/network/"
L3_MOVES = "/corral/network/l3/moves/"
L3_STATUS = "/corral/network/l3/status"


def member(node: str) -> str:
    return f"{MEMBERS}{node}"


def joining(node: str) -> str:
    return f"{JOINING}{node}"


def heartbeat(node: str) -> str:
    return f"{HEARTBEATS}{node}"


def node(node: str) -> str:
    return f"{NODES}{node}"


def attrs(node: str) -> str:
    return f"{ATTRS}{node}/"


def attr(node: str, name: str) -> str:
    return f"{ATTRS}{node}/{name}"


def node_attr(node: str, name: str) -> str:
    return f"{NODE_ATTRS}{node}/{name}"


def history(node: str) -> str:
    return f"{HISTORY}{node}/"


def history_rsc(node: str, rsc: str) -> str:
    return f"{HISTORY}{node}/{rsc}"


def actions(node: str) -> str:
    return f"{ACTIONS}{node}/"


def action(node: str, action_id: str) -> str:
    return f"{ACTIONS}{node}/{action_id}"


def requests(node: str) -> str:
    return f"{REQUESTS}{node}/"


def request(node: str, request_id: str) -> str:
    return f"{REQUESTS}{node}/{request_id}"


def split(key: str, prefix: str) -> tuple[str, str]:
    """'/corral/history/n1/web' under HISTORY -> ('n1', 'web'); the rest may hold '/'."""
    node_name, _, rest = key[len(prefix):].partition("/")
    return node_name, rest


def fail_count_attr(base: str, op: str, interval_ms: int) -> str:
    return f"fail-count-{base}#{op}_{interval_ms}"


def last_failure_attr(base: str, op: str, interval_ms: int) -> str:
    return f"last-failure-{base}#{op}_{interval_ms}"
