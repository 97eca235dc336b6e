"""Shared by the profile's tests: generating, and validating through the real loader."""
from __future__ import annotations

from pathlib import Path

from corral.cluster.configstore import prepare_file
from corral.model.config import Configuration
from corral.openstack.profile.generate import Generated, generate
from corral.openstack.profile.inputs import parse_inputs

CONTROLLERS = "ctl1=10.0.0.11,ctl2=10.0.0.12,ctl3=10.0.0.13"
VIP = "10.0.0.100/24"


def make(overrides: dict[str, str] | None = None, *, controllers: str = CONTROLLERS, vip: str = VIP,
         services: str | None = None) -> Generated:
    return generate(parse_inputs(controllers=controllers, vip=vip, services=services), overrides)


def loaded(tmp_path: Path, generated: Generated) -> Configuration:
    """The configuration as `corral load` validates it (configstore.prepare_file, round trip included)."""
    path = tmp_path / "corral.yaml"
    path.write_text(generated.config_yaml, encoding="utf-8")
    cfg, _ = prepare_file(path)
    return cfg
