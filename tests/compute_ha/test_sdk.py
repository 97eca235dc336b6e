"""SdkNova's translation of openstacksdk's resources and calls (a stub connection, no cloud)."""
from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from corral.openstack.nova import NovaError
from corral.openstack.sdk import SdkNova


class StubCompute:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def services(self, **q):
        self.calls.append(("services", q))
        return [NS(id="s1", host="hostA", state="down", status="disabled", is_forced_down=True,
                   disabled_reason="corral", availability_zone="az1")]

    def update_service_forced_down(self, service, host, binary, forced):
        self.calls.append(("forced", service, host, binary, forced))

    def disable_service(self, service, host, binary, reason):
        self.calls.append(("disable", service, host, binary, reason))

    def enable_service(self, service, host, binary):
        self.calls.append(("enable", service, host, binary))

    def servers(self, **q):
        self.calls.append(("servers", q))
        return [NS(id="vm1", name="web", status="ACTIVE", compute_host="hostA", task_state=None, project_id="p",
                   availability_zone="az1", metadata={"HA_Enabled": "True"},
                   flavor=NS(extra_specs={"evacuable": "true"}), image=NS(id="img"), fault=None),
                NS(id="vm2", name="vol", status="ERROR", compute_host="hostA", task_state=None, project_id="p",
                   availability_zone="az1", metadata={}, flavor=NS(extra_specs=None), image=None,
                   fault={"message": "boom"})]

    def evacuate_server(self, server_id):
        self.calls.append(("evacuate", server_id))
        raise RuntimeError("HttpException: 409: Cannot 'evacuate' instance while it is in task_state rebuilding")

    def migrations(self, **q):
        self.calls.append(("migrations", q))
        return [NS(id=7, server_id="vm1", source_compute="hostA", dest_compute="hostB", status="done",
                   migration_type="evacuation")]


def test_calls_and_translations():
    compute = StubCompute()
    nova = SdkNova(NS(compute=compute))
    (svc,) = nova.compute_services()
    assert (svc.host, svc.state, svc.forced_down, svc.zone, svc.up) == ("hostA", "down", True, "az1", False)
    assert compute.calls[0] == ("services", {"binary": "nova-compute"})
    nova.force_down("hostA", True)
    nova.disable("hostA", "why")
    nova.enable("hostA")
    assert compute.calls[1:] == [("forced", "s1", "hostA", "nova-compute", True),
                                 ("disable", "s1", "hostA", "nova-compute", "why"),
                                 ("enable", "s1", "hostA", "nova-compute")]
    web, vol = nova.servers_on("hostA")
    assert compute.calls[-1] == ("servers", {"details": True, "all_projects": True, "compute_host": "hostA"})
    assert (web.host, web.flavor_extra_specs, web.image_id, web.volume_backed) == \
        ("hostA", {"evacuable": "true"}, "img", False)
    assert (vol.image_id, vol.volume_backed, vol.fault, vol.flavor_extra_specs) == ("", True, "boom", {})
    (mig,) = nova.evacuations("hostA")
    assert (mig.id, mig.server_id, mig.status, mig.dest_host) == ("7", "vm1", "done", "hostB")
    assert compute.calls[-1] == ("migrations", {"source_compute": "hostA", "migration_type": "evacuation"})
    with pytest.raises(NovaError, match="evacuating server vm1: .*409"):
        nova.evacuate("vm1")


def test_an_unknown_host_is_a_clear_error():
    nova = SdkNova(NS(compute=StubCompute()))
    with pytest.raises(NovaError, match="no nova-compute service on host 'nope'"):
        nova.force_down("nope", True)


def test_servers_changed_since_is_one_listing_with_nova_s_time_format():
    compute = StubCompute()
    nova = SdkNova(NS(compute=compute))
    assert [s.id for s in nova.servers_changed_since(1796207244.9)] == ["vm1", "vm2"]
    assert compute.calls == [("servers", {"details": True, "all_projects": True,
                                          "changes_since": "2026-12-02T10:27:24Z"})]
