"""The table of docs/openstack.md: which combination of the two signals triggers what."""
from __future__ import annotations

from corral.openstack.detection import assess
from corral.openstack.nova import ComputeService
from corral.openstack.records import new_recovery

from .rig import settings


def _svc(host: str, state: str = "up", forced: bool = False) -> ComputeService:
    return ComputeService(host=host, state=state, forced_down=forced, zone="nova")


def test_every_row_of_the_table():
    services = {"up": _svc("up"), "novadown": _svc("novadown", "down"), "longdown": _svc("longdown", "down"),
                "forced": _svc("forced", "down", True), "gone": _svc("gone"), "stranger": _svc("stranger", "down"),
                "recovering": _svc("recovering", "down", True)}
    members = {"up", "novadown", "longdown", "forced", "memberonly"}
    known = members | {"gone", "recovering"}
    recs = {"recovering": new_recovery("recovering", "member gone", 1)}
    since = {"novadown": 95.0, "longdown": 60.0}
    views = assess(services, members, known, recs, since, settings(**{"nova-compute-grace": 30}), now=100.0)
    assert {h: v.state for h, v in views.items()} == {
        "up": "up", "novadown": "nova-compute-down", "longdown": "failed", "forced": "forced-down",
        "memberonly": "up", "gone": "failed", "stranger": "unmanaged", "recovering": "fencing"}
    assert "gone" in views["gone"].reason and "Nova says up" in views["gone"].reason
    assert "40s" in views["longdown"].reason


def test_nova_compute_down_is_only_reported_with_report():
    services = {"h": _svc("h", "down")}
    views = assess(services, {"h"}, {"h"}, {}, {"h": 0.0},
                   settings(**{"on-nova-compute-down": "report", "nova-compute-grace": 1}), now=100.0)
    assert views["h"].state == "nova-compute-down"
