"""Open a store from its URL.

    memory://                 a private in-process store (unit tests)
    memory://NAME             an in-process store shared by every open of NAME
    sqlite:///abs/path.db     the embedded store; options: timeout, history
    etcd://host:port[,host:port...]   etcd v3 (default port 2379); option: timeout

Options go in the query string, e.g. sqlite:///var/lib/corral/cluster.db?timeout=2
(timeout: seconds a call may wait before StoreUnavailable; history: revisions
of events kept for resuming watches).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from urllib.parse import parse_qsl, unquote

from corral.store.base import Store

SCHEMES = "memory://, sqlite:///absolute/path.db or etcd://host:port[,host:port...]"
_OPTIONS: dict[str, set[str]] = {"memory": set(), "sqlite": {"timeout", "history"}, "etcd": {"timeout"}}


def open_store(url: str, *, create: bool = True, read_only: bool = False) -> Store:
    """A store from its URL; ValueError naming the URL and the problem if it is wrong.

    create=False: an embedded store whose file does not exist is refused instead of
    created empty (commands that only read: a mistyped path must not look like an
    empty cluster). Only agents and `corral load` create the file.

    read_only=True: the caller only reads (get, get_prefix); an etcd store is then the
    lean reader of etcd_read.py, which spares a short command the import of the full
    client (writes and watches raise StoreError)."""
    def bad(problem: str) -> ValueError:
        return ValueError(f"store URL {url!r}: {problem}")

    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"store URL {url!r} is empty; expected {SCHEMES}")
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise bad(f"no scheme; expected {SCHEMES}")
    scheme = scheme.lower()
    if scheme not in _OPTIONS:
        raise bad(f"unknown scheme {scheme!r}; expected {SCHEMES}")
    rest, _, query = rest.partition("?")
    options = _options(query, _OPTIONS[scheme], bad)

    if scheme == "memory":
        from corral.store.memory import MemoryStore

        if "/" in rest:
            raise bad("a memory store has a name, not a path (memory:// or memory://NAME)")
        return MemoryStore(unquote(rest) or None)

    if scheme == "sqlite":
        from corral.store.sqlite import SqliteStore

        path = unquote(rest)
        if not path.startswith("/"):
            raise bad("sqlite needs an absolute path after three slashes, like sqlite:///var/lib/corral/cluster.db")
        if path.endswith("/") or os.path.isdir(path):
            raise bad(f"{path} is a directory; name the database file")
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            raise bad(f"directory {parent} does not exist")
        if not create and not os.path.exists(path):
            raise bad(f"no store at {path} (is the path right? an agent or `corral load` creates it)")
        history = options.get("history", 10000)
        if not isinstance(history, int) or history < 1:
            raise bad("history must be a whole number of revisions, at least 1")
        return SqliteStore(path, timeout=options.get("timeout", 5.0), history=history)

    if rest.rstrip("/") != rest.split("/", 1)[0]:
        raise bad("an etcd URL has no path; list endpoints as etcd://host:port,host:port")
    endpoints, timeout = _endpoints(rest.rstrip("/"), bad), options.get("timeout", 5.0)
    if read_only:
        from corral.store.etcd_read import EtcdReader

        return EtcdReader(endpoints, timeout=timeout)
    from corral.store.etcd import EtcdStore

    return EtcdStore(endpoints, timeout=timeout)


def etcd_endpoints(url: str) -> tuple[list[tuple[str, int]], float]:
    """(endpoints, timeout) of an etcd:// store URL, validated as open_store does; ValueError
    naming the URL otherwise (for clients other than EtcdStore: the compute member's gRPC leases)."""
    def bad(problem: str) -> ValueError:
        return ValueError(f"store URL {url!r}: {problem}")

    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "etcd":
        raise bad("not an etcd:// URL")
    rest, _, query = rest.partition("?")
    options = _options(query, _OPTIONS["etcd"], bad)
    if rest.rstrip("/") != rest.split("/", 1)[0]:
        raise bad("an etcd URL has no path; list endpoints as etcd://host:port,host:port")
    return _endpoints(rest.rstrip("/"), bad), float(options.get("timeout", 5.0))


def _options(query: str, allowed: set[str], bad: Callable[[str], ValueError]) -> dict[str, float | int]:
    options: dict[str, float | int] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as e:
        raise bad(f"malformed options {query!r} ({e})") from None
    for name, value in pairs:
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise bad(f"unknown option {name!r} (options here: {known})")
        try:
            number = float(value)
        except ValueError:
            raise bad(f"option {name}={value!r} is not a number") from None
        if not number > 0 or number == float("inf"):
            raise bad(f"option {name}={value!r} must be a positive number")
        options[name] = int(number) if name == "history" and number.is_integer() else number
    return options


def _endpoints(netloc: str, bad: Callable[[str], ValueError]) -> list[tuple[str, int]]:
    if not netloc:
        raise bad("no etcd endpoint; expected etcd://host:port[,host:port...]")
    endpoints = []
    for part in netloc.split(","):
        part = part.strip()
        if not part:
            raise bad("an empty endpoint between commas")
        if "@" in part:
            raise bad(f"endpoint {part!r}: credentials in the URL are not supported")
        if part.startswith("["):  # [IPv6]:port
            host, _, tail = part[1:].partition("]")
            if tail and not tail.startswith(":"):
                raise bad(f"endpoint {part!r}: expected [address]:port")
            port_text = tail[1:] if tail else ""
        else:
            host, _, port_text = part.partition(":")
            if ":" in port_text:
                raise bad(f"endpoint {part!r}: write IPv6 addresses in brackets, like [::1]:2379")
        if not host:
            raise bad(f"endpoint {part!r} has no host")
        if port_text:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise bad(f"endpoint {part!r}: port {port_text!r} is not a number from 1 to 65535")
            port = int(port_text)
        else:
            port = 2379
        endpoints.append((host, port))
    return endpoints
