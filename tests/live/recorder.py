"""The recording OCF agent of the live tests (tests/live/agents/recorder): installing it for one
test under a provider of its own, configuring it, and reading what it recorded."""
from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

AGENT = Path(__file__).parent / "agents" / "recorder"
OCF_PROVIDERS = Path("/usr/lib/ocf/resource.d")


@pytest.fixture
def recorder_provider() -> Iterator[str]:
    """An OCF provider name under which the recorder agent is installed for this test."""
    provider = f"corral-test-{uuid.uuid4().hex[:8]}"
    where = OCF_PROVIDERS / provider
    try:
        where.mkdir(parents=True)
    except OSError as exc:
        pytest.skip(f"cannot install a test OCF agent under {OCF_PROVIDERS}: {exc}")
    try:
        shutil.copy(AGENT, where / "recorder")
        (where / "recorder").chmod(0o755)
        yield provider
    finally:
        shutil.rmtree(where, ignore_errors=True)


def recorder_rsc(rid: str, provider: str, workdir: Path, *, params: str = "", meta: str = "",
                 ops: str = "[{name: monitor, interval: 500ms, timeout: 10s}]", indent: str = "  ",
                 item: bool = True) -> str:
    """A primitive running the recorder (a list item of `resources`, or with item=False the
    mapping under a clone's `of`); state and log files per node under workdir."""
    lead, more = ("- ", "  ") if item else ("", "")
    text = f"""{lead}id: {rid}
{more}agent: ocf:{provider}:recorder
{more}params: {{state: "{workdir}/${{node:#uname}}/{rid}.state", log: "{workdir}/${{node:#uname}}/{rid}.log"{params}}}
{more}ops: {ops}{meta}
"""
    return "".join(indent + line + "\n" for line in text.splitlines())


@dataclass
class Call:
    node: str
    action: str
    at: float
    env: dict[str, str]

    def meta(self, name: str) -> str | None:
        return self.env.get(f"OCF_RESKEY_CRM_meta_{name}")

    @property
    def notify(self) -> str:
        """'pre-start', 'post-promote', ... for a notification; '' otherwise."""
        if self.action != "notify":
            return ""
        return f"{self.meta('notify_type')}-{self.meta('notify_operation')}"


def calls(workdir: Path, rid: str, nodes: list[str]) -> list[Call]:
    """Every call the recorder logged for rid on these nodes, in time order."""
    out: list[Call] = []
    for node in nodes:
        path = workdir / node / f"{rid}.log"
        if not path.exists():
            continue
        current: Call | None = None
        for line in path.read_text().splitlines():
            if line.startswith("CALL "):
                _, action, at = line.split(" ", 2)
                current = Call(node, action, float(at), {})
            elif line == "END" and current is not None:
                out.append(current)
                current = None
            elif current is not None and "=" in line:
                k, _, v = line.partition("=")
                current.env[k] = v
    return sorted(out, key=lambda c: c.at)
