"""haproxy.cfg for the openstack-controller profile, generated from the service list.

One `listen` section per API service: bound to the VIP at the service's port, a backend on
every controller's own address, each checked with `option httpchk` and the service's check
request. The database: one writer (the others `backup`, so every write goes to one Galera
node at a time and certification conflicts between nodes cannot happen), each server checked
by the Galera health responder (`port`: 200 only when Synced) and its sessions cut when it is
marked down, so clients reconnect to the new writer instead of hanging on a node that left
the Primary component. The same file serves every controller.
"""
from __future__ import annotations

from corral.openstack.profile import catalog
from corral.openstack.profile.inputs import ProfileInputError, ProfileInputs
from corral.openstack.profile.layout import Layout
from corral.openstack.profile.settings import Settings


def render(inputs: ProfileInputs, layout: Layout, s: Settings, header: str) -> str:
    addresses = dict((name, attrs["addr"]) for name, attrs in layout.nodes)
    vip = inputs.vip_address
    bind_vip = f"[{vip}]" if inputs.vip.version == 6 else vip
    inter = s.value("haproxy.cfg.check-inter", "2s")
    rise = s.count("haproxy.cfg.check-rise", 2)
    fall = s.count("haproxy.cfg.check-fall", 3)
    check = f"check inter {inter} rise {rise} fall {fall}"
    monitor_port = s.port("haproxy.cfg.monitor-port", catalog.HAPROXY_MONITOR_PORT)

    out = [f"# {line}" if line else "#" for line in header.splitlines()]
    log = s.value("haproxy.cfg.log", "stdout format raw daemon")  # foreground: into Corral's process log
    out += ["global", f"    maxconn {s.count('haproxy.cfg.maxconn', 4096)}"]
    out += [f"    log {log}"] if log else []
    out += ["", "defaults", "    mode tcp"]
    out += ["    log global", "    option tcplog"] if log else []
    out += [
        f"    timeout connect {s.value('haproxy.cfg.timeout-connect', '5s')}",
        f"    timeout client {s.value('haproxy.cfg.timeout-client', '60s')}",
        f"    timeout server {s.value('haproxy.cfg.timeout-server', '60s')}",
        f"    timeout check {s.value('haproxy.cfg.timeout-check', '2s')}",
        "    retries 3",
        "    option redispatch",
        "",
        "# HAProxy's own liveness page on every controller: what Corral's monitor of HAProxy asks.",
        "frontend corral-monitor",
        "    mode http",
        f"    bind *:{monitor_port}",
        "    monitor-uri /healthz",
    ]
    for name in inputs.services:
        svc = catalog.SERVICES[name]
        port = s.port(f"{name}.port", svc.port)
        request = s.value(f"{name}.check", svc.check)
        expect = s.value(f"{name}.check-expect", "")
        out += ["", f"# {svc.what}", f"listen {name}", f"    bind {bind_vip}:{port}",
                f"    balance {s.value(f'{name}.balance', svc.balance)}", "    option tcpka",
                f"    option httpchk {request}"]
        if expect:
            out.append(f"    http-check expect {expect}")
        out += [f"    server {n} {_host(a)}:{port} {check}" for n, a in addresses.items()]

    db_port = s.port("database.port", catalog.DATABASE_PORT)
    writer = s.value("database.writer", layout.nodes[0][0])
    if writer not in addresses:
        raise ProfileInputError(f"setting database.writer={writer!r}: not a controller ({', '.join(addresses)})")
    check_port = s.port("galera-check.port", catalog.GALERA_CHECK_PORT)
    db_timeout = s.value("database.timeout", "90m")
    order = [writer, *(n for n in addresses if n != writer)]
    out += ["", "# The database: one writer at a time, the others backup; a server is up only while its",
            "# Galera node is Synced (the health responder), and loses its sessions when marked down.",
            "listen galera", f"    bind {bind_vip}:{db_port}", "    option tcpka", "    option httpchk GET /",
            f"    timeout client {db_timeout}", f"    timeout server {db_timeout}",
            "    stick-table type ip size 1000", "    stick on dst"]
    out += [f"    server {n} {_host(addresses[n])}:{db_port} {check} port {check_port} "
            f"on-marked-down shutdown-sessions{'' if n == writer else ' backup'}" for n in order]
    return "\n".join(out) + "\n"


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address
