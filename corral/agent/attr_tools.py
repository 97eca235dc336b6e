"""Pacemaker's tools for resource agents: crm_attribute, crm_master, attrd_updater, crm_node (here),
cibadmin and crm_mon (queries only: corral.agent.cib_tools).

Shipped OCF agents keep state in node attributes through these commands: Stateful and
most promotable agents set their promotion score (`crm_master -l reboot -v 10`, or
`crm_attribute -p`), galera and rabbitmq-cluster record bootstrap facts per node. The
node agent runs agents with HA_SBIN_DIR and PATH pointing at shims (install_shims) that
land here, so the same agents work unchanged against Corral's store:

    lifetime reboot (status)   /corral/attrs/<node>/<name>       cleared when the node rejoins or is fenced
    lifetime forever (nodes)   /corral/node-attrs/<node>/<name>  kept; like a CIB node attribute

A promotion score is the node attribute `master-<resource>` (instance number dropped), as
in Pacemaker, which the scheduler reads. Writes of an unchanged value are skipped: agents
re-set their score on every monitor, and each real change makes the controller re-plan.
Cluster options (`--type crm_config`) are refused: Corral's configuration is the loaded file.
While the node self-fences (cut off from the store) transient writes succeed at once without
effect and the rest fail at once, so an agent's stop never waits on an unreachable store.

Only the options agents use are accepted; anything else is a usage error (exit 64) that names it.
Exit codes follow Pacemaker: 0 ok, 64 usage, 69 store unreachable, 105 no such attribute.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from corral.agent.cib_tools import ToolFailure, cibadmin, crm_mon
from corral.cluster import keys

NODE_ENV = "CORRAL_NODE"         # the node the agent runs for (node agents set it)
STORE_ENV = "CORRAL_STORE_URL"   # the cluster's store
OFFLINE_ENV = "CORRAL_ATTRS_OFFLINE"  # set while the node self-fences, cut off from the store
SOCKET_ENV = "CORRAL_ATTRD_SOCKET"    # the node agent's attribute service (AttrServer)
TOOLS = ("crm_attribute", "crm_master", "attrd_updater", "crm_node", "cibadmin", "crm_mon")

EX_OK, EX_ERROR, EX_USAGE, EX_UNAVAILABLE, EX_NOSUCH = 0, 1, 64, 69, 105


class ToolError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting: the tool reports with Pacemaker's codes."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ToolError(EX_USAGE, message)


def local_node() -> str:
    return os.environ.get(NODE_ENV) or socket.gethostname().split(".")[0]


def promotion_name(resource: str | None) -> str:
    rsc = resource or os.environ.get("OCF_RESOURCE_INSTANCE", "")
    if not rsc:
        raise ToolError(EX_USAGE, "--promotion needs a resource (or OCF_RESOURCE_INSTANCE)")
    return "master-" + rsc.split(":")[0]  # one score per clone, not per instance


def attr_key(node: str, name: str, lifetime: str) -> str:
    return keys.node_attr(node, name) if lifetime == "forever" else keys.attr(node, name)


class Attributes:
    """Node attributes in the store, opened lazily (a usage error never needs the store).
    The node agent serves them from its own open store (AttrServer); a tool run outside an
    agent opens the store itself."""

    def __init__(self, url: str | None = None, store: Any = None,
                 offline: Callable[[], bool] | None = None) -> None:
        self.url = url if url is not None else os.environ.get(STORE_ENV, "")
        self._store = store
        self._owns_store = store is None
        self._is_offline = offline or (lambda: bool(os.environ.get(OFFLINE_ENV)))

    def _open(self):  # noqa: ANN202 - corral.store imports lazily (start-up time of every agent call)
        if self._store is None:
            if not self.url:
                raise ToolError(EX_UNAVAILABLE, f"no cluster store: {STORE_ENV} is not set (run under a Corral node agent)")
            from corral.store import open_store

            try:
                self._store = open_store(self.url)
            except (ValueError, OSError) as exc:
                raise ToolError(EX_UNAVAILABLE, f"cannot open the cluster store: {exc}") from None
        return self._store

    def _call(self, what: str, fn: Callable):  # noqa: ANN202
        from corral.store import StoreError

        try:
            return fn(self._open())
        except StoreError as exc:
            raise ToolError(EX_UNAVAILABLE, f"{what}: cluster store unreachable: {exc}") from None

    def _offline(self, key: str, what: str) -> bool:
        """Self-fencing, the node cannot reach the store: a transient write or delete is moot
        (the node's transient attributes are cleared when it rejoins), so it succeeds at once;
        anything else fails at once rather than hold up a stop."""
        if not self._is_offline():
            return False
        if key.startswith(keys.ATTRS) and what != "reading":
            return True
        raise ToolError(EX_UNAVAILABLE, f"{what} {key}: this node is cut off from the cluster store")

    def get(self, key: str) -> str | None:
        self._offline(key, "reading")
        kv = self._call(f"reading {key}", lambda s: s.get(key))
        return None if kv is None else kv.value

    def set(self, key: str, value: str) -> None:
        if not self._offline(key, "writing") and self.get(key) != value:
            self._call(f"writing {key}", lambda s: s.put(key, value))

    def delete(self, key: str) -> None:
        if not self._offline(key, "deleting") and self.get(key) is not None:
            self._call(f"deleting {key}", lambda s: s.delete(key))

    def members(self) -> list[str]:
        kvs, _ = self._call("listing members", lambda s: s.get_prefix(keys.MEMBERS))
        return sorted(kv.key[len(keys.MEMBERS):] for kv in kvs)

    def nodes(self) -> list[str]:
        kvs, _ = self._call("listing nodes", lambda s: s.get_prefix(keys.NODES))
        return sorted(kv.key[len(keys.NODES):] for kv in kvs)

    def cib(self) -> str:
        """The live CIB as `cibadmin -Q` prints it (corral.cluster.cib_export)."""
        from corral.cluster.cib_export import live_cib
        from corral.cluster.snapshot import read_snapshot
        from corral.model.xml_out import to_text

        snap = self._call("reading the cluster", read_snapshot)
        try:
            return to_text(live_cib(snap))
        except ValueError as exc:  # no configuration loaded
            raise ToolError(EX_UNAVAILABLE, str(exc)) from None

    def close(self) -> None:
        if self._store is not None and self._owns_store:
            self._store.close()


# --- the node agent's attribute service: the tools ask it over a Unix socket ---------------------
# Why: opening the store in every tool run costs the etcd client's imports (~0.5 s of CPU, several
# seconds on a loaded host) for each call an agent makes, and Stateful makes one per operation.
# Like Pacemaker's attrd, the node's own daemon answers; the tool itself imports only the stdlib.
_OPS = ("get", "set", "delete", "members", "nodes", "cib")


class AttrServer:
    """Serves Attributes over a Unix stream socket: one JSON request line, one JSON reply line."""

    def __init__(self, path: str, attrs: Attributes) -> None:
        self.path, self.attrs = path, attrs
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(path)
        os.chmod(path, 0o600)
        self._sock.listen(16)
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="attrd", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="attrd-call", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as f:
            try:
                req = json.loads(f.readline() or b"{}")
                op, args = req.get("op"), [str(a) for a in req.get("args", [])]
                if op not in _OPS:
                    raise ToolError(EX_USAGE, f"unknown request {op!r}")
                reply = {"ok": True, "value": getattr(self.attrs, op)(*args)}
            except ToolError as exc:
                reply = {"ok": False, "code": exc.code, "error": str(exc)}
            except (ValueError, TypeError) as exc:
                reply = {"ok": False, "code": EX_USAGE, "error": f"bad request: {exc}"}
            except Exception as exc:  # noqa: BLE001 - a tool must get an answer, whatever went wrong
                reply = {"ok": False, "code": EX_ERROR, "error": f"{type(exc).__name__}: {exc}"}
            with contextlib.suppress(OSError):
                f.write(json.dumps(reply).encode() + b"\n")
                f.flush()

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)


class AgentAttributes:
    """The Attributes interface, answered by the node agent's AttrServer."""

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        self.path, self.timeout = path, timeout

    def _ask(self, op: str, *args: str) -> Any:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(self.timeout)
                s.connect(self.path)
                s.sendall(json.dumps({"op": op, "args": list(args)}).encode() + b"\n")
                with s.makefile("rb") as f:
                    line = f.readline()
        except OSError as exc:
            raise ToolError(EX_UNAVAILABLE, f"cannot reach this node's Corral agent at {self.path}: {exc}") from None
        try:
            reply = json.loads(line)
        except ValueError:
            raise ToolError(EX_UNAVAILABLE, "this node's Corral agent gave no answer") from None
        if not reply.get("ok"):
            raise ToolError(int(reply.get("code", EX_ERROR)), str(reply.get("error", "failed")))
        return reply.get("value")

    def get(self, key: str) -> str | None:
        return self._ask("get", key)

    def set(self, key: str, value: str) -> None:
        self._ask("set", key, value)

    def delete(self, key: str) -> None:
        self._ask("delete", key)

    def members(self) -> list[str]:
        return list(self._ask("members"))

    def nodes(self) -> list[str]:
        return list(self._ask("nodes"))

    def cib(self) -> str:
        return str(self._ask("cib"))

    def close(self) -> None:
        pass


AttrSource = Attributes | AgentAttributes


# --- crm_attribute / crm_master ------------------------------------------------------------
def _crm_attribute_parser(prog: str) -> _Parser:
    p = _Parser(prog=prog, add_help=False)
    p.add_argument("-n", "--name", "--attr-name")
    p.add_argument("-v", "--update", "--attr-value", dest="value")
    p.add_argument("-G", "--query", "--get-value", action="store_true")
    p.add_argument("-D", "--delete", "--delete-attr", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-N", "--node", "-U", "--uname")
    p.add_argument("-l", "--lifetime", choices=("reboot", "forever"))
    p.add_argument("-t", "--type", choices=("status", "nodes", "crm_config"))
    p.add_argument("-p", "--promotion", nargs="?", const="", default=None)
    p.add_argument("-d", "--default")
    p.add_argument("-i", "--id")                 # an XML id: meaningless here, accepted
    p.add_argument("-s", "--set-name")           # likewise
    p.add_argument("-W", "--wait", nargs="?", const="")
    p.add_argument("-V", "--verbose", action="count", default=0)
    return p


def crm_attribute(argv: Sequence[str], attrs: AttrSource, out: Callable[[str], None],
                  prog: str = "crm_attribute") -> int:
    a = _crm_attribute_parser(prog).parse_args(list(argv))
    if a.type == "crm_config":
        raise ToolError(EX_USAGE, "cluster options (--type crm_config) are not set by agents in Corral: "
                                  "change the loaded configuration instead")
    name = promotion_name(a.promotion) if a.promotion is not None else a.name
    if not name:
        raise ToolError(EX_USAGE, "an attribute --name (or --promotion) is required")
    if a.value is not None and a.delete:
        raise ToolError(EX_USAGE, "--update and --delete are mutually exclusive")
    lifetime = a.lifetime or ("forever" if a.type == "nodes" else "reboot" if a.type == "status"
                              else "reboot" if a.promotion is not None else "forever")
    node = a.node or local_node()
    key = attr_key(node, name, lifetime)
    if a.delete:
        attrs.delete(key)
        return EX_OK
    if a.value is not None:
        attrs.set(key, a.value)
        return EX_OK
    value = attrs.get(key)
    if value is None:
        value = a.default
        if value is None:
            raise ToolError(EX_NOSUCH, f"no attribute {name} for node {node} (lifetime {lifetime})")
    scope = "nodes" if lifetime == "forever" else "status"
    out(value if a.quiet else f"scope={scope}  name={name} value={value}")
    return EX_OK


def crm_master(argv: Sequence[str], attrs: AttrSource, out: Callable[[str], None]) -> int:
    """crm_master: crm_attribute --promotion for OCF_RESOURCE_INSTANCE (or -r), lifetime forever by default."""
    p = _Parser(prog="crm_master", add_help=False)
    p.add_argument("-r", "--resource")
    p.add_argument("-l", "--lifetime", default="forever", choices=("reboot", "forever"))
    ours, rest = p.parse_known_args(list(argv))
    promotion = f"--promotion={ours.resource}" if ours.resource else "--promotion"
    return crm_attribute([promotion, "--lifetime", ours.lifetime, *rest], attrs, out, prog="crm_master")


# --- attrd_updater -----------------------------------------------------------------------------
def attrd_updater(argv: Sequence[str], attrs: AttrSource, out: Callable[[str], None]) -> int:
    p = _Parser(prog="attrd_updater", add_help=False)
    p.add_argument("-n", "--name")
    group = p.add_mutually_exclusive_group()
    group.add_argument("-U", "--update", "-B", "--update-both", dest="value")
    group.add_argument("-Q", "--query", action="store_true")
    group.add_argument("-D", "--delete", action="store_true")
    group.add_argument("-R", "--refresh", action="store_true")
    p.add_argument("-N", "--node")
    p.add_argument("-A", "--all", action="store_true")
    p.add_argument("-p", "--private", action="store_true")
    p.add_argument("-d", "--delay")      # dampening: writes are immediate here
    p.add_argument("-s", "--set")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-V", "--verbose", action="count", default=0)
    a = p.parse_args(list(argv))
    if a.refresh:
        return EX_OK  # nothing is cached between the tool and the store
    if not a.name:
        raise ToolError(EX_USAGE, "an attribute --name is required")
    node = a.node or local_node()
    if a.value is not None:
        attrs.set(keys.attr(node, a.name), a.value)
    elif a.delete:
        attrs.delete(keys.attr(node, a.name))
    elif a.query:
        found = 0
        for n in (attrs.nodes() if a.all else [node]):
            value = attrs.get(keys.attr(n, a.name))
            if value is not None:
                found += 1
                out(value if a.quiet else f'name="{a.name}" host="{n}" value="{value}"')
        if not found:
            raise ToolError(EX_NOSUCH, f"no attribute {a.name} for {'any node' if a.all else 'node ' + node}")
    else:
        raise ToolError(EX_USAGE, "one of --update, --query, --delete or --refresh is required")
    return EX_OK


# --- crm_node ----------------------------------------------------------------------------------
def crm_node(argv: Sequence[str], attrs: AttrSource, out: Callable[[str], None]) -> int:
    p = _Parser(prog="crm_node", add_help=False)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("-n", "--name", action="store_true")
    group.add_argument("-l", "--list", action="store_true")
    group.add_argument("-p", "--partition", action="store_true")
    group.add_argument("-q", "--quorum", action="store_true")
    p.add_argument("-V", "--verbose", action="count", default=0)
    try:
        a = p.parse_args(list(argv))
    except ToolError as exc:
        raise ToolError(EX_USAGE, f"{exc} (supported: -n, -l, -p, -q)") from None
    if a.name:
        out(local_node())
    elif a.list:
        members = set(attrs.members())
        for i, n in enumerate(sorted(set(attrs.nodes()) | members), start=1):
            out(f"{i} {n} {'member' if n in members else 'lost'}")
    elif a.partition:
        out(" ".join(attrs.members()))
    else:
        # This agent can reach the store (else the call above failed): the store's majority is the quorum.
        attrs.members()
        out("1")
    return EX_OK


_TOOLS: dict[str, Callable[[Sequence[str], AttrSource, Callable[[str], None]], int]] = {
    "crm_attribute": crm_attribute, "crm_master": crm_master, "attrd_updater": attrd_updater,
    "crm_node": crm_node, "cibadmin": cibadmin, "crm_mon": crm_mon}


def run_tool(tool: str, argv: Sequence[str], attrs: AttrSource | None = None,
             out: Callable[[str], None] = print, err: Callable[[str], None] | None = None) -> int:
    """Run one tool; returns its exit code (errors are reported on err, like the real tools)."""
    err = err or (lambda line: print(line, file=sys.stderr))
    own = attrs is None
    if attrs is None:
        sock = os.environ.get(SOCKET_ENV)
        attrs = AgentAttributes(sock) if sock else Attributes()
    try:
        return _TOOLS[tool](argv, attrs, out)
    except (ToolError, ToolFailure) as exc:
        err(f"{tool}: {exc}")
        return exc.code
    finally:
        if own:
            attrs.close()


def install_shims(directory: str | Path, python: str = sys.executable) -> Path:
    """Write one small script per tool into directory (created); returns it. Agents find them
    through HA_SBIN_DIR (ocf-shellfuncs) and PATH (agents that call the tools by name)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    for tool in TOOLS:
        path = d / tool
        text = f'#!/bin/sh\nexec {shlex.quote(python)} -m corral.agent.attr_tools {tool} "$@"\n'
        if not path.exists() or path.read_text() != text:
            tmp = d / f".{tool}.{os.getpid()}"
            tmp.write_text(text)
            tmp.chmod(0o755)
            os.replace(tmp, path)
    return d


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in _TOOLS:
        print(f"usage: python -m corral.agent.attr_tools {{{','.join(TOOLS)}}} [OPTIONS]", file=sys.stderr)
        return EX_USAGE
    return run_tool(args[0], args[1:])


if __name__ == "__main__":
    sys.exit(main())
