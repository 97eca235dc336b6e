"""Run the oracle (crm_simulate) and the command under test on one scenario and compare.

The command under test is ``CORRAL_DIFF_CMD`` (default ``corral simulate --cib {xml}``);
``{xml}`` is replaced by the CIB's path. A bare ``corral`` resolves to the
executable next to the running Python (the project's virtualenv), then to PATH.

To check the harness itself, run it against the oracle, which must always agree:

    CORRAL_DIFF_CMD='crm_simulate -x {xml} -S' .venv/bin/pytest tests/differential -m oracle
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .gen import Scenario
from .summary import multiset_diff, summary_lines

DEFAULT_CMD = "corral simulate --cib {xml}"
ORACLE_CMD = "crm_simulate -x {xml} -S"
TIMEOUT_S = 60.0


def oracle_available() -> bool:
    return shutil.which("crm_simulate") is not None


def command_under_test() -> str:
    return os.environ.get("CORRAL_DIFF_CMD", DEFAULT_CMD)


def _argv(cmd: str, xml: Path) -> list[str]:
    argv = [a.replace("{xml}", str(xml)) for a in shlex.split(cmd)]
    if argv and argv[0] == "corral":
        local = Path(sys.executable).parent / "corral"
        if local.exists():
            argv[0] = str(local)
    return argv


@dataclass
class Run:
    cmd: list[str]
    returncode: int | None  # None: timed out or could not start
    stdout: str
    stderr: str

    @property
    def summary(self) -> list[str] | None:
        return summary_lines(self.stdout) if self.returncode is not None else None

    def describe(self, limit: int = 4000) -> str:
        status = "did not finish" if self.returncode is None else f"exit {self.returncode}"
        text = self.stdout if len(self.stdout) <= limit else self.stdout[:limit] + "\n[... cut ...]"
        err = self.stderr.strip()
        err = err if len(err) <= 1500 else err[:1500] + "\n[... cut ...]"
        return f"$ {shlex.join(self.cmd)}   ({status})\n{text}" + (f"\n[stderr]\n{err}" if err else "")


def run(cmd: str, xml: Path, workdir: Path, timeout: float = TIMEOUT_S) -> Run:
    """Run ``cmd`` on ``xml`` with TMPDIR and the working directory inside ``workdir``."""
    argv = _argv(cmd, xml)
    env = {**os.environ, "TMPDIR": str(workdir)}
    try:
        p = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            env=env,
        )
    except subprocess.TimeoutExpired as e:  # subprocess.run has killed and reaped it
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return Run(argv, None, out, f"<timeout after {timeout:.0f} s>")
    except OSError as e:
        return Run(argv, None, "", f"<cannot run: {e}>")
    return Run(argv, p.returncode, p.stdout, p.stderr)


@dataclass
class Comparison:
    xml: str
    oracle: Run
    tested: Run

    @property
    def oracle_ok(self) -> bool:
        return self.oracle.returncode == 0 and self.oracle.summary is not None

    @property
    def agree(self) -> bool:
        got = self.tested.summary
        want = self.oracle.summary
        return (
            self.tested.returncode == 0
            and got is not None
            and want is not None
            and not any(multiset_diff(want, got))
        )

    def diff(self) -> tuple[list[str], list[str]]:
        """(missing, extra) of the command under test relative to the oracle."""
        return multiset_diff(self.oracle.summary or [], self.tested.summary or [])

    def report(self, sc: Scenario | None = None) -> str:
        missing, extra = self.diff()
        parts = []
        if sc is not None:
            parts += ["Scenario:", sc.describe(), ""]
        if self.tested.summary is None:
            parts.append("command under test printed no 'Transition Summary:' section")
        elif self.tested.returncode != 0:
            parts.append(f"command under test exited {self.tested.returncode}")
        parts += [f"  missing: {line}" for line in missing]
        parts += [f"  extra:   {line}" for line in extra]
        parts += ["", "--- oracle", self.oracle.describe(), "", "--- under test", self.tested.describe()]
        parts += ["", "--- CIB", self.xml]
        return "\n".join(parts)


def compare(xml_text: str, cmd: str | None = None) -> Comparison:
    """Write ``xml_text`` to a private temporary folder, run both commands, remove the folder."""
    with tempfile.TemporaryDirectory(prefix="corral-diff-") as d:
        workdir = Path(d)
        xml = workdir / "cib.xml"
        xml.write_text(xml_text)
        oracle = run(ORACLE_CMD, xml, workdir)
        tested = run(cmd or command_under_test(), xml, workdir)
    return Comparison(xml_text, oracle, tested)


def check(sc: Scenario) -> None:
    """Assert that the command under test's Transition Summary equals crm_simulate's (as multisets)."""
    c = compare(sc.to_xml())
    assert c.oracle_ok, "the oracle rejected the generated CIB (a generator bug):\n" + c.report(sc)
    assert c.agree, "Transition Summary differs from crm_simulate's:\n" + c.report(sc)
