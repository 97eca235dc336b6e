"""The generated configuration, read back through the loader `corral load` uses."""
from __future__ import annotations

from pathlib import Path

from corral.model.config import Clone, Primitive
from corral.openstack.profile.catalog import DEFAULT_SERVICES, SERVICES

from .helpers import loaded, make


def _by_id(cfg):  # type: ignore[no-untyped-def]
    return {r.id: r for r in cfg.resources}


def _orders(cfg) -> set[tuple[str, str, str, str, str]]:  # type: ignore[no-untyped-def]
    return {(o.first, o.first_action, o.then, o.then_action, o.kind) for o in cfg.orders}


def test_default_profile_loads_with_the_whole_control_plane(tmp_path: Path) -> None:
    cfg = loaded(tmp_path, make())
    rscs = _by_id(cfg)
    expected = {"vip", "haproxy-clone", "galera-clone", "galera-check-clone", "rabbitmq-clone", "memcached-clone",
                *(f"{s}-clone" for s in DEFAULT_SERVICES)}
    assert set(rscs) == expected
    vip = rscs["vip"]
    assert isinstance(vip, Primitive)
    assert (vip.rsc_class, vip.provider, vip.type) == ("ocf", "heartbeat", "IPaddr2")
    assert vip.params["ip"] == "10.0.0.100" and vip.params["cidr_netmask"] == "24"
    galera = rscs["galera-clone"]
    assert isinstance(galera, Clone) and galera.promotable
    assert galera.child.params["wsrep_cluster_address"] == "gcomm://ctl1,ctl2,ctl3"
    assert galera.meta["promoted-max"] == "3"
    ops = {(op.name, op.role): op for op in galera.child.ops}
    assert ops[("promote", None)].on_fail == "block"
    assert ops[("monitor", "Promoted")].interval_ms == 10_000
    rabbit = rscs["rabbitmq-clone"]
    assert isinstance(rabbit, Clone) and (rabbit.child.provider, rabbit.child.type) == ("corral", "rabbitmq")
    for rid in ("haproxy-clone", "memcached-clone", *(f"{s}-clone" for s in DEFAULT_SERVICES)):
        clone = rscs[rid]
        assert isinstance(clone, Clone) and not clone.promotable
        assert clone.meta["interleave"] == "true"
        assert clone.child.params["check_host"] == "${node:addr}"
    assert rscs["keystone-clone"].child.params["check_port"] == "5000"
    assert {n.name: n.attrs["addr"] for n in cfg.nodes.values()} == {"ctl1": "10.0.0.11", "ctl2": "10.0.0.12",
                                                                 "ctl3": "10.0.0.13"}
    # The VIP with HAProxy, after it.
    assert [(c.rsc, c.with_rsc, c.score) for c in cfg.colocations] == [("vip", "haproxy-clone", 1_000_000)]
    orders = _orders(cfg)
    assert ("haproxy-clone", "start", "vip", "start", "Optional") in orders
    # Every API after Galera's promotion, RabbitMQ and memcached; all but Keystone after Keystone.
    for svc in DEFAULT_SERVICES:
        then = f"{svc}-clone"
        assert ("galera-clone", "promote", then, "start", "Mandatory") in orders
        assert ("rabbitmq-clone", "start", then, "start", "Mandatory") in orders
        assert ("memcached-clone", "start", then, "start", "Mandatory") in orders
        assert (("keystone-clone", "start", then, "start", "Mandatory") in orders) == (svc != "keystone")
    # Fencing is on and no device was given: the loader's warning says so (accepted, nothing starts).
    assert cfg.option_bool("stonith-enabled", False)
    assert any("no fence device" in w for w in cfg.warnings)


def test_every_catalog_service_and_its_standard_port(tmp_path: Path) -> None:
    cfg = loaded(tmp_path, make(services=",".join(SERVICES)))
    ports = {r.id.removesuffix("-clone"): r.child.params["check_port"] for r in cfg.resources
             if isinstance(r, Clone) and r.id.removesuffix("-clone") in SERVICES}
    assert ports == {"keystone": "5000", "glance-api": "9292", "placement": "8778", "nova-api": "8774",
                     "nova-metadata": "8775", "novncproxy": "6080", "neutron-server": "9696",
                     "cinder-api": "8776", "heat-api": "8004"}


def test_only_the_services_asked_for(tmp_path: Path) -> None:
    cfg = loaded(tmp_path, make(services="keystone"))
    assert {r.id for r in cfg.resources} == {"vip", "haproxy-clone", "galera-clone", "galera-check-clone",
                                             "rabbitmq-clone", "memcached-clone", "keystone-clone"}
    # Without keystone in the list, nothing is ordered after it.
    cfg = loaded(tmp_path, make(services="glance-api"))
    assert not any(o.first == "keystone-clone" for o in cfg.orders)


def test_the_file_is_commented(tmp_path: Path) -> None:
    text = make().config_yaml
    assert text.startswith("# Corral configuration of an OpenStack control plane")
    assert "corral init --profile openstack-controller --controllers ctl1=10.0.0.11" in text
    lines = text.splitlines()
    for head in ("  - id: vip", "  - clone: haproxy-clone", "  - promotable: galera-clone",
                 "  - clone: rabbitmq-clone", "  - clone: memcached-clone", "  - clone: keystone-clone"):
        assert lines[lines.index(head) - 1].startswith("  # "), f"{head!r} has no comment above it"


def test_names_only_controllers_use_their_names_as_addresses(tmp_path: Path) -> None:
    cfg = loaded(tmp_path, make(controllers="ctl1,ctl2,ctl3"))
    assert [n.attrs["addr"] for n in cfg.nodes.values()] == ["ctl1", "ctl2", "ctl3"]
    assert "server ctl2 ctl2:5000 " in make(controllers="ctl1,ctl2,ctl3").haproxy_cfg


def test_generation_is_deterministic() -> None:
    assert make().config_yaml == make().config_yaml
    assert make().haproxy_cfg == make().haproxy_cfg
