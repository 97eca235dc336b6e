"""`corral neutron`: the L3 agents and the routers moved off dead ones (corral.openstack.l3_engine)."""
from __future__ import annotations

import json
import time
from typing import Any

import click

from corral.cli.common import client_store, resolve_store_url, store_option


@click.group()
def neutron() -> None:
    """Neutron L3: agents, routers moved off dead agents."""


@neutron.command()
@store_option
@click.option("--json", "as_json", is_flag=True, help="print JSON: {status: {...}, moves: [...]}")
def status(store_url: str | None, as_json: bool) -> None:
    """What the L3 mover last saw (every L3 agent), what it holds back and why, and every move."""
    from dataclasses import asdict

    from corral.openstack.l3_engine import read_moves, read_status

    store_url = resolve_store_url("neutron status", store_url)
    with client_store("neutron status", store_url) as store:
        st = read_status(store)
        moves = sorted((asdict(m) for m in read_moves(store).values()), key=lambda m: (m["started"], m["router"]))
    if as_json:
        click.echo(json.dumps({"status": st, "moves": moves}, sort_keys=True))
        return
    click.echo("\n".join(render(st, moves)))


def render(st: dict[str, Any], moves: list[dict[str, Any]]) -> list[str]:
    if not st:
        return ["L3 mover: no status yet (no controller has run it)"]
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st.get("updated", 0)))
    out = [f"L3 mover: {st.get('state')} on {st.get('controller')} (updated {when})"]
    if st.get("note"):
        out.append(f"  {st['note']}")
    agents = st.get("agents", [])
    if agents:
        out.append("L3 agents:")
        for a in agents:
            extra = f", {a['routers']} routers" if "routers" in a else ""
            out.append(f"  * {a['host']:<20} {a['state']:<5} ({a['mode']}{', zone ' + a['zone'] if a['zone'] else ''}"
                       f"{extra})")
    for h in st.get("held", []):
        out.append(f"  held: {h['what']}: {h['reason']}")
    if st.get("waiting"):
        out.append(f"  {st['waiting']} routers wait for the next cycle (max-routers-per-cycle)")
    if moves:
        out.append("Router moves:")
        for m in moves:
            took = f" in {m['finished'] - m['started']:.1f}s" if m["finished"] else ""
            err = f" ({m['error']})" if m["error"] else ""
            out.append(f"  * {m['router']}: {m['source_host']} -> {m['target_host']}: {m['state']}{took}{err}")
    return out
