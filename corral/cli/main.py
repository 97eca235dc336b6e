"""The `corral` command.

Subcommands are imported only when called: a short command such as
`corral status` must not pay for loading every other command's modules.
"""
from __future__ import annotations

import importlib

import click

# name -> (module, attribute), in the order `corral --help` lists them
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("corral.cli.simulate", "simulate"),
    "explain": ("corral.cli.simulate", "explain_file"),
    "agent": ("corral.cli.live", "agent"),
    "load": ("corral.cli.verbs_cluster", "load"),
    "status": ("corral.cli.status", "status"),
    "resource": ("corral.cli.verbs_resource", "resource"),
    "node": ("corral.cli.verbs_node", "node"),
    "constraint": ("corral.cli.verbs_cluster", "constraint"),
    "property": ("corral.cli.verbs_cluster", "property"),
    "config": ("corral.cli.verbs_cluster", "config"),
    "fence": ("corral.cli.live", "fence"),
    "compute": ("corral.cli.compute", "compute"),
    "demo": ("corral.cli.demo", "demo"),
    "lab": ("corral.cli.lab", "lab"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *(n for n in super().list_commands(ctx) if n not in COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = COMMANDS.get(cmd_name)
        if where is None:
            return super().get_command(ctx, cmd_name)
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
