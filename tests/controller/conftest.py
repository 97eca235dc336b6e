"""Controllers on the memory store, for the controller's unit tests."""
from __future__ import annotations

import pytest

from corral.cluster import keys
from corral.cluster.timing import Timing
from corral.controller.loop import Controller
from corral.store import LeaderElection


@pytest.fixture
def controller():
    made = []

    def make(store) -> Controller:
        election = LeaderElection(store, keys.ELECTION_NAME, "n1", 5, prefix=keys.ELECTION_PREFIX)
        assert election.campaign()
        c = Controller(store, election, "n1", Timing())
        made.append(c)
        return c

    yield make
    for c in made:
        c.stopped.set()
