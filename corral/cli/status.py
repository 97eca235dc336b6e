"""`corral status`: the cluster as crm_mon shows it."""
from __future__ import annotations

import json
import time

import click

from corral.cli.common import client_store, resolve_store_url, store_option


@click.command()
@store_option
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.option("--watch", is_flag=True, help="refresh every --interval seconds until interrupted")
@click.option("--interval", type=float, default=1.0, show_default=True)
def status(store_url: str | None, as_json: bool, watch: bool, interval: float) -> None:
    """Nodes, resources and failures, like crm_mon."""
    from corral.cluster.snapshot import read_snapshot
    from corral.cluster.status import cluster_status, render_text

    store_url = resolve_store_url("status", store_url)
    with client_store("status", store_url) as store:
        while True:
            st = cluster_status(read_snapshot(store))
            if as_json:
                click.echo(json.dumps(st, sort_keys=True, default=str))
            else:
                if watch:
                    click.echo("\x1b[2J\x1b[H", nl=False)
                click.echo("\n".join(render_text(st, store_url)))
            if not watch:
                return
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                return
