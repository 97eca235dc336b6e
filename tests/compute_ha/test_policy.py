"""Pets and cattle: which instances are recovered, how and in what order; the compute: schema."""
from __future__ import annotations

import pytest

from corral.model.errors import ConfigError
from corral.model.yaml_config import parse_yaml_config
from corral.openstack.nova import Server
from corral.openstack.policy import Placement, decide, order

from .rig import settings

NO_IMAGES = {}.get


def _props(table: dict[str, dict[str, str]]):
    return lambda image_id: table.get(image_id, {})


def test_by_default_only_ha_instances_are_recovered():
    s = settings()
    where = Placement(zone="nova")
    assert decide(s, Server("a", metadata={"HA_Enabled": "True"}), where, _props({})).recovery == "evacuate"
    assert decide(s, Server("b", metadata={"HA_Enabled": "true"}), where, _props({})).recovery == "evacuate"
    assert decide(s, Server("c", metadata={"HA_Enabled": "False"}), where, _props({})).recovery == "none"
    assert decide(s, Server("d", flavor_extra_specs={"evacuable": "true"}), where, _props({})).recovery == "evacuate"
    assert decide(s, Server("e", image_id="img1"), where, _props({"img1": {"evacuable": "True"}})).recovery \
        == "evacuate"
    d = decide(s, Server("f", image_id="img2"), where, _props({"img1": {"evacuable": "True"}}))
    assert (d.recovery, d.policy) == ("none", "not HA")


def test_the_first_matching_policy_decides():
    s = settings(policies=[
        {"name": "db", "match": {"project": "p-db", "availability-zone": ["az1"]}, "priority": 100},
        {"name": "batch", "match": {"aggregate": "spot"}, "recovery": "none"},
        {"name": "web", "match": {"image-property": {"os_distro": "debian"}}, "recovery": "rebuild",
         "storage": "local", "priority": 5},
        {"name": "gold", "match": {"flavor-extra-spec": {"tier": "gold"}, "metadata": {"team": "x"}},
         "priority": 50},
    ])
    az1, spot = Placement(zone="az1"), Placement(zone="az2", aggregates=frozenset({"spot"}))
    props = _props({"deb": {"os_distro": "debian"}})
    assert decide(s, Server("1", project_id="p-db"), az1, props).policy == "db"
    assert decide(s, Server("2", project_id="p-db", availability_zone="az2"), az1, props).policy == "not HA"
    # an HA_Enabled instance on a spot host is cattle by policy: the policy wins over the convention
    assert decide(s, Server("3", metadata={"HA_Enabled": "True"}), spot, props).recovery == "none"
    web = decide(s, Server("4", image_id="deb"), az1, props)
    assert (web.recovery, web.storage, web.priority) == ("rebuild", "local", 5)
    assert decide(s, Server("5", flavor_extra_specs={"tier": "gold"}), az1, props).policy == "not HA"
    gold = decide(s, Server("6", flavor_extra_specs={"tier": "gold"}, metadata={"team": "x"}), az1, props)
    assert (gold.policy, gold.priority) == ("gold", 50)


def test_image_properties_are_read_only_when_a_policy_needs_them():
    calls: list[str] = []

    def props(image_id: str) -> dict[str, str]:
        calls.append(image_id)
        return {}

    s = settings(policies=[{"name": "p", "match": {"metadata": {"HA_Enabled": "True"}}}])
    decide(s, Server("1", image_id="img", metadata={"HA_Enabled": "True"}), Placement(), props)
    assert calls == []


def test_order_is_by_priority_then_id_and_leaves_out_none():
    s = settings(policies=[{"name": "hi", "match": {"metadata": {"p": "hi"}}, "priority": 10},
                           {"name": "no", "match": {"metadata": {"p": "no"}}, "recovery": "none"}])
    servers = [Server("b", metadata={"HA_Enabled": "True"}), Server("a", metadata={"HA_Enabled": "True"}),
               Server("z", metadata={"p": "hi"}), Server("n", metadata={"p": "no"}), Server("c")]
    decisions = {sv.id: decide(s, sv, Placement(), NO_IMAGES) for sv in servers}
    assert order(decisions) == ["z", "a", "b"]


@pytest.mark.parametrize(("section", "expected"), [
    ("  clodu: x\n", "compute.clodu: unknown key 'clodu'"),
    ("  cloud: x\n  gates: {max-failed-share: 1.5}\n", "compute.gates.max-failed-share"),
    ("  cloud: x\n  policies: [{name: a, recovery: evacuate, storage: local}]\n", "local storage loses"),
    ("  cloud: x\n  policies: [{name: a, recovery: migrate}]\n", "compute.policies[0].recovery: input should be"),
    ("  cloud: x\n  policies: [{name: a, match: {flavor: m1}}]\n", "unknown key 'flavor'"),
    ("  cloud: x\n  policies: [{name: a}, {name: a}]\n", "two policies are named 'a'"),
    ("  cloud: x\n  poll-interval: soon\n", "is not a time"),
    ("  poll-interval: 1\n", "missing required key 'cloud'"),
])
def test_the_compute_section_refuses_what_corral_does_not_implement(section: str, expected: str):
    with pytest.raises(ConfigError) as err:
        parse_yaml_config("compute:\n" + section, "c.yaml")
    assert expected in str(err.value)
    assert "c.yaml:" in str(err.value)


def test_the_compute_section_round_trips_through_the_store():
    from corral.cluster.configstore import decode, encode

    cfg, _ = parse_yaml_config("compute:\n  cloud: lab\n  evacuation-timeout: 2min\n"
                               "  policies: [{name: pets, match: {metadata: {HA_Enabled: true}}}]\n")
    assert cfg.compute is not None and cfg.compute["evacuation-timeout"] == 120.0
    assert cfg.compute["policies"][0]["match"]["metadata"] == {"HA_Enabled": "True"}  # type: ignore[index]
    back, _source, _at = decode(encode(cfg, "f.yaml"))
    assert back.compute == cfg.compute
