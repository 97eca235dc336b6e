"""Which running resources a leaving or self-fencing agent keeps, by configured id."""
from __future__ import annotations

from corral.agent.daemon import _promotable_ids, _unmanaged_ids
from corral.model.yaml_config import parse_yaml_config

CONFIG = """
defaults: {resource: {resource-stickiness: 1}}
resources:
  - promotable: db-clone
    of: {id: db, agent: "ocf:heartbeat:Stateful"}
    meta: {is-managed: false}
  - clone: web-clone
    of:
      group: web
      members:
        - {id: web-ip, agent: "ocf:heartbeat:Dummy"}
        - {id: web-srv, agent: "ocf:heartbeat:Dummy", meta: {maintenance: true}}
  - {id: vip, agent: "ocf:heartbeat:Dummy"}
"""
# The agent's configuration has no nodes yet: clone instances must be found anyway.
RUNNING = ["db:0", "db:7", "web-ip:1", "web-srv:1", "vip"]


def test_unmanaged_clone_instances_and_group_members_are_kept() -> None:
    cfg, _ = parse_yaml_config(CONFIG, "cfg.yaml")
    assert _unmanaged_ids(cfg, RUNNING) == ["db:0", "db:7", "web-srv:1"]


def test_promotable_instances_are_found_by_configured_id() -> None:
    cfg, _ = parse_yaml_config(CONFIG, "cfg.yaml")
    assert _promotable_ids(cfg, RUNNING) == ["db:0", "db:7"]
    assert _promotable_ids(None, RUNNING) == []
