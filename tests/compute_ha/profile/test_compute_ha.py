"""The compute-ha profile: what it writes loads, fences every compute host, and bad inputs are refused."""
from __future__ import annotations

import pytest

from corral.fencing.device import devices_from_config
from corral.model.yaml_compute import compute_settings
from corral.model.yaml_config import parse_yaml_config
from corral.model.yaml_neutron import neutron_settings
from corral.openstack.profile.compute_ha import generate, parse_compute_ha
from corral.openstack.profile.inputs import ProfileInputError


def _inputs(**over):
    args = {"cloud": "prod", "controllers": "ctl1,ctl2,ctl3", "computes": "cmp1,cmp2,cmp3",
            "fence_agent": "fence_ipmilan",
            "fence_params": ("ip={host}-bmc.example.net", "username=admin", "password=s3cret", "lanplus=1")}
    args.update(over)
    return parse_compute_ha(**args)


def test_per_host_devices_when_a_parameter_names_the_host() -> None:
    cfg, _ = parse_yaml_config(generate(_inputs()))
    assert sorted(cfg.nodes) == ["ctl1", "ctl2", "ctl3"]
    devices = devices_from_config(cfg.resources)
    assert sorted(devices) == ["fence-cmp1", "fence-cmp2", "fence-cmp3"]
    prim = {r.id: r for r in cfg.resources}["fence-cmp2"]
    assert prim.params["ip"] == "cmp2-bmc.example.net" and prim.params["pcmk_host_list"] == "cmp2"
    assert prim.params["lanplus"] == "1"
    assert cfg.options["stonith-enabled"] == "true"
    assert compute_settings(cfg.compute).cloud == "prod"
    assert neutron_settings(cfg.neutron).cloud == "prod"


def test_one_device_for_all_hosts_without_a_host_field() -> None:
    cfg, _ = parse_yaml_config(generate(_inputs(fence_agent="fence_redfish",
                                                fence_params=("ip=10.1.0.5", "ssl_insecure=1"))))
    prims = [r for r in cfg.resources if r.id.startswith("fence-")]
    assert [p.id for p in prims] == ["fence-computes"]
    assert prims[0].params["pcmk_host_list"] == "cmp1,cmp2,cmp3"


def test_the_password_is_not_repeated_in_the_header() -> None:
    text = generate(_inputs())
    assert text.count("s3cret") == 3          # the three devices' params, not the comment


@pytest.mark.parametrize("over, what", [
    ({"cloud": ""}, "--cloud"),
    ({"cloud": "bad cloud"}, "--cloud"),
    ({"computes": "cmp1,,cmp2"}, "--computes"),
    ({"computes": "cmp1,cmp1"}, "named twice"),
    ({"computes": "ctl1"}, "also a controller"),
    ({"computes": "cmp 1"}, "not a host name"),
    ({"fence_agent": "ipmi"}, "--fence-agent"),
    ({"fence_params": ("ip",)}, "KEY=VALUE"),
    ({"fence_params": ("pcmk_host_list=x",)}, "writes it from --computes"),
    ({"fence_params": ("ip={hostname}",)}, "placeholder"),
    ({"fence_params": ("ip=a", "ip=b")}, "twice"),
    ({"controllers": "ctl_1"}, "controller name"),
])
def test_bad_inputs_name_what_is_wrong(over, what) -> None:
    with pytest.raises(ProfileInputError) as err:
        _inputs(**over)
    assert what in str(err.value)


def test_the_cli_writes_once_then_shows_a_diff(tmp_path) -> None:
    from click.testing import CliRunner

    from corral.cli.main import cli

    out = tmp_path / "compute.yaml"
    argv = ["init", "--profile", "compute-ha", "--cloud", "prod", "--controllers", "ctl1,ctl2",
            "--computes", "cmp1,cmp2", "--fence-agent", "fence_ipmilan", "--fence-param", "ip={host}-bmc",
            "-o", str(out)]
    runner = CliRunner()
    first = runner.invoke(cli, argv)
    assert first.exit_code == 0, first.output
    parse_yaml_config(out.read_text())
    again = runner.invoke(cli, [*argv[:-2], "--computes", "cmp1,cmp2,cmp3", "-o", str(out)])
    assert again.exit_code == 1 and "+  - id: fence-cmp3" in again.output
    assert "cmp3" not in out.read_text()
    bad = runner.invoke(cli, [*argv, "--vip", "10.0.0.1/24"])
    assert bad.exit_code == 2 and "openstack-controller" in bad.output
