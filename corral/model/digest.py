"""Digests of a resource's definition, recorded with each operation (Pacemaker's op-digest idea).

The node agent records, with every operation, the digest of the parameters it ran with; the
scheduler compares the digest of the operation that made a resource active with the digest of
its configured parameters and restarts it where they differ ("due to resource definition
change"). Only Corral's own digests are compared (they carry the `corral1:` prefix): the
digests in a Pacemaker CIB's history are Pacemaker's, of another algorithm, and are ignored.
"""
from __future__ import annotations

import json
from collections.abc import Mapping

PREFIX = "corral1:"


def params_digest(params: Mapping[str, str]) -> str:
    import hashlib  # here: loading OpenSSL costs a short command (corral status) more than it uses

    canonical = json.dumps(sorted((str(k), str(v)) for k, v in params.items()), separators=(",", ":"))
    return PREFIX + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def definition_changed(recorded: str | None, params: Mapping[str, str]) -> bool:
    """Whether a recorded digest (of Corral's) differs from the configured parameters'."""
    return bool(recorded) and recorded.startswith(PREFIX) and recorded != params_digest(params)
