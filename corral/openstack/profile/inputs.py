"""The profile's command-line inputs, checked before anything is generated.

Every problem is a `ProfileInputError` whose message names the bad value and says what is
expected; the CLI prints it and exits non-zero without writing a file.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from corral.openstack.profile.catalog import DEFAULT_SERVICES, SERVICES

# A controller's name is a node name and a host name (Erlang's rabbit@HOST, Galera's node
# name): an RFC 1123 label, which is also a valid Corral id fragment.
_HOST_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)
_HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$",
                        re.IGNORECASE)


class ProfileInputError(ValueError):
    """A bad profile input; the message is for the operator."""


@dataclass(frozen=True)
class Controller:
    name: str
    address: str   # an IP address, or a host name the controllers resolve (the name itself by default)


@dataclass(frozen=True)
class ProfileInputs:
    controllers: tuple[Controller, ...]
    vip: ipaddress.IPv4Interface | ipaddress.IPv6Interface
    services: tuple[str, ...]

    @property
    def vip_address(self) -> str:
        return str(self.vip.ip)

    @property
    def vip_prefix(self) -> int:
        return self.vip.network.prefixlen


def parse_controllers(text: str) -> tuple[Controller, ...]:
    """`ctl1,ctl2,ctl3` or `ctl1=10.0.0.11,ctl2=10.0.0.12,...` (name, or name=address)."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise ProfileInputError(f"--controllers {text!r}: expected a comma-separated list of names "
                                "(ctl1,ctl2,ctl3), each optionally NAME=ADDRESS")
    controllers: list[Controller] = []
    for item in items:
        name, sep, address = item.partition("=")
        name, address = name.strip(), address.strip()
        if not _HOST_LABEL.match(name):
            raise ProfileInputError(f"--controllers: {name!r} is not a valid controller name (a host name label: "
                                    "letters, digits and '-', not starting or ending with '-', at most 63)")
        if sep:
            if not address:
                raise ProfileInputError(f"--controllers: {name}= needs an address after '='")
            address = _check_address(name, address)
        controllers.append(Controller(name, address if sep else name))
    names = [c.name.lower() for c in controllers]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ProfileInputError(f"--controllers: {', '.join(duplicates)} given more than once")
    addresses = [c.address for c in controllers]
    shared = sorted({a for a in addresses if addresses.count(a) > 1})
    if shared:
        raise ProfileInputError(f"--controllers: address {', '.join(shared)} given to more than one controller")
    if len(controllers) < 2:
        raise ProfileInputError(f"--controllers: {len(controllers)} controller; a highly available control plane "
                                "needs at least 2 (3 or more for quorum)")
    return tuple(controllers)


def _check_address(name: str, address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        pass
    if not _HOST_NAME.match(address) or address.replace(".", "").isdigit():
        raise ProfileInputError(f"--controllers: {name}={address}: not an IP address or host name")
    return address


def parse_vip(text: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    """ADDRESS/PREFIX: a unicast host address and its network's prefix length."""
    address, sep, prefix = text.strip().partition("/")
    if not sep or not prefix.isdigit():
        raise ProfileInputError(f"--vip {text!r}: expected ADDRESS/PREFIX, e.g. 192.0.2.10/24")
    try:
        vip = ipaddress.ip_interface(f"{address}/{int(prefix)}")
    except ValueError as exc:
        raise ProfileInputError(f"--vip {text!r}: {exc}") from None
    net = vip.network
    if vip.ip.is_multicast or vip.ip.is_unspecified or vip.ip.is_loopback:
        raise ProfileInputError(f"--vip {text!r}: {vip.ip} is not a unicast host address")
    if net.num_addresses > 2 and vip.ip in (net.network_address, getattr(net, "broadcast_address", None)):
        raise ProfileInputError(f"--vip {text!r}: {vip.ip} is the network's "
                                f"{'network' if vip.ip == net.network_address else 'broadcast'} address")
    return vip


def parse_services(text: str | None) -> tuple[str, ...]:
    if text is None:
        return DEFAULT_SERVICES
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise ProfileInputError("--services: empty; name at least one of " + ", ".join(SERVICES))
    unknown = [n for n in names if n not in SERVICES]
    if unknown:
        from difflib import get_close_matches

        hints = []
        for n in unknown:
            close = get_close_matches(n, list(SERVICES), n=1)
            hints.append(f"{n!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ProfileInputError(f"--services: unknown service {', '.join(hints)}; known: {', '.join(SERVICES)}")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ProfileInputError(f"--services: {', '.join(duplicates)} given more than once")
    return tuple(names)


def parse_inputs(*, controllers: str, vip: str, services: str | None = None) -> ProfileInputs:
    parsed = ProfileInputs(parse_controllers(controllers), parse_vip(vip), parse_services(services))
    ips = [c.address for c in parsed.controllers]
    if parsed.vip_address in ips:
        raise ProfileInputError(f"--vip {vip}: {parsed.vip_address} is also a controller's address")
    for c in parsed.controllers:
        try:
            ip = ipaddress.ip_address(c.address)
        except ValueError:
            continue  # a host name: resolved by the controllers, not checked here
        if ip.version != parsed.vip.version:
            raise ProfileInputError(f"--controllers: {c.name}={c.address} is IPv{ip.version}, the VIP IPv{parsed.vip.version}")
    return parsed
