"""The compute-HA loop's own cost at fleet scale: one cycle over N hosts, and one host's failure.

Nova is the unit tests' fake (tests/compute_ha/fake_nova.py), so this measures Corral alone:
reading N members and N known hosts from the store, judging N hosts, gating, writing the status,
and from a member's loss to its recovery being recorded. The members are real store keys on
real leases (`--store etcd://127.0.0.1:2379` for a real etcd; the default is the memory store).

    .venv/bin/python -m benchmarks.compute_cycle_bench [--hosts 5000] [--store URL]
"""
from __future__ import annotations

import argparse
import json
import resource
import time
import uuid

from corral.cluster import configstore, keys
from corral.model.yaml_config import parse_yaml_config
from corral.openstack.engine import ComputeHA
from corral.openstack.records import read_all
from corral.store import open_store
from tests.compute_ha.fake_nova import FakeNova
from tests.compute_ha.rig import FakeFencer

CONFIG = "cluster: {stonith-enabled: true}\ncompute: {cloud: bench, poll-interval: 2}\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=5000)
    ap.add_argument("--store", default=f"memory://{uuid.uuid4().hex}")
    ap.add_argument("--instances", type=int, default=20, help="HA instances on the host that fails")
    args = ap.parse_args()
    store = open_store(args.store)
    prefix_cleanup = [keys.COMPUTE, keys.CONFIG]
    try:
        store.put(keys.EPOCH, "1")
        cfg, _ = parse_yaml_config(CONFIG)
        store.put(keys.CONFIG, configstore.encode(cfg, "bench"))
        hosts = [f"cmp{i:05d}" for i in range(args.hosts)]
        nova = FakeNova(hosts)
        t = time.perf_counter()
        leases = {}
        for h in hosts:
            lease = store.lease_grant(3600)  # outlives a slow set-up: no mass expiry mid-run
            leases[h] = lease
            store.put(f"{keys.COMPUTE_MEMBERS}{h}", json.dumps({"host": h, "since": time.time(), "ttl": 3600}), lease)
        print(f"{args.hosts} members on leases written in {time.perf_counter() - t:.2f}s")
        victim = hosts[len(hosts) // 2]
        nova.boot(victim, args.instances, "pet", metadata={"HA_Enabled": "True"})
        ha = ComputeHA(store, "bench", 1, lambda: True, nova_factory=lambda c: nova, fencer=lambda: FakeFencer(),
                       env_overrides={"follow_every": 0.05})
        cpu0, t = time.process_time(), time.perf_counter()
        ha.cycle()
        print(f"first cycle (records {args.hosts} known hosts): {time.perf_counter() - t:.3f}s")
        times = []
        cpu0 = time.process_time()
        for _ in range(5):
            t = time.perf_counter()
            ha.cycle()
            times.append(time.perf_counter() - t)
        print(f"steady cycle over {args.hosts} hosts: median {sorted(times)[2]:.3f}s, "
              f"CPU {(time.process_time() - cpu0) / 5:.3f}s per cycle")
        nova.kill(victim)
        lost = time.perf_counter()
        store.lease_revoke(leases[victim])
        ha.cycle()
        started = time.perf_counter() - lost
        for w in ha._workers.values():
            w.join(60)
        done = time.perf_counter() - lost
        state = read_all(store)[0][victim].state
        print(f"member lost -> recovery recorded: {started:.3f}s; -> {args.instances} instances ACTIVE "
              f"(fake Nova): {done:.3f}s ({state})")
        print(f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        for h, lease in leases.items():
            if h != victim:
                store.lease_revoke(lease)
    finally:
        for p in prefix_cleanup:
            store.delete(p, prefix=True)
        store.close()


if __name__ == "__main__":
    main()
