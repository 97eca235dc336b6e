"""Overrides: every generated value through --set or a settings file; unknown keys are errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from corral.model.config import Clone
from corral.openstack.profile.inputs import ProfileInputError
from corral.openstack.profile.settings import parse_set, read_settings_file

from .helpers import loaded, make


def test_every_generated_value_is_a_setting_and_changes_the_output(tmp_path: Path) -> None:
    base = make()
    # Each generated (non-empty) value changed alone changes at least one of the two files
    # (some keys feed only haproxy.cfg), except the ones only kept in the settings namespace.
    untouched = []
    for key, default in base.settings.defaults.items():
        if default == "" or key.startswith("nodes."):
            continue
        new = {"true": "false", "false": "true"}.get(default, "1234" if default.isdigit() else default + "x")
        if key in ("database.writer",):
            new = "ctl3"
        elif key.endswith(".kind") or key.startswith("order."):
            new = "Optional" if default != "Optional" else "Mandatory"
        try:
            out = make({key: new})
        except ProfileInputError:
            continue  # a value the setting's check refuses (e.g. a port); the key exists
        if (out.config_yaml, out.haproxy_cfg) == (base.config_yaml, base.haproxy_cfg):
            untouched.append(key)
    assert untouched == []


def test_overrides_reach_the_loaded_configuration(tmp_path: Path) -> None:
    cfg = loaded(tmp_path, make({
        "vip.params.nic": "eth0", "keystone.ops.monitor.interval": "5s", "galera.meta.promoted-max": "2",
        "cluster.heartbeat-timeout": "3s", "cluster.stonith-action": "off", "memcached.port": "11311",
        "haproxy.params.stop_grace": "", "fencing.agent": "stonith:fence_ipmilan",
        "fencing.params.ip": "192.0.2.1", "fencing.params.username": "admin", "order.cache": "Optional",
        "nodes.ctl1.addr": "10.0.1.11"}))
    rscs = {r.id: r for r in cfg.resources}
    assert rscs["vip"].params["nic"] == "eth0"
    keystone = rscs["keystone-clone"]
    assert isinstance(keystone, Clone)
    assert [op.interval_ms for op in keystone.child.ops if op.name == "monitor"] == [5000]
    assert rscs["galera-clone"].meta["promoted-max"] == "2"
    assert cfg.options["heartbeat-timeout"] == "3s" and cfg.options["stonith-action"] == "off"
    memcached = rscs["memcached-clone"]
    assert isinstance(memcached, Clone) and "-p 11311" in memcached.child.params["command"]
    assert memcached.child.params["check_port"] == "11311"
    haproxy = rscs["haproxy-clone"]
    assert isinstance(haproxy, Clone) and "stop_grace" not in haproxy.child.params   # empty: left out
    fence = rscs["fence"]
    assert fence.params == {"pcmk_host_list": "ctl1,ctl2,ctl3", "ip": "192.0.2.1", "username": "admin"}
    assert not any("no fence device" in w for w in cfg.warnings)
    assert {(o.first, o.kind) for o in cfg.orders if o.then == "keystone-clone"} >= {("memcached-clone", "Optional")}
    assert cfg.nodes["ctl1"].attrs["addr"] == "10.0.1.11"


def test_components_can_be_left_out(tmp_path: Path) -> None:
    cfg = loaded(tmp_path, make({"rabbitmq.enabled": "false", "memcached.enabled": "false",
                                 "galera.promotable": "false", "galera.agent": "ocf:corrallab:galera"}))
    ids = {r.id for r in cfg.resources}
    assert "rabbitmq-clone" not in ids and "memcached-clone" not in ids
    galera = next(r for r in cfg.resources if r.id == "galera-clone")
    assert isinstance(galera, Clone) and not galera.promotable and galera.child.type == "galera"
    assert not any(op.name in ("promote", "demote") for op in galera.child.ops)
    assert {(o.first, o.first_action) for o in cfg.orders if o.then == "keystone-clone"} == {("galera-clone", "start")}


def test_unknown_keys_are_errors_naming_the_key() -> None:
    with pytest.raises(ProfileInputError, match=r"unknown setting 'keystone.ops.monitor.intreval' "
                                                r"\(did you mean 'keystone.ops.monitor.interval'\?\)"):
        make({"keystone.ops.monitor.intreval": "5s"})
    with pytest.raises(ProfileInputError, match=r"unknown setting 'vip.params.colour'"):
        make({"vip.params.colour": "blue"})
    # A service not in the list has no settings.
    with pytest.raises(ProfileInputError, match=r"unknown setting 'heat-api.port'"):
        make({"heat-api.port": "8005"})


@pytest.mark.parametrize(("key", "value", "message"), [
    ("keystone.port", "http", "expected a TCP port"),
    ("haproxy.cfg.check-fall", "0", "expected a positive integer"),
    ("rabbitmq.enabled", "maybe", "expected true or false"),
    ("order.database", "Sometimes", "expected one of Mandatory, Optional, none"),
])
def test_bad_values_name_the_setting(key: str, value: str, message: str) -> None:
    with pytest.raises(ProfileInputError, match=rf"setting {key}='{value}': {message}"):
        make({key: value})


def test_an_override_the_loader_rejects_is_reported_by_the_loader(tmp_path: Path) -> None:
    from corral.model.errors import ConfigError

    with pytest.raises(ConfigError, match="interval"):
        loaded(tmp_path, make({"keystone.ops.monitor.interval": "soon"}))


def test_settings_file_nested_or_dotted_with_yaml_1_2_scalars(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("cluster:\n  stonith-action: off\n  heartbeat-timeout: 3s\n"
                    "keystone.ops.monitor.interval: 5s\nvip: {params: {nic: eth0}}\n"
                    "galera: {promotable: false}\n", encoding="utf-8")
    assert read_settings_file(path) == {"cluster.stonith-action": "off", "cluster.heartbeat-timeout": "3s",
                                        "keystone.ops.monitor.interval": "5s", "vip.params.nic": "eth0",
                                        "galera.promotable": "false"}
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ProfileInputError, match="expected a mapping"):
        read_settings_file(path)
    path.write_text("a: 1\na: 2\n", encoding="utf-8")
    with pytest.raises(ProfileInputError, match="duplicate"):
        read_settings_file(path)
    with pytest.raises(ProfileInputError, match="No such file"):
        read_settings_file(tmp_path / "missing.yaml")


def test_parse_set() -> None:
    assert parse_set(["a.b=1", "c= x=y ", "a.b=2"]) == {"a.b": "2", "c": " x=y "}
    with pytest.raises(ProfileInputError, match="expected KEY=VALUE"):
        parse_set(["novalue"])


def test_another_agent_takes_any_parameter(tmp_path: Path) -> None:
    cfg = loaded(tmp_path, make({"galera.agent": "ocf:corrallab:galera", "galera.promotable": "false",
                                 "galera.params.nodes": "ctl1,ctl2,ctl3", "galera.params.enable_creation": "",
                                 "galera.params.wsrep_cluster_address": ""}))
    galera = next(r for r in cfg.resources if r.id == "galera-clone")
    assert isinstance(galera, Clone) and galera.child.params == {"nodes": "ctl1,ctl2,ctl3"}
    # With the profile's own agent the names stay checked.
    with pytest.raises(ProfileInputError, match="unknown setting 'galera.params.nodes'"):
        make({"galera.params.nodes": "ctl1,ctl2,ctl3"})
