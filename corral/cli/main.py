"""The `corral` command."""
from __future__ import annotations

import click

from corral.cli.demo import demo
from corral.cli.lab import lab
from corral.cli.live import agent, fence, status
from corral.cli.simulate import explain_file, simulate
from corral.cli.verbs_cluster import config, constraint, load, property
from corral.cli.verbs_node import node
from corral.cli.verbs_resource import resource


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="corral")
def cli() -> None:
    """Corral: high availability for OpenStack."""


cli.add_command(simulate)
cli.add_command(explain_file, name="explain")
for _command in (agent, load, status, resource, node, fence, config, constraint, property, demo):
    cli.add_command(_command)
cli.add_command(lab)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
