"""Transition Summary extraction, normalised exactly as ../shared/conformance/score.py does.

A copy (not an import) of score.py's ``summary_lines``, so that the tests do not
depend on the shared folder being present.
"""

from __future__ import annotations

import collections
import re

INSTANCE = re.compile(r"(\S+?):\d+\b")
DUE_TO = re.compile(r"\s+due to .*$")


def summary_lines(text: str) -> list[str] | None:
    """The action lines of the 'Transition Summary:' section, normalised.

    None when the text has no such section at all.
    """
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Transition Summary:")
    except StopIteration:
        return None
    out: list[str] = []
    for line in lines[start + 1 :]:
        if line and not line[0].isspace():
            break  # the next heading
        stripped = line.strip()
        if stripped.startswith("* "):
            out.append(" ".join(stripped[2:].split()))
    return out


def relax(line: str) -> str:
    """score.py's relaxed form: no clone instance numbers, no 'due to ...' tail."""
    return INSTANCE.sub(r"\1", DUE_TO.sub("", line))


def multiset_diff(want: list[str], got: list[str]) -> tuple[list[str], list[str]]:
    """(missing, extra): lines of ``want`` not in ``got`` and the reverse, as multisets."""
    w, g = collections.Counter(want), collections.Counter(got)
    return sorted((w - g).elements()), sorted((g - w).elements())
