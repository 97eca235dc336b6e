"""Suite-wide rule: in CI a skipped test is a failure.

`.ci/run` installs every part the tests need (etcd, crm_simulate,
resource-agents, iproute2 and network namespaces, keepalived), so under
`CI=true` a test skipped because a part is missing means an install step
broke: the run must fail, not pass quietly. A skip that is about the host
rather than a missing part (e.g. "the host runs systemd") says so with a reason
starting "not applicable", and stays a skip.
"""
from __future__ import annotations

import os
from collections.abc import Generator

import pytest

NOT_APPLICABLE = "not applicable"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not (_in_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if reason.removeprefix("Skipped: ").startswith(NOT_APPLICABLE):
        return
    report.outcome = "failed"
    report.longrepr = (f"skipped under CI=true, which installs every part the tests need, so an "
                       f"install step broke: {reason}")
