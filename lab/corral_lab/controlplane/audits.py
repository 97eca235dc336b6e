"""Client-side audits of the control-plane lab, and the arithmetic over their records.

Each loop runs in the client host under Debian's Python, bounded by a duration, and writes one JSON
line per attempt with its start time on CLOCK_MONOTONIC (shared with the harness, which places the
faults on the same axis):

- `TOKEN_LOOP`: a Keystone password authentication (a token) through the VIP every ~50 ms;
  `{"t", "ok"}`. The longest gap between two successes around a fault is the outage.
- `WRITER_LOOP`: inserts 1, 2, 3, ... into `audit.counter` through the VIP (HAProxy's single
  writer), autocommit; `{"t", "n"}` for every acknowledged commit, `{"t", "err"}` for a failure (the
  number is never reused, since an unacknowledged commit may still have landed).
"""
from __future__ import annotations

import json
from collections.abc import Iterable

TOKEN_BODY = '''\
import json, sys, time, urllib.request
def token(vip, pw, timeout):
    body = json.dumps({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin",
           "domain": {"id": "default"}, "password": pw}}}, "scope": {"project": {"name": "admin",
           "domain": {"id": "default"}}}}}).encode()
    req = urllib.request.Request(f"http://{vip}:5000/v3/auth/tokens", data=body,
                                 headers={"Content-Type": "application/json"})
    r = urllib.request.urlopen(req, timeout=timeout)
    return r.status == 201 and bool(r.headers.get("X-Subject-Token"))
'''

TOKEN_ONCE = TOKEN_BODY + '''
sys.exit(0 if token(sys.argv[1], sys.argv[2], 3) else 1)
'''

TOKEN_LOOP = TOKEN_BODY + '''
vip, pw, out, duration = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
end = time.monotonic() + duration
with open(out, "a") as f:
    while time.monotonic() < end:
        t = time.monotonic()
        try:
            ok = token(vip, pw, 1.0)
        except Exception:
            ok = False
        f.write(json.dumps({"t": t, "ok": ok}) + "\\n"); f.flush()
        time.sleep(max(0.0, 0.05 - (time.monotonic() - t)))
'''

WRITER_LOOP = '''\
import json, sys, time, pymysql
vip, pw, out, duration = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
start = int(sys.argv[5]) if len(sys.argv) > 5 else 1
end = time.monotonic() + duration
n, conn = start, None
with open(out, "a") as f:
    while time.monotonic() < end:
        t = time.monotonic()
        try:
            if conn is None:
                conn = pymysql.connect(host=vip, user="audit", password=pw, database="audit", autocommit=True,
                                       connect_timeout=1, read_timeout=3, write_timeout=3)
            with conn.cursor() as c:
                c.execute("INSERT INTO counter (n) VALUES (%s)", (n,))
            f.write(json.dumps({"t": t, "n": n}) + "\\n")
        except Exception as e:
            f.write(json.dumps({"t": t, "err": str(e)[:200], "n_try": n}) + "\\n")
            try:
                conn.close()
            except Exception:
                pass
            conn = None
            time.sleep(0.05)
        f.flush()
        n += 1
        time.sleep(max(0.0, 0.02 - (time.monotonic() - t)))
'''


def read_records(path: str) -> list[dict[str, object]]:
    out = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass  # a line cut by the loop's end
    except FileNotFoundError:
        pass
    return out


def longest_gap(records: Iterable[dict[str, object]], start: float, end: float) -> float | None:
    """The longest gap between consecutive successful attempts that overlaps [start, end]; the
    gap from the last success before start to the first after it counts whole. None: no success
    after start at all (still down)."""
    oks = sorted(float(r["t"]) for r in records if r.get("ok"))  # type: ignore[arg-type]
    before = [t for t in oks if t <= start]
    after = [t for t in oks if t > start]
    if not after:
        return None
    points = ([before[-1]] if before else [start]) + [t for t in after if t <= end + 60]
    gaps = [b - a for a, b in zip(points, points[1:], strict=False) if b >= start and a <= end]
    return max(gaps, default=0.0)


def acknowledged(records: Iterable[dict[str, object]]) -> set[int]:
    return {int(r["n"]) for r in records if "n" in r}  # type: ignore[call-overload]


def missing_commits(acked: set[int], present: set[int]) -> list[int]:
    return sorted(acked - present)


def two_primaries(sample: dict[str, dict[str, str] | None], addresses: dict[str, str]) -> list[str]:
    """Hosts in Primary components that do not see each other: two primary components at once.
    Two Primary nodes are in one component when either lists the other among its members
    (`wsrep_incoming_addresses`, which lags a view change by nothing but the sample)."""
    primary = {h: st for h, st in sample.items() if st and st.get("wsrep_cluster_status") == "Primary"}

    def members(st: dict[str, str]) -> set[str]:
        return {a.rsplit(":", 1)[0] for a in st.get("wsrep_incoming_addresses", "").split(",") if a}

    hosts = sorted(primary)
    for i, a in enumerate(hosts):
        for b in hosts[i + 1:]:
            if addresses[b] not in members(primary[a]) and addresses[a] not in members(primary[b]):
                return [a, b]
    return []
