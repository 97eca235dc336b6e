"""One RabbitMQ node: its environment, its beam process, its CLI tools and a cheap AMQP probe."""
from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass

from corral.resource_agents.rabbitmq.params import Params

# The AMQP 0-9-1 protocol header; a healthy node answers with a Connection.Start method frame.
AMQP_HEADER = b"AMQP\x00\x00\x09\x01"
_CONNECTION_START = (10, 10)  # class connection, method start


@dataclass(frozen=True)
class Outcome:
    rc: int
    out: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


class Node:
    def __init__(self, p: Params) -> None:
        self.p = p

    # -- environment --------------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        p = self.p
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OCF_", "RABBITMQ_"))}
        env.update({"HOME": p.home, "RABBITMQ_NODENAME": p.nodename, "RABBITMQ_MNESIA_BASE": p.mnesia_base,
                    "RABBITMQ_LOG_BASE": p.log_base, "RABBITMQ_PID_FILE": p.pid_file,
                    "RABBITMQ_NODE_PORT": str(p.node_port), "LC_ALL": "C.UTF-8"})
        for key, value in (("RABBITMQ_CONFIG_FILE", p.config_file),
                           ("RABBITMQ_ENABLED_PLUGINS_FILE", p.enabled_plugins_file),
                           ("RABBITMQ_NODE_IP_ADDRESS", p.node_ip)):
            if value:
                env[key] = value
        env.update(p.env)
        return env

    def _ids(self) -> tuple[int, int] | None:
        if not self.p.user or os.geteuid() != 0:
            return None
        pw = pwd.getpwnam(self.p.user)
        return pw.pw_uid, pw.pw_gid

    def _popen_user(self) -> dict[str, object]:
        ids = self._ids()
        return {} if ids is None else {"user": ids[0], "group": ids[1], "extra_groups": []}

    def prepare_dirs(self) -> None:
        """The data and log directories exist and belong to the node's user."""
        ids = self._ids()
        for d in (self.p.mnesia_base, self.p.log_base):
            os.makedirs(d, mode=0o750, exist_ok=True)
            if ids is not None:
                os.chown(d, *ids)

    # -- the CLI ------------------------------------------------------------------------------------
    def ctl(self, *args: str, tool: str = "rabbitmqctl", timeout: float = 30.0, node: str | None = None) -> Outcome:
        """Run a RabbitMQ CLI tool against this node (or another); never raises."""
        argv = [self.p.tool(tool), "-n", node or self.p.nodename, *args]
        try:
            r = subprocess.run(argv, env=self.environment(), cwd=self.p.home, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=max(1.0, timeout),
                               **self._popen_user())  # type: ignore[call-overload]
        except subprocess.TimeoutExpired:
            return Outcome(124, f"{' '.join(argv[2:])}: timed out after {timeout:.0f}s")
        except OSError as e:
            return Outcome(127, f"{argv[0]}: {e}")
        return Outcome(r.returncode, (r.stdout + r.stderr).strip())

    # -- the beam process ---------------------------------------------------------------------------
    def pid(self) -> int | None:
        """The node's beam.smp pid if it is alive (from the pid file RabbitMQ writes), else None."""
        try:
            with open(self.p.pid_file) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            return None
        if pid <= 0:
            return None
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            return None
        if fields[1].split()[0] in ("Z", "X") or not comm.startswith("beam"):
            return None  # dead, or the pid was reused by something else
        return pid

    def spawn(self, startup_log: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start rabbitmq-server detached (its own session: it outlives the agent and its timeout)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.p.pid_file)  # a stale pid file must not be read as the new node's
        env = {**self.environment(), **(extra_env or {})}
        ids = self._ids()
        with open(startup_log, "wb") as log:
            if ids is not None:
                os.chown(startup_log, *ids)
            return subprocess.Popen([self.p.tool("rabbitmq-server")], env=env, cwd=self.p.home,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, **self._popen_user())  # type: ignore[call-overload]

    def kill(self, grace_s: float) -> bool:
        """SIGTERM the beam, SIGKILL after grace_s; True once it is gone."""
        pid = self.pid()
        if pid is None:
            return True
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                if self.pid() is None:
                    return True
                time.sleep(0.1)
        return self.pid() is None

    # -- health -------------------------------------------------------------------------------------
    def amqp_greets(self, timeout_s: float = 3.0) -> str | None:
        """None if the AMQP listener answers the protocol header with Connection.Start, else why not.
        Costs a TCP connection and no Erlang VM (a CLI call forks one: ~0.5 s of CPU)."""
        try:
            with socket.create_connection((self.p.probe_address, self.p.node_port), timeout=timeout_s) as s:
                s.settimeout(timeout_s)
                s.sendall(AMQP_HEADER)
                data = b""
                while len(data) < 11:
                    chunk = s.recv(64)
                    if not chunk:
                        break
                    data += chunk
        except OSError as e:
            return f"AMQP port {self.p.probe_address}:{self.p.node_port}: {e}"
        if len(data) < 11 or data[0] != 1 or struct.unpack(">HH", data[7:11]) != _CONNECTION_START:
            return f"AMQP port {self.p.probe_address}:{self.p.node_port} did not send Connection.Start"
        return None

    def has_data(self) -> bool:
        """Whether the node has Mnesia data of its own (a cluster it belongs to)."""
        return os.path.exists(os.path.join(self.p.mnesia_dir, "schema.DAT"))

    def reset_data(self) -> None:
        """Remove this node's Mnesia data (what `rabbitmqctl force_reset` does, done with the node down).
        Kept aside under a .reset-<time> name, not deleted: an operator can still look at it."""
        if os.path.isdir(self.p.mnesia_dir):
            os.rename(self.p.mnesia_dir, f"{self.p.mnesia_dir}.reset-{int(time.time())}")
        for suffix in ("-feature_flags", "-plugins-expand"):
            path = self.p.mnesia_dir + suffix
            if os.path.isfile(path):
                os.rename(path, f"{path}.reset-{int(time.time())}")
