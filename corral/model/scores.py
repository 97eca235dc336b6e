"""Pacemaker's score arithmetic: integers clamped to +/-INFINITY (1,000,000).

-INFINITY wins over +INFINITY when both are added: a ban beats a preference.
"""
from __future__ import annotations

INFINITY = 1_000_000


def parse_score(text: str | int | None, default: int = 0) -> int:
    """'INFINITY', '+INFINITY', '-INFINITY', 'inf', or an integer string."""
    if text is None:
        return default
    if isinstance(text, int):
        return clamp(text)
    t = text.strip().lower()
    if t in ("infinity", "+infinity", "inf", "+inf"):
        return INFINITY
    if t in ("-infinity", "-inf"):
        return -INFINITY
    try:
        return clamp(int(t))
    except ValueError:
        try:
            return clamp(int(float(t)))
        except ValueError as exc:
            raise ValueError(f"not a score: {text!r}") from exc


def clamp(value: int) -> int:
    return max(-INFINITY, min(INFINITY, value))


def add(a: int, b: int) -> int:
    """Score addition: -INFINITY dominates, then +INFINITY."""
    if a <= -INFINITY or b <= -INFINITY:
        return -INFINITY
    if a >= INFINITY or b >= INFINITY:
        return INFINITY
    return clamp(a + b)


def format_score(value: int) -> str:
    if value >= INFINITY:
        return "INFINITY"
    if value <= -INFINITY:
        return "-INFINITY"
    return str(value)
