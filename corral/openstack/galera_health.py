"""The Galera health responder HAProxy's database checks ask (`corral-galera-health`).

HTTP 200 while the local node is Synced (`wsrep_local_state` 4) and in the Primary component
(`wsrep_cluster_status` Primary), 503 otherwise, so HAProxy only sends clients to a node that
can commit: a joining, donating (unless `--available-when-donor`), desynced or partitioned node
is marked down. The state is read with the MariaDB client over the local socket (Debian's root
authenticates by unix_socket), as Percona's clustercheck does, so the responder needs nothing
but the standard library; one answer is reused for `--cache` seconds, so any number of HAProxy
checks costs at most one client run per interval. Run it under Corral as `corral:process`
(the openstack-controller profile's `galera-check-clone`).

    corral-galera-health --address 10.0.0.11 --port 9200
"""
from __future__ import annotations

import argparse
import http.server
import subprocess
import threading
import time
from collections.abc import Callable, Sequence

SYNCED = 4
DONOR = 2
STATES = {1: "Joining", 2: "Donor/Desynced", 3: "Joined", 4: "Synced"}
QUERY = ("SHOW GLOBAL STATUS WHERE Variable_name IN "
         "('wsrep_local_state', 'wsrep_cluster_status', 'wsrep_local_state_comment')")


def parse_status(text: str) -> dict[str, str]:
    """`mysql -N -B` output, NAME<TAB>VALUE lines, as a dict with lower-case names."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("\t")
        if sep:
            out[name.strip().lower()] = value.strip()
    return out


def verdict(status: dict[str, str], *, available_when_donor: bool = False) -> tuple[bool, str]:
    """(serves clients?, why) from the node's wsrep status."""
    raw = status.get("wsrep_local_state", "")
    if not raw.isdigit():
        return False, "wsrep_local_state unknown (not a Galera node, or wsrep off)"
    state = int(raw)
    name = status.get("wsrep_local_state_comment") or STATES.get(state, "?")
    cluster = status.get("wsrep_cluster_status", "")
    if cluster and cluster != "Primary":
        return False, f"not in the Primary component (wsrep_cluster_status {cluster}, local state {state} {name})"
    if state == SYNCED or (available_when_donor and state == DONOR):
        return True, f"Synced (wsrep_local_state {state} {name})"
    return False, f"not synced (wsrep_local_state {state} {name})"


class StatusReader:
    """Runs the client, at most once per `cache_s`; concurrent checks share one run."""

    def __init__(self, argv: Sequence[str], *, timeout_s: float, cache_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.argv = list(argv)
        self.timeout_s = timeout_s
        self.cache_s = cache_s
        self.clock = clock
        self._lock = threading.Lock()
        self._at = -1e18
        self._status: dict[str, str] = {}
        self._error = ""

    def read(self) -> tuple[dict[str, str], str]:
        with self._lock:
            if self.clock() - self._at >= self.cache_s:
                self._status, self._error = self._run()
                self._at = self.clock()
            return self._status, self._error

    def _run(self) -> tuple[dict[str, str], str]:
        try:
            done = subprocess.run(self.argv, capture_output=True, text=True, timeout=self.timeout_s,
                                  stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            return {}, f"the client did not answer within {self.timeout_s:g} s"
        except OSError as exc:
            return {}, f"cannot run {self.argv[0]}: {exc.strerror or exc}"
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return {}, f"the database does not answer: {last}"
        return parse_status(done.stdout), ""


def client_argv(client: str, socket: str, user: str, defaults_file: str) -> list[str]:
    argv = [client]
    if defaults_file:
        argv.append(f"--defaults-file={defaults_file}")  # must come first
    argv += [f"--socket={socket}", f"--user={user}", "--connect-timeout=1", "-N", "-B", "-e", QUERY]
    return argv


def make_handler(reader: StatusReader, available_when_donor: bool) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def _answer(self, body: bool) -> None:
            status, error = reader.read()
            ok, why = (False, error) if error else verdict(status, available_when_donor=available_when_donor)
            text = (f"Galera node is {why}\n" if ok else f"Galera node is unavailable: {why}\n").encode()
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            if body:
                self.wfile.write(text)

        def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
            self._answer(True)

        def do_OPTIONS(self) -> None:  # noqa: N802 - HAProxy's httpchk default method
            self._answer(True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(False)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - checks every second: no log
            pass

    return Handler


class Server(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


def serve(address: str, port: int, reader: StatusReader, *, available_when_donor: bool = False) -> Server:
    """A bound server (port 0: any); call `serve_forever()` on it."""
    return Server((address, port), make_handler(reader, available_when_donor))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="corral-galera-health", description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default="127.0.0.1", help="address to listen on (the controller's own)")
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument("--client", default="mariadb", help="the MariaDB/MySQL client (default mariadb)")
    parser.add_argument("--socket", default="/run/mysqld/mysqld.sock")
    parser.add_argument("--user", default="root")
    parser.add_argument("--defaults-file", default="", help="client options file (e.g. a check user's password)")
    parser.add_argument("--available-when-donor", action="store_true",
                        help="also serve while donating a state transfer (a non-blocking SST method)")
    parser.add_argument("--cache", type=float, default=0.5, help="seconds one answer is reused")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds the client may take")
    args = parser.parse_args(argv)
    reader = StatusReader(client_argv(args.client, args.socket, args.user, args.defaults_file),
                          timeout_s=args.timeout, cache_s=args.cache)
    server = serve(args.address, args.port, reader, available_when_donor=args.available_when_donor)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
