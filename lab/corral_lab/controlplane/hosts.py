"""Namespace hosts that look enough like controllers for the real services (docs/openstack.md).

`ControllerLab` is a `Lab` whose hosts also have

- their own hostname (a UTS namespace kept in `<lab dir>/<host>.uts`): Erlang distribution names a
  RabbitMQ node `rabbit@$(hostname)`, and Galera/Keystone logs name the host;
- a private `/etc/hosts` resolving every lab host by name;
- private data and configuration directories, bind-mounted in the host's mount namespace from
  `<state_root>/<host>/...` on the root filesystem, so they survive a crash of the host (power loss
  keeps the disk) and each boot sees its own: `/var/lib/mysql`, `/run/mysqld` (a fresh one per
  boot), `/etc/mysql`, `/var/lib/rabbitmq`, `/var/log/rabbitmq`, `/etc/rabbitmq`;
- `net.ipv4.ip_nonlocal_bind=1` (a per-network-namespace sysctl), so HAProxy binds the VIP's
  ports on every host, whether it holds the VIP or not.

Everything else is the base lab's: crash/restart/partition, fencing by network namespace.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Sequence

from corral_lab.hosts import Host, Lab, LabError

OCF_PROVIDERS = "/usr/lib/ocf/resource.d"
# (path inside the host, owner, mode, kept across a crash)
PRIVATE_DIRS: tuple[tuple[str, str, int, bool], ...] = (
    ("/var/lib/mysql", "mysql", 0o755, True),
    ("/etc/mysql", "root", 0o755, True),
    ("/run/mysqld", "mysql", 0o755, False),
    ("/var/lib/rabbitmq", "rabbitmq", 0o755, True),
    ("/var/log/rabbitmq", "rabbitmq", 0o755, True),
    ("/etc/rabbitmq", "root", 0o755, True),
)


def _chown(path: str, user: str) -> None:
    shutil.chown(path, user, user if user != "root" else "root")


class ControllerLab(Lab):
    """Hosts with hostname, /etc/hosts and private service directories; see the module doc."""

    def __init__(self, hosts: Sequence[str], *, state_root: str, ocf_overlay: str | None = None,
                 **kw: object) -> None:
        super().__init__(hosts, **kw)  # type: ignore[arg-type]
        self.state_root = state_root
        # a directory of extra OCF providers, overlaid on /usr/lib/ocf/resource.d inside every host
        self.ocf_overlay = ocf_overlay

    def uts_file(self, name: str) -> str:
        return os.path.join(self.dir, f"{name}.uts")

    def host_dir(self, name: str, path: str) -> str:
        """Where host name's private `path` lives on the root filesystem."""
        return os.path.join(self.state_root, name, path.strip("/").replace("/", "_"))

    def command(self, name: str, argv: Sequence[str], cwd: str | None = None) -> list[str]:
        cmd = super().command(name, argv, cwd)
        return [cmd[0], f"--uts={self.uts_file(name)}", *cmd[1:]]

    def _make_mount_ns(self, h: Host) -> None:
        super()._make_mount_ns(h)
        uts = self.uts_file(h.name)
        if not os.path.exists(uts):
            with open(uts, "w"):
                pass
            r = subprocess.run(["unshare", f"--uts={uts}", "hostname", h.name], capture_output=True, text=True,
                               check=False)
            if r.returncode != 0:
                raise LabError(f"UTS namespace of {h.name}: {r.stderr.strip()}")
        hosts_file = os.path.join(self.state_root, h.name, "hosts")
        os.makedirs(os.path.dirname(hosts_file), exist_ok=True)
        with open(hosts_file, "w") as f:
            f.write("127.0.0.1 localhost\n")
            for other in self.hosts.values():
                f.write(f"{other.address} {other.name}\n")
        script = [f"mount --bind {hosts_file} /etc/hosts"]
        for path, owner, mode, kept in PRIVATE_DIRS:
            src = self.host_dir(h.name, path)
            if not kept:
                shutil.rmtree(src, ignore_errors=True)  # a new boot: /run is empty
            os.makedirs(src, exist_ok=True)
            os.chmod(src, mode)
            _chown(src, owner)
            script.append(f"mount --bind {src} {path}")
        if self.ocf_overlay:
            script.append(f"mount -t overlay corral-lab-ocf -o lowerdir={self.ocf_overlay}:{OCF_PROVIDERS} "
                          f"{OCF_PROVIDERS}")
        r = subprocess.run(["nsenter", f"--mount={h.mnt}", "sh", "-ec", " && ".join(script)],
                           capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise LabError(f"private directories of {h.name}: {r.stderr.strip()}")
        r = subprocess.run(["nsenter", f"--net=/run/netns/{h.netns}", "sysctl", "-q", "-w",
                            "net.ipv4.ip_nonlocal_bind=1"], capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise LabError(f"ip_nonlocal_bind on {h.name}: {r.stderr.strip()}")

    def teardown(self) -> list[str]:
        # The base removes the lab directory; the UTS namespace files are mounts in it.
        for name in self.hosts:
            uts = self.uts_file(name)
            if os.path.exists(uts):
                subprocess.run(["umount", uts], capture_output=True, check=False)
        return super().teardown()

    def wipe_state(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.state_root)
