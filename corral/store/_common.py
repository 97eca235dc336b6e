"""Helpers shared by the backends.

Memory and SQLite evaluate compares themselves; they follow etcd's rules exactly
so that code tested against the memory store behaves the same on etcd.
"""
from __future__ import annotations

import operator
from collections.abc import Callable, Sequence

from corral.store.base import Compare, Delete, KeyValue, Put

COMPARE_TARGETS = ("value", "mod_revision", "create_revision", "exists")
COMPARE_OPS: dict[str, Callable[[object, object], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt,
}


def validate_compare(c: Compare) -> None:
    if c.target not in COMPARE_TARGETS:
        raise ValueError(f"compare on {c.key!r}: target {c.target!r} is not one of {', '.join(COMPARE_TARGETS)}")
    if c.op not in COMPARE_OPS:
        raise ValueError(f"compare on {c.key!r}: op {c.op!r} is not one of {', '.join(COMPARE_OPS)}")
    if c.target == "exists":
        if not isinstance(c.value, bool) or c.op not in ("==", "!="):
            raise ValueError(f"compare on {c.key!r}: 'exists' takes op == or != and a bool value")
    elif c.target == "value":
        if not isinstance(c.value, str):
            raise ValueError(f"compare on {c.key!r}: a value compare needs a str, got {type(c.value).__name__}")
    elif not isinstance(c.value, int) or isinstance(c.value, bool):
        raise ValueError(f"compare on {c.key!r}: {c.target} needs an int, got {type(c.value).__name__}")


def compare_holds(c: Compare, kv: KeyValue | None) -> bool:
    """etcd semantics: an absent key has revisions 0, and any value compare on it fails."""
    if c.target == "exists":
        return (kv is not None) == c.value if c.op == "==" else (kv is not None) != c.value
    if c.target == "value":
        return kv is not None and COMPARE_OPS[c.op](kv.value, c.value)
    actual = 0 if kv is None else getattr(kv, c.target)
    return COMPARE_OPS[c.op](actual, c.value)


def validate_ops(ops: Sequence[Put | Delete]) -> None:
    """Refuse what etcd refuses: a key put twice, or put inside a range deleted by the same txn."""
    puts: set[str] = set()
    deletes: list[Delete] = []
    for op in ops:
        if isinstance(op, Put):
            if not isinstance(op.key, str) or not isinstance(op.value, str):
                raise TypeError(f"Put({op.key!r}): key and value must be str")
            if op.key in puts:
                raise ValueError(f"txn writes key {op.key!r} twice")
            puts.add(op.key)
        elif isinstance(op, Delete):
            deletes.append(op)
        else:
            raise TypeError(f"txn operation must be Put or Delete, got {type(op).__name__}")
    for d in deletes:
        for key in puts:
            if key.startswith(d.key) if d.prefix else key == d.key:
                raise ValueError(f"txn both puts and deletes key {key!r}")


def validate_txn(compares: Sequence[Compare], success: Sequence[Put | Delete],
                 failure: Sequence[Put | Delete]) -> None:
    for c in compares:
        validate_compare(c)
    validate_ops(success)
    validate_ops(failure)


def prefix_end(prefix: str) -> str | None:
    """The smallest str above every key starting with prefix; None if unbounded.

    Code-point order equals UTF-8 byte order, so this matches etcd's range_end.
    """
    for i in range(len(prefix) - 1, -1, -1):
        code = ord(prefix[i])
        if code < 0x10FFFF:
            code += 1
            if 0xD800 <= code <= 0xDFFF:  # surrogates cannot be stored; skip past them
                code = 0xE000
            return prefix[:i] + chr(code)
    return None


def check_ttl(ttl: float) -> None:
    if not ttl > 0:
        raise ValueError(f"lease ttl must be positive, got {ttl!r}")
