"""ocf:corral:rabbitmq without a RabbitMQ node: how it is found, its meta-data, checks and exit codes.
The live behaviour (rejoin, full outage, reset of a forgotten node) is tests/lab/test_rabbitmq_agent.py."""
from __future__ import annotations

import os
import socket
import struct
import threading
from pathlib import Path

import pytest

from corral.resource_agents import ResourceSpec, runner_for
from corral.resource_agents.metadata import parse_metadata_xml
from corral.resource_agents.ocf import BUNDLED_RESOURCE_D
from corral.resource_agents.rabbitmq.node import AMQP_HEADER, Node
from corral.resource_agents.rabbitmq.params import PARAMETERS, metadata_xml, parse


def _spec(tmp_path: Path, **params: str) -> ResourceSpec:
    base = {"user": "", "home": str(tmp_path / "home"), "mnesia_base": str(tmp_path / "mnesia"),
            "log_base": str(tmp_path / "log"), "nodename": "rabbit@unit"}
    return ResourceSpec("rmq", "ocf", "rabbitmq", provider="corral", params={**base, **params})


@pytest.fixture(autouse=True)
def _rsctmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_RSCTMP", str(tmp_path / "rsctmp"))


def test_the_agent_ships_with_corral_and_needs_no_install() -> None:
    path = os.path.join(BUNDLED_RESOURCE_D, "corral", "rabbitmq")
    assert os.access(path, os.X_OK)
    spec = ResourceSpec("rmq", "ocf", "rabbitmq", provider="corral")
    assert runner_for(spec).agent_path(spec) == path  # type: ignore[attr-defined]


def test_meta_data_lists_every_parameter_and_the_actions(tmp_path: Path) -> None:
    md = parse_metadata_xml(metadata_xml(), source="ocf:corral:rabbitmq")
    assert {p.name for p in md.parameters} == set(PARAMETERS)
    assert {a.name for a in md.actions} >= {"start", "stop", "monitor", "notify", "validate-all", "meta-data"}
    spec = _spec(tmp_path)
    assert runner_for(spec).metadata(spec) is not None


def test_validate_all_names_what_is_wrong(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    r = runner_for(spec).run(spec, "validate-all", timeout_s=20)
    assert r.rc == 6 and ".erlang.cookie" in r.exit_reason
    (tmp_path / "home").mkdir()
    cookie = tmp_path / "home" / ".erlang.cookie"
    cookie.write_text("SECRET")
    cookie.chmod(0o644)
    r = runner_for(spec).run(spec, "validate-all", timeout_s=20)
    assert r.rc == 6 and "mode 400" in r.exit_reason
    cookie.chmod(0o400)
    if os.access("/usr/lib/rabbitmq/bin/rabbitmq-server", os.X_OK):
        assert runner_for(spec).run(spec, "validate-all", timeout_s=20).rc == 0
    bad = _spec(tmp_path, bin_dir=str(tmp_path / "nowhere"))
    r = runner_for(bad).run(bad, "validate-all", timeout_s=20)
    assert r.rc == 5 and "rabbitmq-server" in r.exit_reason
    for name, value in (("nodename", "no-at-sign"), ("node_port", "99999"), ("grow_quorum_queues", "some"),
                        ("env", "NOT A PAIR"), ("mnesia_base", "relative")):
        bad = _spec(tmp_path, **{name: value})
        r = runner_for(bad).run(bad, "validate-all", timeout_s=20)
        assert r.rc == 6 and name in r.exit_reason, (name, r)


def test_nothing_running_reads_as_stopped_and_stops_cleanly(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    runner = runner_for(spec)
    assert runner.run(spec, "monitor", timeout_s=20).rc == 7
    assert runner.run(spec, "stop", timeout_s=20).rc == 0
    assert runner.run(spec, "notify", timeout_s=20, env_extra={
        "OCF_RESKEY_CRM_meta_notify_type": "post", "OCF_RESKEY_CRM_meta_notify_operation": "stop",
        "OCF_RESKEY_CRM_meta_notify_stop_uname": "n2"}).rc == 0
    assert runner.run(spec, "promote", timeout_s=20).rc == 3
    # a probe with parameters that cannot work: not running (a stop of it succeeds)
    bad = _spec(tmp_path, nodename="bad")
    assert runner.run(bad, "monitor", timeout_s=20).rc == 7
    assert runner.run(bad, "stop", timeout_s=20).rc == 0


def _server(reply: bytes) -> tuple[socket.socket, int]:
    srv = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            assert conn.recv(8) == AMQP_HEADER
            conn.sendall(reply)
    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


def test_the_amqp_probe_wants_connection_start() -> None:
    start = struct.pack(">BHI", 1, 0, 4) + struct.pack(">HH", 10, 10)
    for reply, healthy in ((start, True), (struct.pack(">BHI", 1, 0, 4) + struct.pack(">HH", 10, 50), False),
                           (b"", False)):
        srv, port = _server(reply)
        with srv:
            node = Node(parse({"OCF_RESKEY_node_port": str(port), "OCF_RESKEY_nodename": "rabbit@x"}))
            why = node.amqp_greets(timeout_s=2)
            assert (why is None) == healthy, why
