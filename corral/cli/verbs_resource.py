"""`corral resource ...`: move, ban, clear, cleanup, enable, disable, restart, manage,
unmanage, update. Each one is a validated change (cluster/change.py): a typo is refused,
naming what and why, and changes nothing."""
from __future__ import annotations

import re
import time
import uuid
from typing import TYPE_CHECKING

import click

from corral.cli.common import client_store, echo_summary, fail, run_change, store_option

if TYPE_CHECKING:
    from corral.cluster.change import Current, Found

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
MAX_LIFETIME_S = 10 * 365 * 86400


def parse_lifetime(text: str | None) -> float | None:
    """An ISO 8601 duration (PT30M, P1DT2H, P2W) -> seconds; ValueError for anything else."""
    if text is None:
        return None
    m = re.fullmatch(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", text.upper())
    if not m or text.upper() in ("P", "PT") or text.upper().endswith("T"):
        raise ValueError(f"--lifetime {text!r} is not an ISO 8601 duration such as PT30M, PT1H30M, P1D or P2W "
                         "(years and months are not supported)")
    w, d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    seconds = (((w * 7 + d) * 24 + h) * 60 + mi) * 60 + s
    if seconds <= 0:
        raise ValueError(f"--lifetime {text!r} must be longer than zero")
    if seconds > MAX_LIFETIME_S:
        raise ValueError(f"--lifetime {text!r} is longer than 10 years; leave --lifetime out for no expiry")
    return seconds


def _lifetime_option(fn):  # type: ignore[no-untyped-def]
    return click.option("--lifetime", default=None, metavar="DURATION",
                        help="ISO 8601 duration after which the constraint expires by itself (PT1H, P1D)")(fn)


def _expires(lifetime: str | None) -> float | None:
    try:
        seconds = parse_lifetime(lifetime)
    except ValueError as exc:
        fail("resource", str(exc))
    return None if seconds is None else time.time() + seconds


def _until(expires: float | None) -> str:
    return "" if expires is None else f" until {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(expires))}"


@click.group()
def resource() -> None:
    """Move, ban, clear, clean up, enable, disable, restart, (un)manage or update a resource."""


# --- move, ban, clear: the operator's constraints ---------------------------------------
@resource.command()
@store_option
@_lifetime_option
@click.option("--promoted", is_flag=True, help="move the promoted role of a promotable clone to NODE")
@click.argument("rsc")
@click.argument("node", required=False)
def move(store_url: str | None, lifetime: str | None, promoted: bool, rsc: str, node: str | None) -> None:
    """Make RSC run on NODE (location cli-prefer-RSC, score INFINITY); without NODE, move it
    away from where it runs now (cli-ban-RSC-on-NODE), as crm_resource --move does."""
    from corral.cluster.change import Rejected
    from corral.cluster.operator import OperatorConstraint
    from corral.model.config import PROMOTED, Clone
    from corral.model.scores import INFINITY

    expires = _expires(lifetime)

    def build(cur: Current) -> str:
        found = cur.resource(rsc)
        target = cur.node(node) if node is not None else None
        if found.clone is not None:
            if not (promoted and isinstance(found.rsc, Clone) and found.rsc.promotable):
                raise Rejected(f"cannot move {rsc!r}: it is {'clone' if found.rsc is found.clone else 'inside clone'} "
                               f"{found.clone.id!r}, which runs on several nodes; use 'corral resource ban "
                               f"{found.clone.id} NODE' to keep it off a node"
                               + (" or 'move --promoted' to move its promoted role" if found.clone.promotable else ""))
        elif promoted:
            raise Rejected(f"--promoted: {rsc!r} is not a promotable clone")
        if promoted and target is None:
            raise Rejected(f"--promoted: name the NODE to move {rsc}'s promoted role to")
        if target is None:
            where = cur.running_on(rsc)
            if not where:
                raise Rejected(f"{rsc} runs nowhere now; name the NODE to move it to")
            for n in where:
                _ban(cur, rsc, n, expires)
            return f"{rsc} will move away from {', '.join(where)} (location cli-ban-{rsc}-on-...)"
        cur.operator.set_constraint(OperatorConstraint(
            id=f"cli-prefer-{rsc}", rsc=rsc, node=target, score=INFINITY, role=PROMOTED if promoted else None,
            expires=expires, created=time.time()))
        cur.operator_changed = True
        return f"{rsc} will prefer {target}{_until(expires)} (location cli-prefer-{rsc})"

    said, cur = run_change("resource move", store_url, build)
    click.echo(f"{said}; 'corral resource clear {rsc}' removes it")
    echo_summary(cur)


def _ban(cur: Current, rsc: str, node: str, expires: float | None) -> str:
    from corral.cluster.operator import OperatorConstraint
    from corral.model.scores import INFINITY

    cid = f"cli-ban-{rsc}-on-{node}"
    cur.operator.set_constraint(OperatorConstraint(id=cid, rsc=rsc, node=node, score=-INFINITY, expires=expires,
                                                   created=time.time()))
    cur.operator_changed = True
    return cid


@resource.command()
@store_option
@_lifetime_option
@click.argument("rsc")
@click.argument("node", required=False)
def ban(store_url: str | None, lifetime: str | None, rsc: str, node: str | None) -> None:
    """Keep RSC off NODE (location cli-ban-RSC-on-NODE, -INFINITY); without NODE, off where
    it runs now (a clone needs a NODE: it runs on several)."""
    from corral.cluster.change import Rejected

    expires = _expires(lifetime)

    def build(cur: Current) -> list[str]:
        found = cur.resource(rsc)
        if node is not None:
            nodes = [cur.node(node)]
        elif found.clone is not None:
            raise Rejected(f"name the NODE: {rsc!r} is {'a clone' if found.rsc is found.clone else 'in clone ' + repr(found.clone.id)}"
                           " and runs on several nodes; banning it without one would keep it off all of them "
                           "(crm_resource refuses too)")
        else:
            nodes = cur.running_on(rsc)
            if not nodes:
                raise Rejected(f"{rsc} runs nowhere now; name the NODE to ban it from")
        return [_ban(cur, rsc, n, expires) for n in nodes]

    ids, cur = run_change("resource ban", store_url, build)
    click.echo(f"{rsc} banned{_until(expires)} ({', '.join(ids)}); 'corral resource clear {rsc}' removes it")
    echo_summary(cur)


@resource.command()
@store_option
@click.option("--expired", is_flag=True, help="remove only constraints whose lifetime has ended (any resource "
              "when RSC is not given)")
@click.argument("rsc", required=False)
@click.argument("node", required=False)
def clear(store_url: str | None, expired: bool, rsc: str | None, node: str | None) -> None:
    """Remove the constraints move and ban created for RSC (only those naming NODE, if given)."""
    from corral.cluster.change import Rejected

    if rsc is None and not expired:
        fail("resource clear", "name the RSC whose move/ban constraints to remove (or give --expired)")

    def build(cur: Current) -> list[str]:
        if rsc is not None:
            # A resource since removed from the configuration may still have constraints: allow it.
            if not any(c.rsc == rsc for c in cur.operator.constraints):
                cur.resource(rsc)
            if node is not None:
                cur.node(node)

        def ours(cid: str, c_rsc: str | None, c_node: str | None) -> bool:
            if rsc is None:
                return True
            return (cid == f"cli-prefer-{rsc}" or cid.startswith(f"cli-ban-{rsc}-on-")) and \
                c_rsc == rsc and (node is None or c_node == node)

        removed = [c.id for c in cur.operator.constraints if ours(c.id, c.rsc, c.node) and (not expired or c.expired())]
        if removed:
            cur.operator.constraints = [c for c in cur.operator.constraints if c.id not in removed]
            cur.operator_changed = True
        # Constraints of these names in the configuration itself (an imported CIB's) go too.
        from_config = [loc.id for loc in cur.config.locations if loc.id.startswith("cli-")
                       and ours(loc.id, loc.rsc, loc.node) and not expired]
        if from_config:
            cur.config.locations[:] = [loc for loc in cur.config.locations if loc.id not in from_config]
            cur.config_changed = True
        if not removed and not from_config and rsc is not None and node is not None:
            raise Rejected(f"no move/ban constraint of {rsc} names node {node}")
        return removed + from_config

    removed, cur = run_change("resource clear", store_url, build)
    what = rsc or "any resource"
    click.echo(f"removed {', '.join(removed)}" if removed else f"no {'expired ' if expired else ''}move/ban "
               f"constraints for {what}")
    echo_summary(cur)


# --- enable, disable, manage, unmanage, update, restart: the resource's definition --------
def _set_meta(found: Found, name: str, value: str | None, *, descendants: bool) -> None:
    """Set (value) or remove (None) meta `name` on the resource, and remove it from its
    descendants so theirs cannot override it (Pacemaker's meta inheritance)."""
    targets = [found.rsc, *(found.descendants() if descendants else [])]
    for i, r in enumerate(targets):
        if i == 0 and value is not None:
            r.meta[name] = value
        else:
            r.meta.pop(name, None)


def _meta_verb(cmd: str, store_url: str | None, rsc: str, name: str, value: str | None,
               blocked_by: str) -> Current:
    from corral.model.config import is_true

    def build(cur: Current) -> list[str]:
        found = cur.resource(rsc)
        _set_meta(found, name, value, descendants=True)
        cur.config_changed = True
        notes = []
        if value is None:  # enabling/managing: a parent or the defaults may still say otherwise
            for parent in found.ancestors():
                v = parent.meta.get(name)
                if v is not None and (v.lower() == "stopped" if name == "target-role" else not is_true(v)):
                    notes.append(f"note: {parent.id} still has {name}={v}, which {rsc} inherits; "
                                 f"'corral resource {blocked_by} {parent.id}' too")
            v = cur.config.rsc_defaults.get(name)
            if v is not None:
                notes.append(f"note: the resource defaults set {name}={v}")
        return notes

    notes, cur = run_change(cmd, store_url, build)
    for n in notes:
        click.echo(n, err=True)
    return cur


@resource.command()
@store_option
@click.argument("rsc")
def enable(store_url: str | None, rsc: str) -> None:
    """Let RSC run (removes target-role from it and what it contains)."""
    cur = _meta_verb("resource enable", store_url, rsc, "target-role", None, "enable")
    click.echo(f"{rsc} enabled")
    echo_summary(cur)


@resource.command()
@store_option
@click.argument("rsc")
def disable(store_url: str | None, rsc: str) -> None:
    """Stop RSC everywhere (target-role=Stopped)."""
    cur = _meta_verb("resource disable", store_url, rsc, "target-role", "Stopped", "enable")
    click.echo(f"{rsc} disabled")
    echo_summary(cur)


@resource.command()
@store_option
@click.argument("rsc")
def unmanage(store_url: str | None, rsc: str) -> None:
    """Leave RSC alone: neither started, stopped nor recovered (is-managed=false)."""
    _meta_verb("resource unmanage", store_url, rsc, "is-managed", "false", "manage")
    click.echo(f"{rsc} is unmanaged")


@resource.command()
@store_option
@click.argument("rsc")
def manage(store_url: str | None, rsc: str) -> None:
    """Let the cluster manage RSC again (removes is-managed)."""
    cur = _meta_verb("resource manage", store_url, rsc, "is-managed", None, "manage")
    click.echo(f"{rsc} is managed")
    echo_summary(cur)


def _pairs(option: str, items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            fail("resource update", f"{option} {item!r}: expected NAME=VALUE")
        if not NAME_RE.fullmatch(key):
            fail("resource update", f"{option} {item!r}: {key!r} is not a valid name (a letter or '_', then "
                                    "letters, digits, '.', '-', '_')")
        if key in out:
            fail("resource update", f"{option} {key!r} is given twice")
        out[key] = value
    return out


@resource.command()
@store_option
@click.option("--set", "params", multiple=True, metavar="NAME=VALUE", help="set an instance parameter")
@click.option("--meta", "metas", multiple=True, metavar="NAME=VALUE", help="set a meta attribute")
@click.option("--unset", "unsets", multiple=True, metavar="NAME", help="remove a parameter or meta attribute")
@click.argument("rsc")
def update(store_url: str | None, params: tuple[str, ...], metas: tuple[str, ...], unsets: tuple[str, ...],
           rsc: str) -> None:
    """Change RSC's parameters (--set, primitives only) or meta attributes (--meta); a
    running primitive whose parameters change is restarted, as Pacemaker does."""
    from corral.cluster.change import Rejected
    from corral.model.config import Primitive

    p, m = _pairs("--set", params), _pairs("--meta", metas)
    if not (p or m or unsets):
        fail("resource update", "nothing to change: give --set NAME=VALUE, --meta NAME=VALUE or --unset NAME")
    for name in unsets:
        if name in p or name in m:
            fail("resource update", f"{name!r} is both set and unset")

    def build(cur: Current) -> None:
        found = cur.resource(rsc)
        if p and not isinstance(found.rsc, Primitive):
            raise Rejected(f"--set: {rsc!r} is a {found.kind}; parameters belong to primitives "
                           f"({', '.join(r.id for r in found.descendants() if isinstance(r, Primitive))})")
        for name in unsets:
            in_params = isinstance(found.rsc, Primitive) and name in found.rsc.params
            if not in_params and name not in found.rsc.meta:
                raise Rejected(f"--unset {name!r}: {rsc} has no parameter or meta attribute of that name")
            if in_params:
                found.rsc.params.pop(name)  # type: ignore[union-attr]
            found.rsc.meta.pop(name, None)
        if isinstance(found.rsc, Primitive):
            found.rsc.params.update(p)
        found.rsc.meta.update(m)
        cur.config_changed = True

    _, cur = run_change("resource update", store_url, build)
    click.echo(f"{rsc} updated")
    echo_summary(cur)


@resource.command()
@store_option
@click.option("--wait", "wait_s", type=click.FloatRange(0.1, 3600), default=60.0, show_default=True,
              help="seconds to wait for it to stop, and to start again")
@click.argument("rsc")
def restart(store_url: str | None, wait_s: float, rsc: str) -> None:
    """Stop RSC everywhere it runs and start it again (as crm_resource --restart: disable,
    wait for the stop, restore its target-role). Interrupted before the start, it stays
    disabled: 'corral resource enable RSC'."""
    from corral.cluster.change import Rejected

    def stop(cur: Current) -> str | None:
        found = cur.resource(rsc)
        if not cur.running_on(rsc):
            raise Rejected(f"{rsc} is not running anywhere; 'corral resource enable {rsc}' or wait for it to start")
        before = found.rsc.meta.get("target-role")
        found.rsc.meta["target-role"] = "Stopped"
        cur.config_changed = True
        return before

    before, _ = run_change("resource restart", store_url, stop)
    click.echo(f"{rsc}: stopping ...")
    stopped = _wait(store_url, lambda cur: not cur.running_on(rsc), wait_s)

    def start(cur: Current) -> None:
        found = cur.resource(rsc)
        if before is None:
            found.rsc.meta.pop("target-role", None)
        else:
            found.rsc.meta["target-role"] = before
        cur.config_changed = True

    run_change("resource restart", store_url, start)
    if not stopped:
        fail("resource restart", f"{rsc} did not stop within {wait_s:g}s; its target-role is restored", 1)
    click.echo(f"{rsc}: starting ...")
    if not _wait(store_url, lambda cur: bool(cur.running_on(rsc)), wait_s):
        fail("resource restart", f"{rsc} did not start again within {wait_s:g}s (see corral status)", 1)
    click.echo(f"{rsc} restarted")


def _wait(store_url: str | None, done, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    from corral.cluster.change import apply

    deadline = time.monotonic() + timeout
    with client_store("resource restart", store_url) as store:
        while time.monotonic() < deadline:
            ok, _ = apply(store, done)
            if ok:
                return True
            time.sleep(0.2)
    return False


# --- cleanup -----------------------------------------------------------------------------
@resource.command()
@store_option
@click.option("--wait", "wait_s", type=click.FloatRange(0.1, 3600), default=15.0, show_default=True,
              help="seconds to wait for the nodes to re-probe")
@click.argument("rsc")
@click.argument("node", required=False)
def cleanup(store_url: str | None, wait_s: float, rsc: str, node: str | None) -> None:
    """Forget RSC's failures and fail counts (on NODE, or everywhere) and re-probe it.
    RSC may be a resource no longer configured (an orphan) that still has a history."""
    from corral.cluster import keys
    from corral.cluster.change import Rejected, require_node, resolve
    from corral.cluster.records import dumps
    from corral.cluster.snapshot import read_snapshot
    from corral.model.config import Primitive

    with client_store("resource cleanup", store_url) as store:
        snap = read_snapshot(store)
        if snap.config is None:
            fail("resource cleanup", snap.config_error or "the cluster has no configuration yet (corral load FILE)")
        in_history = {rid for recs in snap.history.values() for rid in recs}
        try:
            try:
                found = resolve(snap.config, rsc)
                bases = sorted({r.id for r in [found.rsc, *found.descendants()] if isinstance(r, Primitive)})
            except Rejected:
                # An orphan (no longer configured) or one clone instance, known from a history.
                if rsc not in in_history and not any(rid.split(":")[0] == rsc for rid in in_history):
                    raise
                bases = [rsc.split(":")[0]]
            known = set(snap.config.nodes) | set(snap.nodes) | set(snap.members)
            nodes = [require_node(node, known)] if node is not None else sorted(known)
        except Rejected as exc:
            fail("resource cleanup", f"{exc}; nothing was changed")
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
            fail("resource cleanup", f"{len(requests)} node(s) did not answer within {wait_s:g}s", 1)
        click.echo(f"cleaned up {', '.join(bases)} on {', '.join(nodes)}")
