"""The `neutron:` section of Corral's YAML: Neutron L3 routers moved off dead L3 agents
(corral.openstack.l3_engine, docs/openstack.md "Network: Neutron L3 routers").

As the `compute:` section: unknown keys are errors, every value is range-checked; `canonical`
(corral.model.yaml_compute) gives it back as YAML-shaped data for the stored Configuration.
"""
from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from corral.model.yaml_compute import Name, Seconds, _Yaml


class NeutronYaml(_Yaml):
    cloud: Name                                       # clouds.yaml entry (OS_CLOUD)
    poll_interval: Seconds = 5.0                      # how often Neutron's L3 agents are read
    # Neutron marks an agent dead after its own agent_down_time (75 s by default) without a
    # report; this adds a wait of Corral's own before its routers are moved (0: at once).
    agent_down_grace: Seconds = 0.0
    # More than this share of the L3 agents dead at once: neutron-server or its message bus is
    # the likelier cause (every agent looks dead when reports stop arriving), so nothing moves.
    max_dead_share: float = Field(0.5, gt=0, le=1)
    min_agents: int = Field(2, ge=1, le=100_000)      # fewer agents than this: the share gate is off
    max_routers_per_cycle: int = Field(100, ge=1, le=100_000)
    concurrency: int = Field(4, ge=1, le=64)          # routers moved at once

    @model_validator(mode="after")
    def _positive_poll(self) -> Any:
        if self.poll_interval <= 0:
            raise ValueError("poll-interval must be positive")
        return self


def neutron_settings(data: dict[str, Any]) -> NeutronYaml:
    """The settings of a Configuration's `neutron` data (already validated once when loaded)."""
    return NeutronYaml.model_validate(data)
