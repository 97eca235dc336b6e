"""Clone instance numbers as Pacemaker assigns them.

Two decisions fix which instance number a copy of a clone carries:

* reading the status section (:class:`InstanceNumbering`): each node's history
  of a clone's child is matched to an instance, node by node in the order the
  status section lists them, entry by entry in document order. For an anonymous
  clone the number recorded in the history (``rsc`` or ``rsc:N``) means nothing:
  the entry goes to the instance already found active on that node (another
  member of a cloned group), else to the lowest-numbered instance not yet active
  anywhere; a second active copy on one node, or a copy beyond ``clone-max``, is an
  orphan numbered after the configured instances. A globally-unique clone's
  entry ``rsc:N`` is instance N (an orphan when N >= clone-max).
* allocation (:func:`allocation_order`, :func:`preferred_per_node`): instances
  are placed in a fixed order (active on a node the clone may use, then inactive,
  then active where the clone is banned; failed ones after the healthy ones of
  their class; instance number last), and the free numbers go to nodes in the
  order the allocator picks them (see placement.py).

Learned from the behaviour of Pacemaker 2.1.5 (``crm_simulate`` and its
regression scenarios), documented in docs/scheduler.md.
"""
from __future__ import annotations

from collections.abc import Callable

from corral.scheduler.resources import CloneR, GroupR, Prim, ResourceTree

Instance = Prim | GroupR


def member(inst: Instance, base: str) -> Prim | None:
    """The primitive of an instance configured as `base` (the instance itself, or a group member)."""
    if isinstance(inst, Prim):
        return inst if inst.base == base else None
    return next((m for m in inst.members if m.base == base), None)


def instance_number(inst: Instance) -> int:
    _, _, num = inst.id.rpartition(":")
    return int(num) if num.isdigit() else 0


class InstanceNumbering:
    """Matches the history entries of clone children, as they are read, to instances."""

    def __init__(self, tree: ResourceTree) -> None:
        self.tree = tree
        self.located: dict[Instance, set[str]] = {}   # instance -> nodes it was found active on

    def instance_for(self, clone: CloneR, node: str, base: str, num: int | None) -> Instance:
        """The instance an active history entry `base[:num]` on `node` belongs to."""
        if clone.unique and num is not None:
            return self._unique(clone, num)
        return self._anonymous(clone, node, base)

    def found_active(self, inst: Instance, node: str) -> None:
        self.located.setdefault(inst, set()).add(node)

    def _unique(self, clone: CloneR, num: int) -> Instance:
        for inst in clone.instances:
            if instance_number(inst) == num:
                return inst
        return self._orphan(clone, num)

    def _anonymous(self, clone: CloneR, node: str, base: str) -> Instance:
        for inst in clone.instances:
            if node in self.located.get(inst, ()):
                prim = member(inst, base)
                if prim is not None and node in prim.active:
                    break  # a second copy on one node: an orphan, whatever numbers are free
                return inst
        else:
            for inst in clone.instances:
                if inst in self.located or self._is_orphan(inst):
                    continue
                return inst
        return self._orphan(clone, self._next_number(clone))

    @staticmethod
    def _is_orphan(inst: Instance) -> bool:
        return any(p.orphan for p in inst.primitives())

    @staticmethod
    def _next_number(clone: CloneR) -> int:
        return 1 + max((instance_number(i) for i in clone.instances), default=-1)

    def _orphan(self, clone: CloneR, num: int) -> Instance:
        inst = self.tree.new_instance(clone, i=num)
        for p in inst.primitives():
            p.orphan = True
        clone.instances.append(inst)
        return inst


def allocation_order(instances: list[Instance], leader: Callable[[Instance], Prim],
                     score_here: Callable[[Prim], int | None]) -> list[Instance]:
    """The order in which a clone's instances are placed.

    Active instances whose node the clone may use come first, then inactive ones,
    then active ones where the clone is now banned; within each class a failed
    instance comes after the healthy ones; then by instance number. `score_here`
    gives the clone's score on the leader's current node (None when inactive).
    """
    def key(inst: Instance) -> tuple[int, int, int]:
        first = leader(inst)
        score = score_here(first) if first.active else None
        rank = 1 if score is None else (0 if score >= 0 else 2)
        failed = any(p.failed for p in inst.primitives())
        return (rank, 1 if failed else 0, instance_number(inst))

    return sorted(instances, key=key)


def preferred_per_node(clone_max: int, available_nodes: int) -> int:
    """How many instances may keep their current node before every instance has been
    placed once: clone-max spread over the nodes that can host resources (at least 1)."""
    if available_nodes <= 0:
        return 1
    return max(1, clone_max // available_nodes)
