"""Real neutron-l3-agent processes for the Nova lab's neutron-server (Neutron L3 tests).

Each agent is Debian's `neutron-l3-agent` (neutron.cmd.eventlet.agents.l3) with its own `host`,
in the lab's namespace, reporting over the lab's RabbitMQ every 2 s (neutron-server marks an
agent dead after 10 s: corral_lab.nova.configs). The interface driver is Neutron's NullDriver:
the agents plumb no ports (the lab has no Open vSwitch or bridges), which leaves what the tests
need, the agents' liveness and Neutron's router scheduling, real. Each agent runs in a mount
namespace of its own with a private /run/netns: the `qrouter-*` namespaces it makes for its
routers live and die with it, never in the root namespace's list.
"""
from __future__ import annotations

import os
import subprocess

from corral_lab.nova import configs, procs
from corral_lab.nova.layout import Layout
from corral_lab.nova.services import entry

REPORT_INTERVAL_S = 2

# Runs as the agent's parent inside `ip netns exec`: a private mount namespace whose /run/netns
# is a fresh tmpfs, then the agent itself.
PRIVATE_NETNS = "mount --make-rprivate / && mount -t tmpfs -o mode=755 corral-l3 /run/netns && exec \"$@\""


def l3_agent_conf(layout: Layout, host: str) -> str:
    d = layout.path("neutron", f"l3-{host}")
    for sub in ("state", "locks"):
        os.makedirs(f"{d}/{sub}", exist_ok=True)
    return configs.write(f"{d}/l3_agent.conf", configs.ini({
        "DEFAULT": {"host": host, "transport_url": layout.transport_url, "state_path": f"{d}/state",
                    "interface_driver": "neutron.agent.linux.interface.NullDriver",
                    "log_file": layout.log(f"neutron-l3-agent-{host}"), "debug": "false"},
        "agent": {"report_interval": REPORT_INTERVAL_S, "root_helper": "sudo", "use_helper_for_ns_read": "false"},
        "oslo_concurrency": {"lock_path": f"{d}/locks"},
    }))


def start_l3_agent(layout: Layout, host: str) -> subprocess.Popen[bytes]:
    conf = l3_agent_conf(layout, host)
    argv = ["unshare", "--mount", "sh", "-c", PRIVATE_NETNS, "l3-agent",
            *entry("neutron-l3-agent", "neutron.cmd.eventlet.agents.l3:main", "--config-file", conf)]
    return procs.spawn(layout, f"neutron-l3-agent-{host}", argv)
