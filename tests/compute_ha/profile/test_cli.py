"""`corral init`: writing, re-running (the diff), --force, bad inputs (nothing written)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from corral.cli.main import cli
from corral.cluster.configstore import prepare_file

from .helpers import CONTROLLERS, VIP

BASE = ["init", "--profile", "openstack-controller", "--controllers", CONTROLLERS, "--vip", VIP]


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, [*BASE, *args], catch_exceptions=False)


def test_writes_both_files_that_load_accepts(tmp_path: Path) -> None:
    out = tmp_path / "corral.yaml"
    result = run("--output", str(out), "--services", "keystone,glance-api")
    assert result.exit_code == 0, result.output
    assert out.exists() and (tmp_path / "haproxy.cfg").exists()
    cfg, _ = prepare_file(out)
    assert {"keystone-clone", "glance-api-clone"} <= {r.id for r in cfg.resources}
    assert "listen glance-api" in (tmp_path / "haproxy.cfg").read_text()
    assert "no fence device" in result.output   # the loader's warning, shown by init


def test_stdout_without_output(tmp_path: Path) -> None:
    result = run("--services", "keystone")
    assert result.exit_code == 0
    assert result.stdout.startswith("# Corral configuration")
    assert "listen keystone" not in result.stdout     # haproxy.cfg only to a file
    result = run("--services", "keystone", "--haproxy-output", str(tmp_path / "h.cfg"))
    assert result.exit_code == 0 and "listen keystone" in (tmp_path / "h.cfg").read_text()


def test_rerun_unchanged_edited_and_forced(tmp_path: Path) -> None:
    out = tmp_path / "corral.yaml"
    assert run("-o", str(out)).exit_code == 0
    first = out.read_text()
    # Same inputs: nothing to do.
    again = run("-o", str(out))
    assert again.exit_code == 0 and "unchanged" in again.output and out.read_text() == first
    # An operator edits the file by hand; the profile shows what it would undo and leaves it.
    edited = first.replace("interval: 10s, timeout: 20s}", "interval: 30s, timeout: 20s}", 1)
    out.write_text(edited)
    os.chmod(out, 0o600)
    shown = run("-o", str(out))
    assert shown.exit_code == 1
    assert "-      - {name: monitor, interval: 30s, timeout: 20s}" in shown.output
    assert "+      - {name: monitor, interval: 10s, timeout: 20s}" in shown.output
    assert "nothing written" in shown.output and out.read_text() == edited
    # The same change as a setting: the diff shows the new value and the header line.
    changed = run("-o", str(out), "--set", "memcached.port=11311")
    assert changed.exit_code == 1 and "+# Overridden settings: memcached.port" in changed.output
    assert "+    command: " not in changed.output and "-p 11311" in changed.output
    assert out.read_text() == edited and "11311" not in (tmp_path / "haproxy.cfg").read_text()
    # --force writes, keeping the file's mode.
    forced = run("-o", str(out), "--force")
    assert forced.exit_code == 0 and "overwritten" in forced.output
    assert out.read_text() == first and (out.stat().st_mode & 0o777) == 0o600


def test_settings_file_and_set(tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("keystone: {ops: {monitor: {interval: 5s}}}\nhaproxy.cfg.check-inter: 1s\n")
    out = tmp_path / "c.yaml"
    result = run("-o", str(out), "--settings", str(settings), "--set", "haproxy.cfg.check-inter=500ms")
    assert result.exit_code == 0, result.output
    assert "{name: monitor, interval: 5s, timeout: 20s}" in out.read_text()
    assert "check inter 500ms" in (tmp_path / "haproxy.cfg").read_text()
    listed = run("--settings", str(settings), "--list-settings")
    assert listed.exit_code == 0
    assert "keystone.ops.monitor.interval" in listed.output and "(generated: '10s')" in listed.output


@pytest.mark.parametrize(("args", "message"), [
    (["--controllers", "ctl_1,ctl2"], "'ctl_1' is not a valid controller name"),
    (["--controllers", "ctl1,ctl1,ctl2"], "ctl1 given more than once"),
    (["--controllers", "ctl1"], "needs at least 2"),
    (["--controllers", "ctl1=10.0.0.300,ctl2"], "not an IP address or host name"),
    (["--vip", "10.0.0.100"], "expected ADDRESS/PREFIX"),
    (["--vip", "10.0.0.100/33"], "--vip '10.0.0.100/33'"),
    (["--vip", "10.0.0.0/24"], "network address"),
    (["--vip", "10.0.0.11/24"], "also a controller's address"),
    (["--services", "keystone,glance"], "unknown service 'glance' (did you mean 'glance-api'?)"),
    (["--set", "keystone.port=80000"], "expected a TCP port"),
    (["--set", "no.such.key=1"], "unknown setting 'no.such.key'"),
    (["--set", "keystone.ops.monitor.interval=soon"], "the generated configuration is not valid"),
])
def test_bad_inputs_write_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "corral.yaml"
    result = run("-o", str(out), *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "nothing written" in result.output
    assert list(tmp_path.iterdir()) == []
