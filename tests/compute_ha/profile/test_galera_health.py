"""The Galera health responder: its verdicts, and its HTTP answers on loopback."""
from __future__ import annotations

import http.client
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.openstack.galera_health import StatusReader, client_argv, parse_status, serve, verdict


def test_verdicts() -> None:
    synced = {"wsrep_local_state": "4", "wsrep_cluster_status": "Primary", "wsrep_local_state_comment": "Synced"}
    assert verdict(synced) == (True, "Synced (wsrep_local_state 4 Synced)")
    for state in ("1", "2", "3"):
        ok, why = verdict(synced | {"wsrep_local_state": state, "wsrep_local_state_comment": ""})
        assert not ok and f"wsrep_local_state {state}" in why
    assert verdict(synced | {"wsrep_local_state": "2"}, available_when_donor=True)[0]
    ok, why = verdict(synced | {"wsrep_cluster_status": "non-Primary"})
    assert not ok and "not in the Primary component" in why
    assert verdict({}) == (False, "wsrep_local_state unknown (not a Galera node, or wsrep off)")


def test_parse_status_and_client_argv() -> None:
    assert parse_status("wsrep_cluster_status\tPrimary\nWSREP_LOCAL_STATE\t4\n\n") == {
        "wsrep_cluster_status": "Primary", "wsrep_local_state": "4"}
    argv = client_argv("mariadb", "/run/mysqld/mysqld.sock", "root", "/etc/check.cnf")
    assert argv[:2] == ["mariadb", "--defaults-file=/etc/check.cnf"]   # mysql wants it first
    assert "-N" in argv and "-B" in argv and "wsrep_local_state" in argv[-1]


@pytest.fixture
def fake_client(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A stand-in for the mariadb client: prints STATE (or fails when it holds 'down'); counts its runs."""
    state, runs = tmp_path / "state", tmp_path / "runs"
    script = tmp_path / "client"
    script.write_text(f"#!{sys.executable}\nimport sys\n"
                      f"open({str(runs)!r}, 'a').write('x')\n"
                      f"text = open({str(state)!r}).read()\n"
                      "if text == 'down':\n"
                      "    sys.stderr.write(\"ERROR 2002 (HY000): Can't connect to local server\\n\"); sys.exit(1)\n"
                      "sys.stdout.write(text)\n")
    script.chmod(0o755)
    yield script, state


def _get(port: int, method: str = "GET") -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, "/")
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_answers_200_only_when_synced(fake_client: tuple[Path, Path], tmp_path: Path) -> None:
    script, state = fake_client
    reader = StatusReader(client_argv(str(script), "/nonexistent.sock", "root", ""), timeout_s=5, cache_s=0)
    server = serve("127.0.0.1", 0, reader)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        state.write_text("wsrep_local_state\t4\nwsrep_cluster_status\tPrimary\n")
        assert _get(port) == (200, "Galera node is Synced (wsrep_local_state 4 Synced)\n")
        assert _get(port, "OPTIONS")[0] == 200 and _get(port, "HEAD") == (200, "")
        state.write_text("wsrep_local_state\t2\nwsrep_cluster_status\tPrimary\n")
        status, body = _get(port)
        assert status == 503 and "not synced (wsrep_local_state 2 Donor/Desynced)" in body
        state.write_text("wsrep_local_state\t4\nwsrep_cluster_status\tnon-Primary\n")
        assert _get(port)[0] == 503
        state.write_text("down")
        status, body = _get(port)
        assert status == 503 and "the database does not answer: ERROR 2002" in body
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_one_client_run_per_cache_interval(fake_client: tuple[Path, Path], tmp_path: Path) -> None:
    script, state = fake_client
    state.write_text("wsrep_local_state\t4\n")
    now = [0.0]
    reader = StatusReader([str(script)], timeout_s=5, cache_s=0.5, clock=lambda: now[0])
    for _ in range(5):
        assert reader.read()[0]["wsrep_local_state"] == "4"
    assert (tmp_path / "runs").read_text() == "x"
    now[0] = 0.6
    reader.read()
    assert (tmp_path / "runs").read_text() == "xx"


def test_a_missing_client_is_unavailable() -> None:
    reader = StatusReader(["/nonexistent/mariadb"], timeout_s=1, cache_s=0)
    status, error = reader.read()
    assert status == {} and error.startswith("cannot run /nonexistent/mariadb")
