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


def _fake_cluster(tmp_path: Path, holders: dict[str, str]) -> tuple[dict[str, str], Path]:
    """Fake RabbitMQ tools (rabbitmq-server records that it was started; no peer runs) and fake
    Pacemaker node tools: this node is n3 of n1..n3; `holders` have the data attribute."""
    bin_dir, sbin = tmp_path / "rmqbin", tmp_path / "sbin"
    bin_dir.mkdir()
    sbin.mkdir()
    started = tmp_path / "server-started"
    scripts = {bin_dir / "rabbitmq-server": f"touch {started}; exit 1",
               bin_dir / "rabbitmqctl": "exit 1", bin_dir / "rabbitmq-queues": "exit 1",
               bin_dir / "rabbitmq-diagnostics": "exit 69",  # every peer: not running
               sbin / "crm_node": 'case "$1" in -n) echo n3;; -l) printf "1 n1 member\\n2 n2 member\\n3 n3 member\\n";;'
                                  ' -p) echo n1 n2 n3;; esac',
               sbin / "crm_attribute": 'node=n3; while [ $# -gt 0 ]; do [ "$1" = -N ] && node=$2; shift; done\n'
                                       'case "$node" in ' + " ".join(f"{n}) echo {v}; exit 0;;" for n, v in holders.items())
                                       + ' esac; exit 105'}
    for path, body in scripts.items():
        path.write_text("#!/bin/sh\n" + body + "\n")
        path.chmod(0o755)
    (tmp_path / "home").mkdir()
    cookie = tmp_path / "home" / ".erlang.cookie"
    cookie.write_text("SECRET")
    cookie.chmod(0o400)
    return {"bin_dir": str(bin_dir)}, started


def test_a_node_without_data_never_bootstraps_while_others_hold_the_data(tmp_path: Path) -> None:
    params, started = _fake_cluster(tmp_path, {"n1": "rabbit@n1", "n3": "rabbit@unit"})
    spec = _spec(tmp_path, **params)
    env = {"PATH": f"{tmp_path / 'sbin'}:{os.environ.get('PATH', '')}"}
    r = runner_for(spec).run(spec, "start", timeout_s=25, env_extra=env)
    assert r.rc == 1 and "never starts a new cluster" in r.exit_reason and "n1 (rabbit@n1)" in r.exit_reason, r
    assert not started.exists()  # it waited for a peer; no new cluster was booted


def test_only_the_first_member_bootstraps_a_cluster_nobody_has_data_of(tmp_path: Path) -> None:
    params, started = _fake_cluster(tmp_path, {})
    spec = _spec(tmp_path, **params)
    env = {"PATH": f"{tmp_path / 'sbin'}:{os.environ.get('PATH', '')}"}
    r = runner_for(spec).run(spec, "start", timeout_s=25, env_extra=env)
    assert r.rc == 1 and not started.exists(), r  # this node is n3: n1 bootstraps, n3 waits to join
    (tmp_path / "sbin" / "crm_node").write_text('#!/bin/sh\ncase "$1" in -n) echo n1;; -l) echo "1 n1 member";;'
                                                ' -p) echo n1;; esac\n')
    r = runner_for(spec).run(spec, "start", timeout_s=10, env_extra=env)
    assert started.exists() and r.rc == 1, r  # n1 boots a new cluster (the fake server then exits)
