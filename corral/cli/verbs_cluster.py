"""`corral load`, `corral config show`, `corral constraint list`, `corral property set|unset`."""
from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING

import click

from corral.cli.common import client_store, echo_summary, fail, run_change, store_option
from corral.model.errors import ConfigError

if TYPE_CHECKING:
    from corral.cluster.change import Current


# --- corral load -----------------------------------------------------------------------
@click.command()
@store_option
@click.option("--dry-run", is_flag=True, help="validate and print what would change in what runs; change nothing")
@click.option("--force", is_flag=True, help="load even if running resources would be stopped or nodes fenced")
@click.argument("file", type=click.Path(dir_okay=False))
def load(store_url: str | None, dry_run: bool, force: bool, file: str) -> None:
    """Validate FILE (Corral YAML or a Pacemaker CIB) and make it the cluster's configuration.

    \b
    A configuration with errors is rejected and nothing changes. Before writing, it
    prints what the scheduler would do with the new configuration in the current state
    (resources started, stopped, moved, restarted). A load that would stop running
    resources or fence nodes asks first on a terminal; elsewhere it is refused (exit 1)
    without --force."""
    from corral.cluster import configstore, keys
    from corral.cluster.snapshot import read_snapshot
    from corral.store import Compare, Put

    try:
        cfg, text = configstore.prepare_file(file)
    except ConfigError as exc:
        fail("load", f"rejected, nothing changed:\n{exc}")
    with client_store("load", store_url, must_exist=False) as store:
        snap = read_snapshot(store)
        try:
            summary, stops, notes = _effects(snap, text)
        except ConfigError as exc:
            fail("load", f"rejected, nothing changed:\n{exc}")
        for w in cfg.warnings + notes:
            click.echo(f"warning: {w}", err=True)
        counts = (f"{len(cfg.resources)} resources, {len(cfg.nodes)} nodes, "
                  f"{len(cfg.locations) + len(cfg.colocations) + len(cfg.orders)} constraints")
        if summary:
            click.echo("Loading it, the cluster will:")
            for line in summary:
                click.echo(line)
        elif snap.config is not None:
            click.echo("Loading it changes nothing in what runs.")
        if dry_run:
            click.echo(f"dry run: {file} is valid ({counts}); nothing was changed")
            return
        if stops and not force:
            what = ", ".join(stops)
            if sys.stdin.isatty() and sys.stdout.isatty():
                if not click.confirm(f"This stops running resources or fences nodes ({what}). Load it?",
                                     default=False):
                    fail("load", "not loaded; nothing changed", 1)
            else:
                fail("load", f"not loaded: it would stop running resources or fence nodes ({what}); run with "
                             "--force to load it anyway, or --dry-run to see the plan; nothing changed", 1)
        if not store.txn([Compare(keys.CONFIG, "mod_revision", "==", snap.config_revision)],
                         [Put(keys.CONFIG, text)]).succeeded:
            fail("load", "the configuration changed while this load was being checked; nothing was loaded, "
                         "run it again", 1)
        click.echo(f"loaded {file}: {counts}")


def _effects(snap, text: str) -> tuple[list[str], list[str], list[str]]:  # type: ignore[no-untyped-def]
    """(summary lines, resources that would stop, notes) for the new configuration on the
    current state, with the operator's state merged as the controller would."""
    import copy

    from corral.cluster import configstore
    from corral.cluster.snapshot import scheduler_inputs
    from corral.scheduler import schedule

    new_cfg, _, _ = configstore.decode(text)
    trial = copy.copy(snap)
    trial.config = new_cfg
    try:
        tr = schedule(*scheduler_inputs(trial))
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(configstore.STORE_SOURCE, f"the scheduler cannot plan with it ({type(exc).__name__}: "
                                                    f"{exc})") from None
    pending: set[tuple[str, str]] = set()
    if snap.config is not None:
        now = copy.copy(snap)
        now.config = copy.deepcopy(snap.config)
        try:
            pending = {(v, r) for v, r, _ in schedule(*scheduler_inputs(now)).summary}
        except Exception:  # the current configuration cannot be planned: compare with nothing
            pending = set()
    stops = [r for v, r, _ in tr.summary if v == "Stop" and (v, r) not in pending]
    stops += [f"fencing {r}" for v, r, _ in tr.summary if v.startswith("Fence") and (v, r) not in pending]
    ids = {rid for rid in _ids(new_cfg)}
    notes = [f"operator constraint {c.id} names resource {c.rsc!r}, which this configuration does not have; "
             f"it has no effect ('corral resource clear {c.rsc}' removes it)"
             for c in snap.operator.constraints if c.rsc not in ids]
    return tr.summary_text(), stops, notes


def _ids(cfg) -> list[str]:  # type: ignore[no-untyped-def]
    from corral.model.config import Clone, Group

    out = []
    for r in cfg.resources:
        out.append(r.id)
        inner = r.child if isinstance(r, Clone) else r
        if inner is not r:
            out.append(inner.id)
        if isinstance(inner, Group):
            out += [m.id for m in inner.members]
    return out


# --- corral config show ------------------------------------------------------------------
@click.group()
def config() -> None:
    """The live configuration."""


@config.command()
@store_option
@click.option("--format", "fmt", type=click.Choice(["yaml", "xml"]), default="yaml", show_default=True,
              help="Corral YAML, or a Pacemaker CIB (configuration section)")
@click.option("--with-operator", is_flag=True, help="merge the operator's node modes and move/ban constraints in")
def show(store_url: str | None, fmt: str, with_operator: bool) -> None:
    """Print the cluster's configuration as stored (what `corral load` last accepted, with
    the verbs' edits)."""
    from corral.cluster import configstore, operator
    from corral.cluster.snapshot import read_snapshot

    with client_store("config show", store_url) as store:
        snap = read_snapshot(store)
    if snap.config is None:
        fail("config show", snap.config_error or "the cluster has no configuration yet (corral load FILE)", 1)
    cfg = snap.config
    if with_operator:
        operator.merge_into(cfg, snap.operator)
    if fmt == "yaml":
        from corral.model.yaml_dump import dump_yaml_config

        click.echo(f"# {configstore.STORE_SOURCE} revision {snap.config_revision}, loaded from "
                   f"{snap.config_source or '?'}")
        click.echo(dump_yaml_config(cfg), nl=False)
    else:
        from corral.model.cib_dump import dump_cib

        click.echo(dump_cib(cfg, epoch=snap.config_revision))


# --- corral constraint list --------------------------------------------------------------
@click.group()
def constraint() -> None:
    """The cluster's constraints."""


@constraint.command(name="list")
@store_option
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def list_constraints(store_url: str | None, as_json: bool) -> None:
    """Every constraint: the configuration's, and the operator's move/ban (with expiry)."""
    from corral.cluster.snapshot import read_snapshot
    from corral.model.scores import format_score

    with client_store("constraint list", store_url) as store:
        snap = read_snapshot(store)
    cfg = snap.config
    rows: list[dict] = []
    if cfg is not None:
        for loc in cfg.locations:
            rows.append({"id": loc.id, "kind": "location", "source": "configuration", "rsc": loc.rsc or loc.rsc_pattern,
                         "node": loc.node, "score": format_score(loc.score), "role": loc.role,
                         "rules": len(loc.rules)})
        for col in cfg.colocations:
            rows.append({"id": col.id, "kind": "colocation", "source": "configuration", "rsc": col.rsc,
                         "with": col.with_rsc, "score": format_score(col.score)})
        for o in cfg.orders:
            rows.append({"id": o.id, "kind": "order", "source": "configuration", "first": o.first,
                         "first_action": o.first_action, "then": o.then, "then_action": o.then_action,
                         "order_kind": o.kind})
        for t in cfg.tickets:
            rows.append({"id": t.id, "kind": "ticket", "source": "configuration", "rsc": t.rsc, "ticket": t.ticket})
    now = time.time()
    for c in snap.operator.constraints:
        rows.append({"id": c.id, "kind": "location", "source": "operator", "rsc": c.rsc, "node": c.node,
                     "score": format_score(c.score), "role": c.role, "expires": c.expires,
                     "expired": c.expired(now)})
    if as_json:
        click.echo(json.dumps({"constraints": rows, "node_modes": snap.operator.node_modes}, sort_keys=True))
        return
    if not rows and not snap.operator.node_modes:
        click.echo("no constraints")
        return
    for kind in ("location", "colocation", "order", "ticket"):
        mine = [r for r in rows if r["kind"] == kind]
        if not mine:
            continue
        click.echo(f"{kind.capitalize()} Constraints:")
        for r in mine:
            click.echo(f"  {_constraint_line(r)}")
    if snap.operator.node_modes:
        click.echo("Node modes (operator):")
        for n, modes in sorted(snap.operator.node_modes.items()):
            click.echo(f"  {n}: {', '.join(f'{k}={v}' for k, v in sorted(modes.items()))}")


def _constraint_line(r: dict) -> str:
    if r["kind"] == "location":
        where = f"node {r['node']}" if r.get("node") else f"{r.get('rules', 0)} rule(s)"
        role = f" (role {r['role']})" if r.get("role") else ""
        tail = ""
        if r["source"] == "operator":
            if r.get("expires"):
                when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["expires"]))
                tail = f" (operator, {'EXPIRED at' if r['expired'] else 'expires'} {when})"
            else:
                tail = " (operator)"
        return f"{r['rsc']} {'prefers' if not str(r['score']).startswith('-') else 'avoids'} {where}: " \
               f"{r['score']}{role} [{r['id']}]{tail}"
    if r["kind"] == "colocation":
        return f"{r['rsc']} with {r['with']}: {r['score']} [{r['id']}]"
    if r["kind"] == "order":
        return f"{r['first_action']} {r['first']} then {r['then_action']} {r['then']} ({r['order_kind']}) [{r['id']}]"
    return f"{r['rsc']} needs ticket {r['ticket']} [{r['id']}]"


# --- corral property ---------------------------------------------------------------------
@click.group()
def property() -> None:  # noqa: A001 - the verb's name, as in pcs
    """Cluster options (crm_config), validated: unknown names and bad values are refused."""


def _option_checker(name: str):  # type: ignore[no-untyped-def]
    import difflib

    from corral.cluster.change import Rejected
    from corral.model.validate import CLUSTER_OPTIONS

    checker = CLUSTER_OPTIONS.get(name)
    if checker is None:
        close = difflib.get_close_matches(name, list(CLUSTER_OPTIONS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise Rejected(f"unknown cluster option {name!r}{hint} (docs/configuration.md lists them)")
    return checker


@property.command(name="set")
@store_option
@click.argument("name")
@click.argument("value")
def set_property(store_url: str | None, name: str, value: str) -> None:
    """Set cluster option NAME to VALUE."""
    from corral.cluster.change import Rejected

    def build(cur: Current) -> None:
        problem = _option_checker(name)(value)
        if problem or not value.strip():
            raise Rejected(f"{name}: {problem or 'an empty value; use corral property unset ' + name}")
        cur.config.options.pop(name.replace("-", "_"), None)
        cur.config.options[name] = value
        cur.config_changed = True

    _, cur = run_change("property set", store_url, build)
    click.echo(f"{name}={value}")
    echo_summary(cur)


@property.command(name="unset")
@store_option
@click.argument("name")
def unset_property(store_url: str | None, name: str) -> None:
    """Remove cluster option NAME (back to its default)."""
    from corral.cluster.change import Rejected

    def build(cur: Current) -> None:
        if name not in cur.config.options and name.replace("-", "_") not in cur.config.options:
            _option_checker(name)
            raise Rejected(f"{name} is not set")
        cur.config.options.pop(name, None)
        cur.config.options.pop(name.replace("-", "_"), None)
        cur.config_changed = True

    _, cur = run_change("property unset", store_url, build)
    click.echo(f"{name} unset")
    echo_summary(cur)


@property.command(name="list")
@store_option
def list_properties(store_url: str | None) -> None:
    """The cluster options that are set."""
    from corral.cluster.snapshot import read_snapshot

    with client_store("property list", store_url) as store:
        snap = read_snapshot(store)
    if snap.config is None:
        fail("property list", snap.config_error or "the cluster has no configuration yet", 1)
    for k, v in sorted(snap.config.options.items()):
        click.echo(f"{k}: {v}")
