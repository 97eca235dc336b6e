"""Clone notifications in the transition graph (Pacemaker Administration, "Clone Notifications").

For a clone with notify=true, every operation its instances do in this transition
(demote, stop, start, promote) gets a pre and a post round around the clone's
pseudo-actions:

    CLONE_pre_notify_start_0 -> INSTANCE_pre_notify_start_0 (one per notified copy)
      -> CLONE_confirmed-pre_notify_start_0 -> CLONE_start_0 ... CLONE_running_0
      -> CLONE_post_notify_running_0 -> INSTANCE_post_notify_start_0
      -> CLONE_confirmed-post_notify_running_0 -> the started copies' recurring monitors

Who is notified: the copies active before the operation for pre-stop and pre-demote, those
that survive it for post-stop, and those active once it is done (started or allocated ones
included) for start and promote. The rounds follow each other in the order demote, stop,
start, promote. Every notification and every action of a copy carries the lists
(notify_start_resource, notify_start_uname, ..., an empty list being a single space).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from corral.model.config import PROMOTED, UNPROMOTED
from corral.scheduler.resources import CloneR, Prim

if TYPE_CHECKING:
    from corral.scheduler.graph import GraphAction
    from corral.scheduler.graph_build import GraphBuilder

ROUNDS = ("demote", "stop", "start", "promote")
DONE = {"start": "running", "stop": "stopped", "promote": "promoted", "demote": "demoted"}
Copy = tuple[Prim, str]  # (instance primitive, node)


def _join(values: list[str]) -> str:
    return " ".join(values) or " "


def _pair(copies: list[Copy]) -> tuple[str, str]:
    """The resource list sorted, and the node list in the same order (Pacemaker's lists are
    parallel: the n-th node is where the n-th resource is)."""
    ordered = sorted(copies, key=lambda c: (c[0].id, c[1]))
    return _join([p.id for p, _ in ordered]), _join([n for _, n in ordered])


class CloneNotifications:
    def __init__(self, b: GraphBuilder, clone: CloneR) -> None:
        self.b = b
        self.clone = clone
        self.prims = clone.primitives()

    # -- who does what ---------------------------------------------------------------------------
    def _doing(self, task: str) -> list[Copy]:
        return [(p, a.node) for p in self.prims for a in self.b.acts.get((p.id, task), [])
                if a.runnable and a.node is not None and a.kind == "rsc"]

    def _active(self) -> list[Copy]:
        return [(p, n) for p in self.prims for n in p.active]

    def _reachable(self, node: str) -> bool:
        n = self.b.nodes.get(node)
        return n is not None and n.online and not n.unclean and node not in self.b.fenced

    def lists(self) -> dict[str, str]:
        """The notify_* lists, the same for every round of this transition (as Pacemaker's are)."""
        active = self._active()
        out: dict[str, str] = {}
        for name, copies in (("start", self._doing("start")), ("stop", self._doing("stop")),
                             ("promote", self._doing("promote")), ("demote", self._doing("demote")),
                             ("active", active)):
            out[f"notify_{name}_resource"], out[f"notify_{name}_uname"] = _pair(copies)
        out["notify_inactive_resource"] = _join(sorted(p.id for p in self.prims if not p.active))
        promoted = [(p, n) for p, n in active if p.active[n] == PROMOTED]
        unpromoted = [(p, n) for p, n in active if p.active[n] == UNPROMOTED]
        for names, copies in ((("promoted", "master"), promoted), (("unpromoted", "slave"), unpromoted)):
            for name in names:
                out[f"notify_{name}_resource"], out[f"notify_{name}_uname"] = _pair(copies)
        available = {n for n, rt in self.b.nodes.items() if rt.online}
        out["notify_available_uname"] = _join(sorted(available))
        out["notify_all_uname"] = _join(sorted(self.b.nodes))
        return out

    def _notified(self, task: str, phase: str) -> list[Copy]:
        active = self._active()
        stopping = set(self._doing("stop"))
        survivors = [c for c in active if c not in stopping]
        if task in ("stop", "demote") and phase == "pre":
            chosen = active
        elif task == "demote":
            chosen = active
        elif task == "stop" or (task == "start" and phase == "pre"):
            chosen = survivors
        else:  # after the starts: survivors and the started copies
            chosen = survivors + [c for c in self._doing("start") if c not in survivors]
        return [c for c in chosen if self._reachable(c[1])]

    # -- the graph -------------------------------------------------------------------------------
    def build(self) -> None:
        lists = self.lists()
        cmeta = self.b.clone_meta(self.clone)
        timeout = str(self.b.notify_timeout_ms(self.clone))
        for p in self.prims:
            for task in ("start", "stop", "promote", "demote", "migrate_to", "migrate_from"):
                for a in self.b.acts.get((p.id, task), []):
                    if a.kind == "rsc":
                        a.meta.update(lists)
                        a.meta = dict(sorted(a.meta.items()))
        previous: GraphAction | None = None
        for task in ROUNDS:
            pair = self.b.pseudo.get((self.clone.id, task))
            if pair is None:
                continue
            begin, done = pair
            rounds = {}
            for phase, key_op in (("pre", task), ("post", DONE[task])):
                meta = dict(cmeta, notify_type=phase, notify_operation=task, notify_key_type=phase,
                            notify_key_operation=key_op, timeout=timeout)
                note = self.b.add(f"{self.clone.id}_{phase}_notify_{key_op}_0", "notify", "pseudo",
                                  rsc=self.clone.id, meta=dict(sorted(meta.items())))
                cmeta2 = dict(meta, notify_key_type=f"confirmed-{phase}")
                confirmed = self.b.add(f"{self.clone.id}_confirmed-{phase}_notify_{key_op}_0", "notified",
                                       "pseudo", rsc=self.clone.id, meta=dict(sorted(cmeta2.items())))
                self.b.edge(note, confirmed)
                for p, node in self._notified(task, phase):
                    real = self._notify_action(p, node, phase, task, key_op, lists)
                    self.b.edge(note, real)
                    self.b.edge(real, confirmed)
                rounds[phase] = (note, confirmed)
            pre, pre_ok = rounds["pre"]
            post, post_ok = rounds["post"]
            self.b.edge(pre_ok, begin)
            self.b.edge(done, post)
            self.b.edge(pre_ok, post)
            self.b.edge(previous, pre)
            previous = post_ok
            self._monitors_after(task, post_ok)

    def _notify_action(self, p: Prim, node: str, phase: str, task: str, key_op: str,
                       lists: dict[str, str]) -> GraphAction:
        meta = self.b.instance_meta(p, node)
        meta.update(lists)
        meta.update(notify_type=phase, notify_operation=task, notify_key_type=phase, notify_key_operation=key_op,
                    timeout=str(self.b.notify_timeout_ms(self.clone, p)))
        return self.b.add(f"{p.id}_{phase}_notify_{task}_0", "notify", "notify", rsc=p.id, base=p.base, node=node,
                          timeout_ms=int(meta["timeout"]), meta=dict(sorted(meta.items())),
                          reason=f"{phase}-{task} notification")

    def _monitors_after(self, task: str, post_ok: GraphAction) -> None:
        """A copy's recurring monitors begin once the round that brought it to its role is confirmed."""
        for p in self.prims:
            if not self.b.acts.get((p.id, task)):
                continue
            for mon in self.b.acts.get((p.id, "monitor"), []):
                self.b.edge(post_ok, mon)


def add_notifications(b: GraphBuilder) -> None:
    for top in b.tree.top:
        if isinstance(top, CloneR) and top.meta_bool("notify", False):
            CloneNotifications(b, top).build()
