"""Pacemaker's operation digest (`op-digest`), reproduced from the values recorded in CIBs.

Pacemaker records with each operation an MD5 of the parameters the agent ran with, and its
scheduler restarts a resource whose recorded digest differs from that of its configuration
("due to resource definition change"). The form was established by testing hypotheses against
the thousands of (parameters, digest) pairs in Pacemaker 2.1.5's scheduler corpus
(tests/model/test_pcmk_digest.py keeps a sample): the MD5 of

    ' <parameters a="1" b="2"/>\\n'

i.e. one XML element named `parameters` whose attributes are the resource's instance
attributes merged with the operation's own, sorted by name, XML-escaped, written with a
leading space and a trailing newline. A recurring operation (interval > 0) adds the meta
value `CRM_meta_timeout` (the operation's timeout in ms, 20000 by default); a one-shot
operation (start, stop, probe) carries no meta value at all.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from corral.model.config import Operation, Primitive, parse_interval_ms

DEFAULT_TIMEOUT_MS = 20_000
_PCMK_DIGEST = re.compile(r"^[0-9a-f]{32}$")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;",
            "\t": "&#9;"}


def is_pacemaker_digest(text: str | None) -> bool:
    return bool(text) and _PCMK_DIGEST.match(text or "") is not None


def _escape(value: str) -> str:
    return "".join(_ESCAPES.get(ch, ch) for ch in value)


def parameters_xml(params: Mapping[str, str]) -> str:
    """The canonical text the digest is taken over."""
    attrs = "".join(f' {name}="{_escape(value)}"' for name, value in sorted(params.items()))
    return f" <parameters{attrs}/>\n"


def digest(params: Mapping[str, str]) -> str:
    import hashlib  # here: loading OpenSSL costs a short command (corral status) more than it uses

    return hashlib.md5(parameters_xml(params).encode(), usedforsecurity=False).hexdigest()


def _configured_op(prim: Primitive, name: str, interval_ms: int) -> Operation | None:
    return next((o for o in prim.ops if o.name == name and o.interval_ms == interval_ms), None)


def _timeout_ms(op: Operation | None, op_defaults: Mapping[str, str]) -> int:
    if op is not None and op.timeout_ms is not None:
        return op.timeout_ms
    for source in ((op.meta if op is not None else {}), op_defaults):
        text = source.get("timeout")
        if text:
            try:
                return parse_interval_ms(text)
            except ValueError:
                continue
    return DEFAULT_TIMEOUT_MS


def operation_params(prim: Primitive, name: str, interval_ms: int,
                     op_defaults: Mapping[str, str] | None = None) -> dict[str, str]:
    """The parameters an operation of `prim` runs with, as far as its digest goes."""
    op = _configured_op(prim, name, interval_ms)
    params = dict(prim.params)
    if op is not None:
        params.update(op.params)
    if interval_ms > 0:
        params["CRM_meta_timeout"] = str(_timeout_ms(op, op_defaults or {}))
    return params


def operation_digest(prim: Primitive, name: str, interval_ms: int,
                     op_defaults: Mapping[str, str] | None = None) -> str:
    """What Pacemaker records as `op-digest` for this operation of the configured `prim`."""
    return digest(operation_params(prim, name, interval_ms, op_defaults))


def secure_digest(prim: Primitive, name: str, interval_ms: int, secure_params: tuple[str, ...],
                  op_defaults: Mapping[str, str] | None = None) -> str:
    """What Pacemaker records as `op-secure-digest` for this operation of the configured `prim`."""
    hidden = set(secure_params)
    params = {k: v for k, v in operation_params(prim, name, interval_ms, op_defaults).items()
              if k not in hidden and not k.startswith("CRM_meta_")
              and not (prim.rsc_class == "stonith" and k.startswith("pcmk_"))}
    return digest(params)
