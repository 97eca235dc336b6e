"""The `corral` command.

Subcommands are imported only when called: a short command such as
`corral status` must not pay for loading every other command's modules.
Commands of other installed packages (the lab's `corral lab`, from the
corral-lab package in lab/) come from the `corral.commands` entry points,
looked up only when a name is not one of Corral's own.
"""
from __future__ import annotations

import importlib
import importlib.metadata

import click

# name -> (module, attribute), in the order `corral --help` lists them
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("corral.cli.simulate", "simulate"),
    "explain": ("corral.cli.simulate", "explain_file"),
    "agent": ("corral.cli.live", "agent"),
    "init": ("corral.cli.init", "init"),
    "load": ("corral.cli.verbs_cluster", "load"),
    "status": ("corral.cli.status", "status"),
    "resource": ("corral.cli.verbs_resource", "resource"),
    "node": ("corral.cli.verbs_node", "node"),
    "constraint": ("corral.cli.verbs_cluster", "constraint"),
    "property": ("corral.cli.verbs_cluster", "property"),
    "config": ("corral.cli.verbs_cluster", "config"),
    "fence": ("corral.cli.live", "fence"),
    "compute": ("corral.cli.compute", "compute"),
    "neutron": ("corral.cli.neutron", "neutron"),
    "demo": ("corral.cli.demo", "demo"),
}
PLUGIN_GROUP = "corral.commands"


def _plugins() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=PLUGIN_GROUP) if ep.name not in COMMANDS}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *sorted(_plugins()), *(n for n in super().list_commands(ctx) if n not in COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = COMMANDS.get(cmd_name)
        if where is None:
            plugin = _plugins().get(cmd_name)
            if plugin is None:
                return super().get_command(ctx, cmd_name)
            command = plugin.load()
            assert isinstance(command, click.Command)
            return command
        command = getattr(importlib.import_module(where[0]), where[1])
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="corral")
def cli() -> None:
    """Corral: high availability for OpenStack."""


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
