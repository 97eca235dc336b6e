"""A notify action on the node: the agent's notify operation with the action's meta in its
environment, never recorded in the history, never a fail count (even when it fails)."""
from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.agent.book import HistoryBook
from corral.agent.executor import Executor
from corral.cluster import keys
from corral.cluster.records import AgentSpec
from corral.store import open_store

sys.path.insert(0, str(Path(__file__).parents[1] / "live"))
from recorder import calls, recorder_provider  # noqa: E402, F401 - the fixture


@pytest.fixture
def executor(tmp_path: Path) -> Iterator[Executor]:
    store = open_store(f"memory://{uuid.uuid4().hex}")
    yield Executor(store, "n1", HistoryBook(), lambda: {"#uname": "n1"}, lambda: True)
    store.close()
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.parametrize("rc", [0, 1])
def test_notify_gets_the_meta_and_leaves_no_trace(executor, recorder_provider, tmp_path, rc):  # noqa: F811
    spec = AgentSpec("ocf", "recorder", recorder_provider,
                     params={"state": f"{tmp_path}/n1/db.state", "log": f"{tmp_path}/n1/db.log",
                             "notify_rc": str(rc)}, meta={"clone-max": "2", "notify": "true"})
    meta = {"notify_type": "pre", "notify_operation": "start", "notify_start_uname": "n1 n2",
            "notify_stop_uname": " ", "notify_key_type": "pre"}
    out = executor.run("db", spec, "notify", meta=meta, record=False)
    assert out.result.rc == rc
    (call,) = calls(tmp_path, "db", ["n1"])
    assert call.action == "notify" and call.notify == "pre-start"
    assert call.meta("notify_start_uname") == "n1 n2" and call.meta("notify_stop_uname") == " "
    assert call.meta("clone_max") == "2"  # the resource's own meta is still there
    assert "db" not in executor.book.records                       # not the resource's state
    assert not executor.store.get_prefix(keys.HISTORY)[0]
    assert not executor.store.get_prefix(keys.ATTRS)[0]            # no fail count, even for rc 1


def test_an_action_meta_name_that_cannot_be_exported_is_refused(executor, recorder_provider, tmp_path):  # noqa: F811
    spec = AgentSpec("ocf", "recorder", recorder_provider, params={"state": f"{tmp_path}/s"})
    from corral.resource_agents.environment import InvalidParameter

    with pytest.raises(InvalidParameter, match="meta attribute name 'bad name'"):
        executor.run("db", spec, "notify", meta={"bad name": "x"}, record=False)
