"""A real Nova (Debian's OpenStack Zed packages) on one host, for compute-HA tests (docs/openstack.md).

    with NovaLab(hosts=("hostA", "hostB", "hostC")) as lab:   # up; torn down on exit, also on failure
        conn = lab.connect()                                     # openstacksdk, admin
        lab.kill_compute("hostA"); lab.start_compute("hostA")

Everything runs inside one network namespace of its own (`nov-lab`), whose services listen on
its address 10.78.0.2, reachable from the root namespace through a veth pair (10.78.0.1): the
namespace keeps the lab's ports, RabbitMQ's epmd and MariaDB's socket away from anything else
on the machine, and tearing it down is killing every process in it.

| module | its one job |
| --- | --- |
| `layout.py` | where things are: addresses, ports, directories, file names |
| `procs.py` | the namespace, starting services in it (recorded PIDs), killing all of it |
| `configs.py` | the services' configuration files |
| `infra.py` | MariaDB (own data directory) and RabbitMQ (own node) |
| `services.py` | Keystone, Placement, Glance, neutron-server, Nova: database set-up and start |
| `lab.py` | `NovaLab`: the bring-up in order, compute hosts, clouds.yaml, teardown |
| `fence.py` | the lab's fence agent for compute hosts (`fence_corral_nova`) |
| `wsgi_serve.py` | a threaded WSGI server for Keystone and Placement (run by Debian's Python) |
"""
from __future__ import annotations

from corral_lab.nova.lab import NovaLab, NovaLabError, nova_lab_available

__all__ = ["NovaLab", "NovaLabError", "nova_lab_available"]
