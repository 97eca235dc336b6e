"""Keystone, Placement, Glance, neutron-server and Nova for the lab: database set-up, then start.

The database set-up of every service runs at once (each has its own database); the services
run on Debian's interpreter, started through their console entry points (Debian's python3-*
packages ship the libraries, not the daemons' scripts).
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from corral_lab.nova import configs, procs
from corral_lab.nova.layout import ADMIN_PASSWORD, DEBIAN_PYTHON, Layout

WSGI_SERVE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wsgi_serve.py")


def entry(name: str, target: str, *args: str) -> list[str]:
    """argv running a console entry point (`module:function`) on Debian's Python."""
    module, func = target.split(":")
    code = f"import sys; sys.argv[0] = {name!r}; from {module} import {func} as m; sys.exit(m())"
    return [DEBIAN_PYTHON, "-c", code, *args]


class Services:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        for d in ("keystone/fernet-keys", "keystone/credential-keys", "placement", "glance/images",
                  "glance/staging", "glance/tasks", "glance/locks", "neutron/state", "neutron/locks", "nova/locks"):
            os.makedirs(layout.path(d), exist_ok=True)
        self.keystone_conf = configs.keystone(layout)
        self.placement_conf = configs.placement(layout)
        self.glance_conf = configs.glance(layout)
        self.neutron_conf = configs.neutron(layout)
        self.nova_common, self.nova_db = configs.nova(layout)

    def _run(self, name: str, argv: Sequence[str], **kw: object) -> str:
        return procs.run(self.layout, name, argv, **kw)  # type: ignore[arg-type]

    # --- databases --------------------------------------------------------------------------
    def prepare_databases(self) -> None:
        """Every service's schema, at once (each has its own database)."""
        steps = [self._keystone_db, self._placement_db, self._glance_db, self._neutron_db, self._nova_db]
        with ThreadPoolExecutor(len(steps)) as pool:
            for f in [pool.submit(s) for s in steps]:
                f.result()

    def _keystone_db(self) -> None:
        kc = ["--config-file", self.keystone_conf]
        self._run("keystone-db", ["keystone-manage", *kc, "db_sync"])
        for what in ("fernet_setup", "credential_setup"):
            self._run(f"keystone-{what}", ["keystone-manage", *kc, what, "--keystone-user", "root",
                                            "--keystone-group", "root"])
        ks = self.layout.keystone_url + "/"
        self._run("keystone-bootstrap", ["keystone-manage", *kc, "bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
                                         "--bootstrap-region-id", "RegionOne", "--bootstrap-admin-url", ks,
                                         "--bootstrap-public-url", ks, "--bootstrap-internal-url", ks])

    def _placement_db(self) -> None:
        self._run("placement-db", ["placement-manage", "--config-file", self.placement_conf, "db", "sync"])

    def _glance_db(self) -> None:
        self._run("glance-db", entry("glance-manage", "glance.cmd.manage:main", "--config-file", self.glance_conf,
                                     "db_sync"))

    def _neutron_db(self) -> None:
        self._run("neutron-db", entry("neutron-db-manage", "neutron.db.migration.cli:main", "--config-file",
                                      self.neutron_conf, "upgrade", "heads"), timeout=600)

    def nova_manage(self, *args: str, name: str = "nova-manage") -> str:
        return self._run(name, entry("nova-manage", "nova.cmd.manage:main", "--config-file", self.nova_common,
                                     "--config-file", self.nova_db, *args))

    def _nova_db(self) -> None:
        self.nova_manage("api_db", "sync", name="nova-api-db")
        self.nova_manage("cell_v2", "map_cell0", name="nova-cell0")
        self.nova_manage("cell_v2", "create_cell", "--name=cell1", name="nova-cell1")
        self.nova_manage("db", "sync", name="nova-db")

    # --- daemons ----------------------------------------------------------------------------
    def start_keystone(self) -> subprocess.Popen[bytes]:
        return procs.spawn(self.layout, "keystone", [
            DEBIAN_PYTHON, WSGI_SERVE, self.layout.addr, str(self.layout.ports["keystone"]),
            "keystone.server.wsgi:initialize_public_application"],
            env={"OS_KEYSTONE_CONFIG_FILES": self.keystone_conf})

    def start_others(self) -> None:
        """Placement, Glance, neutron-server, nova-api, nova-conductor, nova-scheduler."""
        lay = self.layout
        procs.spawn(lay, "placement", [DEBIAN_PYTHON, WSGI_SERVE, lay.addr, str(lay.ports["placement"]),
                                       "placement.wsgi:init_application"],
                    env={"OS_PLACEMENT_CONFIG_DIR": lay.path("placement")})
        procs.spawn(lay, "glance-api", entry("glance-api", "glance.cmd.api:main", "--config-file", self.glance_conf))
        procs.spawn(lay, "neutron-server", entry("neutron-server", "neutron.cmd.eventlet.server:main",
                                                 "--config-file", self.neutron_conf))
        nc = ["--config-file", self.nova_common, "--config-file", self.nova_db]
        for name, target in (("nova-api", "nova.cmd.api:main"), ("nova-conductor", "nova.cmd.conductor:main"),
                             ("nova-scheduler", "nova.cmd.scheduler:main")):
            procs.spawn(lay, name, entry(name, target, *nc, "--log-file", lay.log(name)))

    def start_compute(self, host: str) -> subprocess.Popen[bytes]:
        """One compute host: a nova-compute with the fake driver and its own `host` (no database access)."""
        conf = configs.nova_compute(self.layout, host)
        return procs.spawn(self.layout, f"nova-compute-{host}", entry(
            "nova-compute", "nova.cmd.compute:main", "--config-file", self.nova_common, "--config-file", conf,
            "--log-file", self.layout.log(f"nova-compute-{host}")))
