"""`corral compute`: the compute plane's hosts and recoveries (corral.openstack, docs/openstack.md)."""
from __future__ import annotations

import json

import click

from corral.cli.common import client_store, fail, resolve_store_url, store_option


@click.group()
def compute() -> None:
    """Compute HA: hosts, recoveries, returning hosts."""


@compute.command()
@store_option
@click.option("--json", "as_json", is_flag=True, help="print JSON: {hosts: [...], recoveries: [...], held: [...]}")
def status(store_url: str | None, as_json: bool) -> None:
    """Every compute host's state and every recovery, with each instance's state and target."""
    from corral.openstack.status import compute_status, render

    store_url = resolve_store_url("compute status", store_url)
    with client_store("compute status", store_url) as store:
        st = compute_status(store)
    if as_json:
        click.echo(json.dumps(st, sort_keys=True))
    else:
        click.echo("\n".join(render(st)))


@compute.command()
@store_option
@click.argument("host")
def enable(store_url: str | None, host: str) -> None:
    """Let HOST, back after a recovery, into service again (with enable-returning-hosts: operator).

    The controller unforces and enables its nova-compute once its evacuations are completed."""
    from corral.openstack.engine import request_enable
    from corral.openstack.records import record_key

    store_url = resolve_store_url("compute enable", store_url)
    with client_store("compute enable", store_url) as store:
        if store.get(record_key(host)) is None:
            fail("compute enable", f"{host} has no recovery: nothing to enable (nothing was changed)")
        request_enable(store, host)
    click.echo(f"{host}: enabling requested; the controller does it once its evacuations are completed")


@compute.command()
@store_option
@click.argument("host")
def forget(store_url: str | None, host: str) -> None:
    """Stop managing HOST (decommissioned): a host that had a member is otherwise recovered when it goes."""
    from corral.cluster import keys
    from corral.openstack.engine import forget_host

    store_url = resolve_store_url("compute forget", store_url)
    with client_store("compute forget", store_url) as store:
        if store.get(f"{keys.COMPUTE_MEMBERS}{host}") is not None:
            fail("compute forget", f"{host} still has a live compute member: stop it first (nothing was changed)")
        forget_host(store, host)
    click.echo(f"{host}: forgotten")
