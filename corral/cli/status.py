"""`corral status`: the cluster as crm_mon -1 shows it (corral/cli/crm_mon.py draws it)."""
from __future__ import annotations

import json
import time

import click

from corral.cli.common import client_store, fail, resolve_store_url, store_option

MIN_INTERVAL_S = 0.1


def clock_line(url: str, interval: float, width: int, now: float | None = None) -> str:
    """`--watch`'s first line, cut to the terminal's width."""
    line = f"Every {interval:g}s: corral status --store {url.split('?')[0]}"
    clock = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(now))
    if len(line) + 2 + len(clock) <= width:
        return line + " " * (width - len(line) - len(clock)) + clock
    return (line + "  " + clock)[:max(width, 1)]


@click.command()
@store_option
@click.option("--json", "as_json", is_flag=True, help="print JSON (the same fields as before, and more)")
@click.option("--watch", is_flag=True, help="refresh every --interval seconds until interrupted (Ctrl-C)")
@click.option("--interval", type=float, default=1.0, show_default=True,
              help=f"seconds between refreshes with --watch (at least {MIN_INTERVAL_S:g})")
def status(store_url: str | None, as_json: bool, watch: bool, interval: float) -> None:
    """Nodes, resources and failures, as crm_mon -1 shows them."""
    from corral.cli.crm_mon import render_status
    from corral.cluster.snapshot import read_snapshot
    from corral.cluster.status import cluster_status

    if not (interval >= MIN_INTERVAL_S) or interval == float("inf"):  # also refuses nan
        fail("status", f"--interval {interval:g}: give a number of seconds, at least {MIN_INTERVAL_S:g}")
    store_url = resolve_store_url("status", store_url)
    # refuses a store that does not exist; read-only: on etcd, the lean reader (store/etcd_read.py)
    with client_store("status", store_url, read_only=True) as store:
        while True:
            st = cluster_status(read_snapshot(store))
            if as_json:
                click.echo(json.dumps(st, sort_keys=True, default=str))
            else:
                text = "\n".join(render_status(st, store_url))
                if watch:
                    import shutil  # only --watch needs it

                    width = shutil.get_terminal_size((80, 24)).columns
                    text = "\x1b[2J\x1b[H" + clock_line(store_url, interval, width) + "\n\n" + text
                click.echo(text)
            if not watch:
                return
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                return
