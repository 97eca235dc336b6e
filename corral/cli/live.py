"""Commands on a live cluster: agent, status, fence. (load, config, constraint, property:
cli/verbs_cluster.py; resource: cli/verbs_resource.py; node: cli/verbs_node.py.)"""
from __future__ import annotations

import json
import logging
import signal
import sys
import time
from typing import TYPE_CHECKING

import click

from corral.cli.common import client_store, fail, resolve_store_url, store_option
from corral.cluster.timing import DEFAULT_RENEW, DEFAULT_STORE_TIMEOUT, DEFAULT_TTL, Timing
from corral.model.errors import ConfigError

if TYPE_CHECKING:  # kept off the import path of every `corral` command
    from corral.model.config import Configuration
    from corral.model.state import ClusterState
    from corral.store import Store

SECONDS = click.FloatRange(min=0, min_open=True, max=3600)


def _fail(cmd: str, message: str, code: int = 2) -> None:
    click.echo(f"corral {cmd}: {message}", err=True)
    sys.exit(code)


# --- corral agent ----------------------------------------------------------------------
@click.command()
@click.option("--node", required=True, help="this node's name")
@store_option
@click.option("--ttl", type=SECONDS, default=DEFAULT_TTL, show_default=True, help="membership lease TTL (s)")
@click.option("--renew", type=SECONDS, default=DEFAULT_RENEW, show_default=True, help="lease renewal interval (s)")
@click.option("--store-timeout", type=SECONDS, default=DEFAULT_STORE_TIMEOUT, show_default=True,
              help="longest one store call may take (s)")
@click.option("--rsctmp", type=click.Path(file_okay=False), default=None,
              help="HA_RSCTMP for the agents run here (state and pid files)")
@click.option("--parallel", type=click.IntRange(1, 1024), default=8, show_default=True, help="operations run at once")
@click.option("--no-controller", is_flag=True, help="never stand for controller")
@click.option("--shutdown-timeout", type=float, default=60.0, show_default=True,
              help="on SIGTERM, how long the controller may take to move this node's resources away "
                   "before they are stopped here (0: stop them here at once)")
@click.option("--watchdog", default="auto", show_default=True, metavar="auto|none|timer|PATH",
              help="what kills this node's resources if the agent stops proving its lease valid: a watchdog "
                   "device PATH (the kernel resets the node), a timer process, none; auto: /dev/watchdog "
                   "if present and the timing allows, else the timer")
@click.option("--watchdog-timeout", type=float, default=None,
              help="seconds without a keepalive before the watchdog fires; default: the longest the lease "
                   "timing allows (renew + 2 x store timeout + this + margin <= TTL)")
@click.option("--self-fence-command", default=None, metavar="CMD",
              help="shell command run when the watchdog fires or an emergency stop overruns, e.g. "
                   "'systemctl reboot --force --force'")
@click.option("--role", default="cluster", show_default=True, metavar="cluster|compute",
              help="cluster: a full member of the control plane (runs resources, may stand for controller); "
                   "compute: a compute host's light member (a lease-bound member key only, "
                   "no controller candidacy; docs/openstack.md)")
@click.option("--keepalive", default=None, metavar="stream|request",
              help="compute role: how the lease is renewed; stream: etcd's gRPC LeaseKeepAlive stream "
                   "(the default on etcd), request: one store request per renewal (other stores)")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.pass_context
def agent(ctx: click.Context, node: str, store_url: str | None, ttl: float, renew: float, store_timeout: float,
          rsctmp: str | None, parallel: int, no_controller: bool, shutdown_timeout: float, watchdog: str,
          watchdog_timeout: float | None, self_fence_command: str | None, role: str, keepalive: str | None,
          log_level: str) -> None:
    """Run NODE's agent in the foreground (SIGTERM: stop what runs here and leave)."""
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format=f"%(asctime)s {node} %(name)s %(levelname)s: %(message)s")
    store_url = resolve_store_url("agent", store_url)
    if not node.strip() or node != node.strip() or any(ch in node for ch in ":/#\n"):
        _fail("agent", f"--node {node!r} is not a usable node name (no blanks, ':', '/', '#')")
    from corral.agent.compute_member import parse_role

    try:
        role = parse_role(role)
    except ValueError as exc:
        _fail("agent", f"--role: {exc}")
    if role == "compute":
        _compute_agent(ctx, node, store_url, keepalive)
        return
    if keepalive is not None:
        _fail("agent", "--keepalive goes with --role compute (a cluster member renews one request at a time)")
    from corral.agent.daemon import Agent
    from corral.agent.membership import NodeClaimed

    timing = Timing(ttl=ttl, renew=renew, store_timeout=store_timeout)
    try:
        timing.check()
        daemon = Agent(node, store_url, timing, rsctmp=rsctmp, parallel=parallel, campaign=not no_controller,
                       shutdown_timeout=shutdown_timeout, watchdog=watchdog, watchdog_timeout=watchdog_timeout,
                       self_fence_command=self_fence_command)
    except ValueError as exc:
        _fail("agent", str(exc))
    signal.signal(signal.SIGTERM, lambda *_: daemon.stop())
    signal.signal(signal.SIGINT, lambda *_: daemon.stop())
    try:
        daemon.run()
    except NodeClaimed as exc:
        _fail("agent", f"refused: {exc}", 1)
    except ValueError as exc:  # a bad store URL, or its timeout breaking the lease-timing rule
        _fail("agent", str(exc))


# What a compute member does not do: given explicitly, these are errors, not silent no-ops.
_CLUSTER_ONLY = ("rsctmp", "parallel", "shutdown_timeout", "watchdog", "watchdog_timeout", "self_fence_command")


def _compute_agent(ctx: click.Context, node: str, store_url: str, keepalive: str | None) -> None:
    """`corral agent --role compute`: the light member of a compute host, until SIGTERM."""
    import asyncio

    from click.core import ParameterSource

    from corral.agent.compute_leases import lease_client_for
    from corral.agent.compute_member import COMPUTE_TIMING, ComputeMember
    from corral.cluster.timing import with_store_timeout

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)

    extra = [f"--{n.replace('_', '-')}" for n in _CLUSTER_ONLY if given(n)]
    if extra:
        _fail("agent", f"{', '.join(extra)}: not used by a compute member (--role compute runs no resources "
                       "and no watchdog; docs/openstack.md, Compute members)")
    p = ctx.params
    timing = Timing(ttl=p["ttl"] if given("ttl") else COMPUTE_TIMING.ttl,
                    renew=p["renew"] if given("renew") else COMPUTE_TIMING.renew,
                    store_timeout=p["store_timeout"] if given("store_timeout") else COMPUTE_TIMING.store_timeout)
    try:
        timing.check()
        leases = lease_client_for(with_store_timeout(store_url, timing.store_timeout), keepalive)
    except ValueError as exc:
        _fail("agent", str(exc))
    member = ComputeMember(node, leases, timing)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, member.stop)
        try:
            await member.run()
        finally:
            await leases.close()

    asyncio.run(main())




def live_inputs(store_url: str) -> tuple[Configuration, ClusterState]:
    """(configuration, state) of a live cluster, for `corral explain --store`."""
    from corral.cli.common import _existing, resolve_store_url
    from corral.cluster.snapshot import read_snapshot, scheduler_inputs
    from corral.store import StoreError, open_store

    store_url = resolve_store_url("explain", store_url)
    _existing("explain", store_url)
    try:
        store = open_store(store_url)
    except (ValueError, StoreError) as exc:
        raise ConfigError(store_url, str(exc)) from None
    try:
        return scheduler_inputs(read_snapshot(store))
    except StoreError as exc:
        raise ConfigError(store_url, f"store error: {exc}") from None
    except ValueError as exc:
        raise ConfigError(store_url, str(exc)) from None
    finally:
        try:
            store.close()
        except StoreError:
            pass


# --- corral fence ----------------------------------------------------------------------
@click.command(context_settings={"ignore_unknown_options": False})
@store_option
@click.option("--action", type=click.Choice(["reboot", "off", "on"]), default="reboot", show_default=True,
              help="what to do to NODE")
@click.option("--node", "node_filter", default=None, help="history: only this node's records")
@click.option("--json", "as_json", is_flag=True, help="history: print JSON")
@click.option("--cleanup", is_flag=True, help="history: delete the completed records (of --node only, if given)")
@click.argument("target")
def fence(store_url: str | None, action: str, node_filter: str | None, as_json: bool, cleanup: bool,
          target: str) -> None:
    """Fence NODE now through the configured devices, or show the fencing history.

    \b
    corral fence NODE --store URL [--action reboot|off|on]
    corral fence history --store URL [--node N] [--json] [--cleanup]

    A fence is recorded in the fencing history (origin "operator"); a successful off or
    reboot marks NODE cleanly down, so the controller recovers its resources elsewhere."""
    if cleanup and target != "history":
        fail("fence", "--cleanup goes with 'corral fence history'; nothing was fenced")
    if target == "history":
        if cleanup:
            _fence_history_cleanup(store_url, node_filter)
        else:
            _fence_history(store_url, node_filter, as_json)
        return
    if node_filter is not None or as_json:
        fail("fence", "--node and --json go with 'corral fence history'; nothing was fenced")
    from corral.cluster.fenced import mark_fenced, member_guard
    from corral.cluster.snapshot import read_snapshot
    from corral.fencing import FenceDeviceError, Fencer, fence_and_record

    with client_store("fence", store_url) as store:
        snap = read_snapshot(store)
        if snap.config is None:
            _fail("fence", snap.config_error or "the cluster has no configuration yet (corral load FILE)")
        known = set(snap.config.nodes) | set(snap.nodes) | set(snap.members)  # type: ignore[union-attr]
        if target not in known:
            _fail("fence", f"unknown node {target!r}: the cluster knows "
                           f"{', '.join(sorted(known)) or 'no nodes'}; nothing was fenced")
        try:
            fencer = Fencer.from_config(snap.config, rounds=1)  # type: ignore[arg-type]
        except (FenceDeviceError, ValueError) as exc:
            _fail("fence", f"bad fence device configuration: {exc}")
        if not fencer.levels_for(target):
            _fail("fence", f"no fence device can fence {target} (configure a stonith resource whose "
                           "pcmk_host_list or pcmk_host_map names it); nothing was fenced", 1)
        guard = member_guard(store, target)
        click.echo(f"fencing {target} ({action}) ...")
        try:
            result, rec = fence_and_record(store, fencer, target, action, "operator")
        except ValueError as exc:  # a parameter the stdin contract cannot carry (recorded as failed)
            _fail("fence", f"fencing {target} ({action}) failed: {exc}", 1)
        if not result.ok:
            _fail("fence", f"fencing {target} ({action}) failed: {result.error} (recorded as {rec.id})", 1)
        level = f", level {result.level}" if result.level is not None else ""
        click.echo(f"fenced {target} ({action}) with {result.device}{level} in "
                   f"{result.finished - result.started:.1f}s (recorded as {rec.id})")
        if action in ("off", "reboot"):
            if mark_fenced(store, target, guard, record_id=rec.id, action=action, by="operator"):
                click.echo(f"{target} is now cleanly down; its resources are recovered elsewhere")
            else:
                click.echo(f"{target} rejoined meanwhile; left as it is")


def _fence_history_cleanup(store_url: str | None, node_filter: str | None) -> None:
    """Delete completed fencing records (stonith_admin --cleanup --history); a pending one
    is a fence in progress and stays. Each delete is guarded by the record's revision."""
    from corral.fencing import list_history
    from corral.fencing.history import record_key
    from corral.store import Compare, Delete

    with client_store("fence history", store_url) as store:
        try:
            records = list_history(store, node_filter)
        except ValueError as exc:
            fail("fence history", str(exc))
        if node_filter is not None and not records:
            _known_node(store, node_filter, "fence history")
        done = [r for r in records if r.state != "pending"]
        removed = 0
        for r in done:
            key = record_key(r.node, r.id)
            if store.txn([Compare(key, "mod_revision", "==", r.revision)], [Delete(key)]).succeeded:
                removed += 1
        kept = len(records) - len(done)
    click.echo(f"removed {removed} fencing record(s)" + (f" of {node_filter}" if node_filter else "")
               + (f"; kept {kept} pending" if kept else ""))


def _known_node(store: Store, name: str, cmd: str) -> None:
    from corral.cluster.change import Rejected, require_node
    from corral.cluster.snapshot import read_snapshot

    snap = read_snapshot(store)
    known = set(snap.nodes) | set(snap.members) | set(snap.config.nodes if snap.config else ())
    try:
        require_node(name, known)
    except Rejected as exc:
        fail(cmd, str(exc))


def _fence_history(store_url: str | None, node_filter: str | None, as_json: bool) -> None:
    from dataclasses import asdict

    from corral.cluster.status import fence_event
    from corral.fencing import list_history

    with client_store("fence history", store_url) as store:
        try:
            records = list_history(store, node_filter)
        except ValueError as exc:
            _fail("fence history", str(exc))
        if node_filter is not None and not records:
            _known_node(store, node_filter, "fence history")
    if as_json:
        click.echo(json.dumps([{**asdict(r), "result": fence_event(r)["result"]} for r in records],
                              indent=2, sort_keys=True))
        return
    if not records:
        click.echo("no fencing history" + (f" for {node_filter}" if node_filter else ""))
        return
    for r in records:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.requested_at))
        took = f" in {r.completed_at - r.requested_at:.1f}s" if r.completed_at else ""
        device = f" by {r.device}" if r.device else ""
        epoch = f" epoch {r.epoch}" if r.epoch is not None else ""
        error = f": {r.error}" if r.error else ""
        click.echo(f"{when} {r.node} {r.action} {fence_event(r)['result']}{device}{took} "
                   f"(asked by {r.origin}{epoch}){error}")
