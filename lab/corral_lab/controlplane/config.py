"""Corral's configuration of the lab's control plane, in the layout of `corral init --profile
openstack-controller` (VIP, HAProxy clone with the VIP, Galera, memcached, Keystone after them).

Written by hand until the profile lands on main; Galera runs under the lab-only
`ocf:corrallab:galera` (galera_agent.py), the daemons under `corral:process`.
"""
from __future__ import annotations

from collections.abc import Mapping

from corral_lab.controlplane.services import (
    CHECK_PORT,
    HAPROXY_MON_PORT,
    KEYSTONE_PORT,
    MEMCACHED_PORT,
)


def corral_yaml(*, vip: str, addresses: Mapping[str, str], state_root: str, python3: str, check_script: str,
                fence_hostmap: str, fence_state_dir: str, keystone: bool = True,
                heartbeat_timeout: str = "3s") -> str:
    nodes = ",".join(addresses)
    addrs = ",".join(addresses.values())
    node_lines = "\n".join(f"  - {{name: {n}, attributes: {{addr: \"{a}\"}}}}" for n, a in addresses.items())
    keystone_yaml = f"""
  - clone: keystone-clone
    of:
      id: keystone
      agent: corral:process
      params:
        command: "/usr/bin/keystone-wsgi-public --host ${{node:addr}} --port {KEYSTONE_PORT} -- --config-file {state_root}/${{node:#uname}}/keystone/keystone.conf"
        check_port: "{KEYSTONE_PORT}"
        check_host: "${{node:addr}}"
        stop_grace: "2"
      ops:
        - {{name: monitor, interval: 2s, timeout: 10s}}
        - {{name: start, timeout: 60s}}
        - {{name: stop, timeout: 10s}}
    meta: {{interleave: true}}
""" if keystone else ""
    keystone_constraints = """  - order: {first: galera-clone, then: keystone-clone}
  - order: {first: memcached-clone, then: keystone-clone, kind: Optional}
""" if keystone else ""
    return f"""# The control-plane lab's cluster, written by corral_lab.controlplane.config
cluster:
  stonith-enabled: true
  stonith-action: "off"
  heartbeat-timeout: {heartbeat_timeout}
  no-quorum-policy: stop
  start-failure-is-fatal: false
nodes:
{node_lines}
defaults:
  resource: {{resource-stickiness: 100, migration-threshold: 1000}}
resources:
  - id: fence-lab
    agent: stonith:fence_corral_netns
    params: {{pcmk_host_map: "{fence_hostmap}", state_dir: "{fence_state_dir}"}}
  - id: vip
    agent: ocf:heartbeat:IPaddr2
    params: {{ip: "{vip}", cidr_netmask: "24", nic: eth0, arp_count_refresh: "1"}}
    ops:
      - {{name: monitor, interval: 1s, timeout: 5s}}
      - {{name: start, timeout: 10s}}
      - {{name: stop, timeout: 5s}}
  - clone: haproxy-clone
    of:
      id: haproxy
      agent: corral:process
      params:
        command: "/usr/sbin/haproxy -W -db -f {state_root}/${{node:#uname}}/haproxy.cfg"
        check_port: "{HAPROXY_MON_PORT}"
        check_host: "${{node:addr}}"
        stop_grace: "1"
      ops:
        - {{name: monitor, interval: 1s, timeout: 5s}}
        - {{name: start, timeout: 10s}}
        - {{name: stop, timeout: 5s}}
    meta: {{interleave: true}}
  - clone: galera-clone
    of:
      id: galera
      agent: ocf:corrallab:galera
      params: {{nodes: "{nodes}", addresses: "{addrs}"}}
      ops:
        - {{name: start, timeout: 180s}}
        - {{name: stop, timeout: 30s}}
        - {{name: monitor, interval: 2s, timeout: 20s}}
    meta: {{interleave: true}}
  - clone: galera-check-clone
    of:
      id: galera-check
      agent: corral:process
      params:
        command: "{python3} {check_script} ${{node:addr}} {CHECK_PORT}"
        check_port: "{CHECK_PORT}"
        check_host: "${{node:addr}}"
        stop_grace: "1"
      ops:
        - {{name: monitor, interval: 2s, timeout: 5s}}
        - {{name: start, timeout: 10s}}
    meta: {{interleave: true}}
  - clone: memcached-clone
    of:
      id: memcached
      agent: corral:process
      params:
        command: "/usr/bin/memcached -u memcache -l ${{node:addr}} -p {MEMCACHED_PORT} -m 32"
        check_port: "{MEMCACHED_PORT}"
        check_host: "${{node:addr}}"
        stop_grace: "1"
      ops:
        - {{name: monitor, interval: 2s, timeout: 5s}}
        - {{name: start, timeout: 10s}}
    meta: {{interleave: true}}
{keystone_yaml}constraints:
  - colocation: {{rsc: vip, with: haproxy-clone, score: INFINITY}}
  - order: {{first: haproxy-clone, then: vip, kind: Optional}}
{keystone_constraints}"""
