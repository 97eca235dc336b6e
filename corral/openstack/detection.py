"""What each compute host's two signals say: its Corral member, and Nova's nova-compute service.

| member (store lease) | nova-compute (Nova)      | verdict                                                  |
| -------------------- | ------------------------ | -------------------------------------------------------- |
| alive                | up                       | up                                                       |
| alive                | down (not forced)        | nova-compute-down: restart it (nova-compute-resource);   |
|                      |                          | still down after nova-compute-grace: failed if           |
|                      |                          | on-nova-compute-down is fence, else reported only        |
| alive                | forced down, no recovery | forced-down: an operator's doing, reported only          |
| alive                | not in Nova              | up (nothing for Nova to recover)                         |
| gone, host known     | any                      | failed: fence and recover (Nova's "up" lags by its       |
|                      |                          | service_down_time and proves nothing about the host)     |
| never seen           | any                      | unmanaged: no member ever ran there; reported only       |

A host with a recovery under way shows its recovery's state instead.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from corral.model.yaml_compute import ComputeYaml
from corral.openstack.nova import ComputeService
from corral.openstack.records import Recovery

UP, FAILED, NOVA_DOWN, FORCED, UNMANAGED = "up", "failed", "nova-compute-down", "forced-down", "unmanaged"


@dataclass(frozen=True)
class HostView:
    name: str
    state: str
    reason: str = ""
    member: bool = False
    nova: str = ""          # up, down, forced-down, absent
    zone: str = ""


def assess(services: Mapping[str, ComputeService], members: set[str], known: set[str],
           recoveries: Mapping[str, Recovery], nova_down_since: Mapping[str, float], settings: ComputeYaml,
           now: float) -> dict[str, HostView]:
    out: dict[str, HostView] = {}
    for host in sorted(set(services) | members | known | set(recoveries)):
        svc = services.get(host)
        nova = "absent" if svc is None else ("forced-down" if svc.forced_down else svc.state)
        zone = svc.zone if svc is not None else ""
        alive = host in members
        rec = recoveries.get(host)

        def view(state: str, reason: str = "", _h: str = host, _a: bool = alive, _n: str = nova,
                 _z: str = zone) -> HostView:
            return HostView(_h, state, reason, _a, _n, _z)

        if rec is not None:
            out[host] = view(rec.state, rec.note or rec.reason)
        elif not alive and host in known:
            out[host] = view(FAILED, f"its compute member is gone (lease expired); Nova says {nova}")
        elif not alive:
            out[host] = view(UNMANAGED, "no Corral compute member has run there")
        elif svc is None or svc.up:
            out[host] = view(UP)
        elif svc.forced_down:
            out[host] = view(FORCED, "forced down in Nova, not by Corral")
        else:
            since = nova_down_since.get(host, now)
            down_for = now - since
            if settings.on_nova_compute_down == "fence" and down_for >= settings.nova_compute_grace:
                out[host] = view(FAILED, f"nova-compute down for {down_for:.0f}s while its member lives "
                                         f"(more than nova-compute-grace {settings.nova_compute_grace:g}s)")
            else:
                out[host] = view(NOVA_DOWN, f"nova-compute down for {down_for:.0f}s; its member lives")
    return out
