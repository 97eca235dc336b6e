"""Pin the generated CIBs on which Corral agrees with crm_simulate: the strict differential gate.

Hypothesis draws `--examples` scenarios per level (seeded: the same draw every
run); each goes to crm_simulate 2.1.5 and to `corral simulate`. The CIBs on which
both agree are written to tests/differential/pinned/ (the gate,
test_differential.py, requires agreement on every one of them, against the real
crm_simulate, in CI); the disagreements are counted and listed, to be explored
with explore.py. Re-run after a scheduler improvement to pin more.

    .venv/bin/python -m tests.differential.pin --examples 120
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from .gen import Scenario, scenarios, scenarios_level2
from .harness import compare

PINNED = Path(__file__).resolve().parent / "pinned"
SEED = 20261201


def draw(strategy: st.SearchStrategy[Scenario], n: int) -> list[Scenario]:
    out: list[Scenario] = []

    @seed(SEED)
    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(sc: Scenario) -> None:
        out.append(sc)

    collect()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=120, help="scenarios drawn per level")
    ap.add_argument("--keep", type=int, default=60, help="most agreeing CIBs pinned per level")
    args = ap.parse_args()
    PINNED.mkdir(exist_ok=True)
    for level, strategy in (("level1", scenarios()), ("level2", scenarios_level2())):
        seen: set[str] = set()
        agree = disagree = 0
        for sc in draw(strategy, args.examples):
            xml = sc.to_xml()
            digest = hashlib.sha1(xml.encode()).hexdigest()[:10]
            if digest in seen:
                continue
            seen.add(digest)
            c = compare(xml)
            if not c.oracle_ok:
                continue
            if c.agree:
                agree += 1
                if agree <= args.keep:
                    (PINNED / f"{level}-{digest}.xml").write_text(xml)
            else:
                disagree += 1
        print(f"{level}: {agree} agree, {disagree} disagree of {len(seen)} distinct scenarios")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
