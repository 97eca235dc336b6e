"""The OpenStack API services the openstack-controller profile knows: port, health check, command.

Ports are the services' standard (Keystone's public 5000, Glance 9292, ...). The check is the
request HAProxy's `option httpchk` sends to each controller's backend: one that needs no token
(a version document or a healthcheck endpoint), so a backend is up when the service answers
2xx/3xx (HAProxy's default when no `http-check expect` is given). Commands are Debian's binaries
run in the foreground under `corral:process`; each service must listen on its controller's own
address (HAProxy holds the VIP's port on every controller), which the service's own configuration
file says (`bind_host`, `osapi_compute_listen`, ...), or the command line for the WSGI scripts.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApiService:
    name: str          # the resource id (its clone is NAME-clone) and the HAProxy section name
    port: int
    check: str         # HAProxy `option httpchk` request line
    command: str       # corral:process command; ${node:addr} is the controller's own address
    balance: str = "roundrobin"
    what: str = ""


def _conf(project: str, name: str | None = None) -> str:
    return f"--config-file /etc/{project}/{name or project}.conf"


SERVICES: dict[str, ApiService] = {s.name: s for s in (
    ApiService("keystone", 5000, "GET /v3",
               "/usr/bin/keystone-wsgi-public --host ${node:addr} --port 5000",
               what="Identity (public endpoint)"),
    ApiService("glance-api", 9292, "GET /healthcheck",
               f"/usr/bin/glance-api {_conf('glance', 'glance-api')}", what="Image"),
    ApiService("placement", 8778, "GET /",
               "/usr/bin/placement-api --host ${node:addr} --port 8778", what="Placement"),
    ApiService("nova-api", 8774, "GET /",
               f"/usr/bin/nova-api-os-compute {_conf('nova')}", what="Compute API"),
    ApiService("nova-metadata", 8775, "GET /",
               f"/usr/bin/nova-api-metadata {_conf('nova')}", what="Compute metadata API"),
    ApiService("novncproxy", 6080, "GET /vnc_lite.html",
               f"/usr/bin/nova-novncproxy {_conf('nova')}", balance="source",
               what="noVNC console proxy (websockets: balance source)"),
    ApiService("neutron-server", 9696, "GET /",
               f"/usr/bin/neutron-server {_conf('neutron')} --config-file /etc/neutron/plugins/ml2/ml2_conf.ini",
               what="Networking"),
    ApiService("cinder-api", 8776, "GET /",
               "/usr/bin/cinder-wsgi --host ${node:addr} --port 8776", what="Block storage"),
    ApiService("heat-api", 8004, "GET /",
               f"/usr/bin/heat-api {_conf('heat')}", what="Orchestration"),
)}

# The default service list: a compute cloud's controllers (heat-api is opt-in).
DEFAULT_SERVICES: tuple[str, ...] = ("keystone", "glance-api", "placement", "nova-api", "nova-metadata",
                                     "novncproxy", "neutron-server", "cinder-api")

# The control plane's own ports.
DATABASE_PORT = 3306
GALERA_CHECK_PORT = 9200      # the Galera health responder (corral.openstack.galera_health)
HAPROXY_MONITOR_PORT = 8404   # HAProxy's own liveness page, what its monitor asks
MEMCACHED_PORT = 11211
AMQP_PORT = 5672

# Agents' parameters the profile lets a settings file set besides the ones it generates
# (an unknown name is an error, so a typo never becomes a silently ignored parameter).
IPADDR2_PARAMS = ("ip", "cidr_netmask", "nic", "broadcast", "iflabel", "lvs_support", "mac",
                  "arp_interval", "arp_count", "arp_count_refresh", "arp_bg", "arp_sender",
                  "flush_routes", "preferred_lft", "noprefixroute")
GALERA_PARAMS = ("binary", "client_binary", "config", "datadir", "user", "group", "log", "pid", "socket",
                 "enable_creation", "additional_parameters", "wsrep_cluster_address", "cluster_host_map",
                 "check_user", "check_passwd", "check_passwd_use_empty", "two_node_mode")
PROCESS_PARAMS = ("command", "cwd", "env", "pidfile", "logfile", "check_port", "check_host", "stop_grace")
META_KEYS = ("interleave", "ordered", "notify", "clone-max", "clone-node-max", "clone-min",
             "promoted-max", "promoted-node-max", "target-role", "is-managed", "migration-threshold",
             "resource-stickiness", "failure-timeout", "priority")


def rabbitmq_params() -> tuple[str, ...]:
    from corral.resource_agents.rabbitmq.params import PARAMETERS

    return tuple(PARAMETERS)
