"""`corral simulate` and `corral explain` on a file: no cluster needed."""
from __future__ import annotations

import sys

import click

from corral.model.errors import ConfigError


def load_inputs(cib: str | None, config: str | None, state: str | None):
    from corral.model.state import ClusterState

    if cib:
        from corral.model.cib import parse_cib, read_cib
        from corral.model.cib_status import parse_status

        root = read_cib(cib)
        cfg = parse_cib(root, cib)
        st = parse_status(root, cfg)
        if st.now is None:
            import time

            st.now = int(time.time())  # as crm_simulate: without an execution-date it is now
        return cfg, st
    if config:
        from corral.model.load import load_config

        cfg = load_config(config)
        if state:
            from corral.model.yaml_state import load_state

            return cfg, load_state(state, cfg)
        st = ClusterState()
        from corral.model.state import NodeStatus

        for name in cfg.nodes:
            st.nodes[name] = NodeStatus(name=name, in_cluster=True, agent_online=True, join="member",
                                        expected="member")
        return cfg, st
    raise click.UsageError("give --cib FILE.xml, or --config FILE.yaml [--state STATE.yaml]")


@click.command()
@click.option("--cib", type=click.Path(dir_okay=False), help="a Pacemaker CIB with its status section")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Corral YAML configuration")
@click.option("--state", "state_path", type=click.Path(dir_okay=False), help="cluster state YAML (with --config)")
@click.option("--show-scores", "-s", is_flag=True, help="print allocation scores")
@click.option("--quiet", "-q", is_flag=True, help="print only the transition summary")
def simulate(cib: str | None, config_path: str | None, state_path: str | None, show_scores: bool,
             quiet: bool) -> None:
    """Compute what the cluster would do, like crm_simulate -S."""
    from corral.cli import render
    from corral.scheduler import schedule

    try:
        cfg, st = load_inputs(cib, config_path, state_path)
        tr = schedule(cfg, st)
    except ConfigError as exc:
        click.echo(f"corral simulate: {exc}", err=True)
        sys.exit(2)
    if not quiet:
        click.echo("Current cluster status:")
        click.echo("\n".join(render.node_list(tr)))
        click.echo("")
        click.echo("\n".join(render.resource_lines(tr, after=False)))
        click.echo("")
    if show_scores:
        click.echo("Allocation scores:")
        click.echo("\n".join(render.score_lines(tr)))
        click.echo("")
    click.echo("Transition Summary:")
    for line in tr.summary_text():
        click.echo(line)
    if not quiet:
        click.echo("")
        click.echo("Executing Cluster Transition:")
        click.echo("\n".join(render.action_lines(tr)))
        click.echo("")
        click.echo("Revised Cluster Status:")
        click.echo("\n".join(render.node_list(tr)))
        click.echo("")
        click.echo("\n".join(render.resource_lines(tr, after=True)))


@click.command()
@click.argument("resource")
@click.option("--cib", type=click.Path(dir_okay=False))
@click.option("--config", "config_path", type=click.Path(dir_okay=False))
@click.option("--state", "state_path", type=click.Path(dir_okay=False))
@click.option("--store", "store_url", help="a live cluster's store URL (instead of files)")
def explain_file(resource: str, cib: str | None, config_path: str | None, state_path: str | None,
                 store_url: str | None = None) -> None:
    """Why RESOURCE is (or will be) where it is."""
    from corral.cli import render
    from corral.scheduler import schedule

    try:
        if store_url:
            from corral.cli.live import live_inputs

            cfg, st = live_inputs(store_url)
        else:
            cfg, st = load_inputs(cib, config_path, state_path)
        tr = schedule(cfg, st)
        click.echo("\n".join(render.explain_lines(tr, resource)))
    except ConfigError as exc:
        click.echo(f"corral explain: {exc}", err=True)
        sys.exit(2)
    except KeyError:
        click.echo(f"corral explain: no resource named {resource!r}", err=True)
        sys.exit(2)
