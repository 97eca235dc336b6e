"""The control-plane lab's configuration comes from the product's profile (no lab is built here)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from corral.cluster.configstore import prepare_file
from corral.model.config import Clone
from corral_lab.controlplane.config import corral_yaml, haproxy_cfg

ADDRESSES = {"ctl1": "10.64.0.1", "ctl2": "10.64.0.2", "ctl3": "10.64.0.3"}
ARGS = dict(vip="10.64.0.100", addresses=ADDRESSES, state_root="/srv/lab/hosts",
            fence_hostmap="ctl1:ns1;ctl2:ns2;ctl3:ns3", fence_state_dir="/srv/lab/fence")


def _load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    return prepare_file(path)[0]


def test_both_bring_up_stages_load(tmp_path: Path) -> None:
    first = _load(tmp_path, corral_yaml(**ARGS, keystone=False))
    assert {r.id for r in first.resources} == {"fence", "vip", "haproxy-clone", "galera-clone", "galera-check-clone",
                                               "memcached-clone"}
    full = _load(tmp_path, corral_yaml(**ARGS))
    rscs = {r.id: r for r in full.resources}
    assert set(rscs) == {r.id for r in first.resources} | {"keystone-clone"}
    assert rscs["fence"].params == {"pcmk_host_map": "ctl1:ns1;ctl2:ns2;ctl3:ns3", "state_dir": "/srv/lab/fence"}
    galera = rscs["galera-clone"]
    assert isinstance(galera, Clone) and not galera.promotable
    assert (galera.child.provider, galera.child.type) == ("corrallab", "galera")
    assert galera.child.params == {"nodes": "ctl1,ctl2,ctl3", "addresses": "10.64.0.1,10.64.0.2,10.64.0.3"}
    check = rscs["galera-check-clone"]
    assert isinstance(check, Clone) and "corral-galera-health --address ${node:addr} --port 9200" in \
        check.child.params["command"]
    assert full.options["heartbeat-timeout"] == "3s" and full.options["stonith-action"] == "off"
    assert {(o.first, o.kind) for o in full.orders if o.then == "keystone-clone"} == {
        ("galera-clone", "Mandatory"), ("memcached-clone", "Optional")}
    assert not full.warnings


def test_haproxy_cfg_is_valid(tmp_path: Path) -> None:
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(haproxy).exists():
        pytest.skip("haproxy is not installed (scripts/test installs it)")
    text = haproxy_cfg(vip="10.64.0.100", addresses=ADDRESSES, state_root="/srv/lab/hosts")
    (tmp_path / "haproxy.cfg").write_text(text)
    done = subprocess.run([haproxy, "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0 and "WARNING" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert "bind 10.64.0.100:5000" in text and "check inter 500ms rise 2 fall 2" in text
    assert "server ctl1 10.64.0.1:3306 check inter 500ms rise 2 fall 2 port 9200 on-marked-down " \
           "shutdown-sessions\n" in text
