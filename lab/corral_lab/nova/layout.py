"""Where the Nova lab keeps everything: one work directory, one namespace, one address."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

NETNS = "nov-lab"                 # the lab's network namespace (prefix "nov": this lab's own)
VETH_ROOT, VETH_LAB = "nov-root", "nov-lab0"
ROOT_ADDR, LAB_ADDR, PREFIX_LEN = "10.78.0.1", "10.78.0.2", 30
DEBIAN_PYTHON = "/usr/bin/python3"  # the services need Debian's interpreter: it alone imports nova & co
CLOUD = "corral-nova-lab"         # the clouds.yaml entry
ADMIN_PASSWORD = "admin"
SERVICE_PASSWORD = "secret"
DB_USER, DB_PASSWORD = "os", "secret"
RABBIT_USER, RABBIT_PASSWORD = "openstack", "secret"

PORTS = {"mariadb": 3306, "rabbit": 5672, "keystone": 5000, "placement": 8778, "glance": 9292,
         "neutron": 9696, "nova": 8774}


@dataclass(frozen=True)
class Layout:
    root: str                                      # the work directory
    hosts: tuple[str, ...] = ("hostA", "hostB", "hostC")
    addr: str = LAB_ADDR
    ports: dict[str, int] = field(default_factory=lambda: dict(PORTS))

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def url(self, service: str, suffix: str = "") -> str:
        return f"http://{self.addr}:{self.ports[service]}{suffix}"

    @property
    def keystone_url(self) -> str:
        return self.url("keystone", "/v3")

    @property
    def db_url(self) -> str:
        return f"mysql+pymysql://{DB_USER}:{DB_PASSWORD}@{self.addr}:{self.ports['mariadb']}"

    @property
    def transport_url(self) -> str:
        return f"rabbit://{RABBIT_USER}:{RABBIT_PASSWORD}@{self.addr}:{self.ports['rabbit']}/"

    @property
    def clouds_yaml(self) -> str:
        return self.path("clouds.yaml")

    @property
    def fence_dir(self) -> str:
        """The fence agent's state: `<host>.pids` (what dies with the host), `<host>.off` markers."""
        return self.path("fence")

    def log(self, name: str) -> str:
        return self.path("log", f"{name}.log")
