"""The `compute:` section of Corral's YAML: compute HA (corral.openstack, docs/openstack.md).

A pydantic model like the rest of the schema (corral.model.yaml_schema): unknown keys are
errors, every value is range-checked, and a setting Corral does not implement is refused.
`canonical` gives the section back as YAML-shaped data (hyphenated keys, times in seconds):
what the Configuration keeps, dumps and stores; `compute_settings` reads it back.
"""
from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    AliasGenerator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from corral.model.config import parse_interval_ms


def _aliases(name: str) -> AliasChoices:
    """As in the rest of the schema: hyphens (max-failed-share), underscores accepted too."""
    hyphen = name.replace("_", "-")
    return AliasChoices(hyphen, name) if hyphen != name else AliasChoices(name)


class _Yaml(BaseModel):
    # yaml_schema's ConfigYaml holds this section, so the section cannot import yaml_schema's base.
    model_config = ConfigDict(extra="forbid", frozen=True,
                              alias_generator=AliasGenerator(validation_alias=_aliases))


def _name(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, str | int) or v == "":
        raise ValueError(f"must be a name, not {v!r}")
    return str(getattr(v, "raw", v))


def _scalar(v: Any) -> str:
    """Nova's metadata, extra specs and image properties are strings: True is 'True' there."""
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, str | int | float):
        return str(getattr(v, "raw", v))
    raise ValueError(f"must be a single value, not {v!r}")


def _seconds(v: Any) -> float:
    """A time: a bare number is seconds; text takes units (500ms, 2s, 1min)."""
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise ValueError(f"{v!r} is not a time (e.g. 2s, 500ms, 1min; a bare number is seconds)")
    if isinstance(v, int | float):
        secs = float(v)
    else:
        try:
            secs = parse_interval_ms(v) / 1000.0
        except ValueError:
            raise ValueError(f"{v!r} is not a time (e.g. 2s, 500ms, 1min; a bare number is seconds)") from None
    if not math.isfinite(secs) or secs < 0:
        raise ValueError(f"{v!r}: a time must be finite and not negative")
    return secs


def _names(v: Any) -> list[str]:
    """One name or a list of names."""
    return [v] if isinstance(v, str | int) and not isinstance(v, bool) else v


Name = Annotated[str, BeforeValidator(_name)]
Attrs = dict[Name, Annotated[str, BeforeValidator(_scalar)]]
Seconds = Annotated[float, BeforeValidator(_seconds)]
Names = Annotated[list[Name], BeforeValidator(_names)]
Recovery = Literal["evacuate", "rebuild", "none"]
Storage = Literal["shared", "local"]


class MatchYaml(_Yaml):
    """Which instances a policy covers: every given criterion must hold (and-ed)."""
    availability_zone: Names = []     # the instance's availability zone is one of these
    aggregate: Names = []             # its host is in one of these aggregates
    project: Names = []               # its project id is one of these
    metadata: Attrs = {}              # instance metadata key: value (all of them)
    flavor_extra_spec: Attrs = {}     # flavor extra specs
    image_property: Attrs = {}        # image properties


class _Recovers(_Yaml):
    recovery: Recovery = "evacuate"
    priority: int = Field(0, ge=-1_000_000, le=1_000_000)   # higher first
    storage: Storage = "shared"

    @model_validator(mode="after")
    def _evacuate_needs_shared(self) -> Any:
        if self.recovery == "evacuate" and self.storage == "local":
            raise ValueError("recovery: evacuate keeps the instance's disk, which local storage loses with "
                             "its host: write recovery: rebuild (recreated from its image) or storage: shared")
        return self


class PolicyYaml(_Recovers):
    name: Name
    match: MatchYaml = MatchYaml()


class DefaultPolicyYaml(_Recovers):
    """For instances no policy matches that are HA by convention (metadata HA_Enabled=True,
    or `evacuable` on their image or flavor); all other unmatched instances are left alone."""


class RetryYaml(_Yaml):
    attempts: int = Field(3, ge=1, le=20)     # evacuation requests per instance, the first included
    backoff: Seconds = 2.0                   # before the second; doubles each time
    backoff_max: Seconds = 30.0


class GatesYaml(_Yaml):
    max_failed_share: float = Field(0.5, gt=0, le=1)  # of an AZ's or aggregate's hosts failed at once
    max_hosts_per_cycle: int = Field(5, ge=1, le=10_000)
    min_group_hosts: int = Field(2, ge=1, le=100_000)  # smaller groups are not share-gated


class ComputeYaml(_Yaml):
    cloud: Name                                        # clouds.yaml entry (OS_CLOUD)
    poll_interval: Seconds = 2.0                       # how often Nova's services are read
    fence_action: Literal["off", "reboot"] = "off"
    nova_compute_resource: Name | None = None          # the resource that runs nova-compute on a host
    nova_compute_grace: Seconds = 30.0                 # member alive, nova-compute down: wait, then escalate
    on_nova_compute_down: Literal["fence", "report"] = "fence"
    enable_returning_hosts: Literal["auto", "operator"] = "auto"
    max_concurrent_evacuations: int = Field(10, ge=1, le=1000)
    evacuation_timeout: Seconds = 600.0                # per instance, from its request to ACTIVE
    retry: RetryYaml = RetryYaml()
    gates: GatesYaml = GatesYaml()
    reserved_hosts: Names = []                         # kept disabled; enabled when a host fails
    default_policy: DefaultPolicyYaml = DefaultPolicyYaml()
    policies: list[PolicyYaml] = []

    @model_validator(mode="after")
    def _unique_policy_names(self) -> Any:
        seen: set[str] = set()
        for p in self.policies:
            if p.name in seen:
                raise ValueError(f"two policies are named {p.name!r}")
            seen.add(p.name)
        if self.retry.backoff_max < self.retry.backoff:
            raise ValueError("retry: backoff-max must not be shorter than backoff")
        if self.poll_interval <= 0:
            raise ValueError("poll-interval must be positive")
        return self


def canonical(model: BaseModel) -> dict[str, Any]:
    """YAML-shaped data of the section: hyphenated setting names, user keys left as written."""
    out: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            value = canonical(value)
        elif isinstance(value, list):
            value = [canonical(v) if isinstance(v, BaseModel) else v for v in value]
        elif isinstance(value, dict):
            value = dict(value)
        elif value is None:
            continue
        out[name.replace("_", "-")] = value
    return out


def compute_settings(data: dict[str, Any]) -> ComputeYaml:
    """The settings of a Configuration's `compute` data (already validated once when loaded)."""
    return ComputeYaml.model_validate(data)
