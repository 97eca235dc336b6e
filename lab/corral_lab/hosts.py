"""A lab of N "hosts" on one host: network namespaces on a private bridge.

    with Lab(3) as lab:                       # hosts h1, h2, h3 at 10.203.0.1-3
        server = lab.spawn("h1", ["python3", "-m", "http.server", "--bind", lab.address("h1"), "8000"])
        lab.run("h2", ["curl", f"http://{lab.address('h1')}:8000/"])
        lab.partition(["h1"], ["h2", "h3"]); lab.heal()
        lab.crash("h1"); lab.restart("h1")

Isolation, so a lab can never touch the machine's real network:
- the bridge lives in its own namespace (`<prefix>-sw`), each host in
  `<prefix>-<host>`, joined by veth pairs created directly between them; no
  interface, address or route is added to the root namespace;
- addresses (10.203.0.0/24 by default) exist only inside the host namespaces,
  and each lab is its own layer-2 island, so parallel labs may reuse them;
- every run gets a fresh prefix ("crl" + 4 hex), and its owner pid is written
  to /run/corral-lab/<prefix>/owner so cleanup_stale() leaves live labs alone.

Each host also has its own mount namespace, kept in a file
(/run/corral-lab/<prefix>/<host>.mnt), with a private tmpfs on
/run/resource-agents (HA_RSCTMP: agents' state files must not be shared
between "hosts") and a sysfs of its own network namespace. It is a slave of
the root's mounts, so /run/netns (and anything mounted later) stays visible.

Partitions move the ports of each group to a bridge of its own in the switch
namespace: a real layer-2 split (silent drops, no RST, no ICMP), which needs
neither iptables nor nft; heal() moves them back.
"""
from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from corral_lab import netns
from corral_lab.netns import NetnsError, ip

LAB_ROOT = "/run/corral-lab"
RSCTMP = "/run/resource-agents"
DEFAULT_SUBNET = "10.203.0"  # /24; only ever configured inside the lab's namespaces
DEFAULT_PREFIX = "crl"
_NAME = re.compile(r"^[a-z][a-z0-9]{0,7}$")
_BRIDGE = "br0"


class LabError(RuntimeError):
    pass


def new_prefix(base: str = DEFAULT_PREFIX) -> str:
    return base + secrets.token_hex(2)


def lab_available() -> str | None:
    """None if labs can be built here, else why not (for pytest skips)."""
    if os.geteuid() != 0:
        return "needs root (network and mount namespaces)"
    for tool in ("ip", "nsenter", "unshare", "mount", "umount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    try:
        ip("netns", "list")
    except NetnsError as e:
        return f"`ip netns` is unavailable: {e}"
    probe = subprocess.run(["unshare", "--net", "--mount", "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"cannot create namespaces: {probe.stderr.strip()}"
    return None


def _run(argv: Sequence[str], timeout: float = 10.0) -> None:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {proc.stderr.strip() or f'exit status {proc.returncode}'}")


def _pid_alive(pid: int) -> bool:
    """Alive and not a zombie (a killed owner may stay unreaped for a while)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


@dataclass(frozen=True)
class Host:
    name: str
    netns: str      # its network namespace (also the fence agent's plug)
    address: str
    mnt: str        # the file holding its mount namespace
    port: str       # its veth end on the bridge, inside the switch namespace


class Lab:
    """N hosts on a bridge; use as a context manager so everything is torn down."""

    def __init__(self, hosts: int | Sequence[str] = 3, *, prefix: str | None = None,
                 subnet: str = DEFAULT_SUBNET, lab_root: str = LAB_ROOT) -> None:
        names = [f"h{i}" for i in range(1, hosts + 1)] if isinstance(hosts, int) else list(hosts)
        if not 1 <= len(names) <= 250 or len(set(names)) != len(names):
            raise ValueError(f"a lab needs 1 to 250 distinct host names, got {names}")
        for n in names:
            if not _NAME.match(n) or n == "sw":
                raise ValueError(f"host name {n!r}: 1-8 of [a-z0-9], starting with a letter, not 'sw'")
        if not re.fullmatch(r"10\.\d{1,3}\.\d{1,3}", subnet):
            raise ValueError(f"subnet {subnet!r}: give the first three octets of a private 10.x.y.0/24")
        self.prefix = prefix or new_prefix()
        if not re.fullmatch(r"[a-z][a-z0-9]{2,7}", self.prefix):
            raise ValueError(f"prefix {self.prefix!r}: 3-8 of [a-z0-9], starting with a letter")
        self.dir = os.path.join(lab_root, self.prefix)
        self.switch = f"{self.prefix}-sw"
        self.hosts = {n: Host(n, f"{self.prefix}-{n}", f"{subnet}.{i}", os.path.join(self.dir, f"{n}.mnt"),
                              f"p-{n}") for i, n in enumerate(names, start=1)}
        self.fence_state_dir = os.path.join(self.dir, "fence")
        self._procs: list[subprocess.Popen[bytes]] = []
        self._frozen: set[int] = set()
        self._segments: list[str] = []
        self._created_rsctmp = False
        self._started = False
        # Teardown removes only what this object made: a prefix collision with another
        # run must fail our start, never tear down the other lab.
        self._owns_dir = False
        self._netns_made: list[str] = []
        # Directory descriptors on each host's private /run/resource-agents (rsctmp_files), one per
        # boot: restart() and teardown() close them, under the lock a sampling thread reads with.
        self._rsctmp_fds: dict[str, int] = {}
        self._rsctmp_lock = threading.Lock()

    # -- life cycle --------------------------------------------------------------------------------------
    def __enter__(self) -> Lab:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        try:
            self._build()
        except BaseException:
            self.teardown()
            raise

    def _build(self) -> None:
        os.makedirs(os.path.dirname(self.dir), exist_ok=True)
        os.mkdir(self.dir)  # fails if another run has this prefix
        self._owns_dir = True
        # Persistent mount namespaces must be bound onto a mount that is not shared.
        _run(["mount", "--bind", self.dir, self.dir])
        _run(["mount", "--make-private", self.dir])
        with open(os.path.join(self.dir, "owner"), "w") as f:
            f.write(f"{os.getpid()}\n")
        if not os.path.isdir(RSCTMP):
            os.makedirs(RSCTMP)
            self._created_rsctmp = True
        self._add_netns(self.switch)
        ip("-n", self.switch, "link", "add", _BRIDGE, "type", "bridge")
        ip("-n", self.switch, "link", "set", "dev", _BRIDGE, "up")
        for h in self.hosts.values():
            self._add_netns(h.netns)
            ip("-n", self.switch, "link", "add", h.port, "type", "veth", "peer", "name", "eth0", "netns", h.netns)
            ip("-n", self.switch, "link", "set", "dev", h.port, "master", _BRIDGE, "up")
            ip("-n", h.netns, "addr", "add", f"{h.address}/24", "dev", "eth0")
            netns.power_on(h.netns)
            self._make_mount_ns(h)

    def _add_netns(self, name: str) -> None:
        if netns.netns_exists(name):
            raise LabError(f"network namespace {name} already exists (prefix collision or a stale run: "
                           f"see cleanup_stale)")
        ip("netns", "add", name)
        self._netns_made.append(name)

    def _make_mount_ns(self, h: Host) -> None:
        with open(h.mnt, "w"):
            pass
        script = (f"mount -t tmpfs -o mode=0755 corral-rsctmp {RSCTMP} && "
                  "{ mount -t sysfs sysfs /sys 2>/dev/null || true; }")
        _run(["nsenter", f"--net=/run/netns/{h.netns}", "unshare", f"--mount={h.mnt}", "--propagation", "slave",
              "sh", "-c", script])

    def _drop_mount_ns(self, h: Host) -> None:
        self._close_rsctmp(h.name)  # it would keep the old boot's tmpfs readable
        if os.path.exists(h.mnt):
            subprocess.run(["umount", h.mnt], capture_output=True, check=False)
            with contextlib.suppress(OSError):
                os.unlink(h.mnt)

    def teardown(self) -> list[str]:
        """Remove everything this lab made; never raises. Returns what could not be removed."""
        problems: list[str] = []
        for pid in self._frozen:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGCONT)
        self._frozen.clear()
        for n in list(self._rsctmp_fds):
            self._close_rsctmp(n)
        names = list(self._netns_made)
        for name in names:
            if netns.netns_exists(name):
                netns.kill_all(name)
        for p in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                p.kill()
                p.wait(timeout=5)
        self._procs.clear()
        if self._owns_dir:
            for h in self.hosts.values():
                self._drop_mount_ns(h)
        for name in names:
            if netns.netns_exists(name):
                r = ip("netns", "del", name, check=False)
                if r.returncode != 0:
                    problems.append(f"netns {name}: {r.stderr.strip()}")
        self._netns_made.clear()
        if self._owns_dir:
            problems += _remove_lab_dir(self.dir)
            self._owns_dir = False
        if self._created_rsctmp:
            with contextlib.suppress(OSError):
                os.rmdir(RSCTMP)
            self._created_rsctmp = False
        self._segments.clear()
        self._started = False
        return problems

    # -- running things ------------------------------------------------------------------------------------
    def host(self, name: str) -> Host:
        try:
            return self.hosts[name]
        except KeyError:
            raise LabError(f"no host {name!r} in lab {self.prefix} (hosts: {', '.join(self.hosts)})") from None

    def address(self, name: str) -> str:
        return self.host(name).address

    def command(self, name: str, argv: Sequence[str], cwd: str | None = None) -> list[str]:
        """argv wrapped to run in the host's network and mount namespaces."""
        h = self.host(name)
        wd = [f"--wd={cwd}"] if cwd else []
        return ["nsenter", f"--net=/run/netns/{h.netns}", f"--mount={h.mnt}", *wd, "--", *argv]

    def run(self, name: str, argv: Sequence[str], *, timeout: float = 30.0, check: bool = False,
            input: str | None = None, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(name, argv, cwd), capture_output=True, text=True, input=input,
                              timeout=timeout, check=check)

    def spawn(self, name: str, argv: Sequence[str], cwd: str | None = None,
              **popen_kw: object) -> subprocess.Popen[bytes]:
        """Start a process in the host (killed at teardown, or by crash/fence of the host)."""
        popen_kw.setdefault("stdin", subprocess.DEVNULL)
        proc: subprocess.Popen[bytes] = subprocess.Popen(self.command(name, argv, cwd), **popen_kw)  # type: ignore[call-overload]
        self._procs.append(proc)
        return proc

    def connect(self, src: str, dst: str, port: int, timeout_s: float = 1.0) -> bool:
        """Whether a TCP connect from host src to host dst:port succeeds within timeout_s."""
        code = ("import socket,sys\n"
                "try:\n"
                f"    socket.create_connection(({self.address(dst)!r}, {int(port)}), timeout={timeout_s!r}).close()\n"
                "except OSError as e:\n"
                "    print(e); sys.exit(1)\n")
        r = self.run(src, [sys.executable, "-c", code], timeout=timeout_s + 10)
        return r.returncode == 0

    def pids(self, name: str) -> list[int]:
        return netns.netns_pids(self.host(name).netns)

    def rsctmp_files(self, name: str, pattern: str) -> dict[str, str] | None:
        """The files of the host's private /run/resource-agents whose names match pattern (fnmatch),
        with their contents, read from outside its mount namespace; None if it cannot be read now
        (not built, or between the two halves of a restart).

        Read through a directory descriptor opened once per boot via /proc/PID/root of a short-lived
        helper in the host's mount namespace, so a read costs no process (samplers call this every
        50 ms) and needs no process of the host's own (a host whose daemons are all stopped still
        has its files). restart() closes it: after a crash the old boot's files are not the host's."""
        h = self.host(name)
        with self._rsctmp_lock:
            fd = self._rsctmp_fds.get(name)
            if fd is None:
                fd = _open_rsctmp(h)
                if fd is None:
                    return None
                self._rsctmp_fds[name] = fd
            out: dict[str, str] = {}
            try:
                for entry in os.listdir(fd):
                    if fnmatch.fnmatchcase(entry, pattern):
                        with contextlib.suppress(FileNotFoundError):  # removed since the listing
                            out[entry] = _read_at(fd, entry)
            except OSError:
                return None
            return out

    def _close_rsctmp(self, name: str) -> None:
        with self._rsctmp_lock:
            fd = self._rsctmp_fds.pop(name, None)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)

    # -- faults ------------------------------------------------------------------------------------------------
    def crash(self, name: str) -> int:
        """Power loss: links down, every process of the host SIGKILLed. Returns how many."""
        return netns.power_off(self.host(name).netns)

    def restart(self, name: str) -> None:
        """Boot again after crash(): a fresh mount namespace (empty /run/resource-agents), links up
        with only the host's lab address (a real power cycle forgets every address that is not
        configured at boot, e.g. a VIP the host held when it died).

        Nothing is started: starting the host's daemons is the caller's business.
        """
        h = self.host(name)
        netns.kill_all(h.netns)
        self._drop_mount_ns(h)
        self._make_mount_ns(h)
        # Flushed while the links are still down, so a stale address is never up for an instant.
        netns.set_links(h.netns, up=False)
        ip("-n", h.netns, "addr", "flush", "dev", "eth0")
        ip("-n", h.netns, "addr", "add", f"{h.address}/24", "dev", "eth0")
        netns.power_on(h.netns)
        # Powered on by hand: the lab fence agent's "off" marker no longer holds.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.fence_state_dir, f"{h.netns}.off"))

    def partition(self, *groups: Iterable[str]) -> None:
        """Split the network: each group on its own segment; unnamed hosts stay on the main one.

        partition(["h1"], ["h2", "h3"]) cuts h1 off from h2 and h3. Replaces any earlier partition.
        """
        sets = [list(g) for g in groups]
        seen: set[str] = set()
        for g in sets:
            for n in g:
                self.host(n)
                if n in seen:
                    raise LabError(f"host {n} is in two partition groups")
                seen.add(n)
        self.heal()
        for i, g in enumerate(sets[1:], start=1):
            br = f"brp{i}"
            ip("-n", self.switch, "link", "add", br, "type", "bridge")
            ip("-n", self.switch, "link", "set", "dev", br, "up")
            self._segments.append(br)
            for n in g:
                ip("-n", self.switch, "link", "set", "dev", self.hosts[n].port, "master", br)

    def heal(self) -> None:
        """Undo partition(): every port back on the main bridge."""
        if not self._segments:
            return
        for h in self.hosts.values():
            ip("-n", self.switch, "link", "set", "dev", h.port, "master", _BRIDGE)
        for br in self._segments:
            ip("-n", self.switch, "link", "del", br, check=False)
        self._segments.clear()

    def freeze(self, pid: int) -> None:
        """SIGSTOP: the process hangs without dying (a stuck daemon; its leases run out)."""
        os.kill(pid, signal.SIGSTOP)
        self._frozen.add(pid)

    def thaw(self, pid: int) -> None:
        os.kill(pid, signal.SIGCONT)
        self._frozen.discard(pid)

    def fence_params(self, name: str) -> dict[str, str]:
        """Parameters for a `fence_corral_netns` device that fences this host."""
        return {"plug": self.host(name).netns, "state_dir": self.fence_state_dir}


def _open_rsctmp(h: Host, bound_s: float = 5.0) -> int | None:
    """A directory descriptor on RSCTMP as mounted in h's mount namespace, or None. A helper enters
    the namespace and waits; its /proc/PID/root resolves paths there; the descriptor outlives it."""
    if not os.path.exists(h.mnt):
        return None
    try:
        ns = os.stat(h.mnt).st_ino
        proc = subprocess.Popen(["nsenter", f"--mount={h.mnt}", "--", "sh", "-c", "echo in; read _"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return None
    assert proc.stdout is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], bound_s)
        if not ready or not proc.stdout.readline():
            return None  # nsenter failed (the namespace went away) or hung
        # nsenter execs sh in place; make sure that pid really is in h's current namespace
        if os.stat(f"/proc/{proc.pid}/ns/mnt").st_ino != ns:
            return None
        return os.open(f"/proc/{proc.pid}/root{RSCTMP}", os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    finally:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=bound_s)
        for f in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                if f is not None:
                    f.close()


def _read_at(dir_fd: int, name: str, limit: int = 4096) -> str:
    fd = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
    try:
        return os.read(fd, limit).decode(errors="replace")
    finally:
        os.close(fd)


def _remove_lab_dir(path: str) -> list[str]:
    problems: list[str] = []
    if not os.path.isdir(path):
        return problems
    for entry in os.listdir(path):
        if entry.endswith((".mnt", ".uts")):  # namespace files (.uts: controlplane.hosts)
            subprocess.run(["umount", os.path.join(path, entry)], capture_output=True, check=False)
    for _ in range(3):  # the bind of the dir onto itself (once, but be thorough)
        if subprocess.run(["umount", path], capture_output=True, check=False).returncode != 0:
            break
    try:
        shutil.rmtree(path)
    except OSError as e:
        problems.append(f"{path}: {e}")
    with contextlib.suppress(OSError):
        os.rmdir(os.path.dirname(path))  # only if no other lab uses it
    return problems


def cleanup_stale(prefix: str = DEFAULT_PREFIX, *, force: bool = False,
                  lab_root: str = LAB_ROOT) -> list[str]:
    """Remove leftovers of killed lab runs whose name starts with prefix; returns what was removed.

    A lab whose owner process is still alive is left alone unless force=True, so
    a parallel run is never torn down under its feet.
    """
    if not re.fullmatch(r"[a-z][a-z0-9]{2,7}", prefix):
        raise ValueError(f"prefix {prefix!r}: 3-8 of [a-z0-9], starting with a letter")
    labs: dict[str, list[str]] = {}
    for name in netns.list_netns():
        lab_prefix = name.split("-", 1)[0]
        if lab_prefix.startswith(prefix) and "-" in name:
            labs.setdefault(lab_prefix, []).append(name)
    if os.path.isdir(lab_root):
        for entry in os.listdir(lab_root):
            if entry.startswith(prefix):
                labs.setdefault(entry, [])
    removed: list[str] = []
    for lab_prefix, names in sorted(labs.items()):
        owner_file = os.path.join(lab_root, lab_prefix, "owner")
        with contextlib.suppress(OSError, ValueError):
            with open(owner_file) as f:
                owner = int(f.read().strip())
            if not force and owner != os.getpid() and _pid_alive(owner):
                continue
        for name in names:
            netns.kill_all(name)
        lab_dir = os.path.join(lab_root, lab_prefix)
        if os.path.isdir(lab_dir):
            _remove_lab_dir(lab_dir)
            removed.append(lab_dir)
        for name in names:
            if ip("netns", "del", name, check=False).returncode == 0:
                removed.append(name)
    return removed


@contextlib.contextmanager
def lab(hosts: int | Sequence[str] = 3, **kw: object) -> Iterator[Lab]:
    """`with lab(3) as l:` — same as `with Lab(3) as l:`."""
    with Lab(hosts, **kw) as built:  # type: ignore[arg-type]
        yield built
