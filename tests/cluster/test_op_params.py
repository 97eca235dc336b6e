"""An operation's own parameters (e.g. a deeper monitor's OCF_CHECK_LEVEL) reach that operation only."""
from __future__ import annotations

import textwrap

from corral.cluster.resources import spec_of
from corral.model.yaml_config import parse_yaml_config
from corral.scheduler import ResourceView, configured_views

CONFIG = textwrap.dedent("""\
    nodes: [{name: n1}]
    resources:
      - id: fs
        agent: ocf:heartbeat:Dummy
        params: {state: /tmp/fs.state}
        ops:
          - {name: monitor, interval: 10s}
          - {name: monitor, interval: 60s, params: {OCF_CHECK_LEVEL: "20"}}
    """)


def _prim() -> ResourceView:
    cfg, _ = parse_yaml_config(CONFIG, "cfg.yaml")
    return configured_views(cfg)["fs"]


def test_op_params_apply_to_their_operation() -> None:
    p = _prim()
    assert spec_of(p, "monitor", 60_000).params == {"state": "/tmp/fs.state", "OCF_CHECK_LEVEL": "20"}


def test_op_params_do_not_leak_to_other_operations() -> None:
    p = _prim()
    assert spec_of(p, "monitor", 10_000).params == {"state": "/tmp/fs.state"}
    assert spec_of(p, "start").params == {"state": "/tmp/fs.state"}
    assert spec_of(p).params == {"state": "/tmp/fs.state"}


def test_check_level_reaches_the_agent_unprefixed() -> None:
    from corral.resource_agents import ResourceSpec
    from corral.resource_agents.environment import ocf_environment

    spec = ResourceSpec("fs", "ocf", "Dummy", provider="heartbeat", params={"OCF_CHECK_LEVEL": "20"})
    env = ocf_environment(spec, "monitor", 20.0, 60_000)
    assert env["OCF_CHECK_LEVEL"] == "20" and env["OCF_RESKEY_OCF_CHECK_LEVEL"] == "20"
