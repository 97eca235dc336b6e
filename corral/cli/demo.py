"""`corral demo`: a three-node cluster on this host, a node crash, and the recovery.

Everything lives in a temporary directory (the SQLite store, each node's pid
files, logs) and every process is killed on the way out, whatever happens.
"""
from __future__ import annotations

import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import click

NODES = ("node1", "node2", "node3")

CONFIG = """\
# An OpenStack-like control plane, in miniature (written by `corral demo`).
cluster:
  stonith-enabled: false        # no fence devices here: a lost node's lease expiry is the fence
  symmetric-cluster: true
nodes:
{nodes}
defaults:
  resource: {{resource-stickiness: 100, migration-threshold: 3}}
resources:
  - clone: api-clone            # an API service on every node, each on its own port
    meta: {{interleave: true}}
    of:
      id: api
      agent: corral:process
      params:
        command: "{python} -m http.server ${{node:api_port}} --bind 127.0.0.1"
        check_port: "${{node:api_port}}"
      ops:
        - {{name: monitor, interval: 1s, timeout: 10s}}
  - id: scheduler               # a singleton service (think nova-scheduler, cinder-volume)
    agent: corral:process
    params:
      command: "{python} -c 'import time; time.sleep(10**6)'"
    ops:
      - {{name: monitor, interval: 1s}}
  - group: frontend             # the load balancer: its address, then the proxy on it
    members:
      - id: vip
        agent: corral:process
        params: {{command: "{python} -c 'import time; time.sleep(10**6)'"}}
        ops: [{{name: monitor, interval: 1s}}]
      - id: haproxy
        agent: corral:process
        params:
          command: "{python} -m http.server {frontend_port} --bind 127.0.0.1"
          check_port: "{frontend_port}"
        ops: [{{name: monitor, interval: 1s}}]
constraints:
  - order: {{first: api-clone, then: frontend}}       # the proxy needs its backends
  - colocation: {{rsc: frontend, with: api-clone}}    # and runs where an API runs
"""


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _http_ok(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=0.5) as r:
            return r.status == 200
    except OSError:
        return False


def _where(st: dict) -> dict[str, str | None]:
    return {r["id"]: r["node"] for r in st["resources"]}


def _settled(store, st: dict, seconds: float = 3.0) -> dict:
    """The status once the controller is idle (monitors registered), for display only."""
    from corral.cluster.snapshot import read_snapshot
    from corral.cluster.status import cluster_status

    deadline = time.monotonic() + seconds
    while (st.get("controller_status") or {}).get("state") != "idle" and time.monotonic() < deadline:
        time.sleep(0.05)
        st = cluster_status(read_snapshot(store))
    return st


def _healthy(st: dict, live: set[str]) -> bool:
    """Every singleton on a live node, and an API instance on every live node."""
    api_nodes = {r["node"] for r in st["resources"] if r["base"] == "api" and r["node"]}
    singles = [r for r in st["resources"] if r["base"] != "api"]
    return (api_nodes == live and all(r["node"] in live and r["role"] == "Started" for r in singles)
            and {n["name"] for n in st["nodes"] if n["state"] == "online"} == live)


@click.command()
@click.option("--ttl", type=float, default=2.0, show_default=True, help="membership lease TTL (s)")
@click.option("--renew", type=float, default=0.2, show_default=True)
@click.option("--store-timeout", type=float, default=0.5, show_default=True)
@click.option("--keep", is_flag=True, help="leave the temporary directory (logs, store) behind")
def demo(ttl: float, renew: float, store_timeout: float, keep: bool) -> None:
    """Start three nodes on this host, crash one, show the recovery, clean up."""
    from corral.cli.crm_mon import render_status
    from corral.cluster import configstore
    from corral.cluster.local import LocalCluster
    from corral.cluster.snapshot import read_snapshot
    from corral.cluster.status import cluster_status
    from corral.cluster.timing import Timing
    from corral.store import open_store

    timing = Timing(ttl=ttl, renew=renew, store_timeout=store_timeout)
    try:
        timing.check()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    work = Path(tempfile.mkdtemp(prefix="corral-demo-"))
    url = f"sqlite://{work}/cluster.db"
    cluster = LocalCluster(url, work, timing)
    ok = False
    store = None
    try:
        *api_ports, frontend = _free_ports(len(NODES) + 1)
        python = shutil.which("python3") or sys.executable
        nodes = "\n".join(f"  - {{name: {n}, attributes: {{api_port: \"{p}\"}}}}" for n, p in zip(NODES, api_ports,
                                                                                                 strict=True))
        cfg_path = work / "control-plane.yaml"
        cfg_path.write_text(CONFIG.format(nodes=nodes, python=python, frontend_port=frontend))
        store = open_store(url)
        configstore.load_file(store, cfg_path)
        click.echo(f"corral demo: store {url}, configuration {cfg_path}")
        click.echo(f"  api ports {', '.join(map(str, api_ports))}; frontend (haproxy) port {frontend}")
        click.echo(f"  timing: lease TTL {ttl:g}s, renewal every {renew:g}s, store timeout {store_timeout:g}s")
        click.echo("")
        t0 = time.monotonic()
        for n in NODES:
            cluster.start(n)
        click.echo(f"Starting {len(NODES)} agents ({', '.join(NODES)})...")

        def watch(live: set[str], start: float, deadline_s: float) -> dict | None:
            seen: dict[str, str | None] = {}
            while time.monotonic() - start < deadline_s:
                st = cluster_status(read_snapshot(store))
                where = _where(st)
                for rid, node in where.items():
                    if seen.get(rid, "?") != node:
                        verb = f"running on {node}" if node else "stopped"
                        click.echo(f"  [{(time.monotonic() - start) * 1000:7.0f} ms] {rid:<10} {verb}")
                seen = where
                if _healthy(st, live):
                    return st
                time.sleep(0.02)
            return None

        st = watch(set(NODES), t0, 30)
        if st is None:
            raise click.ClickException("the cluster did not start within 30 s (logs in --keep mode)")
        click.echo(f"All running after {(time.monotonic() - t0):.1f} s (controller: {st['controller']}).\n")
        st = _settled(store, st)
        click.echo("\n".join(render_status(st, url)))
        answering = [p for p in [*api_ports, frontend] if _http_ok(p)]
        click.echo(f"\nHTTP answers on {len(answering)} of {len(api_ports) + 1} ports.\n")

        victim = _where(st)["haproxy"] or NODES[0]
        survivors = set(NODES) - {victim}
        moved = sorted(r["id"] for r in st["resources"] if r["node"] == victim)
        click.echo(f"Crashing {victim}: SIGKILL to its agent and to every service it runs ({', '.join(moved)}).")
        kill_at = time.monotonic()
        cluster.crash(victim)
        http_back: float | None = None
        st = None
        while time.monotonic() - kill_at < 30:
            if http_back is None and _http_ok(frontend):
                http_back = time.monotonic() - kill_at
            cur = cluster_status(read_snapshot(store))
            if _healthy(cur, survivors):
                st = cur
                break
            time.sleep(0.02)
        recovered = time.monotonic() - kill_at
        if st is None:
            raise click.ClickException(f"no recovery within 30 s of crashing {victim}")
        while http_back is None and time.monotonic() - kill_at < 30:
            if _http_ok(frontend):
                http_back = time.monotonic() - kill_at
            time.sleep(0.01)
        click.echo("")
        click.echo("\n".join(render_status(_settled(store, st), url)))
        click.echo("")
        click.echo(f"Recovery: everything running again {recovered * 1000:.0f} ms after the crash "
                   f"(lease TTL {ttl:g}s); the frontend answered HTTP again after "
                   f"{(http_back or 0) * 1000:.0f} ms.")
        ok = True
    finally:
        click.echo("\nStopping the cluster...")
        cluster.stop_all(timeout=10)
        if store is not None:
            store.close()
        if keep:
            click.echo(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if ok:
        click.echo("corral demo: done.")
