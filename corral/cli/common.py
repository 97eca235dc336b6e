"""What the live-cluster commands share: finding the store, opening it, failing cleanly.

The store comes from `--store URL`, else `$CORRAL_STORE`, else the first config
file that exists of `$CORRAL_CONF`, `$XDG_CONFIG_HOME/corral/corral.conf`
(`~/.config/corral/corral.conf`) and `/etc/corral/corral.conf`, a file of
`key = value` lines (`#` comments) whose `store` key is the URL.

Kept light: imported by every `corral` command, so nothing heavy at module level.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from corral.model.errors import ConfigError

if TYPE_CHECKING:
    from corral.store import Store

STORE_HELP = ("the store: sqlite:///path/cluster.db or etcd://host:port[,host:port...] "
              "(default: $CORRAL_STORE, else 'store =' in corral.conf)")
CONF_KEYS = ("store",)


def fail(cmd: str, message: str, code: int = 2) -> NoReturn:
    click.echo(f"corral {cmd}: {message}", err=True)
    sys.exit(code)


def conf_files() -> list[Path]:
    home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    files = [Path(home) / "corral" / "corral.conf", Path("/etc/corral/corral.conf")]
    if os.environ.get("CORRAL_CONF"):
        files.insert(0, Path(os.environ["CORRAL_CONF"]))
    return files


def read_conf(path: Path) -> dict[str, str]:
    """`key = value` lines; ConfigError naming file and line for anything else."""
    out: dict[str, str] = {}
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read: {exc}") from None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, eq, value = line.partition("=")
        key, value = key.strip(), value.strip().strip("'\"")
        if not eq or not key:
            raise ConfigError(f"{path}:{n}", f"expected 'key = value', got {raw.strip()!r}")
        if key not in CONF_KEYS:
            raise ConfigError(f"{path}:{n}", f"unknown key {key!r} (known: {', '.join(CONF_KEYS)})")
        out[key] = value
    return out


def resolve_store_url(cmd: str, url: str | None) -> str:
    if url is not None:
        return url
    for path in conf_files():
        explicit = os.environ.get("CORRAL_CONF") == str(path)
        if not path.exists() and not explicit:
            continue
        try:
            conf = read_conf(path)
        except ConfigError as exc:
            fail(cmd, str(exc))
        if "store" in conf:
            return conf["store"]
        if explicit:
            fail(cmd, f"{path}: no 'store = URL' line")
    fail(cmd, "no store given: use --store URL, set CORRAL_STORE, or put 'store = URL' in "
              "/etc/corral/corral.conf or ~/.config/corral/corral.conf")


def store_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--store", "store_url", envvar="CORRAL_STORE", default=None, help=STORE_HELP)(fn)


def _existing(cmd: str, url: str) -> None:
    """An operator command on a sqlite path that does not exist would create an empty store
    and report on it: refuse instead (agents and `corral load` create the store)."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() == "sqlite":
        from urllib.parse import unquote

        path = unquote(rest.partition("?")[0])
        if path.startswith("/") and not os.path.isdir(path) and not os.path.exists(path):
            fail(cmd, f"no store at {path} (is the path right? `corral load` or an agent creates it)")


@contextmanager
def client_store(cmd: str, url: str | None, *, must_exist: bool = True, read_only: bool = False) -> Iterator[Store]:
    """The store, opened for one command; store and configuration errors end the command
    with a one-line message (exit 1 for an unreachable store, 2 for bad input).
    read_only: the command only reads (store.factory.open_store)."""
    from corral.store import StoreError, open_store

    url = resolve_store_url(cmd, url)
    if must_exist:
        _existing(cmd, url)
    try:
        store = open_store(url, read_only=read_only)
    except (ValueError, StoreError) as exc:
        fail(cmd, str(exc))
    try:
        yield store
    except StoreError as exc:
        fail(cmd, f"store error: {exc}", 1)
    except ConfigError as exc:
        fail(cmd, str(exc))
    finally:
        try:
            store.close()
        except StoreError:
            pass


def run_change(cmd: str, url: str | None, build: Callable[[Any], Any]) -> tuple[Any, Any]:
    """Apply one validated operator change (cluster/change.py), or fail naming why; returns
    (what build returned, the Current it saw). Prints what the scheduler will do."""
    from corral.cluster import change

    with client_store(cmd, url) as store:
        try:
            result, cur = change.apply(store, build)
        except ConfigError as exc:
            fail(cmd, f"{exc}{'' if str(exc).endswith('nothing was changed') else '; nothing was changed'}")
    return result, cur


def echo_summary(cur: Any) -> None:
    if cur.summary:
        click.echo("The cluster will now:")
        for line in cur.summary:
            click.echo(line)
