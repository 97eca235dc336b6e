"""Digests of a resource's definition, recorded with each operation (Pacemaker's op-digest idea).

The node agent records, with every operation, the digest of the parameters it ran with; the
scheduler compares the digest of the operation that made a resource active with the digest of
its configured parameters and restarts it where they differ ("due to resource definition
change"). Corral's own digests carry the `corral1:` prefix; the digests in a Pacemaker CIB's
history are Pacemaker's (32 hex digits, `corral.model.pcmk_digest`) and are compared as
Pacemaker computes them, over the parameters of the operation that recorded them.
"""
from __future__ import annotations

import json
from collections.abc import Mapping

from corral.model import pcmk_digest
from corral.model.config import Primitive

PREFIX = "corral1:"


def params_digest(params: Mapping[str, str]) -> str:
    import hashlib  # here: loading OpenSSL costs a short command (corral status) more than it uses

    canonical = json.dumps(sorted((str(k), str(v)) for k, v in params.items()), separators=(",", ":"))
    return PREFIX + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def definition_changed(recorded: str | None, params: Mapping[str, str]) -> bool:
    """Whether a recorded digest (of Corral's) differs from the configured parameters'."""
    return bool(recorded) and recorded.startswith(PREFIX) and recorded != params_digest(params)


def operation_redefined(recorded: str | None, prim: Primitive, op_name: str, interval_ms: int,
                        op_defaults: Mapping[str, str], secure_params: tuple[str, ...] = (),
                        secure_recorded: str | None = None) -> bool:
    """Whether the digest recorded with an operation differs from the configuration's.

    Digests of neither form (absent, or hand-written in a test CIB) never count as a change. A
    Pacemaker digest that differs while the recorded secure digest still matches is no change
    (only secrets or fencer-only `pcmk_*` settings differ)."""
    if not recorded:
        return False
    if recorded.startswith(PREFIX):
        return recorded != params_digest(prim.params)
    if pcmk_digest.is_pacemaker_digest(recorded):
        if recorded == pcmk_digest.operation_digest(prim, op_name, interval_ms, op_defaults):
            return False
        return not (pcmk_digest.is_pacemaker_digest(secure_recorded) and secure_recorded
                    == pcmk_digest.secure_digest(prim, op_name, interval_ms, secure_params, op_defaults))
    return False
