"""The join window: a cold start fences nobody who is still joining.

Pacemaker's controller waits `dc-deadtime` (20 s by default) for nodes to show
up before its first transition, and a node that shows up is not fenced for
never having been seen. Corral's controller does the same:

- **Joining nodes.** An agent publishes a lease-bound join marker
  (/corral/joining/<node>) before its join probes, and replaces it with its
  member key when it joins (corral.agent.membership). While a node is joining
  the controller plans nothing but the fences of nodes lost meanwhile (its
  probes will say what runs there: Pacemaker holds the scheduler during a join
  too), for at most `dc-deadtime` per join;
  after that the node counts as pending -- offline, not fenced, what its old
  history said it ran disregarded -- until its join completes. A joining node is
  never fenced.
- **The window.** With fencing enabled, a node that has not been a member since
  the cluster started -- configured but never seen, or known from an earlier
  life of the cluster (its node record older than the cluster's start) -- is
  not fenced, and nothing is planned, until `dc-deadtime` has passed since the
  cluster started, or until it is a member (or cleanly down), whichever is first
  (fences of nodes lost in this life still run meanwhile).
  The cluster starts when an agent joins and finds no member: it writes
  /corral/life (`since`, wall clock) in its join transaction; "since the
  cluster started" compares store revisions with that key's (no clocks
  involved), and the window's clock is capped by this controller's own start.
  A controller taking over in a running cluster has no window to wait out,
  and fences a lost node at once. (Without /corral/life -- agents of an older
  version -- the longest-standing current member's join stands in for it.)

After the window a node still missing is fenced as before (startup fencing, or
as lost), and the cluster runs without it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from corral.cluster.snapshot import Snapshot
from corral.model.config import Configuration
from corral.resource_agents.metadata import parse_duration_ms

DEFAULT_DC_DEADTIME_S = 20.0


@dataclass
class JoinVerdict:
    waiting: list[str] = field(default_factory=list)   # why the controller plans nothing yet, per node
    until: float | None = None                         # monotonic: look again then at the latest
    pending: list[str] = field(default_factory=list)   # joining past the window: offline, never fenced
    held: list[str] = field(default_factory=list)      # waited for: not fenced; only fences run meanwhile

    @property
    def hold(self) -> bool:
        return bool(self.waiting)


def dc_deadtime(cfg: Configuration | None) -> float:
    raw = cfg.option("dc-deadtime", "") if cfg is not None else ""
    if not raw:
        return DEFAULT_DC_DEADTIME_S
    try:
        return parse_duration_ms(str(raw)) / 1000.0
    except ValueError:
        return DEFAULT_DC_DEADTIME_S  # validation reported it when the configuration was loaded


class JoinWindow:
    def __init__(self, started_wall: float | None = None) -> None:
        self.started_wall = time.time() if started_wall is None else started_wall
        self._joining_since: dict[str, float] = {}  # node -> monotonic first sight of its marker

    def assess(self, snap: Snapshot, cfg: Configuration, *, now: float | None = None,
               now_wall: float | None = None) -> JoinVerdict:
        now = time.monotonic() if now is None else now
        now_wall = time.time() if now_wall is None else now_wall
        deadtime = dc_deadtime(cfg)
        out = JoinVerdict()
        joining = sorted(n for n in snap.joining if n not in snap.members)
        for gone in [n for n in self._joining_since if n not in joining]:
            del self._joining_since[gone]
        for node in joining:
            since = self._joining_since.setdefault(node, now)
            left = since + deadtime - now
            if left > 0:
                out.held.append(node)
                out.waiting.append(f"{node} is joining (probing its resources): planning waits for it, "
                                   f"{left:.1f}s more at most (dc-deadtime)")
                out.until = min(out.until or now + left, now + left)
            else:
                out.pending.append(node)
        if cfg.option_bool("stonith-enabled", True):
            left = self._window_end(snap, deadtime) - now_wall
            if left > 0:
                for node in self.unseen(snap, cfg, set(joining)):
                    out.held.append(node)
                    out.waiting.append(f"{node} has not joined since the cluster started: it is not fenced "
                                       f"and nothing is planned for {left:.1f}s more (dc-deadtime), or until "
                                       "it joins")
                    out.until = min(out.until or now + left, now + left)
        return out

    def _window_end(self, snap: Snapshot, deadtime: float) -> float:
        since = snap.life.get("since")
        if isinstance(since, int | float):
            starts = [float(since)]
        else:
            starts = [float(m["since"]) for m in snap.members.values() if isinstance(m.get("since"), int | float)]
        return min([self.started_wall, *starts]) + deadtime

    @staticmethod
    def unseen(snap: Snapshot, cfg: Configuration, joining: set[str]) -> list[str]:
        """Nodes that would be fenced for not having joined: neither members nor joining nor
        cleanly down, and not members at any time since the current members' first joined."""
        life_start = snap.life_revision or min(snap.member_revisions.values(), default=0)
        out = []
        for node in sorted(set(cfg.nodes) | set(snap.nodes)):
            if node in snap.members or node in joining:
                continue
            if cfg.nodes.get(node) is not None and cfg.nodes[node].kind == "remote":
                continue
            record = snap.nodes.get(node)
            if record is not None and (record.get("expected") == "down"
                                       or snap.node_revisions.get(node, 0) >= life_start):
                continue  # cleanly down, or seen in this life (then lost: fenced at once)
            out.append(node)
        return out


def treat_as_pending(snap: Snapshot, nodes: list[str]) -> None:
    """Joining for longer than the window: offline and not fenced; its old history (its
    join replaces it with fresh probes) is not read."""
    for node in nodes:
        snap.nodes[node] = {"expected": "down"}
        snap.history.pop(node, None)
