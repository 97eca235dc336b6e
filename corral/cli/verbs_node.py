"""`corral node ...`: standby, online, maintenance (operator state, apart from the
configuration file) and remove. Each is a validated change: an unknown node is refused."""
from __future__ import annotations

from typing import TYPE_CHECKING

import click

from corral.cli.common import echo_summary, run_change, store_option

if TYPE_CHECKING:
    from corral.cluster.change import Current


@click.group()
def node() -> None:
    """Put a node in standby or maintenance, back online, or remove it."""


def _modes(cmd: str, store_url: str | None, name: str, on: tuple[str, ...], off: tuple[str, ...]) -> Current:
    from corral.model.config import is_true

    def build(cur: Current) -> list[str]:
        cur.node(name)
        modes = cur.operator.node_modes.setdefault(name, {})
        for m in off:
            modes.pop(m, None)
        for m in on:
            modes[m] = "on"
        if not modes:
            cur.operator.node_modes.pop(name, None)
        cur.operator_changed = True
        configured = cur.config.nodes.get(name)
        return [f"note: the configuration file sets {m}={configured.attrs[m]} for {name}, which stays"
                for m in off if configured is not None and is_true(configured.attrs.get(m))]

    notes, cur = run_change(cmd, store_url, build)
    for n in notes:
        click.echo(n, err=True)
    return cur


@node.command()
@store_option
@click.argument("name")
def standby(store_url: str | None, name: str) -> None:
    """Move every resource off NAME (standby=on)."""
    cur = _modes("node standby", store_url, name, ("standby",), ())
    click.echo(f"{name} is in standby")
    echo_summary(cur)


@node.command()
@store_option
@click.argument("name")
def online(store_url: str | None, name: str) -> None:
    """Let NAME run resources again (clears standby and maintenance)."""
    cur = _modes("node online", store_url, name, (), ("standby", "maintenance"))
    click.echo(f"{name} is online")
    echo_summary(cur)


@node.command()
@store_option
@click.argument("name")
def maintenance(store_url: str | None, name: str) -> None:
    """Leave NAME's resources alone: neither stopped, started nor monitored by the cluster."""
    cur = _modes("node maintenance", store_url, name, ("maintenance",), ())
    click.echo(f"{name} is in maintenance")
    echo_summary(cur)


@node.command()
@store_option
@click.option("--force", is_flag=True, help="remove it even though the cluster thinks it may still run resources")
@click.argument("name")
def remove(store_url: str | None, force: bool, name: str) -> None:
    """Forget NAME: its node record, status, modes and move/ban constraints, and its entry in
    the configuration (crm_node --remove). Refused while its agent is a member."""
    from corral.cluster import keys
    from corral.cluster.change import Rejected
    from corral.store import Compare, Delete

    def build(cur: Current) -> list[str]:
        cur.node(name)
        if name in cur.snap.members:
            raise Rejected(f"{name} is a member (its agent runs); stop its agent first")
        if not force:
            active = sorted({rid for rid, rec in cur.snap.history.get(name, {}).items() if rec.ops})
            record = cur.snap.nodes.get(name, {})
            if active and record.get("expected", "member") != "down" and \
                    cur.config.option_bool("stonith-enabled", True):
                raise Rejected(f"{name} was lost, not fenced, and may still run {', '.join(active)}: fence it "
                               f"first (corral fence {name}), or --force if you know it is off")
        cur.compares.append(Compare(keys.member(name), "create_revision", "==", 0))  # not rejoining meanwhile
        cur.ops += [Delete(keys.node(name)), Delete(keys.heartbeat(name)), Delete(keys.history(name), prefix=True),
                    Delete(keys.attrs(name), prefix=True), Delete(f"{keys.NODE_ATTRS}{name}/", prefix=True),
                    Delete(keys.actions(name), prefix=True), Delete(keys.requests(name), prefix=True)]
        notes = []
        if name in cur.config.nodes:
            del cur.config.nodes[name]
            cur.config_changed = True
            notes.append(f"note: {name} is listed in the configuration file it came from; loading that file "
                         "again brings it back")
        dropped = [c.id for c in cur.operator.constraints if c.node == name]
        cur.operator.constraints = [c for c in cur.operator.constraints if c.node != name]
        if cur.operator.node_modes.pop(name, None) is not None or dropped:
            cur.operator_changed = True
        if dropped:
            notes.append(f"removed {', '.join(dropped)}")
        named = [loc.id for loc in cur.config.locations if loc.node == name]
        if named:
            notes.append(f"note: constraints of the configuration still name {name}: {', '.join(named)}")
        return notes

    notes, cur = run_change("node remove", store_url, build)
    for n in notes:
        click.echo(n, err=True)
    click.echo(f"{name} removed")
    echo_summary(cur)
