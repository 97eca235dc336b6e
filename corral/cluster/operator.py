"""The operator's state, kept apart from the configuration file's.

Node modes (standby, maintenance) and the operator's location constraints
(`cli-prefer-RSC`, `cli-ban-RSC-on-NODE`, as crm_resource names them, with an
optional expiry) live in their own key, /corral/operator, so loading the
configuration file again does not undo a `corral node standby` or a `corral
resource move`. Pacemaker keeps the same things apart too: node attributes in
the CIB's nodes/status sections, and crm_resource's constraints survive a
`cibadmin --replace` only because they are written into the new CIB -- here
they simply stay.

The scheduler sees them merged into the configuration (`merge_into`): node
modes as node attributes, constraints as locations. An expired constraint is
kept (and listed as expired) until `corral resource clear` removes it, as
Pacemaker keeps an expired `cli-prefer-*` rule; it has no effect.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from corral.cluster import keys
from corral.cluster.records import dumps, loads
from corral.model.config import Configuration, Location
from corral.model.errors import ConfigError

NODE_MODES = ("standby", "maintenance")


@dataclass
class OperatorConstraint:
    id: str
    rsc: str
    node: str
    score: int
    role: str | None = None        # "Promoted" for `move --promoted`
    expires: float | None = None   # wall-clock seconds; None: until cleared
    created: float = 0.0

    def expired(self, now: float | None = None) -> bool:
        return self.expires is not None and (time.time() if now is None else now) >= self.expires


@dataclass
class OperatorState:
    node_modes: dict[str, dict[str, str]] = field(default_factory=dict)  # node -> {"standby": "on"}
    constraints: list[OperatorConstraint] = field(default_factory=list)

    def constraint(self, cid: str) -> OperatorConstraint | None:
        return next((c for c in self.constraints if c.id == cid), None)

    def set_constraint(self, c: OperatorConstraint) -> None:
        self.constraints = [x for x in self.constraints if x.id != c.id] + [c]

    def empty(self) -> bool:
        return not self.constraints and not any(self.node_modes.values())


def encode(state: OperatorState) -> str:
    return dumps({"node_modes": {n: m for n, m in sorted(state.node_modes.items()) if m},
                  "constraints": [asdict(c) for c in state.constraints]})


def decode(text: str | None) -> OperatorState:
    if text is None:
        return OperatorState()
    d = loads(text, None)
    if not isinstance(d, dict):
        raise ConfigError(keys.OPERATOR, "not an operator state record")
    try:
        modes = {str(n): {str(k): str(v) for k, v in m.items()} for n, m in (d.get("node_modes") or {}).items()}
        constraints = [OperatorConstraint(**c) for c in d.get("constraints") or []]
    except (TypeError, AttributeError) as exc:
        raise ConfigError(keys.OPERATOR, f"unreadable operator state: {exc}") from None
    return OperatorState(modes, constraints)


def merge_into(cfg: Configuration, state: OperatorState, now: float | None = None) -> Configuration:
    """cfg (changed in place) with the operator's node modes as node attributes and its
    unexpired constraints as locations (replacing a configured location of the same id).
    A mode of a node the configuration does not list is ignored: it must never add a
    node (a node that never joins would be unclean, and fenced, with startup-fencing)."""
    for name, modes in state.node_modes.items():
        if modes and name in cfg.nodes:
            cfg.nodes[name].attrs.update(modes)
    live = [c for c in state.constraints if not c.expired(now)]
    if live:
        ids = {c.id for c in live}
        cfg.locations[:] = [loc for loc in cfg.locations if loc.id not in ids]
        cfg.locations.extend(Location(id=c.id, rsc=c.rsc, node=c.node, score=c.score, role=c.role) for c in live)
    return cfg


def next_expiry(state: OperatorState, now: float | None = None) -> float | None:
    """Wall-clock time of the next constraint to expire, so the controller re-plans then."""
    t = time.time() if now is None else now
    pending = [c.expires for c in state.constraints if c.expires is not None and c.expires > t]
    return min(pending) if pending else None
