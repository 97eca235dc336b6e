"""`corral init --profile openstack-controller`: write a control plane's configuration.

The product logic is in corral/openstack/profile/; this module is the command line: inputs,
overrides, the loader's validation of the result, and the re-run rule (a file that exists and
differs is shown as a diff and left alone unless --force).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from corral.cli.common import fail
from corral.model.errors import ConfigError

PROFILES = ("openstack-controller", "compute-ha")


@click.command("init")
@click.option("--profile", required=True, type=click.Choice(PROFILES), help="what to generate")
@click.option("--controllers", metavar="NAME[=ADDR],...",
              help="the controllers' node names, each optionally with its address (default: the name, resolved)")
@click.option("--vip", metavar="ADDRESS/PREFIX", help="the virtual IP and its prefix length (openstack-controller)")
@click.option("--cloud", metavar="NAME", help="compute-ha: the clouds.yaml entry (OS_CLOUD) Corral talks to")
@click.option("--computes", metavar="HOST,...", help="compute-ha: Nova's compute service hosts")
@click.option("--fence-agent", metavar="AGENT", help="compute-ha: the compute hosts' fence agent (fence_ipmilan, ...)")
@click.option("--fence-param", "fence_params", multiple=True, metavar="KEY=VALUE",
              help="compute-ha: a fence agent parameter (repeatable; {host} in a value: one device per host)")
@click.option("--services", metavar="SVC,...", help="API services behind the VIP (default: the core set; "
              "--list-settings shows the catalog)")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="the Corral YAML (default: stdout)")
@click.option("--haproxy-output", type=click.Path(dir_okay=False),
              help="the generated haproxy.cfg (default: haproxy.cfg beside --output; none with stdout)")
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False),
              help="YAML file of overrides, KEY: VALUE (dotted or nested keys)")
@click.option("--set", "set_pairs", multiple=True, metavar="KEY=VALUE", help="override one value (repeatable; "
              "wins over --settings)")
@click.option("--force", is_flag=True, help="overwrite files that exist and differ")
@click.option("--list-settings", is_flag=True, help="print every setting, its generated value and the value used")
def init(profile: str, controllers: str | None, vip: str | None, cloud: str | None, computes: str | None,
         fence_agent: str | None, fence_params: tuple[str, ...], services: str | None, output: str | None,
         haproxy_output: str | None, settings_file: str | None, set_pairs: tuple[str, ...], force: bool,
         list_settings: bool) -> None:
    """Write a complete, commented Corral configuration of a profile (and its haproxy.cfg).

    \b
    corral init --profile openstack-controller --controllers ctl1,ctl2,ctl3 \\
        --vip 192.0.2.10/24 --output corral.yaml      # also writes haproxy.cfg beside it
    corral load corral.yaml

    Run again over files that exist, it prints what would change (a diff) and writes nothing
    (exit 1) unless --force; bad inputs or settings write nothing (exit 2)."""
    from corral.openstack.profile import catalog
    from corral.openstack.profile.generate import generate
    from corral.openstack.profile.inputs import ProfileInputError, parse_inputs
    from corral.openstack.profile.rewrite import compare, write_atomically
    from corral.openstack.profile.settings import parse_set, read_settings_file

    if profile == "compute-ha":
        _compute_ha(cloud, controllers, computes, fence_agent, fence_params, output, force,
                    bool(vip or services or haproxy_output or settings_file or set_pairs or list_settings))
        return
    if cloud or computes or fence_agent or fence_params:
        fail("init", "--cloud, --computes, --fence-agent and --fence-param belong to --profile compute-ha; "
                     "nothing written")
    if not controllers or not vip:
        fail("init", f"--profile {profile} needs --controllers and --vip; nothing written")
    try:
        inputs = parse_inputs(controllers=controllers, vip=vip, services=services)
        overrides = read_settings_file(settings_file) if settings_file else {}
        overrides |= parse_set(set_pairs)
        generated = generate(inputs, overrides)
    except ProfileInputError as exc:
        fail("init", f"{exc}; nothing written")
    if list_settings:
        width = max(map(len, generated.settings.values))
        for key, value in generated.settings.values.items():
            default = generated.settings.defaults[key]
            click.echo(f"{key:<{width}}  {value!r}" + (f"   (generated: {default!r})" if value != default else ""))
        click.echo("# fencing.params.NAME: any parameter of the fence agent (fencing.agent)")
        click.echo(f"# services (--services): {', '.join(catalog.SERVICES)}")
        return
    _validate(generated.config_yaml, output or "<stdout>")

    targets: list[tuple[Path, str]] = []
    if output:
        targets.append((Path(output), generated.config_yaml))
        haproxy_output = haproxy_output or str(Path(output).with_name("haproxy.cfg"))
    if haproxy_output:
        targets.append((Path(haproxy_output), generated.haproxy_cfg))
    outcomes = [compare(path, text) for path, text in targets]
    changed = [o for o in outcomes if o.state == "changed"]
    if changed and not force:
        for o in changed:
            click.echo(o.diff, nl=False)
        names = ", ".join(str(o.path) for o in changed)
        fail("init", f"{names} exist{'s' if len(changed) == 1 else ''} and differ{'s' if len(changed) == 1 else ''} "
                     "from what the profile generates (diff above); nothing written. Put lasting edits in a "
                     "settings file (--settings) or --set; --force overwrites", 1)
    if not output:
        click.echo(generated.config_yaml, nl=False)
    for (path, text), o in zip(targets, outcomes, strict=True):
        if o.state == "unchanged":
            click.echo(f"{path}: unchanged", err=True)
            continue
        write_atomically(path, text)
        click.echo(f"{path}: {'written' if o.state == 'new' else 'overwritten (--force)'}", err=True)


def _compute_ha(cloud: str | None, controllers: str | None, computes: str | None, fence_agent: str | None,
                fence_params: tuple[str, ...], output: str | None, force: bool, foreign: bool) -> None:
    """`--profile compute-ha`: one file (no haproxy.cfg, no settings: every value is in the file)."""
    from corral.openstack.profile.compute_ha import generate, parse_compute_ha
    from corral.openstack.profile.inputs import ProfileInputError
    from corral.openstack.profile.rewrite import compare, write_atomically

    if foreign:
        fail("init", "--vip, --services, --haproxy-output, --settings, --set and --list-settings belong to "
                     "--profile openstack-controller (compute-ha writes every value into the file: edit it "
                     "there); nothing written")
    try:
        text = generate(parse_compute_ha(cloud=cloud, controllers=controllers, computes=computes,
                                         fence_agent=fence_agent, fence_params=fence_params))
    except ProfileInputError as exc:
        fail("init", f"{exc}; nothing written")
    _validate(text, output or "<stdout>")
    if not output:
        click.echo(text, nl=False)
        return
    outcome = compare(Path(output), text)
    if outcome.state == "changed" and not force:
        click.echo(outcome.diff, nl=False)
        fail("init", f"{output} exists and differs from what the profile generates (diff above); nothing "
                     "written; --force overwrites", 1)
    if outcome.state == "unchanged":
        click.echo(f"{output}: unchanged", err=True)
        return
    write_atomically(Path(output), text)
    click.echo(f"{output}: {'written' if outcome.state == 'new' else 'overwritten (--force)'}", err=True)


def _validate(text: str, name: str) -> None:
    """What `corral load` would say about the generated file: refuse to write one it rejects."""
    from corral.cluster.configstore import prepare_file

    fd, tmp = tempfile.mkstemp(suffix=".yaml", prefix="corral-init-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        try:
            cfg, _ = prepare_file(tmp)
        except ConfigError as exc:
            fail("init", "the generated configuration is not valid (check the settings); nothing written:\n"
                         + str(exc).replace(tmp, name))
        for warning in cfg.warnings:
            click.echo(f"warning: {warning.replace(tmp, name)}", err=True)
    finally:
        os.unlink(tmp)
