"""`corral status`: the cluster as crm_mon shows it."""
from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from corral.cli.live import STORE_HELP, _fail

if TYPE_CHECKING:
    from corral.store import Store

MIN_INTERVAL_S = 0.1


@contextmanager
def _existing_store(url: str) -> Iterator[Store]:
    """The store, which must exist (status never creates one); store errors end the command."""
    from corral.store import StoreError, open_store

    try:
        store = open_store(url, create=False)
    except (ValueError, StoreError) as exc:
        _fail("status", str(exc))
    try:
        yield store
    except StoreError as exc:
        _fail("status", f"store error: {exc}", 1)
    finally:
        try:
            store.close()
        except StoreError:
            pass


def clock_line(url: str, interval: float, width: int, now: float | None = None) -> str:
    """`--watch`'s first line, cut to the terminal's width."""
    line = f"Every {interval:g}s: corral status --store {url.split('?')[0]}"
    clock = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(now))
    if len(line) + 2 + len(clock) <= width:
        return line + " " * (width - len(line) - len(clock)) + clock
    return (line + "  " + clock)[:max(width, 1)]


@click.command()
@click.option("--store", "store_url", required=True, help=STORE_HELP)
@click.option("--json", "as_json", is_flag=True, help="print JSON (the same fields as before, and more)")
@click.option("--watch", is_flag=True, help="refresh every --interval seconds until interrupted (Ctrl-C)")
@click.option("--interval", type=float, default=1.0, show_default=True,
              help=f"seconds between refreshes with --watch (at least {MIN_INTERVAL_S:g})")
def status(store_url: str, as_json: bool, watch: bool, interval: float) -> None:
    """Nodes, resources and failures, as crm_mon -1 shows them."""
    from corral.cli.crm_mon import render_status
    from corral.cluster.snapshot import read_snapshot
    from corral.cluster.status import cluster_status

    if not (interval >= MIN_INTERVAL_S) or interval == float("inf"):  # also refuses nan
        _fail("status", f"--interval {interval:g}: give a number of seconds, at least {MIN_INTERVAL_S:g}")
    with _existing_store(store_url) as store:
        while True:
            st = cluster_status(read_snapshot(store))
            if as_json:
                click.echo(json.dumps(st, sort_keys=True, default=str))
            else:
                text = "\n".join(render_status(st, store_url))
                if watch:
                    width = shutil.get_terminal_size((80, 24)).columns
                    text = "\x1b[2J\x1b[H" + clock_line(store_url, interval, width) + "\n\n" + text
                click.echo(text)
            if not watch:
                return
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                return
