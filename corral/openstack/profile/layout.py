"""The openstack-controller layout: which resources and constraints, with which values.

The shape follows the classic Pacemaker OpenStack layouts (the OpenStack HA guide, Red Hat's
osp-ha-deploy "pacemaker" architecture): a VIP colocated with an HAProxy clone and started
after it; MariaDB Galera as a promotable clone; RabbitMQ and memcached as clones; every API
service an interleaved clone started after Galera is promoted, after RabbitMQ and memcached,
and (all but Keystone) after Keystone. Every value is read through `Settings`, so each can be
overridden; `yaml_out` writes the result, `haproxy_cfg` the load balancer's file.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from corral.openstack.profile import catalog
from corral.openstack.profile.inputs import ProfileInputError, ProfileInputs
from corral.openstack.profile.settings import Settings

ORDER_KINDS = ("Mandatory", "Optional", "none")


@dataclass
class Op:
    name: str
    interval: str = "0"
    timeout: str = ""
    role: str = ""
    on_fail: str = ""


@dataclass
class Resource:
    """One primitive, alone or as a clone's child."""
    id: str
    agent: str
    params: dict[str, str]
    ops: list[Op]
    comment: list[str]
    clone: str = ""                 # the clone's id, if cloned
    promotable: bool = False
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def top_id(self) -> str:
        return self.clone or self.id


@dataclass
class Constraint:
    kind: str                       # colocation | order
    fields: dict[str, str]


@dataclass
class Layout:
    cluster: dict[str, str]
    defaults: dict[str, str]
    nodes: list[tuple[str, dict[str, str]]]
    resources: list[Resource]
    constraints: list[tuple[str, list[Constraint]]]   # (comment, constraints) groups
    fencing: bool


def _params(s: Settings, rid: str, generated: dict[str, str], allowed: tuple[str, ...]) -> dict[str, str]:
    """Generated parameters, then every other parameter the agent has (empty = not written)."""
    out: dict[str, str] = {}
    for name in (*generated, *(a for a in allowed if a not in generated)):
        value = s.value(f"{rid}.params.{name}", generated.get(name, ""))
        if value != "":
            out[name] = value
    return out


def _ops(s: Settings, rid: str, ops: list[Op]) -> list[Op]:
    out = []
    for op in ops:
        key = f"{rid}.ops.{op.name}" + (f"-{op.role.lower()}" if op.role else "")
        out.append(Op(op.name, s.value(f"{key}.interval", op.interval), s.value(f"{key}.timeout", op.timeout),
                      op.role, s.value(f"{key}.on-fail", op.on_fail)))
    return out


def _meta(s: Settings, rid: str, generated: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in (*generated, *(m for m in catalog.META_KEYS if m not in generated)):
        value = s.value(f"{rid}.meta.{name}", generated.get(name, ""))
        if value != "":
            out[name] = value
    return out


def _clone(s: Settings, rid: str, *, agent: str, params: dict[str, str], allowed: tuple[str, ...],
           ops: list[Op], meta: dict[str, str], comment: list[str], promotable: bool = False) -> Resource:
    chosen = s.value(f"{rid}.agent", agent)
    values = _params(s, rid, params, allowed)
    if chosen != agent:
        # Another agent than the profile's: the profile cannot know its parameters, so any name is
        # accepted (an empty value still leaves a generated one out).
        values |= {k: v for k, v in s.free(f"{rid}.params.").items() if v != ""}
        values = {k: v for k, v in values.items() if s.values.get(f"{rid}.params.{k}", v) != ""}
    return Resource(rid, chosen, values, _ops(s, rid, ops), comment, clone=f"{rid}-clone",
                    promotable=promotable, meta=_meta(s, rid, meta))


def _process_ops(monitor: str, start: str, stop: str) -> list[Op]:
    return [Op("monitor", monitor, "20s"), Op("start", "0", start), Op("stop", "0", stop)]


def build(inputs: ProfileInputs, s: Settings) -> Layout:
    names = [c.name for c in inputs.controllers]
    nodes = [(c.name, {"addr": s.value(f"nodes.{c.name}.addr", c.address)}) for c in inputs.controllers]
    for name, attrs in nodes:
        if not attrs["addr"]:
            raise ProfileInputError(f"setting nodes.{name}.addr: empty; every controller needs an address")

    cluster: dict[str, str] = {}
    for key, default in (("cluster-name", "openstack"), ("stonith-enabled", "true"), ("stonith-action", ""),
                         ("no-quorum-policy", "stop"), ("start-failure-is-fatal", "false"),
                         ("heartbeat-timeout", ""), ("dc-deadtime", ""), ("cluster-recheck-interval", "")):
        value = s.value(f"cluster.{key}", default)
        if value:
            cluster[key] = value
    defaults: dict[str, str] = {}
    for key, default in (("resource-stickiness", "100"), ("migration-threshold", "3"), ("failure-timeout", "")):
        value = s.value(f"defaults.{key}", default)
        if value:
            defaults[key] = value

    resources: list[Resource] = []
    fence_agent = s.value("fencing.agent", "")
    if fence_agent:
        fence_params = {"pcmk_host_list": ",".join(names), **s.free("fencing.params.")}
        resources.append(Resource(
            "fence", fence_agent, {k: v for k, v in fence_params.items() if v != ""},
            _ops(s, "fencing", [Op("monitor", "60s", "20s")]),
            ["Fencing: the device that powers a lost controller off before its services start elsewhere."]))
    else:
        s.free("fencing.params.")

    resources.append(Resource(
        "vip", s.value("vip.agent", "ocf:heartbeat:IPaddr2"),
        _params(s, "vip", {"ip": inputs.vip_address, "cidr_netmask": str(inputs.vip_prefix)}, catalog.IPADDR2_PARAMS),
        _ops(s, "vip", [Op("monitor", "10s", "20s"), Op("start", "0", "20s"), Op("stop", "0", "20s")]),
        ["The virtual IP every client and service uses; it runs where a working HAProxy runs."]))

    cfg_path = s.value("haproxy.cfg.path", "/etc/haproxy/haproxy.cfg")
    monitor_port = s.port("haproxy.cfg.monitor-port", catalog.HAPROXY_MONITOR_PORT)
    resources.append(_clone(
        s, "haproxy", agent="corral:process",
        params={"command": f"/usr/sbin/haproxy -W -db -f {cfg_path}", "check_port": str(monitor_port),
                "check_host": "${node:addr}", "stop_grace": "2"},
        allowed=catalog.PROCESS_PARAMS, ops=_process_ops("5s", "20s", "10s"),
        meta={"interleave": "true"},
        comment=["HAProxy on every controller: the frontends bind the VIP's ports everywhere",
                 "(net.ipv4.ip_nonlocal_bind=1), so a VIP that moves finds HAProxy already listening.",
                 f"Its configuration is the generated haproxy.cfg, installed as {cfg_path} on each controller."]))

    promotable = s.flag("galera.promotable", True)
    galera_ops = [Op("start", "0", "120s"), Op("stop", "0", "120s"),
                  Op("monitor", "20s", "30s", role="Unpromoted" if promotable else "")]
    if promotable:
        galera_ops += [Op("monitor", "10s", "30s", role="Promoted"), Op("promote", "0", "300s", on_fail="block"),
                       Op("demote", "0", "120s")]
    resources.append(_clone(
        s, "galera", agent="ocf:heartbeat:galera",
        params={"enable_creation": "true", "wsrep_cluster_address": "gcomm://" + ",".join(names)},
        allowed=catalog.GALERA_PARAMS, ops=galera_ops,
        meta={"promoted-max": str(len(names)), "interleave": "true"} if promotable else {"interleave": "true"},
        promotable=promotable,
        comment=["MariaDB Galera, multi-primary: promoted on every controller once it has joined the",
                 "Primary component (HAProxy still sends writes to one node at a time).",
                 "A failed promote (bootstrap) blocks for an operator rather than guessing."]))

    check_port = s.port("galera-check.port", catalog.GALERA_CHECK_PORT)
    resources.append(_clone(
        s, "galera-check", agent="corral:process",
        params={"command": f"{s.value('galera-check.program', 'corral-galera-health')} --address ${{node:addr}} "
                           f"--port {check_port}",
                "check_port": str(check_port), "check_host": "${node:addr}", "stop_grace": "1"},
        allowed=catalog.PROCESS_PARAMS, ops=_process_ops("10s", "20s", "10s"),
        meta={"interleave": "true"},
        comment=["The Galera health responder HAProxy's database checks ask: HTTP 200 only while this",
                 "node's wsrep_local_state is 4 (Synced), 503 otherwise (corral.openstack.galera_health)."]))

    rabbitmq = s.flag("rabbitmq.enabled", True)
    if rabbitmq:
        resources.append(_clone(
            s, "rabbitmq", agent="ocf:corral:rabbitmq", params={}, allowed=catalog.rabbitmq_params(),
            ops=[Op("monitor", "10s", "20s"), Op("start", "0", "300s"), Op("stop", "0", "120s")],
            meta={"interleave": "true"},
            comment=["RabbitMQ under Corral's own agent: a node keeps its durable data and rejoins on it,",
                     "quorum queues are grown back, a full outage restarts from the nodes holding the data",
                     "(docs/openstack.md). Each controller needs its own host name and the shared Erlang cookie."]))
    memcached = s.flag("memcached.enabled", True)
    if memcached:
        mc_port = s.port("memcached.port", catalog.MEMCACHED_PORT)
        resources.append(_clone(
            s, "memcached", agent="corral:process",
            params={"command": f"/usr/bin/memcached -u memcache -l ${{node:addr}} -p {mc_port} -m 64 -c 4096",
                    "check_port": str(mc_port), "check_host": "${node:addr}", "stop_grace": "1"},
            allowed=catalog.PROCESS_PARAMS, ops=_process_ops("10s", "20s", "10s"),
            meta={"interleave": "true"},
            comment=["memcached on every controller; services list all of them (oslo.cache, keystonemiddleware)."]))

    for name in inputs.services:
        svc = catalog.SERVICES[name]
        port = s.port(f"{name}.port", svc.port)
        resources.append(_clone(
            s, name, agent="corral:process",
            params={"command": svc.command.replace(f"--port {svc.port}", f"--port {port}"),
                    "check_port": str(port), "check_host": "${node:addr}", "stop_grace": "10"},
            allowed=catalog.PROCESS_PARAMS, ops=_process_ops("10s", "120s", "30s"),
            meta={"interleave": "true"},
            comment=[f"{svc.what}: on every controller's own address, port {port}, behind the VIP."]))

    constraints: list[tuple[str, list[Constraint]]] = [
        ("The VIP goes where a working HAProxy is, after it has started.",
         [Constraint("colocation", {"rsc": "vip", "with": "haproxy-clone", "score": "INFINITY"}),
          Constraint("order", {"first": "haproxy-clone", "then": "vip", "kind": "Optional"})])]
    kinds = {
        "database": s.choice("order.database", "Mandatory", ORDER_KINDS),
        "broker": s.choice("order.broker", "Mandatory", ORDER_KINDS) if rabbitmq else "none",
        "cache": s.choice("order.cache", "Mandatory", ORDER_KINDS) if memcached else "none",
        "identity": s.choice("order.identity", "Mandatory", ORDER_KINDS),
    }
    for name in inputs.services:
        group: list[Constraint] = []
        then = f"{name}-clone"
        if kinds["database"] != "none":
            fields = {"first": "galera-clone", "then": then}
            if promotable:
                fields |= {"first-action": "promote", "then-action": "start"}
            group.append(Constraint("order", _kind(fields, kinds["database"])))
        if kinds["broker"] != "none":
            group.append(Constraint("order", _kind({"first": "rabbitmq-clone", "then": then}, kinds["broker"])))
        if kinds["cache"] != "none":
            group.append(Constraint("order", _kind({"first": "memcached-clone", "then": then}, kinds["cache"])))
        if name != "keystone" and "keystone" in inputs.services and kinds["identity"] != "none":
            group.append(Constraint("order", _kind({"first": "keystone-clone", "then": then}, kinds["identity"])))
        if group:
            what = {"galera-clone": "the database", "rabbitmq-clone": "the broker", "memcached-clone": "memcached",
                    "keystone-clone": "Keystone"}
            firsts = [what[c.fields["first"]] for c in group]
            after = ", ".join(firsts[:-1]) + " and " + firsts[-1] if len(firsts) > 1 else firsts[0]
            constraints.append((f"{name} starts after {after}, on each node (the clones interleave).", group))
    return Layout(cluster, defaults, nodes, resources, constraints, bool(fence_agent))


def _kind(fields: dict[str, str], kind: str) -> dict[str, str]:
    return fields | ({"kind": kind} if kind != "Mandatory" else {})
