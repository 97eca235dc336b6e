"""Shared set-up of the compute-HA unit tests: a memory store with an epoch, a fake fencer."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from corral.cluster import keys
from corral.fencing import FenceResult
from corral.model.yaml_compute import ComputeYaml
from corral.openstack.fence import HostFencer
from corral.openstack.policy import Placement
from corral.openstack.records import RecoveryBook, new_recovery
from corral.openstack.slots import Slots
from corral.openstack.workflow import Env
from corral.store import Store, open_store

from .fake_nova import FakeNova


@dataclass
class FakeFencer:
    """Stands in for corral.fencing.Fencer: succeeds unless told to fail."""
    fail: int = 0                      # the next `fail` fences fail
    fenced: list[tuple[str, str]] = field(default_factory=list)

    def fence(self, node: str, action: str = "off", deadline_s: float | None = None) -> FenceResult:
        now = time.time()
        if self.fail > 0:
            self.fail -= 1
            return FenceResult(node, action, False, "ipmi", None, 1, now, now, error="no route to BMC")
        self.fenced.append((node, action))
        return FenceResult(node, action, True, "ipmi", None, 1, now, now)


def memory_store(epoch: int = 1) -> Store:
    store = open_store(f"memory://{uuid.uuid4().hex}")
    store.put(keys.EPOCH, str(epoch))
    return store


def settings(**over: object) -> ComputeYaml:
    data: dict[str, object] = {"cloud": "test", "retry": {"backoff": 0.01, "backoff-max": 0.05}}
    data.update(over)
    return ComputeYaml.model_validate(data)


def env(store: Store, nova: FakeNova, cfg: ComputeYaml | None = None, *, epoch: int = 1,
        fencer: FakeFencer | None = None, leading=lambda: True, limit: int | None = None) -> Env:
    cfg = cfg or settings()
    ff = fencer or FakeFencer()
    return Env(book=RecoveryBook(store, epoch), nova=nova, settings=cfg,
               fencer=HostFencer(store, "ctl1", epoch, fencer=lambda: ff),  # type: ignore[arg-type, return-value]
               slots=Slots(limit or cfg.max_concurrent_evacuations), leading=leading,
               placement=lambda host: Placement(zone=nova.services[host].zone),
               wait=lambda s: (time.sleep(min(s, 0.01)), False)[1], follow_every=0.01,
               fence_backoff=0.01)


def start_recovery(store: Store, host: str, epoch: int = 1, reason: str = "member gone") -> None:
    _kvs, rev = store.get_prefix(keys.COMPUTE_MEMBERS)
    RecoveryBook(store, epoch).create(new_recovery(host, reason, rev))
