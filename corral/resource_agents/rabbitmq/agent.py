"""ocf:corral:rabbitmq's actions: start, stop, monitor, notify, validate-all, meta-data.

Unlike resource-agents' rabbitmq-cluster, which wipes a node's Mnesia data on every start, a node
starts on its own data and rejoins with it; only data the running cluster rejects is reset.
See docs/resource-agents.md ("ocf:corral:rabbitmq") for the rules and why.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Mapping, Sequence

from corral.resource_agents.rabbitmq.cluster import ClusterUnknown, ClusterView
from corral.resource_agents.rabbitmq.node import Node
from corral.resource_agents.rabbitmq.params import (
    OCF_ERR_GENERIC,
    OCF_ERR_UNIMPLEMENTED,
    OCF_NOT_RUNNING,
    OCF_SUCCESS,
    ParamError,
    Params,
    metadata_xml,
    parse,
    validate,
)

DEFAULT_TIMEOUT_S = {"start": 300.0, "stop": 120.0, "monitor": 20.0, "notify": 20.0}
MARGIN_S = 3.0            # leave the cluster manager's timeout to it: answer before it fires
POLL_S = 0.5
JOIN_RETRY_S = 3.0
JOIN_ATTEMPTS = 3
# What a node's boot says when the running cluster no longer counts it as a member.
REJECTED = ("inconsistent_cluster", "disagrees")
# What a node with data logs while it waits for the members it last ran with (after a full outage).
WAITING_FOR_PEERS = "Waiting for Mnesia tables"


class Failed(Exception):
    def __init__(self, rc: int, reason: str) -> None:
        super().__init__(reason)
        self.rc = rc


class Agent:
    def __init__(self, p: Params, environ: Mapping[str, str]) -> None:
        self.p = p
        self.node = Node(p)
        self.environ = environ
        action = environ.get("OCF_RESKEY_CRM_meta_name", "")
        try:
            timeout_s = int(environ.get("OCF_RESKEY_CRM_meta_timeout", "0")) / 1000
        except ValueError:
            timeout_s = 0
        self.deadline = time.monotonic() + max(5.0, (timeout_s or DEFAULT_TIMEOUT_S.get(action, 60.0)) - MARGIN_S)

    @property
    def booting_marker(self) -> str:
        """Present while the node waits for its peers: start returned, the boot goes on."""
        rsctmp = self.environ.get("HA_RSCTMP") or "/run/resource-agents"
        return os.path.join(rsctmp, f"corral-rabbitmq-{self.p.instance}.booting")

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def log(self, message: str) -> None:
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {self.p.nodename}: {message}"
        print(line, file=sys.stderr)
        try:
            with open(self.p.agent_log, "a") as f:
                f.write(line + "\n")
        except OSError:
            pass

    # -- monitor ------------------------------------------------------------------------------------
    def monitor(self) -> int:
        if self.node.pid() is None:
            return OCF_NOT_RUNNING
        why = self.node.amqp_greets(timeout_s=min(5.0, max(1.0, self.remaining() / 2)))
        if why and os.path.exists(self.booting_marker):
            # Still waiting for the members it last ran with: running, not failed. RabbitMQ bounds
            # the wait itself (10 x 30 s by default), then halts, and this monitor sees it stopped.
            return OCF_SUCCESS
        if why:
            raise Failed(OCF_ERR_GENERIC, f"beam is running but {why}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.booting_marker)
        if int(self.environ.get("OCF_CHECK_LEVEL", "0") or 0) >= 10:
            r = self.node.ctl("-q", "check_running", tool="rabbitmq-diagnostics", timeout=self.remaining())
            if not r.ok:
                raise Failed(OCF_ERR_GENERIC, f"rabbitmq-diagnostics check_running: {r.out[-300:]}")
        return OCF_SUCCESS

    # -- start --------------------------------------------------------------------------------------
    def start(self) -> int:
        validate(self.p)
        if self.node.pid() is not None:
            if self.node.amqp_greets() is None:
                self.after_start()
                return OCF_SUCCESS
            self.log("a beam of this node runs but does not serve AMQP: killing it before the start")
            self.node.kill(grace_s=5.0)
        self.node.prepare_dirs()
        if self.node.has_data():
            self.log(f"starting on its own data ({self.p.mnesia_dir})")
            outcome = self.boot(wait_for_peers_ok=True)
            if outcome == "booted":
                self.after_start()
                return OCF_SUCCESS
            if outcome == "waiting":
                # A start that waited here for its peers would hold up the cluster manager's
                # transition, and with it the starts of those very peers (measured: a full outage
                # never recovered). The node is up and booting: report it started.
                with open(self.booting_marker, "w") as f:
                    f.write(f"{time.time():.0f}\n")
                self.log("waiting for the members it last ran with (a full outage?): start reported "
                         "done, the node boots once they are back")
                return OCF_SUCCESS
            if outcome != "rejected":
                raise Failed(OCF_ERR_GENERIC, outcome)
            self.node.kill(grace_s=5.0)
            self.node.reset_data()
            self.log("the running cluster rejected this node's data (it was forgotten: "
                     "forget_cluster_node): RESET this node (old data kept as "
                     f"{self.p.mnesia_dir}.reset-*) and joining the cluster again")
        self.start_blank()
        self.after_start()
        return OCF_SUCCESS

    def boot(self, wait_for_peers_ok: bool = False) -> str:
        """Start the node and wait for its AMQP listener: "booted", "rejected" (the cluster does not
        count this node as a member), "waiting" (for its peers; only with wait_for_peers_ok), or why
        it failed."""
        startup_log = os.path.join(self.p.log_base, f"{self.p.nodename}-startup.log")
        node_log = os.path.join(self.p.log_base, f"{self.p.nodename}.log")
        offset = _size(node_log)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.booting_marker)
        proc = self.node.spawn(startup_log)
        while self.remaining() > 0:
            if proc.poll() is not None:
                text = _tail(startup_log) + _tail(os.path.join(self.p.log_base, f"{self.p.nodename}.log"))
                if any(mark in text for mark in REJECTED):
                    return "rejected"
                last = [ln for ln in _tail(startup_log, 4000).splitlines() if ln.strip()][-3:]
                return f"rabbitmq-server exited with {proc.returncode} during boot: {' | '.join(last)[-400:]}"
            if self.node.pid() is not None and self.node.amqp_greets(timeout_s=1.0) is None:
                return "booted"
            if wait_for_peers_ok and WAITING_FOR_PEERS in _read_from(node_log, offset):
                return "waiting"
            time.sleep(POLL_S)
        return (f"not booted within the start timeout (a node with data waits for the members it last "
                f"ran with; see {startup_log})")

    def start_blank(self) -> None:
        """A node without data: join a running member; bootstrap only a cluster nobody has data of."""
        view = ClusterView(self.p.instance)
        try:
            me = view.local_node()
        except ClusterUnknown as e:
            raise Failed(OCF_ERR_GENERIC, f"cannot tell whom to join: {e}") from None
        while True:
            try:
                holders = view.data_holders()
                members = view.members()
            except ClusterUnknown as e:
                holders, members = {}, []
                self.log(f"cannot read the cluster: {e}")
            else:
                peers = sorted(name for node, name in holders.items() if node != me and name != self.p.nodename)
                for peer in peers:
                    if self.remaining() < 20:
                        break
                    if self.node.ctl("-q", "check_running", tool="rabbitmq-diagnostics", node=peer,
                                     timeout=min(15.0, self.remaining() / 2)).ok:
                        self.join(peer)
                        return
                if not holders and members and members[0] == me:
                    self.log("no node has ever held this cluster's data: bootstrapping a new cluster here")
                    outcome = self.boot()
                    if outcome != "booted":
                        raise Failed(OCF_ERR_GENERIC, outcome)
                    return
            if self.remaining() < JOIN_RETRY_S + 20:
                held = ", ".join(f"{n} ({v})" for n, v in sorted(holders.items())) or "none known"
                raise Failed(OCF_ERR_GENERIC, "no running RabbitMQ member to join (nodes with the cluster's "
                                              f"data: {held}); a node without data never starts a new "
                                              "cluster on its own")
            time.sleep(JOIN_RETRY_S)

    def join(self, peer: str) -> None:
        """Boot blank, then stop_app / join_cluster / start_app (RabbitMQ's documented way)."""
        self.log(f"joining the running cluster through {peer}")
        outcome = self.boot()
        if outcome != "booted":
            raise Failed(OCF_ERR_GENERIC, outcome)
        for args in (("stop_app",), ("join_cluster", peer), ("start_app",)):
            # Two nodes joining through the same peer at once can see a step fail (measured: start_app
            # on one of two simultaneous joiners); each step is safe to repeat.
            for attempt in range(1, JOIN_ATTEMPTS + 1):
                r = self.node.ctl(*args, timeout=min(120.0, self.remaining()))
                if r.ok:
                    break
                text = " ".join(r.out.split())[-300:]
                if attempt == JOIN_ATTEMPTS or self.remaining() < JOIN_RETRY_S + 10:
                    raise Failed(OCF_ERR_GENERIC, f"rabbitmqctl {' '.join(args)} ({r.rc}): {text}")
                self.log(f"rabbitmqctl {' '.join(args)} failed ({r.rc}): {text}; trying again")
                time.sleep(JOIN_RETRY_S)
        while self.node.amqp_greets(timeout_s=1.0) is not None:
            if self.remaining() <= 0:
                raise Failed(OCF_ERR_GENERIC, "joined, but the AMQP listener did not come back")
            time.sleep(POLL_S)

    def after_start(self) -> None:
        try:
            ClusterView(self.p.instance).record_member(self.p.nodename)
        except ClusterUnknown as e:
            self.log(f"warning: could not record this node as holding the cluster's data: {e}")
        if self.p.grow_quorum_queues == "all":
            # A node that kept its data is still a member of its quorum queues; a reset one, or one
            # that was down when a queue was declared, is not: add it back (no-op where it is).
            r = self.node.ctl("grow", self.p.nodename, "all", "--errors-only", tool="rabbitmq-queues",
                              timeout=min(60.0, max(5.0, self.remaining())))
            text = " ".join(r.out.split())[-300:]
            self.log(f"rabbitmq-queues grow {self.p.nodename} all: "
                     f"{'ok' if r.ok else f'failed ({r.rc})'}{': ' + text if text else ''}")

    # -- stop ---------------------------------------------------------------------------------------
    def stop(self) -> int:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.booting_marker)
        if self.node.pid() is None:
            return OCF_SUCCESS
        r = self.node.ctl("stop", self.p.pid_file, timeout=max(5.0, self.remaining() - 10))
        if not r.ok:
            self.log(f"rabbitmqctl stop failed ({r.rc}): {r.out[-200:]}; killing the beam")
        if not self.node.kill(grace_s=max(1.0, min(10.0, self.remaining() - 6))):
            raise Failed(OCF_ERR_GENERIC, f"beam {self.node.pid()} survived SIGKILL")
        return OCF_SUCCESS

    # -- notify -------------------------------------------------------------------------------------
    def notify(self) -> int:
        e = self.environ
        kind = e.get("OCF_RESKEY_CRM_meta_notify_type", "")
        op = e.get("OCF_RESKEY_CRM_meta_notify_operation", "")
        if kind == "post" and op == "stop":
            stopped = e.get("OCF_RESKEY_CRM_meta_notify_stop_uname", "").split()
            if stopped:
                # Deliberately not forget_cluster_node: a stopped or crashed node keeps its data and
                # its quorum-queue memberships, and comes back with them. Forgetting it would shrink
                # every quorum queue and force a reset of that node on its return.
                self.log(f"post-stop of {' '.join(stopped)}: kept as cluster members (nothing forgotten)")
        elif kind == "post" and op == "start":
            started = e.get("OCF_RESKEY_CRM_meta_notify_start_uname", "").split()
            if started:
                self.log(f"post-start of {' '.join(started)} (each grows its own quorum-queue memberships)")
        return OCF_SUCCESS


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _read_from(path: str, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(1 << 20).decode(errors="replace")
    except OSError:
        return ""


def _tail(path: str, limit: int = 65536) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - limit))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def run(action: str, environ: Mapping[str, str]) -> int:
    if action == "meta-data":
        print(metadata_xml(), end="")
        return OCF_SUCCESS
    if action not in ("start", "stop", "monitor", "notify", "validate-all", "status"):
        print(f"ocf-exit-reason:unsupported action {action!r}", file=sys.stderr)
        return OCF_ERR_UNIMPLEMENTED
    try:
        p = parse(environ)
        if action == "validate-all":
            validate(p)
            return OCF_SUCCESS
        agent = Agent(p, environ)
        if action == "start":
            return agent.start()
        if action == "stop":
            return agent.stop()
        if action == "notify":
            return agent.notify()
        return agent.monitor()
    except ParamError as e:
        # A stop must succeed when nothing can be running with these parameters (OCF: stop of a
        # misconfigured resource is not a failure); a probe reports "not running".
        if action == "stop" or (action in ("monitor", "status") and e.rc != OCF_ERR_GENERIC
                                and environ.get("OCF_RESKEY_CRM_meta_interval", "0") == "0"):
            return OCF_SUCCESS if action == "stop" else OCF_NOT_RUNNING
        print(f"ocf-exit-reason:{e}", file=sys.stderr)
        return e.rc
    except Failed as e:
        print(f"ocf-exit-reason:{e}", file=sys.stderr)
        return e.rc


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: rabbitmq {start|stop|monitor|notify|validate-all|meta-data}", file=sys.stderr)
        return 2  # OCF_ERR_ARGS
    return run(argv[0], os.environ)
