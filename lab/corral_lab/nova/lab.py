"""`NovaLab`: a real Nova with N fake-driver compute hosts, up in order, down on exit or failure.

The pitfalls it handles (learned on Debian 12's Zed packages):
- the services must run on Debian's /usr/bin/python3 (another Python cannot import Debian's modules);
- `cell_v2 discover_hosts` is run by hand once the computes have registered (the periodic
  discovery option is read once at import and never fires here);
- Nova's default quota (10 instances, 20 cores) is lifted for the admin project;
- neutron-server's first API request configures its SQLAlchemy mappers: it is made here, once;
- the fake driver keeps instances in memory: a restarted nova-compute knows none of its
  instances (it still marks its evacuations `completed`, which is what a returning host needs).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import yaml

from corral_lab import netns
from corral_lab.nova import infra, procs
from corral_lab.nova.layout import ADMIN_PASSWORD, CLOUD, DEBIAN_PYTHON, SERVICE_PASSWORD, Layout
from corral_lab.nova.procs import NovaLabError
from corral_lab.nova.services import Services

FLAVOR, IMAGE = "m1.tiny", "cirros-fake"
CATALOG = {"nova": ("compute", "nova", "/v2.1"), "placement": ("placement", "placement", ""),
           "glance": ("image", "glance", ""), "neutron": ("network", "neutron", "")}
NEEDED = ("/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db", "/usr/lib/rabbitmq/bin/rabbitmq-server",
          "/usr/bin/keystone-manage", "/usr/bin/placement-manage", DEBIAN_PYTHON)
MODULES = ("nova", "keystone", "placement", "glance", "neutron", "pymysql")

__all__ = ["NovaLab", "NovaLabError", "nova_lab_available"]


def nova_lab_available() -> str | None:
    """None if the lab can run here, else why not."""
    if os.geteuid() != 0:
        return "needs root (network namespace, services)"
    missing = [p for p in NEEDED if not os.access(p, os.X_OK)]
    if missing:
        return f"missing {', '.join(missing)} (scripts/test installs the Debian packages)"
    probe = subprocess.run([DEBIAN_PYTHON, "-c", "import " + ", ".join(MODULES)], capture_output=True, text=True,
                           check=False)
    if probe.returncode != 0:
        return f"Debian's python3 cannot import the OpenStack modules: {probe.stderr.strip().splitlines()[-1:]}"
    if shutil.which("ip") is None:
        return "missing ip (iproute2)"
    return None


class NovaLab:
    def __init__(self, hosts: tuple[str, ...] = ("hostA", "hostB", "hostC"), work_dir: str | None = None,
                 keep: bool = False, log: Callable[[str], None] | None = None) -> None:
        self.keep = keep or work_dir is not None
        root = work_dir or tempfile.mkdtemp(prefix="nov-")
        self.layout = Layout(root=os.path.abspath(root), hosts=tuple(hosts))
        self.log = log or (lambda _s: None)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.services: Services | None = None
        self.flavor_id = ""
        self.image_id = ""
        self.timings: dict[str, float] = {}
        self._t0 = 0.0

    # --- life ------------------------------------------------------------------------------
    def __enter__(self) -> NovaLab:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def _mark(self, what: str) -> None:
        self.timings[what] = round(time.monotonic() - self._t0, 1)
        self.log(f"[{self.timings[what]:6.1f}s] {what}")

    def up(self) -> None:
        why = nova_lab_available()
        if why:
            raise NovaLabError(f"the Nova lab cannot run here: {why}")
        self._t0 = time.monotonic()
        lay = self.layout
        for d in ("log", "pids", "mysql", "rabbit", "nova"):
            os.makedirs(lay.path(d), exist_ok=True)
        os.makedirs(lay.fence_dir, exist_ok=True)
        os.chmod(lay.root, 0o755)  # the rabbitmq user reaches its directory
        procs.create_namespace(lay)
        self.procs["rabbitmq"] = infra.start_rabbitmq(lay)
        self.procs["mariadb"] = infra.start_mariadb(lay)
        procs.wait_for("MariaDB", lambda: infra.mariadb_ready(lay), 60, lay.log("mariadb"))
        infra.create_databases(lay)
        self._mark("mariadb up")
        self.services = svc = Services(lay)
        with ThreadPoolExecutor(2) as pool:  # RabbitMQ's boot overlaps the schema set-up
            rabbit = pool.submit(infra.configure_rabbitmq, lay)
            svc.prepare_databases()
            self._mark("databases ready")
            rabbit.result()
        self._mark("rabbitmq up")
        self.procs["keystone"] = svc.start_keystone()
        procs.wait_for("Keystone", lambda: procs.http_answers(lay.keystone_url), 60, lay.log("keystone"))
        self._register_services()
        self._mark("keystone up, catalog written")
        svc.start_others()
        for host in lay.hosts:
            self.procs[f"nova-compute-{host}"] = svc.start_compute(host)
            self._record_host_pid(host, "nova-compute", self.procs[f"nova-compute-{host}"].pid)
        for name in ("placement", "glance", "neutron", "nova"):
            procs.wait_for(name, lambda n=name: procs.http_answers(lay.url(n, "/")), 120, lay.log(name))
        self._mark("APIs answer")
        conn = self.connect()
        list(conn.network.networks())  # neutron-server's first request configures its mappers
        n = len(lay.hosts)
        procs.wait_for("compute nodes", lambda: self._compute_nodes() >= n, 180, lay.log("nova-compute-*"), 1.0)
        svc.nova_manage("cell_v2", "discover_hosts", name="nova-discover-hosts")
        self.wait_services_up(lay.hosts, 120)
        self._mark("compute hosts registered")
        self._prepare_cloud(conn)
        self._write_clouds_yaml()
        self._mark("UP")

    def down(self) -> None:
        """Kill everything (every process in the namespace), remove the namespace and the work directory."""
        killed = procs.destroy_namespace()
        for p in self.procs.values():
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.procs.clear()
        self.log(f"Nova lab down ({killed} processes killed)")
        if not self.keep:
            shutil.rmtree(self.layout.root, ignore_errors=True)

    # --- set-up -----------------------------------------------------------------------------
    def cloud_auth(self) -> dict[str, Any]:
        return {"auth_url": self.layout.keystone_url, "username": "admin", "password": ADMIN_PASSWORD,
                "project_name": "admin", "user_domain_name": "Default", "project_domain_name": "Default"}

    def connect(self) -> Any:
        """An openstacksdk connection as the admin."""
        import openstack

        return openstack.connect(auth=self.cloud_auth(), auth_type="password", region_name="RegionOne",
                                 identity_api_version="3")

    def _register_services(self) -> None:
        conn = self.connect()
        idn = conn.identity
        project = idn.create_project(name="service", domain_id="default")
        admin = idn.find_role("admin")
        for user, (stype, port_name, suffix) in CATALOG.items():
            u = idn.create_user(name=user, password=SERVICE_PASSWORD, domain_id="default")
            idn.assign_project_role_to_user(project, u, admin)
            s = idn.create_service(name=user, type=stype)
            for iface in ("public", "internal", "admin"):
                idn.create_endpoint(service_id=s.id, interface=iface, url=self.layout.url(port_name, suffix),
                                    region_id="RegionOne")

    def _compute_nodes(self) -> int:
        out = infra.sql(self.layout, "SELECT count(*) FROM nova.compute_nodes WHERE deleted = 0;",
                        name="mariadb-compute-nodes")
        return int(out.strip() or 0)

    def _prepare_cloud(self, conn: Any) -> None:
        project = conn.current_project_id
        r = conn.compute.put(f"/os-quota-sets/{project}", json={"quota_set": {"instances": -1, "cores": -1,
                                                                            "ram": -1}})
        if r.status_code != 200:
            raise NovaLabError(f"lifting the quota: {r.status_code} {r.text}")
        flavor = conn.compute.find_flavor(FLAVOR) or conn.compute.create_flavor(name=FLAVOR, ram=64, vcpus=1,
                                                                                  disk=1)
        self.flavor_id = flavor.id
        image = conn.image.create_image(name=IMAGE, data=b"\0" * 4096, disk_format="raw", container_format="bare",
                                        visibility="public", wait=True)
        self.image_id = image.id

    def _write_clouds_yaml(self) -> None:
        cloud = {"auth": self.cloud_auth(), "auth_type": "password", "region_name": "RegionOne",
                 "identity_api_version": "3"}
        with open(self.layout.clouds_yaml, "w") as f:
            yaml.safe_dump({"clouds": {CLOUD: cloud}}, f)

    # --- compute hosts ----------------------------------------------------------------------
    def wait_services_up(self, hosts: tuple[str, ...] | list[str], timeout: float) -> None:
        conn = self.connect()

        def ready() -> bool:
            up = {s.host for s in conn.compute.services(binary="nova-compute") if s.state == "up"}
            return set(hosts) <= up
        procs.wait_for(f"nova-compute up on {', '.join(hosts)}", ready, timeout, every=1.0)

    def compute_pid(self, host: str) -> int | None:
        p = self.procs.get(f"nova-compute-{host}")
        return p.pid if p is not None and p.poll() is None else None

    def kill_compute(self, host: str) -> int:
        """SIGKILL the host's nova-compute (the host dies without a word); its PID."""
        p = self.procs[f"nova-compute-{host}"]
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
        return p.pid

    def start_compute(self, host: str) -> int:
        """The host's nova-compute again (after a kill or a fence)."""
        if self.compute_pid(host) is not None:
            raise NovaLabError(f"nova-compute of {host} is still running")
        assert self.services is not None
        p = self.procs[f"nova-compute-{host}"] = self.services.start_compute(host)
        self._record_host_pid(host, "nova-compute", p.pid)
        try:
            os.unlink(os.path.join(self.layout.fence_dir, f"{host}.off"))  # powered on
        except FileNotFoundError:
            pass
        return p.pid

    def add_host_process(self, host: str, name: str, pid: int) -> None:
        """A process that dies with the host when it is fenced (its Corral member, say)."""
        self._record_host_pid(host, name, pid)

    def _record_host_pid(self, host: str, name: str, pid: int) -> None:
        from corral_lab.nova.fence import record_pid

        record_pid(self.layout.fence_dir, host, name, pid)

    def fence_params(self) -> dict[str, str]:
        """The lab fence device's parameters (agent fence_corral_nova)."""
        return {"pcmk_host_list": ",".join(self.layout.hosts), "state_dir": self.layout.fence_dir}

    def namespace_pids(self) -> list[int]:
        return netns.netns_pids("nov-lab")
