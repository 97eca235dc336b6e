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
        _warn_unsupported(cfg, cib)
        st = parse_status(root, cfg)
        if st.now is None:
            import time

            st.now = int(time.time())  # as crm_simulate: without an execution-date it is now
        return cfg, st
    if config:
        from corral.model.load import load_config

        cfg = load_config(config, unsupported="warn")
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


def _warn_unsupported(cfg, source: str) -> None:
    """A CIB is simulated whatever it uses, so that imported CIBs can be studied; what
    Corral does not implement is named on stderr (`corral load` rejects it)."""
    from corral.model.validate import DefaultLocator, unsupported_settings

    for where, problem in unsupported_settings(cfg, DefaultLocator(cfg, source), source):
        click.echo(f"corral simulate: warning: {where}: {problem}; simulated as if unset", err=True)


@click.command()
@click.option("--cib", type=click.Path(dir_okay=False), help="a Pacemaker CIB with its status section")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Corral YAML configuration")
@click.option("--state", "state_path", type=click.Path(dir_okay=False), help="cluster state YAML (with --config)")
@click.option("--show-scores", "-s", is_flag=True, help="print allocation scores")
@click.option("--quiet", "-q", is_flag=True, help="print only the transition summary")
@click.option("--save-graph", "-G", "graph_path", type=click.Path(dir_okay=False),
              help="write the transition graph to FILE (JSON), like crm_simulate -G")
@click.option("--dot", "-D", "dot_path", type=click.Path(dir_okay=False),
              help="draw the transition graph to FILE (Graphviz), like crm_simulate -D")
def simulate(cib: str | None, config_path: str | None, state_path: str | None, show_scores: bool,
             quiet: bool, graph_path: str | None = None, dot_path: str | None = None) -> None:
    """Compute what the cluster would do, like crm_simulate -S."""
    from corral.cli import render
    from corral.scheduler import schedule

    try:
        cfg, st = load_inputs(cib, config_path, state_path)
        tr = schedule(cfg, st)
    except ConfigError as exc:
        click.echo(f"corral simulate: {exc}", err=True)
        sys.exit(2)
    for path, text in ((graph_path, tr.graph.to_json), (dot_path, tr.graph.to_dot)):
        if path:
            try:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text())
            except OSError as exc:
                click.echo(f"corral simulate: cannot write {path}: {exc.strerror}", err=True)
                sys.exit(2)
    if not quiet:
        click.echo("Current cluster status:")
        click.echo("\n".join(_status_section(tr, after=False)))
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
        click.echo("\n".join(_status_section(tr, after=True)))


def _status_section(tr, after: bool) -> list[str]:
    """The status before or after the transition, drawn as `corral status` draws it."""
    from corral.cli.crm_mon import render_simulated
    from corral.cluster.status import node_entries, resource_entries

    return render_simulated(node_entries(tr, after=after), resource_entries(tr, after=after))


@click.command()
@click.argument("resource")
@click.option("--cib", type=click.Path(dir_okay=False))
@click.option("--config", "config_path", type=click.Path(dir_okay=False))
@click.option("--state", "state_path", type=click.Path(dir_okay=False))
@click.option("--store", "store_url", envvar="CORRAL_STORE",
              help="a live cluster's store URL (instead of files; default $CORRAL_STORE)")
def explain_file(resource: str, cib: str | None, config_path: str | None, state_path: str | None,
                 store_url: str | None = None) -> None:
    """Why RESOURCE is (or will be) where it is."""
    from corral.cli import render
    from corral.scheduler import schedule

    try:
        if store_url is not None and not (cib or config_path):
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
