"""`corral compute status --json` and `corral compute enable` against a real (SQLite) store."""
from __future__ import annotations

import json

from click.testing import CliRunner

from corral.cli.main import cli
from corral.cluster import keys
from corral.store import open_store

from .fake_nova import FakeNova
from .test_engine import _configure, _ha, _member, _settle


def test_status_json_shows_hosts_and_recoveries(tmp_path):
    url = f"sqlite:///{tmp_path}/cluster.db"
    store = open_store(url)
    try:
        store.put(keys.EPOCH, "1")
        _configure(store)
        nova = FakeNova(["hostA", "hostB"])
        leases = {h: _member(store, h) for h in ("hostA", "hostB")}
        pets = nova.boot("hostA", 2, "pet", metadata={"HA_Enabled": "True"})
        (cow,) = nova.boot("hostA", 1, "cow")
        ha = _ha(store, nova)
        ha.cycle()
        nova.kill("hostA")
        store.lease_revoke(leases["hostA"])
        ha.cycle()
        _settle(ha)
        ha.cycle()
    finally:
        store.close()
    out = CliRunner().invoke(cli, ["compute", "status", "--store", url, "--json"])
    assert out.exit_code == 0, out.output
    st = json.loads(out.output)
    assert [(h["name"], h["state"]) for h in st["hosts"]] == [("hostA", "evacuated"), ("hostB", "up")]
    (rec,) = st["recoveries"]
    assert rec["host"] == "hostA" and rec["state"] == "evacuated"
    by_id = {i["id"]: i for i in rec["instances"]}
    assert {p: (by_id[p]["state"], by_id[p]["target"]) for p in pets} == {p: ("active", "hostB") for p in pets}
    assert (by_id[cow]["state"], by_id[cow]["target"]) == ("skipped", None)
    text = CliRunner().invoke(cli, ["compute", "status", "--store", url])
    assert text.exit_code == 0 and "Recovery of hostA: evacuated" in text.output
    refused = CliRunner().invoke(cli, ["compute", "enable", "hostB", "--store", url])
    assert refused.exit_code == 2 and "no recovery" in refused.output
    asked = CliRunner().invoke(cli, ["compute", "enable", "hostA", "--store", url])
    assert asked.exit_code == 0, asked.output


def test_a_closed_recovery_is_not_shown_from_the_loops_older_status():
    """The loop writes its status, then closes a returned host's recovery in the same cycle."""
    from corral.openstack.status import compute_status

    from .rig import memory_store

    store = memory_store()
    _member(store, "hostA")
    store.put(keys.COMPUTE_STATUS, json.dumps({"hosts": [{"name": "hostA", "state": "returning", "reason": "back"}],
                                              "held": [], "state": "running"}))
    assert [(h["name"], h["state"]) for h in compute_status(store)["hosts"]] == [("hostA", "up")]
