"""The services' configuration files (oslo.config INI), written into the lab's work directory.

Lab settings that differ from the defaults, and why:
- one worker per service: two shared cores;
- nova `report_interval = 5`, `service_down_time = 20`: a killed nova-compute reads "down"
  sooner (Corral forces it down anyway; a plain Nova waits this long before it evacuates);
- compute_driver fake.FakeDriver: instances are bookkeeping only, each nova-compute with its
  own `host` is a compute host;
- neutron ML2 with flat networks and no agents: Nova's rebuild asks Neutron for the instance's
  ports (servers boot with `networks: none`), so the API must answer; `port_forwarding` is
  loaded because Zed's Port model needs its backref under SQLAlchemy 1.4.
"""
from __future__ import annotations

import shutil
from collections.abc import Mapping

from corral_lab.nova.layout import SERVICE_PASSWORD, Layout

Sections = Mapping[str, Mapping[str, object]]
NEUTRON_PASTE = "/usr/lib/python3/dist-packages/neutron/tests/etc/api-paste.ini"


def ini(sections: Sections) -> str:
    out = []
    for name, items in sections.items():
        out.append(f"[{name}]")
        out += [f"{k} = {v}" for k, v in items.items()]
        out.append("")
    return "\n".join(out)


def write(path: str, text: str) -> str:
    with open(path, "w") as f:
        f.write(text)
    return path


def service_auth(layout: Layout, user: str) -> dict[str, object]:
    """keystone_authtoken / placement / neutron sections: the service user of the `service` project."""
    return {"auth_url": layout.keystone_url, "www_authenticate_uri": layout.keystone_url, "auth_type": "password",
            "project_domain_name": "Default", "user_domain_name": "Default", "project_name": "service",
            "username": user, "password": SERVICE_PASSWORD, "region_name": "RegionOne"}


def keystone(layout: Layout) -> str:
    return write(layout.path("keystone", "keystone.conf"), ini({
        "DEFAULT": {"log_file": layout.log("keystone")},
        "database": {"connection": f"{layout.db_url}/keystone"},
        "token": {"provider": "fernet"},
        "fernet_tokens": {"key_repository": layout.path("keystone", "fernet-keys")},
        "fernet_receipts": {"key_repository": layout.path("keystone", "fernet-keys")},
        "credential": {"key_repository": layout.path("keystone", "credential-keys")},
    }))


def placement(layout: Layout) -> str:
    return write(layout.path("placement", "placement.conf"), ini({
        "DEFAULT": {"log_file": layout.log("placement")},
        "placement_database": {"connection": f"{layout.db_url}/placement"},
        "api": {"auth_strategy": "keystone"},
        "keystone_authtoken": service_auth(layout, "placement"),
    }))


GLANCE_PASTE = """\
[pipeline:glance-api-keystone]
pipeline = versionnegotiation authtoken context rootapp
[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app
[app:apiversions]
paste.app_factory = glance.api.versions:create_resource
[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory
[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory
[filter:context]
paste.filter_factory = glance.api.middleware.context:ContextMiddleware.factory
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
delay_auth_decision = true
"""


def glance(layout: Layout) -> str:
    paste = write(layout.path("glance", "glance-api-paste.ini"), GLANCE_PASTE)
    g = layout.path("glance")
    return write(layout.path("glance", "glance-api.conf"), ini({
        "DEFAULT": {"bind_host": layout.addr, "bind_port": layout.ports["glance"], "workers": 1,
                    "log_file": layout.log("glance-api"), "enabled_backends": "fs:file"},
        "glance_store": {"default_backend": "fs"},
        "fs": {"filesystem_store_datadir": f"{g}/images"},
        "os_glance_staging_store": {"filesystem_store_datadir": f"{g}/staging"},
        "os_glance_tasks_store": {"filesystem_store_datadir": f"{g}/tasks"},
        "database": {"connection": f"{layout.db_url}/glance"},
        "paste_deploy": {"flavor": "keystone", "config_file": paste},
        "oslo_concurrency": {"lock_path": f"{g}/locks"},
        "keystone_authtoken": service_auth(layout, "glance"),
    }))


def neutron(layout: Layout) -> str:
    n = layout.path("neutron")
    paste = shutil.copy(NEUTRON_PASTE, f"{n}/api-paste.ini")
    return write(f"{n}/neutron.conf", ini({
        "DEFAULT": {"bind_host": layout.addr, "bind_port": layout.ports["neutron"], "core_plugin": "ml2",
                    "service_plugins": "router,port_forwarding", "auth_strategy": "keystone",
                    "transport_url": layout.transport_url, "api_paste_config": paste, "api_workers": 1,
                    "rpc_workers": 0, "rpc_state_report_workers": 0,
                    "notify_nova_on_port_status_changes": "false", "notify_nova_on_port_data_changes": "false",
                    "state_path": f"{n}/state", "log_file": layout.log("neutron-server"),
                    # the L3 agents report every 2 s (corral_lab.nova.l3_agents); dead after 10 s
                    "agent_down_time": 10, "allow_automatic_l3agent_failover": "false"},
        "database": {"connection": f"{layout.db_url}/neutron"},
        "oslo_concurrency": {"lock_path": f"{n}/locks"},
        "ml2": {"type_drivers": "flat", "tenant_network_types": "", "mechanism_drivers": "",
                "extension_drivers": ""},
        "ml2_type_flat": {"flat_networks": "*"},
        "keystone_authtoken": service_auth(layout, "neutron"),
    }))


NOVA_PASTE = """\
[composite:osapi_compute]
use = call:nova.api.openstack.urlmap:urlmap_factory
/: oscomputeversions
/v2.1: oscomputeversion_v2
/v2.1/+: openstack_compute_api_v21
[composite:openstack_compute_api_v21]
use = call:nova.api.auth:pipeline_factory_v21
keystone = compute_req_id faultwrap request_log sizelimit authtoken keystonecontext osapi_compute_app_v21
[filter:request_log]
paste.filter_factory = nova.api.openstack.requestlog:RequestLog.factory
[filter:compute_req_id]
paste.filter_factory = nova.api.compute_req_id:ComputeReqIdMiddleware.factory
[filter:faultwrap]
paste.filter_factory = nova.api.openstack:FaultWrapper.factory
[filter:sizelimit]
paste.filter_factory = oslo_middleware:RequestBodySizeLimiter.factory
[app:osapi_compute_app_v21]
paste.app_factory = nova.api.openstack.compute:APIRouterV21.factory
[pipeline:oscomputeversions]
pipeline = faultwrap request_log oscomputeversionapp
[app:oscomputeversionapp]
paste.app_factory = nova.api.openstack.compute.versions:Versions.factory
[pipeline:oscomputeversion_v2]
pipeline = compute_req_id faultwrap request_log oscomputeversionapp_v2
[app:oscomputeversionapp_v2]
paste.app_factory = nova.api.openstack.compute.versions:VersionsV2.factory
[filter:keystonecontext]
paste.filter_factory = nova.api.auth:NovaKeystoneContext.factory
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
"""


def nova(layout: Layout) -> tuple[str, str]:
    """nova-common.conf (every Nova service; nova-compute gets no database) and nova-db.conf."""
    n = layout.path("nova")
    paste = write(f"{n}/api-paste.ini", NOVA_PASTE)
    common = write(f"{n}/nova-common.conf", ini({
        "DEFAULT": {"transport_url": layout.transport_url, "my_ip": layout.addr,
                    "compute_driver": "fake.FakeDriver", "enabled_apis": "osapi_compute",
                    "osapi_compute_listen": layout.addr, "osapi_compute_listen_port": layout.ports["nova"],
                    "osapi_compute_workers": 1, "state_path": f"{n}/state", "report_interval": 5,
                    "service_down_time": 20},
        "wsgi": {"api_paste_config": paste},
        "api": {"auth_strategy": "keystone"},
        "conductor": {"workers": 1},
        "scheduler": {"workers": 1},
        "oslo_concurrency": {"lock_path": f"{n}/locks"},
        "oslo_messaging_notifications": {"driver": "noop"},
        "keystone_authtoken": service_auth(layout, "nova"),
        "placement": service_auth(layout, "placement"),
        "neutron": service_auth(layout, "nova"),
    }))
    db = write(f"{n}/nova-db.conf", ini({"api_database": {"connection": f"{layout.db_url}/nova_api"},
                                         "database": {"connection": f"{layout.db_url}/nova"}}))
    return common, db


def nova_compute(layout: Layout, host: str) -> str:
    return write(layout.path("nova", f"compute-{host}.conf"), ini({
        "DEFAULT": {"host": host, "state_path": layout.path("nova", f"state-{host}")}}))
