"""An idle controller plans again exactly when the clock alone can change a decision."""
from __future__ import annotations

import textwrap

from corral.controller.recheck import DATE_RULE_RECHECK_S, DEFAULT_RECHECK_S, next_recheck
from corral.model.state import ClusterState, NodeStatus
from corral.model.yaml_config import parse_yaml_config

NOW = 1_800_000_000.0


def _config(extra_meta: str = "", cluster: str = "", constraints: str = ""):
    text = textwrap.dedent(f"""\
        nodes: [{{name: n1}}, {{name: n2}}]
        cluster: {{stonith-enabled: false{cluster}}}
        resources:
          - id: web
            agent: ocf:heartbeat:Dummy
            meta: {{{extra_meta}}}
        """) + constraints
    cfg, _ = parse_yaml_config(text, "cfg.yaml")
    return cfg


def _state(**attrs: str) -> ClusterState:
    st = ClusterState()
    st.nodes["n1"] = NodeStatus(name="n1", in_cluster=True, agent_online=True, join="member", expected="member",
                                attrs=dict(attrs))
    return st


def test_nothing_time_dependent_waits_for_the_recheck_interval() -> None:
    assert next_recheck(_config(), _state(), NOW) == NOW + DEFAULT_RECHECK_S


def test_cluster_recheck_interval_is_honoured() -> None:
    assert next_recheck(_config(cluster=", cluster-recheck-interval: 2min"), _state(), NOW) == NOW + 120


def test_a_failure_that_will_expire_brings_the_recheck_forward() -> None:
    cfg = _config(extra_meta="failure-timeout: 30s")
    st = _state(**{"fail-count-web#monitor_10000": "1", "last-failure-web#monitor_10000": str(int(NOW) - 10)})
    assert abs(next_recheck(cfg, st, NOW) - (NOW + 20.5)) < 0.01


def test_an_expired_failure_does_not_keep_rechecking() -> None:
    cfg = _config(extra_meta="failure-timeout: 30s")
    st = _state(**{"last-failure-web#monitor_10000": str(int(NOW) - 100)})
    assert next_recheck(cfg, st, NOW) == NOW + DEFAULT_RECHECK_S


def test_date_rules_are_rechecked_every_minute() -> None:
    constraints = textwrap.dedent("""\
        constraints:
          - location:
              rsc: web
              rules:
                - score: 100
                  expressions:
                    - {date: gt, start: "2020-01-01"}
        """)
    assert next_recheck(_config(constraints=constraints), _state(), NOW) == NOW + DATE_RULE_RECHECK_S
