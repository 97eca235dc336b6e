"""Fencing a failed compute host through Corral's own fencing (corral.fencing, docs/fencing.md).

The devices and topology are the configuration's `stonith` primitives and fencing levels, as
for any cluster node; every request and outcome goes into the fencing history under the
controller's epoch. A fence counts only if it is confirmed there *after* the store revision at
which the host was found failed (`Recovery.since_revision`): an old fence proves nothing about
what the host did since.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from corral.fencing import Fencer, fence_and_record, last_confirmed
from corral.model.config import Configuration
from corral.store import Deposed, Store

log = logging.getLogger("corral.openstack")


@dataclass(frozen=True)
class FenceOutcome:
    confirmed: bool
    record: str = ""
    error: str = ""


class HostFencer:
    def __init__(self, store: Store, origin: str, epoch: int,
                 fencer: Callable[[], Fencer] | None = None) -> None:
        self.store = store
        self.origin = origin
        self.epoch = epoch
        self._fencer = fencer
        self.config: Configuration | None = None

    def confirmed(self, host: str, since_revision: int) -> str | None:
        """The id of a confirmed fence of host newer than since_revision, if any."""
        rec = last_confirmed(self.store, host, since_revision=since_revision)
        return rec.id if rec is not None else None

    def fence(self, host: str, action: str, since_revision: int) -> FenceOutcome:
        """Fence host now (unless a fence since since_revision is confirmed already)."""
        done = self.confirmed(host, since_revision)
        if done is not None:
            return FenceOutcome(True, done)
        try:
            if self._fencer is not None:
                fencer = self._fencer()
            elif self.config is not None:
                fencer = Fencer.from_config(self.config, rounds=1)
            else:
                return FenceOutcome(False, error="no configuration: no fence devices")
        except ValueError as exc:  # FenceDeviceError: a bad stonith resource
            return FenceOutcome(False, error=f"no usable fence devices: {exc}")
        log.warning("fencing compute host %s (%s)", host, action)
        try:
            result, rec = fence_and_record(self.store, fencer, host, action, self.origin, self.epoch)
        except Deposed:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded failed by fence_and_record
            return FenceOutcome(False, error=f"fencer error: {exc}")
        if rec.state == "done" and rec.action in ("off", "reboot"):
            return FenceOutcome(True, rec.id)
        return FenceOutcome(False, rec.id, result.error or rec.error or rec.state)
