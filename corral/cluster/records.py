"""JSON forms of what the store holds: operation histories, actions, node records."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from corral.model.state import OpRecord, ResourceHistory

PENDING, DONE = "pending", "done"

_OP_FIELDS = ("rsc", "op", "interval_ms", "rc", "op_status", "call_id", "target_rc", "last_rc_change",
              "exit_reason", "id", "migrate_source", "migrate_target", "op_digest")


@dataclass
class AgentSpec:
    """What an agent needs to run one resource: the primitive's agent, params and meta."""
    rsc_class: str
    type: str
    provider: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AgentSpec:
        return cls(rsc_class=d.get("class", ""), type=d.get("type", ""), provider=d.get("provider"),
                   params=dict(d.get("params") or {}), meta=dict(d.get("meta") or {}))

    def to_dict(self) -> dict[str, Any]:
        return {"class": self.rsc_class, "type": self.type, "provider": self.provider,
                "params": self.params, "meta": self.meta}


@dataclass
class HistoryRecord:
    """One resource's history on one node, plus the spec it last ran with (so a later
    agent can stop it even once the resource is gone from the configuration)."""
    rsc: str
    spec: AgentSpec
    ops: list[OpRecord] = field(default_factory=list)
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)  # op id -> exec_ms, started_at, output

    def to_json(self) -> str:
        return json.dumps({"rsc": self.rsc, "spec": self.spec.to_dict(),
                           "ops": [{k: getattr(o, k) for k in _OP_FIELDS} for o in self.ops],
                           "extra": self.extra}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> HistoryRecord:
        d = json.loads(text)
        ops = [OpRecord(**{k: o.get(k) for k in _OP_FIELDS if k in o}) for o in d.get("ops", [])]
        return cls(rsc=d["rsc"], spec=AgentSpec.from_dict(d.get("spec") or {}), ops=ops,
                   extra=dict(d.get("extra") or {}))

    def to_history(self) -> ResourceHistory:
        return ResourceHistory(rsc=self.rsc, rsc_class=self.spec.rsc_class, provider=self.spec.provider,
                               type=self.spec.type, ops=list(self.ops))


@dataclass
class ActionRecord:
    """An action the controller assigned to a node, and (state DONE) its result."""
    id: str
    task: str                 # start, stop, monitor, promote, demote, migrate_to, migrate_from, notify
    rsc: str                  # the scheduler's instance id ("web:1")
    exec_rsc: str             # the id the node's executor knows it by (the base id for anonymous clones)
    base: str
    node: str
    spec: AgentSpec
    interval_ms: int = 0
    timeout_s: float = 20.0
    role: str = "Started"     # the role a monitor checks (Promoted: rc 8 expected)
    epoch: int = 0
    transition: int = 0
    migrate_source: str | None = None
    migrate_target: str | None = None
    meta: dict[str, str] = field(default_factory=dict)  # the graph's meta: OCF_RESKEY_CRM_meta_<name>
    state: str = PENDING
    rc: int | None = None
    op_status: int | None = None
    exit_reason: str = ""
    call_id: int | None = None
    duration_s: float = 0.0

    def to_json(self) -> str:
        d = asdict(self)
        d["spec"] = self.spec.to_dict()
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ActionRecord:
        d = json.loads(text)
        d["spec"] = AgentSpec.from_dict(d.get("spec") or {})
        return cls(**d)

    def describe(self) -> str:
        interval = f"_{self.interval_ms}" if self.interval_ms else ""
        return f"{self.rsc}_{self.task}{interval} on {self.node}"


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)


def loads(text: str | None, default: Any = None) -> Any:
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default
