"""The generated haproxy.cfg: checked by the real `haproxy -c -f` (Debian's haproxy)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from corral.openstack.profile.catalog import SERVICES
from corral.openstack.profile.inputs import ProfileInputError

from .helpers import make

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def haproxy_check(tmp_path: Path, text: str) -> str:
    if not Path(HAPROXY).exists():
        pytest.skip("haproxy is not installed (scripts/test installs it)")
    path = tmp_path / "haproxy.cfg"
    path.write_text(text, encoding="utf-8")
    done = subprocess.run([HAPROXY, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def _section(text: str, name: str) -> list[str]:
    block = text.split(f"\nlisten {name}\n", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in block.splitlines()]


def test_every_service_on_the_vip_is_valid_for_haproxy_without_warnings(tmp_path: Path) -> None:
    text = make(services=",".join(SERVICES)).haproxy_cfg
    output = haproxy_check(tmp_path, text)
    assert "Configuration file is valid" in output
    assert "WARNING" not in output and "ALERT" not in output, output
    for name, svc in SERVICES.items():
        lines = _section(text, name)
        assert f"bind 10.0.0.100:{svc.port}" in lines
        assert f"option httpchk {svc.check}" in lines
        servers = [line for line in lines if line.startswith("server ")]
        assert [s.split()[1:3] for s in servers] == [["ctl1", f"10.0.0.11:{svc.port}"],
                                                     ["ctl2", f"10.0.0.12:{svc.port}"],
                                                     ["ctl3", f"10.0.0.13:{svc.port}"]]
        assert all(" check " in s and "backup" not in s for s in servers)
    assert "option httpchk GET /v3" in _section(text, "keystone")


def test_the_database_has_one_writer_and_galera_checked_backups(tmp_path: Path) -> None:
    text = make().haproxy_cfg
    haproxy_check(tmp_path, text)
    lines = _section(text, "galera")
    assert "bind 10.0.0.100:3306" in lines and "option httpchk GET /" in lines
    servers = [line for line in lines if line.startswith("server ")]
    assert len(servers) == 3
    assert all("port 9200" in s and "on-marked-down shutdown-sessions" in s for s in servers)
    assert [s.split()[1] for s in servers if not s.endswith(" backup")] == ["ctl1"]
    # The writer can be chosen; the others become backups.
    text = make({"database.writer": "ctl2", "galera-check.port": "9201"}).haproxy_cfg
    haproxy_check(tmp_path, text)
    servers = [line for line in _section(text, "galera") if line.startswith("server ")]
    assert servers[0].startswith("server ctl2 ") and not servers[0].endswith("backup")
    assert all(s.endswith(" backup") for s in servers[1:]) and all("port 9201" in s for s in servers)


def test_check_timing_and_ports_are_settings(tmp_path: Path) -> None:
    text = make({"haproxy.cfg.check-inter": "500ms", "haproxy.cfg.check-fall": "2", "keystone.port": "5001",
                 "keystone.check": "GET /healthcheck", "keystone.check-expect": "status 200",
                 "haproxy.cfg.log": ""}).haproxy_cfg
    output = haproxy_check(tmp_path, text)
    assert "WARNING" not in output, output
    lines = _section(text, "keystone")
    assert "bind 10.0.0.100:5001" in lines and "http-check expect status 200" in lines
    assert "option httpchk GET /healthcheck" in lines
    assert all(re.search(r":5001 check inter 500ms rise 2 fall 2$", s) for s in lines if s.startswith("server"))
    assert "log" not in text.split("defaults", 1)[1].split("frontend", 1)[0]


def test_ipv6_vip_and_controllers(tmp_path: Path) -> None:
    text = make(controllers="ctl1=fd00::11,ctl2=fd00::12,ctl3=fd00::13", vip="fd00::100/64").haproxy_cfg
    haproxy_check(tmp_path, text)
    assert "bind [fd00::100]:5000" in _section(text, "keystone")
    assert "server ctl1 [fd00::11]:5000" in text


def test_an_unknown_writer_is_an_error() -> None:
    with pytest.raises(ProfileInputError, match=r"database.writer='ctl9': not a controller"):
        make({"database.writer": "ctl9"})
