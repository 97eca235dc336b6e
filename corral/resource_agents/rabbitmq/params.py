"""The agent's parameters (OCF_RESKEY_*), their checks, and its OCF meta-data."""
from __future__ import annotations

import os
import pwd
import re
import shlex
import socket
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field

OCF_SUCCESS, OCF_ERR_GENERIC, OCF_ERR_ARGS, OCF_ERR_UNIMPLEMENTED = 0, 1, 2, 3
OCF_ERR_PERM, OCF_ERR_INSTALLED, OCF_ERR_CONFIGURED, OCF_NOT_RUNNING = 4, 5, 6, 7

_NODENAME = re.compile(r"^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+$")
_GROW = ("all", "none")


class ParamError(Exception):
    """A parameter that cannot work; rc is the OCF code validate-all (and every action) returns."""

    def __init__(self, rc: int, message: str) -> None:
        super().__init__(message)
        self.rc = rc


# name -> (default, shortdesc); the default "" means "RabbitMQ's own default".
PARAMETERS: dict[str, tuple[str, str]] = {
    "nodename": ("", "RabbitMQ node name (RABBITMQ_NODENAME); default rabbit@ the short host name"),
    "user": ("rabbitmq", "OS user the node and its CLI tools run as; empty: the agent's own user"),
    "home": ("/var/lib/rabbitmq", "HOME of the node and CLI tools: holds .erlang.cookie (mode 400, owned by user)"),
    "mnesia_base": ("/var/lib/rabbitmq/mnesia", "RABBITMQ_MNESIA_BASE: the durable data (kept across starts)"),
    "log_base": ("/var/log/rabbitmq", "RABBITMQ_LOG_BASE: RabbitMQ's logs and this agent's own log"),
    "config_file": ("", "RABBITMQ_CONFIG_FILE (rabbitmq.conf)"),
    "enabled_plugins_file": ("", "RABBITMQ_ENABLED_PLUGINS_FILE"),
    "pid_file": ("", "RABBITMQ_PID_FILE; default MNESIA_BASE/NODENAME.pid"),
    "node_ip": ("", "RABBITMQ_NODE_IP_ADDRESS: the AMQP listener's address (default all); the monitor probes it"),
    "node_port": ("5672", "RABBITMQ_NODE_PORT: the AMQP port the monitor probes"),
    "env": ("", "more environment for the node, K=V K2='two words' (e.g. RABBITMQ_DIST_PORT=25672)"),
    "bin_dir": ("/usr/lib/rabbitmq/bin", "where rabbitmq-server, rabbitmqctl and rabbitmq-queues are"),
    "grow_quorum_queues": ("all", "after a start, add this node to every quorum queue that lacks it (all) or not (none)"),
}


@dataclass(frozen=True)
class Params:
    instance: str              # OCF_RESOURCE_INSTANCE, the clone instance suffix dropped
    nodename: str
    user: str
    home: str
    mnesia_base: str
    log_base: str
    config_file: str
    enabled_plugins_file: str
    pid_file: str
    node_ip: str
    node_port: int
    env: dict[str, str] = field(default_factory=dict)
    bin_dir: str = "/usr/lib/rabbitmq/bin"
    grow_quorum_queues: str = "all"

    @property
    def mnesia_dir(self) -> str:
        return os.path.join(self.mnesia_base, self.nodename)

    @property
    def probe_address(self) -> str:
        return self.node_ip if self.node_ip and self.node_ip not in ("0.0.0.0", "::") else "127.0.0.1"

    def tool(self, name: str) -> str:
        return os.path.join(self.bin_dir, name)

    @property
    def agent_log(self) -> str:
        return os.path.join(self.log_base, f"ocf-corral-rabbitmq-{self.instance}.log")


def parse(environ: Mapping[str, str]) -> Params:
    """The parameters from the OCF environment; raises ParamError (rc 6) for a value that cannot work."""
    def get(name: str) -> str:
        return environ.get(f"OCF_RESKEY_{name}", PARAMETERS[name][0]).strip()

    instance = environ.get("OCF_RESOURCE_INSTANCE", "rabbitmq").split(":", 1)[0] or "rabbitmq"
    nodename = get("nodename") or f"rabbit@{socket.gethostname().split('.', 1)[0]}"
    if not _NODENAME.match(nodename):
        raise ParamError(OCF_ERR_CONFIGURED, f"nodename {nodename!r}: expected NAME@HOST")
    try:
        port = int(get("node_port"))
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise ParamError(OCF_ERR_CONFIGURED, f"node_port {get('node_port')!r}: expected a TCP port")
    grow = get("grow_quorum_queues")
    if grow not in _GROW:
        raise ParamError(OCF_ERR_CONFIGURED, f"grow_quorum_queues {grow!r}: expected one of {', '.join(_GROW)}")
    env: dict[str, str] = {}
    try:
        words = shlex.split(get("env"))
    except ValueError as e:
        raise ParamError(OCF_ERR_CONFIGURED, f"env: {e}") from None
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ParamError(OCF_ERR_CONFIGURED, f"env: {word!r} is not NAME=VALUE")
        env[key] = value
    mnesia_base = get("mnesia_base")
    for name, value in (("home", get("home")), ("mnesia_base", mnesia_base), ("log_base", get("log_base"))):
        if not os.path.isabs(value):
            raise ParamError(OCF_ERR_CONFIGURED, f"{name} {value!r}: expected an absolute path")
    return Params(instance=instance, nodename=nodename, user=get("user"), home=get("home"),
                  mnesia_base=mnesia_base, log_base=get("log_base"), config_file=get("config_file"),
                  enabled_plugins_file=get("enabled_plugins_file"),
                  pid_file=get("pid_file") or os.path.join(mnesia_base, f"{nodename}.pid"),
                  node_ip=get("node_ip"), node_port=port, env=env, bin_dir=get("bin_dir"),
                  grow_quorum_queues=grow)


def validate(p: Params) -> None:
    """What must hold before the node can start (raises ParamError with the OCF code)."""
    for tool in ("rabbitmq-server", "rabbitmqctl", "rabbitmq-queues"):
        if not os.access(p.tool(tool), os.X_OK):
            raise ParamError(OCF_ERR_INSTALLED, f"{p.tool(tool)} is missing or not executable (rabbitmq-server)")
    uid = os.geteuid()
    if p.user:
        try:
            uid = pwd.getpwnam(p.user).pw_uid
        except KeyError:
            raise ParamError(OCF_ERR_INSTALLED, f"user {p.user!r} does not exist") from None
        if os.geteuid() != 0 and uid != os.geteuid():
            raise ParamError(OCF_ERR_PERM, f"user {p.user!r}: the agent must run as root to switch to it")
    cookie = os.path.join(p.home, ".erlang.cookie")
    try:
        st = os.stat(cookie)
    except OSError as e:
        raise ParamError(OCF_ERR_CONFIGURED, f"Erlang cookie {cookie}: {e.strerror}") from None
    if st.st_uid != uid or stat.S_IMODE(st.st_mode) & 0o077:
        raise ParamError(OCF_ERR_CONFIGURED, f"Erlang cookie {cookie} must be owned by "
                         f"{p.user or 'the agent user'} and readable by it only (mode 400)")
    for name, path in (("config_file", p.config_file), ("enabled_plugins_file", p.enabled_plugins_file)):
        if path and not os.path.exists(path):
            raise ParamError(OCF_ERR_CONFIGURED, f"{name} {path} does not exist")


def metadata_xml() -> str:
    params = "\n".join(
        f'    <parameter name="{name}" unique="0" required="0">\n'
        f'      <shortdesc lang="en">{desc}</shortdesc>\n'
        f'      <content type="{"integer" if name == "node_port" else "string"}" default="{default}"/>\n'
        f'    </parameter>'
        for name, (default, desc) in PARAMETERS.items())
    return f"""<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="rabbitmq" version="1.0">
  <version>1.1</version>
  <longdesc lang="en">
RabbitMQ as an anonymous clone that keeps its durable data: a node starts on its own Mnesia data and
rejoins the cluster with it; only a node whose data the running cluster rejects (it was forgotten)
is reset, and the log says so. A node without data joins a running member; it bootstraps a new
cluster only when no node has ever held the cluster's data. After a start the node is added back to
every quorum queue that lacks it. The monitor checks the beam process and the AMQP handshake
without starting an Erlang VM (OCF_CHECK_LEVEL 10 adds rabbitmq-diagnostics check_running).
Notifications are accepted and logged: nothing is forgotten automatically.
  </longdesc>
  <shortdesc lang="en">RabbitMQ cluster node that keeps its data (Corral)</shortdesc>
  <parameters>
{params}
  </parameters>
  <actions>
    <action name="start" timeout="300s"/>
    <action name="stop" timeout="120s"/>
    <action name="monitor" timeout="20s" interval="10s" depth="0"/>
    <action name="monitor" timeout="60s" interval="120s" depth="10"/>
    <action name="notify" timeout="20s"/>
    <action name="validate-all" timeout="30s"/>
    <action name="meta-data" timeout="5s"/>
  </actions>
</resource-agent>
"""
