"""RabbitMQ under Corral on namespace hosts: the rig of tests/lab/test_rabbitmq_agent.py.

    with Lab(["rq1", "rq2", "rq3", "rqc"], subnet="10.62.0") as lab, RabbitRig(lab, ["rq1", "rq2", "rq3"]) as rig:
        rig.start()                  # Corral agents + the rabbitmq clone (ocf:corral:rabbitmq)
        rig.wait_running(3, 120)     # every node in the RabbitMQ cluster
        rig.client("publish", ...)   # pika, run on the client host

Each server host gets what Erlang distribution needs (node names are rabbit@HOSTNAME): its own
UTS namespace (a persistent one per host, <lab dir>/<host>.uts, entered by every command of the
host) named after the host, and an /etc/hosts naming every server, bind-mounted in the host's own
mount namespace. Its RabbitMQ data, logs and Erlang cookie (mode 400, owner rabbitmq) live in
<work>/<host>/, given to the agent as parameters. The Corral agents share one SQLite store
(<work>/cluster.db): every host sees the work directory.

`python -m corral_lab.rabbitmq publish|drain ...` is the AMQP client (pika), run on the client
host; it prints one JSON object.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from corral_lab.hosts import Lab, LabError

RESOURCE = "rabbitmq"
CLONE = "rabbitmq-clone"
QUEUE = "audit"
USER, PASSWORD = "audit", "audit-secret"
RABBITMQ_BIN = "/usr/lib/rabbitmq/bin"

CONFIG = """\
# written by corral_lab.rabbitmq
cluster:
  stonith-enabled: false
resources:
  - clone: {clone}
    meta: {{notify: true}}
    of:
      id: {rsc}
      agent: ocf:{provider}:{agent}
      params:
{params}
      ops:
        - {{name: monitor, interval: {monitor}, timeout: 20s}}
        - {{name: start, timeout: {start_timeout}}}
        - {{name: stop, timeout: 60s}}
        - {{name: notify, timeout: 30s}}
"""


def available() -> str | None:
    """None if RabbitMQ and pika are here, else why not."""
    if not os.access(os.path.join(RABBITMQ_BIN, "rabbitmq-server"), os.X_OK):
        return "rabbitmq-server is not installed"
    try:
        pwd.getpwnam("rabbitmq")
    except KeyError:
        return "no rabbitmq user"
    try:
        import pika  # noqa: F401
    except ImportError:
        return "pika is not installed"
    return None


class RabbitRig:
    """Corral agents on the server hosts running a RabbitMQ clone; stop() never raises."""

    def __init__(self, lab: Lab, servers: Sequence[str], *, client: str | None = None, monitor: str = "2s",
                 agent: str = "corral:rabbitmq", start_timeout: str = "240s") -> None:
        self.lab, self.servers = lab, list(servers)
        self.client_host = client or next(h for h in lab.hosts if h not in self.servers)
        self.monitor, self.agent, self.start_timeout = monitor, agent, start_timeout
        self.work = ""
        self.agents: dict[str, subprocess.Popen[bytes]] = {}
        self._uts: dict[str, str] = {}
        pw = pwd.getpwnam("rabbitmq")
        self.uid, self.gid = pw.pw_uid, pw.pw_gid

    def __enter__(self) -> RabbitRig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- paths --------------------------------------------------------------------------------------
    def host_dir(self, host: str) -> str:
        return os.path.join(self.work, host)

    def params(self, host: str) -> dict[str, str]:
        d = self.host_dir(host)
        return {"nodename": f"rabbit@{host}", "home": f"{d}/home", "mnesia_base": f"{d}/mnesia",
                "log_base": f"{d}/log", "enabled_plugins_file": f"{d}/home/enabled_plugins",
                "pid_file": f"{d}/mnesia/rabbit@{host}.pid"}

    # -- life cycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self.work = tempfile.mkdtemp(prefix="corral-lab-rabbitmq-")
        os.chmod(self.work, 0o755)  # the rabbitmq user walks through it to its data
        hosts_file = os.path.join(self.work, "hosts")
        with open(hosts_file, "w") as f:
            f.write("127.0.0.1 localhost\n")
            for h in self.servers:
                f.write(f"{self.lab.address(h)} {h}\n")
        cookie = secrets.token_hex(16).upper()
        for h in self.servers:
            self._make_uts(h)
            self._bind_hosts(h)
            home = os.path.join(self.host_dir(h), "home")
            os.makedirs(home)
            with open(os.path.join(home, ".erlang.cookie"), "w") as f:
                f.write(cookie)
            os.chmod(os.path.join(home, ".erlang.cookie"), 0o400)
            with open(os.path.join(home, "enabled_plugins"), "w") as f:
                f.write("[].\n")
            for path in (self.host_dir(h), home, *(os.path.join(home, n) for n in os.listdir(home))):
                os.chown(path, self.uid, self.gid)
        self.write_config()
        r = self.corral("load", os.path.join(self.work, "cluster.yaml"))
        if r.returncode != 0:
            raise LabError(f"corral load failed ({r.returncode}): {r.stderr.strip()[-1500:]}")
        for h in self.servers:
            self.start_agent(h)

    def write_config(self) -> None:
        provider, agent = self.agent.split(":")
        # Per-node values: every host's paths differ only by the host name, which ${node:#uname} gives.
        d = os.path.join(self.work, "${node:#uname}")
        params = {"nodename": "rabbit@${node:#uname}", "home": f"{d}/home", "mnesia_base": f"{d}/mnesia",
                  "log_base": f"{d}/log", "enabled_plugins_file": f"{d}/home/enabled_plugins",
                  "pid_file": f"{d}/mnesia/rabbit@${{node:#uname}}.pid"}
        lines = "\n".join(f"        {k}: {json.dumps(v)}" for k, v in params.items())
        with open(os.path.join(self.work, "cluster.yaml"), "w") as f:
            f.write(CONFIG.format(clone=CLONE, rsc=RESOURCE, provider=provider, agent=agent, params=lines,
                                  monitor=self.monitor, start_timeout=self.start_timeout))

    def _make_uts(self, host: str) -> None:
        path = os.path.join(self.lab.dir, f"{host}.uts")
        open(path, "w").close()
        subprocess.run(["unshare", f"--uts={path}", "hostname", host], check=True, capture_output=True)
        self._uts[host] = path

    def _bind_hosts(self, host: str) -> None:
        r = self.lab.run(host, ["mount", "--bind", os.path.join(self.work, "hosts"), "/etc/hosts"])
        if r.returncode != 0:
            raise LabError(f"{host}: cannot bind /etc/hosts: {r.stderr.strip()}")

    def command(self, host: str, argv: Sequence[str]) -> list[str]:
        uts = ["nsenter", f"--uts={self._uts[host]}", "--"] if host in self._uts else []
        return [*uts, *self.lab.command(host, argv, cwd="/")]

    def run(self, host: str, argv: Sequence[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(self.command(host, argv), capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired as e:
            return subprocess.CompletedProcess(list(argv), 124, "", f"timed out after {e.timeout}s")

    def _env(self) -> list[str]:
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        path = os.environ.get("PYTHONPATH", "")
        return ["env", f"PYTHONPATH={repo}{os.pathsep + path if path else ''}"]

    def store_url(self) -> str:
        return f"sqlite:///{self.work}/cluster.db"

    def corral(self, *args: str, host: str | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return self.run(host or self.servers[0],
                        [*self._env(), sys.executable, "-m", "corral.cli.main", *args, "--store", self.store_url()],
                        timeout=timeout)

    def start_agent(self, host: str) -> None:
        argv = [*self._env(), sys.executable, "-m", "corral.cli.main", "agent", "--node", host,
                "--store", self.store_url(), "--rsctmp", "/run/resource-agents", "--shutdown-timeout", "5",
                "--watchdog", "none", "--log-level", "info"]
        with open(os.path.join(self.work, f"agent-{host}.log"), "ab") as log:
            self.agents[host] = subprocess.Popen(self.command(host, argv), stdin=subprocess.DEVNULL,
                                                 stdout=log, stderr=subprocess.STDOUT)

    def kill_agent(self, host: str) -> None:
        """SIGKILL the host's Corral agent (what it runs keeps running)."""
        p = self.agents.pop(host, None)
        if p is not None:
            with contextlib.suppress(OSError):
                p.send_signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=5)

    def timed(self, host: str, argv: Sequence[str], runs: int = 3) -> float:
        """Median wall time of argv run in host (seconds), failing on a non-zero exit."""
        times = []
        for _ in range(runs):
            t0 = time.monotonic()
            r = self.run(host, argv)
            times.append(time.monotonic() - t0)
            if r.returncode != 0:
                raise LabError(f"{' '.join(argv)} on {host}: {r.returncode} {r.stderr.strip()[-300:]}")
        return sorted(times)[len(times) // 2]

    def agent_command(self, host: str, action: str) -> list[str]:
        """ocf:corral:rabbitmq ACTION run by hand in host with its parameters (as the node agent would)."""
        env = [f"OCF_RESKEY_{k}={v}" for k, v in self.params(host).items()]
        script = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                              "corral", "resource_agents", "resource.d", "corral", "rabbitmq")
        return ["env", f"CORRAL_PYTHON={sys.executable}", "OCF_ROOT=/usr/lib/ocf",
                f"OCF_RESOURCE_INSTANCE={RESOURCE}:0", "OCF_RESKEY_CRM_meta_interval=10000", *env, script, action]

    def stop(self) -> None:
        """Kill the agents and every process of the server hosts (beam, epmd, CLI), drop the UTS
        namespaces; the work directory goes too."""
        for p in self.agents.values():
            with contextlib.suppress(OSError):
                p.send_signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=5)
        self.agents.clear()
        for h in self.servers:
            for pid in self.lab.pids(h):  # beam.smp and epmd outlive the agent: orphans of the host
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        for path in self._uts.values():
            subprocess.run(["umount", path], capture_output=True, check=False)
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._uts.clear()
        if self.work and not os.environ.get("CORRAL_KEEP_LAB"):
            shutil.rmtree(self.work, ignore_errors=True)

    # -- RabbitMQ -----------------------------------------------------------------------------------
    def ctl(self, host: str, *args: str, tool: str = "rabbitmqctl", timeout: float = 60.0
            ) -> subprocess.CompletedProcess[str]:
        p = self.params(host)
        env = ["env", f"HOME={p['home']}", f"RABBITMQ_MNESIA_BASE={p['mnesia_base']}",
               f"RABBITMQ_LOG_BASE={p['log_base']}", "LC_ALL=C.UTF-8"]
        return self.run(host, ["setpriv", "--reuid", "rabbitmq", "--regid", "rabbitmq", "--init-groups", *env,
                               os.path.join(RABBITMQ_BIN, tool), "-n", p["nodename"], *args], timeout=timeout)

    def beam_pid(self, host: str) -> int | None:
        try:
            with open(self.params(host)["pid_file"]) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/comm") as f:
                return pid if f.read().startswith("beam") else None
        except (OSError, ValueError):
            return None

    def kill_beam(self, host: str) -> int | None:
        pid = self.beam_pid(host)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        return pid

    def running_nodes(self, via: str) -> list[str]:
        r = self.ctl(via, "cluster_status", "--formatter", "json", timeout=20)
        if r.returncode != 0:
            return []
        try:
            return sorted(json.loads(r.stdout).get("running_nodes", []))
        except ValueError:
            return []

    def queue_members(self, via: str, queue: str = QUEUE) -> tuple[list[str], list[str]] | None:
        """(members, online members) of a quorum queue, or None if it cannot be read now."""
        r = self.ctl(via, "list_queues", "name", "members", "online", "--formatter", "json", timeout=20)
        if r.returncode != 0:
            return None
        try:
            rows = json.loads(r.stdout)
        except ValueError:
            return None
        for row in rows:
            if row.get("name") == queue:
                return sorted(row.get("members") or []), sorted(row.get("online") or [])
        return None

    def wait(self, what: str, check: Any, bound_s: float, poll_s: float = 1.0) -> float:
        """Seconds until check() is true; LabError after bound_s."""
        t0 = time.monotonic()
        while True:
            if check():
                return time.monotonic() - t0
            for h, p in self.agents.items():
                if p.poll() is not None:
                    raise LabError(f"the Corral agent on {h} exited with {p.returncode}: {self.agent_log(h)}")
            if time.monotonic() - t0 > bound_s:
                raise LabError(f"{what}: not within {bound_s:g}s; {self.diagnostics()}")
            time.sleep(poll_s)

    def wait_cluster(self, bound_s: float, queue: bool = False) -> float:
        """Until every server runs in one RabbitMQ cluster (and, with queue, the quorum queue has every
        server as an online member)."""
        want = sorted(f"rabbit@{h}" for h in self.servers)

        def ok() -> bool:
            if self.running_nodes(self.servers[0]) != want:
                return False
            if not queue:
                return True
            m = self.queue_members(self.servers[0])
            return m is not None and m[0] == want and m[1] == want
        return self.wait("all RabbitMQ nodes running" + (" with the queue on 3 members" if queue else ""),
                         ok, bound_s)

    def agent_log(self, host: str, limit: int = 2000) -> str:
        with contextlib.suppress(OSError):
            with open(os.path.join(self.work, f"agent-{host}.log"), errors="replace") as f:
                return f.read()[-limit:]
        return ""

    def ra_log(self, host: str) -> str:
        """What ocf:corral:rabbitmq logged on host."""
        with contextlib.suppress(OSError):
            with open(os.path.join(self.params(host)["log_base"], f"ocf-corral-rabbitmq-{RESOURCE}.log")) as f:
                return f.read()
        return ""

    def diagnostics(self) -> str:
        parts = []
        for h in self.servers:
            parts.append(f"{h}: beam={self.beam_pid(h)} agent log: {self.agent_log(h, 600)!r} "
                         f"ra log: {self.ra_log(h)[-600:]!r}")
        return "\n".join(parts)

    def client(self, *args: str, timeout: float = 120.0) -> dict[str, Any]:
        hosts = ",".join(self.lab.address(h) for h in self.servers)
        r = self.lab.run(self.client_host, [*self._env(), sys.executable, "-m", "corral_lab.rabbitmq", *args,
                                            "--hosts", hosts], timeout=timeout, cwd="/")
        if r.returncode != 0:
            raise LabError(f"client {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()[-1500:]}")
        out: dict[str, Any] = json.loads(r.stdout)
        return out


# -- the AMQP client (runs on the client host) -------------------------------------------------------
def _connect(hosts: list[str]) -> Any:
    import pika

    creds = pika.PlainCredentials(USER, PASSWORD)
    params = [pika.ConnectionParameters(host=h, credentials=creds, connection_attempts=1,
                                        socket_timeout=5, blocked_connection_timeout=30) for h in hosts]
    return pika.BlockingConnection(params)


def publish(hosts: list[str], start: int, count: int, queue: str) -> dict[str, Any]:
    """Persistent messages with publisher confirms to a quorum queue; only confirmed ids are reported."""
    import pika

    conn = _connect(hosts)
    ch = conn.channel()
    ch.queue_declare(queue=queue, durable=True, arguments={"x-queue-type": "quorum"})
    ch.confirm_delivery()
    confirmed: list[int] = []
    for i in range(start, start + count):
        try:
            ch.basic_publish("", queue, str(i).encode(), pika.BasicProperties(delivery_mode=2), mandatory=True)
            confirmed.append(i)
        except (pika.exceptions.UnroutableError, pika.exceptions.NackError):
            pass
    conn.close()
    return {"confirmed": confirmed}


def drain(hosts: list[str], queue: str, idle_s: float = 3.0) -> dict[str, Any]:
    """Consume (and ack) until the queue stays empty for idle_s; the ids received."""
    conn = _connect(hosts)
    ch = conn.channel()
    ch.queue_declare(queue=queue, durable=True, passive=True)
    got: list[int] = []
    idle_until = time.monotonic() + idle_s
    while time.monotonic() < idle_until:
        method, _props, body = ch.basic_get(queue)
        if method is None:
            time.sleep(0.1)
            continue
        got.append(int(body))
        ch.basic_ack(method.delivery_tag)
        idle_until = time.monotonic() + idle_s
    conn.close()
    return {"received": got}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m corral_lab.rabbitmq")
    ap.add_argument("action", choices=("publish", "drain"))
    ap.add_argument("--hosts", required=True, help="comma-separated broker addresses")
    ap.add_argument("--queue", default=QUEUE)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--count", type=int, default=100)
    a = ap.parse_args(argv)
    hosts = a.hosts.split(",")
    out = publish(hosts, a.start, a.count, a.queue) if a.action == "publish" else drain(hosts, a.queue)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
