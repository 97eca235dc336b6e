"""`corral lab ...`: Corral in the namespace lab (docs/lab.md). Needs root, iproute2 and /usr/bin/etcd."""
from __future__ import annotations

import json
import sys

import click


@click.group()
def lab() -> None:
    """Fault campaigns against Corral in a lab of network namespaces (root only)."""


@lab.command()
@click.option("--faults", type=click.IntRange(1, 1000), default=10, show_default=True, help="faults to inject")
@click.option("--seed", type=int, default=1, show_default=True, help="seed of the fault sequence")
@click.option("--hosts", type=click.IntRange(3, 9), default=3, show_default=True, help="server hosts")
@click.option("--kinds", default="", help="comma-separated fault kinds (default: all but cold-start): crash, partition, "
                                          "kill-agent, resource-fail, standby, restart, etcd-loss, "
                                          "simul-stop-start, stop-one-by-one, flip, maintenance, reattach, "
                                          "near-quorum, etcd-majority-loss, cold-start")
@click.option("--each", is_flag=True, help="every chosen kind in turn (a seeded shuffle) instead of random "
                                          "draws: --faults 7 --each runs 7 kinds once each")
@click.option("--ttl", type=float, default=2.0, show_default=True, help="agents' lease TTL (s)")
@click.option("--renew", type=float, default=0.2, show_default=True, help="lease renewal interval (s)")
@click.option("--store-timeout", type=float, default=0.4, show_default=True, help="store call timeout (s)")
@click.option("--order", "order_kind", type=click.Choice(["Mandatory", "Optional"]), default="Mandatory",
              show_default=True, help="kind of the order name-clone then vip")
@click.option("--stonith", is_flag=True, help="fencing on: stonith-enabled with the lab fence agent "
                                             "(fence_corral_netns); fenced hosts are booted again")
@click.option("--heartbeat-timeout", default="", metavar="INTERVAL",
              help="with --stonith: the cluster option heartbeat-timeout (e.g. 300ms): silent hosts are "
                   "fenced without waiting for their lease")
@click.option("--keep", type=click.Path(file_okay=False), default=None,
              help="keep the agents' logs, etcd data and config under this directory")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="write the report as JSON")
def campaign(faults: int, seed: int, hosts: int, kinds: str, ttl: float, renew: float, store_timeout: float,
             keep: str | None, json_out: str | None, order_kind: str,
             stonith: bool, each: bool, heartbeat_timeout: str) -> None:
    """Inject FAULTS seeded random faults, auditing after each (exit 1 on a violation)."""
    from dataclasses import asdict

    from corral_lab import cleanup_stale, lab_available
    from corral_lab.campaign import DEFAULT_KINDS, Campaign
    from corral_lab.corral_sut import AgentTiming
    from corral_lab.etcd import etcd_available
    from corral_lab.hosts import LabError

    why = lab_available() or etcd_available()
    if why:
        click.echo(f"corral lab campaign: the lab cannot be built here: {why}", err=True)
        sys.exit(2)
    chosen = [k.strip() for k in kinds.split(",") if k.strip()] or list(DEFAULT_KINDS)
    try:
        if heartbeat_timeout and not stonith:
            raise ValueError("--heartbeat-timeout needs --stonith (a silent host is fenced, not waited for)")
        timing = AgentTiming(ttl, renew, store_timeout)
        timing.check()
        run = Campaign(faults=faults, seed=seed, hosts=hosts, kinds=chosen, timing=timing, work_dir=keep,
                       log=lambda s: click.echo(s), order_kind=order_kind, stonith=stonith,
                       each=each, heartbeat_timeout=heartbeat_timeout)
    except ValueError as exc:
        click.echo(f"corral lab campaign: {exc}", err=True)
        sys.exit(2)
    cleanup_stale("crl")  # leftovers of killed runs only; live labs are left alone
    try:
        report = run.run()
    except (LabError, OSError) as exc:  # the lab or the cluster could not be built; all torn down
        click.echo(f"corral lab campaign: {exc}", err=True)
        sys.exit(1)
    s = report.summary()

    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f} s"

    click.echo(f"\nfaults injected: {s['faults']} ({', '.join(f'{k} {n}' for k, n in s['by_kind'].items())})")
    click.echo(f"violations: {s['violations']}; errors: {s['errors']}")
    click.echo(f"converged after repair: median {f(s['recovered_median_s'])}, worst {f(s['recovered_worst_s'])}; "
               f"VIP without a holder: median {f(s['vip_outage_median_s'])}, worst {f(s['vip_outage_worst_s'])}")
    for kind, k in s["per_kind"].items():
        click.echo(f"  {kind:<18} {k['faults']:3} faults, {k['violations']} violations, {k['errors']} errors; "
                   f"converged median {f(k['recovered_median_s'])}, worst {f(k['recovered_worst_s'])}; "
                   f"VIP without a holder worst {f(k['vip_outage_worst_s'])}")
    click.echo(f"setup {s['setup_s']:.1f} s, total {s['total_s']:.1f} s")
    for v in report.violations:
        click.echo(f"VIOLATION {v}")
    for e in report.errors:
        click.echo(f"ERROR {e}")
    if json_out:
        with open(json_out, "w") as fh:
            json.dump({"summary": s, "results": [asdict(r) for r in report.results]}, fh, indent=2)
    sys.exit(1 if report.violations or report.errors or s["faults"] < faults else 0)


@lab.group()
def controlplane() -> None:
    """The OpenStack control plane on real services in the lab (docs/openstack.md, "Control-plane lab")."""


def _controlplane_available() -> str | None:
    import os
    import shutil

    from corral_lab import lab_available
    from corral_lab.etcd import etcd_available

    if why := lab_available() or etcd_available():
        return why
    for tool in ("mariadbd", "haproxy", "memcached", "keystone-wsgi-public", "rsync", "lsof"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            return f"{tool} is not installed (mariadb-server galera-4 haproxy memcached python3-keystone rsync lsof)"
    return None


@controlplane.command("up")
@click.option("--hold", type=float, default=0.0, show_default=True,
              help="seconds to keep it running after the first token (0: tear down at once)")
@click.option("--keep", type=click.Path(file_okay=False), default=None,
              help="keep the hosts' data, logs and the configuration under this directory")
def controlplane_up(hold: float, keep: str | None) -> None:
    """Build three controllers and a client, run the control plane under Corral, issue a token."""
    import time

    from corral_lab import cleanup_stale
    from corral_lab.controlplane.cluster import TAG, ControlPlane
    from corral_lab.hosts import LabError

    if why := _controlplane_available():
        click.echo(f"corral lab controlplane: the lab cannot be built here: {why}", err=True)
        sys.exit(2)
    cleanup_stale(TAG)
    cp = ControlPlane(work_dir=keep, log=click.echo)
    try:
        took = cp.up()
        click.echo(f"control plane up: first token through the VIP after {took:.1f} s")
        if hold > 0:
            time.sleep(hold)
    except (LabError, OSError) as exc:
        click.echo(f"corral lab controlplane up: {exc}", err=True)
        sys.exit(1)
    finally:
        cp.stop()


@controlplane.command("campaign")
@click.option("--kinds", default="", help="comma-separated fault kinds (default: each once): crash-vip, "
                                          "crash-writer, kill-mysqld, kill-haproxy, kill-keystone, partition, "
                                          "crash-two, full-outage")
@click.option("--faults", type=click.IntRange(1, 1000), default=None, help="faults in all (kinds in turn)")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--keep", type=click.Path(file_okay=False), default=None, help="keep logs and data here")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="write results as JSON")
def controlplane_campaign(kinds: str, faults: int | None, seed: int, keep: str | None, json_out: str | None) -> None:
    """Faults against the control plane with the token, commit and primary-component audits (exit 1 on a
    violation)."""
    from dataclasses import asdict

    from corral_lab import cleanup_stale
    from corral_lab.controlplane.campaign import KINDS, Campaign, summary
    from corral_lab.controlplane.cluster import TAG, ControlPlane
    from corral_lab.hosts import LabError

    if why := _controlplane_available():
        click.echo(f"corral lab controlplane: the lab cannot be built here: {why}", err=True)
        sys.exit(2)
    chosen = [k.strip() for k in kinds.split(",") if k.strip()] or list(KINDS)
    cleanup_stale(TAG)
    cp = ControlPlane(work_dir=keep, log=click.echo)
    try:
        try:
            run = Campaign(chosen, cp, log=click.echo, seed=seed)
        except ValueError as exc:
            click.echo(f"corral lab controlplane campaign: {exc}", err=True)
            sys.exit(2)
        cp.up()
        results = run.run(faults)
    except (LabError, OSError) as exc:
        click.echo(f"corral lab controlplane campaign: {exc}", err=True)
        sys.exit(1)
    finally:
        cp.stop()
    s = summary(results)
    for kind, k in s.items():
        click.echo(f"{kind:<14} {k}")
    bad = [r for r in results if r.violations or r.error]
    for r in bad:
        click.echo(f"VIOLATION {r.kind} {r.victims}: {r.violations} {r.error}")
    if json_out:
        with open(json_out, "w") as fh:
            json.dump({"summary": s, "results": [asdict(r) for r in results]}, fh, indent=2)
    sys.exit(1 if bad else 0)


@lab.group()
def nova() -> None:
    """A real Nova (Debian's Zed packages) with fake-driver compute hosts (root only)."""


@nova.command("up")
@click.option("--hosts", default="hostA,hostB,hostC", show_default=True, help="comma-separated compute hosts")
@click.option("--hold", type=float, default=0.0, show_default=True,
              help="keep it up this many seconds (clouds.yaml printed), then tear it down")
@click.option("--keep", type=click.Path(file_okay=False), default=None,
              help="work directory (configurations, logs) kept after the teardown")
def nova_up(hosts: str, hold: float, keep: str | None) -> None:
    """Bring the Nova lab up, show where its clouds.yaml is, tear it all down (also on failure)."""
    import time

    from corral_lab.nova import NovaLab, NovaLabError, nova_lab_available
    from corral_lab.nova.layout import CLOUD

    if why := nova_lab_available():
        click.echo(f"corral lab nova: the lab cannot be built here: {why}", err=True)
        sys.exit(2)
    names = tuple(h.strip() for h in hosts.split(",") if h.strip())
    try:
        with NovaLab(hosts=names, work_dir=keep, log=click.echo) as lab:
            click.echo(f"clouds.yaml: {lab.layout.clouds_yaml} (cloud {CLOUD}); "
                       f"OS_CLIENT_CONFIG_FILE={lab.layout.clouds_yaml} OS_CLOUD={CLOUD} openstack server list")
            click.echo(json.dumps({"timings_s": lab.timings, "work_dir": lab.layout.root}))
            if hold > 0:
                time.sleep(hold)
    except NovaLabError as exc:
        click.echo(f"corral lab nova up: {exc}", err=True)
        sys.exit(1)
