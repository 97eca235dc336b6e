"""What `corral compute status` shows: every compute host's state and every recovery.

Read from the store alone (no Nova call): the compute-HA loop's last status record (the hosts
it found not up, and what it held back), the compute members, the hosts ever seen as members,
and the recovery records with each instance's state and target.
"""
from __future__ import annotations

from typing import Any

from corral.cluster import keys
from corral.openstack.engine import read_status
from corral.openstack.records import RECOVERY_STATES, read_all
from corral.store import Store


def compute_status(store: Store) -> dict[str, Any]:
    loop = read_status(store)
    members = {kv.key[len(keys.COMPUTE_MEMBERS):] for kv in store.get_prefix(keys.COMPUTE_MEMBERS)[0]}
    known = {kv.key[len(keys.COMPUTE_KNOWN):] for kv in store.get_prefix(keys.COMPUTE_KNOWN)[0]}
    recs, insts, _ = read_all(store)
    reported = {h["name"]: h for h in loop.get("hosts", []) if isinstance(h, dict) and "name" in h}
    # The loop writes its status before it closes a returned host's recovery: a recovery state
    # without its record is that cycle's view, not the host's (it is up, or failed again).
    reported = {n: h for n, h in reported.items() if n in recs or h.get("state") not in RECOVERY_STATES}
    hosts = []
    for name in sorted(members | known | set(reported) | set(recs)):
        entry: dict[str, Any] = {"name": name, "member": name in members}
        if name in recs:
            entry.update(state=recs[name].state, reason=recs[name].note or recs[name].reason)
        elif name in reported:
            entry.update(state=reported[name].get("state", "?"), reason=reported[name].get("reason", ""))
        elif name in members:
            entry.update(state="up", reason="")
        else:
            entry.update(state="failed", reason="its compute member is gone (not yet judged)")
        if name in reported:
            entry["nova"] = reported[name].get("nova", "")
        hosts.append(entry)
    recoveries = []
    for host, rec in sorted(recs.items()):
        items = sorted(insts.get(host, {}).values(), key=lambda r: (-r.priority, r.id))
        recoveries.append({
            "host": host, "state": rec.state, "id": rec.id, "reason": rec.reason, "note": rec.note,
            "started": rec.started, "finished": rec.finished or None, "fence_record": rec.fence_record,
            "fence_attempts": rec.fence_attempts, "fence_error": rec.fence_error,
            "reserved_enabled": rec.reserved_enabled,
            "instances": [{"id": r.id, "name": r.name, "state": r.state, "target": r.target or None,
                           "recovery": r.recovery, "policy": r.policy, "priority": r.priority,
                           "attempts": r.attempts, "error": r.error} for r in items]})
    return {"hosts": hosts, "recoveries": recoveries,
            "held": loop.get("held", []),
            "loop": {k: loop.get(k) for k in ("controller", "epoch", "state", "note", "updated")}}


def render(st: dict[str, Any]) -> list[str]:
    loop = st["loop"]
    lines = [f"Compute HA: {loop.get('state') or 'not running'}"
             + (f" (controller {loop['controller']}, epoch {loop['epoch']})" if loop.get("controller") else "")
             + (f": {loop['note']}" if loop.get("note") else "")]
    counts: dict[str, int] = {}
    for h in st["hosts"]:
        counts[h["state"]] = counts.get(h["state"], 0) + 1
    lines.append(f"Hosts: {len(st['hosts'])}" + "".join(f", {n} {s}" for s, n in sorted(counts.items())))
    for h in st["hosts"]:
        if h["state"] != "up":
            lines.append(f"  {h['name']}: {h['state']}" + (f" ({h['reason']})" if h.get("reason") else ""))
    for held in st["held"]:
        lines.append(f"Held back: {held['host']}: {held['reason']}")
    for rec in st["recoveries"]:
        lines.append(f"Recovery of {rec['host']}: {rec['state']}" + (f" ({rec['note']})" if rec["note"] else ""))
        for i in rec["instances"]:
            where = f" on {i['target']}" if i["target"] else ""
            more = f" [{i['error']}]" if i["error"] else ""
            lines.append(f"    {i['id']} {i['name']}: {i['state']}{where} ({i['policy']}: {i['recovery']}){more}")
    return lines
