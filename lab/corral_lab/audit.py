"""Invariants checked after every fault of a lab campaign (docs/lab.md).

- **No singleton on two hosts**: a `ClaimSampler` asks every server host every
  50 ms during a fault (and its recovery) whether its eth0 is up and carries
  the VIP, and which powered hosts run the promotable clone's instance
  promoted (Stateful's own state file says "master"); two claimants, or two
  promoted hosts, at one sample is a violation.
- **Everything that should run runs** within a bound once the store is quorate:
  `converged()` on a snapshot: every member node runs its clone instance, the
  VIP is Started on exactly one member node and that node (alone) carries it;
  with a promotable clone, every member runs an instance of it, exactly one
  Promoted, and that node alone runs it promoted by its state file.
- **No restarts of healthy resources**: `restarts()` compares each resource's
  last non-recurring operation (`<rsc>_last_0`: op and call id) on the nodes
  the fault did not touch, before and after; the VIP may move only when its
  holder was affected. A re-probe that finds a resource in the state it was
  (its node rejoined) is not a restart.
- **Nothing runs where nothing may**: `still_running()` (stopped hosts, a
  store without quorum), `claims_after()` (the VIP must be gone once the
  lease TTL after a quorum loss has passed), `claims_other_than()` (in
  maintenance mode the VIP never leaves its holder), `managed_mismatch()`
  (maintenance mode has reached every resource); the first two take
  `promoted=ID` to audit the promoted instance the same way.

`python -m corral_lab.audit snapshot STORE_URL` prints what these need as JSON
(run inside a lab host: the store lives on lab addresses).
"""
from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

SAMPLE_S = 0.05


@dataclass
class ClaimSample:
    t: float
    claimants: list[str]                                   # hosts carrying the VIP
    promoted: list[str] = field(default_factory=list)      # hosts running the promoted instance


@dataclass
class ClaimSampler:
    """Samples `claimants()` every `interval` s in a thread until stop(); bounded by `max_s`. With
    `observe` (VIP claimants and promoted hosts in one pass) it samples that instead."""
    claimants: Callable[[], list[str]]
    observe: Callable[[], tuple[list[str], list[str]]] | None = None
    interval: float = SAMPLE_S
    max_s: float = 300.0
    samples: list[ClaimSample] = field(default_factory=list)
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> ClaimSampler:
        self._thread = threading.Thread(target=self._run, name="claims", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        end = time.monotonic() + self.max_s
        while not self._stop.is_set() and time.monotonic() < end:
            t = time.monotonic()
            try:
                claim, promoted = self.observe() if self.observe else (self.claimants(), [])
                self.samples.append(ClaimSample(t, list(claim), list(promoted)))
            except Exception:  # noqa: BLE001 - a failed sample is counted, never fatal
                self.errors += 1
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - t)))

    def stop(self) -> list[ClaimSample]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        return self.samples

    def dual_claims(self) -> list[ClaimSample]:
        return [s for s in self.samples if len(s.claimants) > 1]


def dual_claim_violations(samples: Iterable[ClaimSample]) -> list[str]:
    out = []
    for s in samples:
        if len(s.claimants) > 1:
            out.append(f"VIP claimed by {', '.join(s.claimants)} at once (t={s.t:.3f})")
    return out[:5]


def dual_promoted_violations(samples: Iterable[ClaimSample], rsc: str) -> list[str]:
    """Samples where more than one host ran `rsc` promoted (promoted-max 1)."""
    out = [f"{rsc} promoted on {', '.join(s.promoted)} at once (t={s.t:.3f})" for s in samples if len(s.promoted) > 1]
    return out[:5]


def _holders(s: ClaimSample, promoted: str | None) -> list[str]:
    return s.promoted if promoted else s.claimants


def claims_after(samples: Iterable[ClaimSample], since: float, until: float | None = None, *,
                 promoted: str | None = None) -> list[str]:
    """Samples taken after `since` (and before `until`) that still saw a holder of the VIP (or, with
    `promoted`, a host running that resource promoted): after a quorum loss every agent must have
    stopped it before its lease could expire (safety rule 2)."""
    what = f"{promoted} promoted" if promoted else "VIP"
    late = [s for s in samples if s.t > since and (until is None or s.t < until) and _holders(s, promoted)]
    if not late:
        return []
    return [f"{what} still on {', '.join(_holders(late[0], promoted))} {late[0].t - since:.2f} s after it had "
            f"to be stopped ({len(late)} samples, the last {late[-1].t - since:.2f} s after)"]


def claims_other_than(samples: Iterable[ClaimSample], holder: str | None, since: float, *,
                      until: float | None = None, promoted: str | None = None) -> list[str]:
    """Samples after `since` (and before `until`) where the VIP (or `promoted`'s promoted instance)
    was not on `holder` alone (maintenance mode: nothing moves, nothing stops)."""
    what = f"{promoted} promoted" if promoted else "VIP"
    want = [holder] if holder else []
    off = [s for s in samples if s.t >= since and (until is None or s.t < until) and _holders(s, promoted) != want]
    if not off:
        return []
    return [f"{what} on {_holders(off[0], promoted) or 'no host'} instead of {holder} at t={off[0].t:.3f} "
            f"({len(off)} samples)"]


def still_running(hosts: Iterable[str], claimants: Iterable[str], services: dict[str, bool],
                  instances: dict[str, list[str]] | None = None, rsc: str = "db") -> list[str]:
    """What runs on hosts that should run nothing: the VIP on their eth0, their name service, an
    instance of the promotable clone (`instances`: its state files' contents per host, "?" unreadable)."""
    hs, claim, inst = list(hosts), set(claimants), instances or {}
    return ([f"VIP on {h}" for h in hs if h in claim] + [f"service on {h}" for h in hs if services.get(h)]
            + [f"{rsc} ({'/'.join(inst[h])}) on {h}" for h in hs if [v for v in inst.get(h, []) if v != "?"]])


def managed_mismatch(snap: dict[str, Any], *, managed: bool) -> list[str]:
    """Resources whose `managed` flag (maintenance-mode, is-managed) is not `managed` in a snapshot."""
    return sorted({r["id"] for r in snap.get("resources") or [] if bool(r.get("managed", True)) != managed})


def last_ops(snap: dict[str, Any]) -> dict[tuple[str, str], tuple[str, int]]:
    """(node, rsc) -> (op, call id) of its last non-recurring operation."""
    out: dict[tuple[str, str], tuple[str, int]] = {}
    for node, rscs in (snap.get("history") or {}).items():
        for rsc, h in rscs.items():
            last = h.get("last")
            if last:
                out[(node, rsc)] = (str(last["op"]), int(last["call_id"]))
    return out


def restarts(before: dict[str, Any], after: dict[str, Any], *, touched: Iterable[str],
             movable: Iterable[str] = (), promotable: Iterable[str] = (),
             role_changes: Iterable[str] = ()) -> list[str]:
    """Resources whose last operation changed on a node the fault did not touch. `movable` resources
    (the VIP when its holder was touched) may start on untouched nodes, but not restart where they
    already ran; a `promotable` resource's running instance may be promoted there (its promoted
    instance's node was touched), which is a role change, not a restart; `role_changes` resources'
    running instances may be promoted or demoted anywhere (but not restarted)."""
    touched_set, movable_set, promo, roles = set(touched), set(movable), set(promotable), set(role_changes)
    b, a = last_ops(before), last_ops(after)
    out = []
    for (node, rsc), op in sorted(b.items()):
        if node in touched_set or node not in (after.get("members") or []):
            continue
        now = a.get((node, rsc))
        if now is None or now == op:
            continue
        was_active = op[0] in ("start", "probe_running", "promote", "demote")  # demoted: runs unpromoted
        if rsc in movable_set and not was_active:
            continue
        if rsc.split(":")[0] in promo and was_active and op[0] != "promote" and now[0] == "promote":
            continue
        if rsc.split(":")[0] in roles and was_active and now[0] in ("promote", "demote"):
            continue
        if was_active and now[0] == "probe_running":
            continue  # re-probed (e.g. the node rejoined) and found still running: not restarted
        if not was_active and now[0] == "probe":
            continue  # re-probed and found still stopped: nothing happened to it
        out.append(f"{rsc} on {node}: last operation {op[0]}#{op[1]} became {now[0]}#{now[1]}")
    return out


def converged(snap: dict[str, Any] | None, *, vip: str, clone_base: str, claimants: list[str],
              expected: Iterable[str], promotable: str | None = None,
              promoted: list[str] | None = None) -> list[str]:
    """What is not (yet) as it should be: [] when every expected node is a member and runs its clone
    instance, and the VIP is Started on one of them, which alone carries the address; with
    `promotable` (a promotable clone's base id), every expected node runs an instance of it, exactly
    one is Promoted, and that node alone runs it promoted by the agent's own record (`promoted`)."""
    if snap is None:
        return ["no snapshot (the store did not answer)"]
    problems = []
    members = set(snap.get("members") or [])
    exp = set(expected)
    if not exp <= members:
        problems.append(f"not members: {', '.join(sorted(exp - members))}")
    running: dict[str, list[str]] = {}
    for r in snap.get("resources") or []:
        if r.get("role") == "Started" and r.get("node"):
            running.setdefault(r["base"], []).append(r["node"])
    missing = sorted(exp - set(running.get(clone_base, [])))
    if missing:
        problems.append(f"{clone_base} not running on {', '.join(missing)}")
    vip_nodes = running.get(vip, [])
    if len(vip_nodes) != 1:
        problems.append(f"{vip} Started on {vip_nodes or 'no node'}")
    elif claimants != vip_nodes:
        problems.append(f"{vip} Started on {vip_nodes[0]} but claimed by {claimants or 'nobody'}")
    if promotable:
        roles: dict[str, list[str]] = {}
        for r in snap.get("resources") or []:
            if r.get("base") == promotable and r.get("node"):
                roles.setdefault(str(r.get("role")), []).append(r["node"])
        instances = {n for role in ("Promoted", "Unpromoted", "Started") for n in roles.get(role, [])}
        if sorted(exp - instances):
            problems.append(f"{promotable} not running on {', '.join(sorted(exp - instances))}")
        prom = sorted(roles.get("Promoted", []))
        if len(prom) != 1:
            problems.append(f"{promotable} Promoted on {prom or 'no node'}")
        elif sorted(promoted or []) != prom:
            problems.append(f"{promotable} Promoted on {prom[0]} but promoted by its state file on "
                            f"{', '.join(sorted(promoted or [])) or 'no host'}")
    st = snap.get("controller_status") or {}
    if st.get("state") not in ("idle", None):
        # what it waits for, so a stuck controller can be told from a busy one
        detail = "; ".join([*(st.get("waiting") or [])[:3], *(st.get("blocked") or [])[:2], st.get("note") or ""])
        problems.append(f"controller {st.get('state')}" + (f" ({detail.strip('; ')})" if detail.strip("; ") else ""))
    return problems


# -- the snapshot helper, run inside a lab host ------------------------------------------------------------
def snapshot_json(url: str) -> dict[str, Any]:
    from corral.cluster.snapshot import read_snapshot
    from corral.cluster.status import cluster_status
    from corral.store import open_store

    store = open_store(url)
    try:
        snap = read_snapshot(store)
    finally:
        store.close()
    st = cluster_status(snap)
    history: dict[str, dict[str, Any]] = {}
    for node, rscs in snap.history.items():
        for rsc, rec in rscs.items():
            last = next((o for o in rec.ops if o.id.endswith("_last_0")), None)
            history.setdefault(node, {})[rsc] = {
                "last": {"op": _op_name(last.op, last.rc), "call_id": last.call_id, "rc": last.rc}
                if last else None}
    return {"members": sorted(snap.members), "leader": snap.leader, "epoch": snap.epoch,
            "nodes": st["nodes"], "resources": st["resources"], "failures": st["failures"],
            "controller_status": snap.controller_status, "history": history, "fencing": st.get("fencing")}


def _op_name(op: str, rc: int) -> str:
    """A probe (monitor with interval 0 as last op) that found it running counts as active."""
    if op == "monitor":
        return "probe_running" if rc in (0, 8) else "probe"
    return op


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "snapshot":
        print("usage: python -m corral_lab.audit snapshot STORE_URL", file=sys.stderr)
        return 2
    try:
        out = snapshot_json(argv[1])
    except Exception as e:  # noqa: BLE001 - reported, exit 1
        print(f"snapshot: {e}", file=sys.stderr)
        return 1
    json.dump(out, sys.stdout, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
