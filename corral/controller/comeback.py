"""Whether a node that was lost has come back since: then its fence is no longer needed.

A fence is decided from a snapshot (and, for a silent node, from heartbeats as our watch
delivered them); the node may reboot and rejoin before the device runs. Like fenced's
"a failed member reset and rejoined before it was fenced: the fencing is skipped" and
Pacemaker's controller, which erases a rejoining node's status with its new incarnation,
a fence is settled without a device when, read from the store just before it runs:

- the node is joining: its join marker (/corral/joining/<node>) was written after the
  loss was seen -- a new agent probes its resources (a joining node is never fenced,
  controller.joining);
- its member key was written after the loss was seen: every join writes it (a rejoin, or
  a restarted agent that took over its dead predecessor's key, which it does only once that
  one's heartbeat has been silent past its own self-fencing limit, agent.membership), and
  the join replaced the node's state with fresh probes;
- for a node lost for its silence only: its heartbeat key was written after the last beat
  we heard (a heartbeat lives on the member's lease): it beats, our watch was late. (A node
  fenced for another reason, e.g. a failed stop, beats all along: this rule is not for it.)

None of these can come from the lost incarnation itself while it is cut off: each is a
write that reached the store after the loss was seen, by an agent whose lease is valid.
"""
from __future__ import annotations

from dataclasses import dataclass

from corral.cluster import keys
from corral.store import Store


@dataclass(frozen=True)
class Comeback:
    why: str
    rejoined: bool  # a join (under way or done) since: the lost incarnation is gone; else it only beats

    def __str__(self) -> str:
        return self.why


def came_back(store: Store, node: str, lost_at: int, heard: int | None = None) -> Comeback | None:
    """Why node is no longer lost (None: it still is). `lost_at`: the store revision at which
    it was seen lost; `heard`, for a node lost for its silence: the revision of its last
    heartbeat we had heard (0: none heard; then beats after `lost_at` count)."""
    joining = store.get(keys.joining(node))
    if joining is not None and joining.mod_revision > lost_at:
        return Comeback("its agent is joining (a new incarnation probing its resources)", True)
    member = store.get(keys.member(node))
    if member is not None and member.mod_revision > lost_at:
        return Comeback("it rejoined (its member key was written by a join since)", True)
    if heard is None or member is None:
        return None
    beat = store.get(keys.heartbeat(node))
    if beat is not None and beat.mod_revision > (heard or lost_at):
        return Comeback("its heartbeat is back (it beat after it was seen silent)", False)
    return None
