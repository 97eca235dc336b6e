"""Argument checks of the profile's inputs."""
from __future__ import annotations

import pytest

from corral.openstack.profile.catalog import DEFAULT_SERVICES
from corral.openstack.profile.inputs import (
    Controller,
    ProfileInputError,
    parse_controllers,
    parse_inputs,
    parse_services,
    parse_vip,
)


def test_controllers_names_and_addresses() -> None:
    assert parse_controllers("ctl1, ctl2=10.0.0.12,ctl3=ctl3.example.org") == (
        Controller("ctl1", "ctl1"), Controller("ctl2", "10.0.0.12"), Controller("ctl3", "ctl3.example.org"))
    assert parse_controllers("a=fd00::1,b=FD00::2")[1].address == "fd00::2"


@pytest.mark.parametrize(("text", "message"), [
    ("", "expected a comma-separated list"),
    ("ctl1,,ctl2", "expected a comma-separated list"),
    ("-ctl1,ctl2", "not a valid controller name"),
    ("ctl1.example,ctl2", "not a valid controller name"),
    ("ctl1=,ctl2", "needs an address"),
    ("ctl1=10.0.0.1,ctl2=10.0.0.1", "address 10.0.0.1 given to more than one"),
    ("CTL1,ctl1", "ctl1 given more than once"),
    ("ctl1=1.2.3,ctl2", "not an IP address or host name"),
])
def test_bad_controllers(text: str, message: str) -> None:
    with pytest.raises(ProfileInputError, match=message):
        parse_controllers(text)


def test_vip() -> None:
    vip = parse_vip("192.0.2.10/24")
    assert (str(vip.ip), vip.network.prefixlen) == ("192.0.2.10", 24)
    assert str(parse_vip("fd00::10/64").ip) == "fd00::10"
    assert str(parse_vip("192.0.2.10/32").ip) == "192.0.2.10"


@pytest.mark.parametrize(("text", "message"), [
    ("192.0.2.10", "expected ADDRESS/PREFIX"), ("192.0.2.10/", "expected ADDRESS/PREFIX"),
    ("192.0.2.10/x", "expected ADDRESS/PREFIX"), ("192.0.2.300/24", "192.0.2.300"),
    ("192.0.2.10/40", "40"), ("192.0.2.255/24", "broadcast address"), ("192.0.2.0/24", "network address"),
    ("224.0.0.1/4", "not a unicast"), ("127.0.0.1/8", "not a unicast"), ("0.0.0.0/0", "not a unicast"),
])
def test_bad_vip(text: str, message: str) -> None:
    with pytest.raises(ProfileInputError, match=message):
        parse_vip(text)


def test_services() -> None:
    assert parse_services(None) == DEFAULT_SERVICES
    assert parse_services("keystone, heat-api") == ("keystone", "heat-api")
    for text, message in (("", "empty"), ("nova", "unknown service 'nova'"), ("keystone,keystone", "more than once")):
        with pytest.raises(ProfileInputError, match=message):
            parse_services(text)


def test_vip_and_controllers_together() -> None:
    with pytest.raises(ProfileInputError, match="IPv6, the VIP IPv4"):
        parse_inputs(controllers="a=fd00::1,b=fd00::2", vip="192.0.2.10/24")
    with pytest.raises(ProfileInputError, match="also a controller's address"):
        parse_inputs(controllers="a=192.0.2.10,b=192.0.2.11", vip="192.0.2.10/24")
