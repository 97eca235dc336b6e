"""Commands on a live cluster: agent, load, status, resource ..., node ..."""
from __future__ import annotations

import json
import logging
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from corral.cluster.timing import DEFAULT_RENEW, DEFAULT_STORE_TIMEOUT, DEFAULT_TTL, Timing
from corral.model.errors import ConfigError

if TYPE_CHECKING:  # kept off the import path of every `corral` command
    from corral.model.config import Configuration
    from corral.model.state import ClusterState
    from corral.store import Store

STORE_HELP = "the store: sqlite:///path/cluster.db or etcd://host:port[,host:port...]"


def _fail(cmd: str, message: str, code: int = 2) -> None:
    click.echo(f"corral {cmd}: {message}", err=True)
    sys.exit(code)


@contextmanager
def _store(cmd: str, url: str) -> Iterator[Store]:
    from corral.store import StoreError, open_store

    try:
        store = open_store(url)
    except (ValueError, StoreError) as exc:
        _fail(cmd, str(exc))
    try:
        yield store
    except StoreError as exc:
        _fail(cmd, f"store error: {exc}", 1)
    except ConfigError as exc:
        _fail(cmd, str(exc))
    finally:
        store.close()


# --- corral agent ----------------------------------------------------------------------
@click.command()
@click.option("--node", required=True, help="this node's name")
@click.option("--store", "store_url", required=True, help=STORE_HELP)
@click.option("--ttl", type=float, default=DEFAULT_TTL, show_default=True, help="membership lease TTL (s)")
@click.option("--renew", type=float, default=DEFAULT_RENEW, show_default=True, help="lease renewal interval (s)")
@click.option("--store-timeout", type=float, default=DEFAULT_STORE_TIMEOUT, show_default=True,
              help="longest one store call may take (s)")
@click.option("--rsctmp", type=click.Path(file_okay=False), default=None,
              help="HA_RSCTMP for the agents run here (state and pid files)")
@click.option("--parallel", type=int, default=8, show_default=True, help="operations run at once")
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
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def agent(node: str, store_url: str, ttl: float, renew: float, store_timeout: float, rsctmp: str | None,
          parallel: int, no_controller: bool, shutdown_timeout: float, watchdog: str,
          watchdog_timeout: float | None, self_fence_command: str | None, log_level: str) -> None:
    """Run NODE's agent in the foreground (SIGTERM: stop what runs here and leave)."""
    from corral.agent.daemon import Agent

    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format=f"%(asctime)s {node} %(name)s %(levelname)s: %(message)s")
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
    except ValueError as exc:  # a bad store URL, or its timeout breaking the lease-timing rule
        _fail("agent", str(exc))


# --- corral load -----------------------------------------------------------------------
@click.command()
@click.option("--store", "store_url", required=True, help=STORE_HELP)
@click.argument("file", type=click.Path(dir_okay=False))
def load(store_url: str, file: str) -> None:
    """Validate FILE (Corral YAML or a Pacemaker CIB) and make it the cluster's configuration.

    A configuration with errors is rejected and nothing changes."""
    from corral.cluster import configstore

    with _store("load", store_url) as store:
        try:
            cfg, warnings = configstore.load_file(store, file)
        except ConfigError as exc:
            _fail("load", f"rejected, nothing changed:\n{exc}")
        for w in warnings:
            click.echo(f"warning: {w}", err=True)
        click.echo(f"loaded {file}: {len(cfg.resources)} resources, {len(cfg.nodes)} nodes, "
                   f"{len(cfg.locations) + len(cfg.colocations) + len(cfg.orders)} constraints")


def live_inputs(store_url: str) -> tuple[Configuration, ClusterState]:
    """(configuration, state) of a live cluster, for `corral explain --store`."""
    from corral.cluster.snapshot import read_snapshot, scheduler_inputs
    from corral.store import StoreError, open_store

    try:
        store = open_store(store_url, create=False)
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


# --- corral resource -------------------------------------------------------------------
@click.group()
def resource() -> None:
    """Move, ban, clear, clean up, enable or disable a resource (configuration changes, like pcs)."""


def _edit(cmd: str, store_url: str, change: Callable[[Configuration], None]) -> None:
    from corral.cluster import configstore

    with _store(cmd, store_url) as store:
        configstore.edit(store, change)


def _known(cfg: Configuration, rsc: str) -> None:
    from corral.scheduler.resources import ResourceTree

    if ResourceTree(cfg).resolve(rsc) is None:
        raise ConfigError("resource", f"no resource named {rsc!r}")


def _current_nodes(store_url: str, rsc: str) -> list[str]:
    from corral.cluster.snapshot import read_snapshot
    from corral.cluster.status import cluster_status
    from corral.store import open_store

    store = open_store(store_url)
    try:
        st = cluster_status(read_snapshot(store))
    finally:
        store.close()
    return sorted({r["node"] for r in st["resources"] if r["node"] and rsc in (r["id"], r["base"], r["parent"],
                                                                               r["group"], r["clone"])})


@resource.command()
@click.option("--store", "store_url", required=True, help=STORE_HELP)
@click.argument("rsc")
@click.argument("node")
def move(store_url: str, rsc: str, node: str) -> None:
    """Prefer NODE for RSC (location cli-prefer-RSC, score INFINITY)."""
    from corral.model.config import Location
    from corral.model.scores import INFINITY

    def change(cfg: Configuration) -> None:
        _known(cfg, rsc)
        cfg.locations[:] = [c for c in cfg.locations if c.id != f"cli-prefer-{rsc}"]
        cfg.locations.append(Location(id=f"cli-prefer-{rsc}", rsc=rsc, node=node, score=INFINITY))

    _edit("resource move", store_url, change)
    click.echo(f"{rsc} will prefer {node} (location cli-prefer-{rsc}; 'corral resource clear {rsc}' removes it)")


@resource.command()
@click.option("--store", "store_url", required=True, help=STORE_HELP)
@click.argument("rsc")
@click.argument("node", required=False)
def ban(store_url: str, rsc: str, node: str | None) -> None:
    """Keep RSC off NODE (default: where it runs now) with location cli-ban-RSC-on-NODE."""
    from corral.model.config import Location
    from corral.model.scores import INFINITY

    nodes = [node] if node else _current_nodes(store_url, rsc)
    if not nodes:
        _fail("resource ban", f"{rsc} runs nowhere; name the NODE to ban it from")

    def change(cfg: Configuration) -> None:
        _known(cfg, rsc)
        for n in nodes:
            cid = f"cli-ban-{rsc}-on-{n}"
            cfg.locations[:] = [c for c in cfg.locations if c.id != cid]
            cfg.locations.append(Location(id=cid, rsc=rsc, node=n, score=-INFINITY))

    _edit("resource ban", store_url, change)
    click.echo(f"{rsc} banned from {', '.join(nodes)}")


@resource.command()
@click.option("--store", "store_url", required=True, help=STORE_HELP)
@click.argument("rsc")
@click.argument("node", required=False)
def clear(store_url: str, rsc: str, node: str | None) -> None:
    """Remove the constraints move and ban created for RSC (only those naming NODE, if given)."""
    removed: list[str] = []

    def change(cfg: Configuration) -> None:
        keep = []
        removed.clear()
        for c in cfg.locations:
            ours = c.id == f"cli-prefer-{rsc}" or c.id.startswith(f"cli-ban-{rsc}-on-")
            if ours and (node is None or c.node == node):
                removed.append(c.id)
            else:
                keep.append(c)
        cfg.locations[:] = keep

    _edit("resource clear", store_url, change)
    click.echo(f"removed {', '.join(removed)}" if removed else f"no move/ban constraints for {rsc}")


def _target_role(store_url: str, rsc: str, role: str | None, cmd: str) -> None:
    from corral.model.config import Clone, Group, Primitive

    def change(cfg: Configuration) -> None:
        def find(items: list) -> Primitive | Group | Clone | None:
            for r in items:
                if r.id == rsc:
                    return r
                inner = [r.child] if isinstance(r, Clone) else (r.members if isinstance(r, Group) else [])
                found = find(inner)
                if found is not None:
                    return found
            return None

        target = find(cfg.resources)
        if target is None:
            raise ConfigError("resource", f"no resource named {rsc!r}")
        if role is None:
            target.meta.pop("target-role", None)
        else:
            target.meta["target-role"] = role

    _edit(cmd, store_url, change)


@resource.command()
@click.option("--store", "store_url", required=True, help=STORE_HELP)
@click.argument("rsc")
def enable(store_url: str, rsc: str) -> None:
    """Let RSC run (removes target-role)."""
    _target_role(store_url, rsc, None, "resource enable")
    click.echo(f"{rsc} enabled")


@resource.command()
@click.option("--store", "store_url", required=True, help=STORE_HELP)
@click.argument("rsc")
def disable(store_url: str, rsc: str) -> None:
    """Stop RSC everywhere (target-role=Stopped)."""
    _target_role(store_url, rsc, "Stopped", "resource disable")
    click.echo(f"{rsc} disabled")


@resource.command()
@click.option("--store", "store_url", required=True, help=STORE_HELP)
@click.option("--wait", "wait_s", type=float, default=15.0, show_default=True,
              help="seconds to wait for the nodes to re-probe")
@click.argument("rsc")
@click.argument("node", required=False)
def cleanup(store_url: str, wait_s: float, rsc: str, node: str | None) -> None:
    """Forget RSC's failures and fail counts (on NODE, or everywhere) and re-probe it."""
    from corral.cluster import keys
    from corral.cluster.records import dumps
    from corral.cluster.snapshot import read_snapshot
    from corral.scheduler.resources import ResourceTree

    with _store("resource cleanup", store_url) as store:
        snap = read_snapshot(store)
        bases = [rsc]
        if snap.config is not None:
            r = ResourceTree(snap.config).resolve(rsc)
            if r is None:
                _fail("resource cleanup", f"no resource named {rsc!r}")
            bases = sorted({p.base for p in r.primitives()})
        nodes = [node] if node else sorted(set(snap.members) | set(snap.nodes))
        requests = []
        for n in nodes:
            for base in bases:
                if n in snap.members:  # the node's agent owns its history: it forgets and re-probes
                    key = keys.request(n, uuid.uuid4().hex)
                    store.put(key, dumps({"type": "cleanup", "rsc": base}))
                    requests.append(key)
                else:  # no agent there: only the fail counts can go
                    store.delete(keys.attrs(n) + f"fail-count-{base}#", prefix=True)
                    store.delete(keys.attrs(n) + f"last-failure-{base}#", prefix=True)
        deadline = time.monotonic() + wait_s
        while requests and time.monotonic() < deadline:
            requests = [k for k in requests if store.get(k) is not None]
            time.sleep(0.05)
        if requests:
            _fail("resource cleanup", f"{len(requests)} node(s) did not answer within {wait_s:g}s", 1)
        click.echo(f"cleaned up {', '.join(bases)} on {', '.join(nodes)}")


# --- corral node -----------------------------------------------------------------------
@click.group()
def node() -> None:
    """Put a node in standby, maintenance, or back online (node attributes in the configuration)."""


def _node_attrs(store_url: str, name: str, cmd: str, set_attrs: dict[str, str], drop: tuple[str, ...]) -> None:
    from corral.model.config import Node

    def change(cfg: Configuration) -> None:
        n = cfg.nodes.get(name)
        if n is None:
            n = cfg.nodes[name] = Node(name=name, id=name)
        for k in drop:
            n.attrs.pop(k, None)
        n.attrs.update(set_attrs)

    _edit(cmd, store_url, change)


@node.command()
@click.option("--store", "store_url", required=True, help=STORE_HELP)
@click.argument("name")
def standby(store_url: str, name: str) -> None:
    """Move every resource off NAME (standby=on)."""
    _node_attrs(store_url, name, "node standby", {"standby": "on"}, ())
    click.echo(f"{name} is in standby")


@node.command()
@click.option("--store", "store_url", required=True, help=STORE_HELP)
@click.argument("name")
def online(store_url: str, name: str) -> None:
    """Let NAME run resources again (clears standby and maintenance)."""
    _node_attrs(store_url, name, "node online", {}, ("standby", "maintenance"))
    click.echo(f"{name} is online")


@node.command()
@click.option("--store", "store_url", required=True, help=STORE_HELP)
@click.argument("name")
def maintenance(store_url: str, name: str) -> None:
    """Leave NAME's resources alone: neither stopped, started nor monitored by the cluster."""
    _node_attrs(store_url, name, "node maintenance", {"maintenance": "on"}, ())
    click.echo(f"{name} is in maintenance")


# --- corral fence ----------------------------------------------------------------------
@click.command(context_settings={"ignore_unknown_options": False})
@click.option("--store", "store_url", required=True, help=STORE_HELP)
@click.option("--action", type=click.Choice(["reboot", "off", "on"]), default="reboot", show_default=True,
              help="what to do to NODE")
@click.option("--node", "node_filter", default=None, help="history: only this node's records")
@click.option("--json", "as_json", is_flag=True, help="history: print JSON")
@click.argument("target")
def fence(store_url: str, action: str, node_filter: str | None, as_json: bool, target: str) -> None:
    """Fence NODE now through the configured devices, or show the fencing history.

    \b
    corral fence NODE --store URL [--action reboot|off|on]
    corral fence history --store URL [--node N] [--json]

    A fence is recorded in the fencing history (origin "operator"); a successful off or
    reboot marks NODE cleanly down, so the controller recovers its resources elsewhere."""
    if target == "history":
        _fence_history(store_url, node_filter, as_json)
        return
    from corral.cluster.fenced import mark_fenced, member_guard
    from corral.cluster.snapshot import read_snapshot
    from corral.fencing import FenceDeviceError, Fencer, fence_and_record

    with _store("fence", store_url) as store:
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


def _fence_history(store_url: str, node_filter: str | None, as_json: bool) -> None:
    from dataclasses import asdict

    from corral.cluster.status import fence_event
    from corral.fencing import list_history

    with _store("fence history", store_url) as store:
        try:
            records = list_history(store, node_filter)
        except ValueError as exc:
            _fail("fence history", str(exc))
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
