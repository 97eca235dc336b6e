"""The configuration model as plain JSON, decoded with the standard library only.

The store keeps the canonical YAML (what operators read and verbs edit) and,
beside it, this form of the very configuration that YAML parses to. Readers
that only need the model (`corral status`, agents, the controller) decode this
instead of running the YAML parser and its validation, which cost most of a
short command's run time (docs/architecture.md).

Every model object is an object tagged with its class ("!": "Primitive");
tuples are tagged too, so decoding gives back equal objects.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from corral.model import config as model
from corral.model import rules

_CLASSES: dict[str, type] = {cls.__name__: cls for cls in (
    model.Operation, model.Primitive, model.Group, model.Clone, model.Node, model.Location,
    model.Colocation, model.Order, model.TicketDependency, model.Configuration,
    rules.Rule, rules.Expression, rules.DateExpression)}
FORMAT = 1


def to_data(obj: Any) -> Any:
    """A JSON-ready form of a model object (nested dataclasses, lists, dicts, tuples)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        name = type(obj).__name__
        if _CLASSES.get(name) is not type(obj):
            raise TypeError(f"not a configuration class: {type(obj)!r}")
        out: dict[str, Any] = {"!": name}
        for f in dataclasses.fields(obj):
            out[f.name] = to_data(getattr(obj, f.name))
        return out
    if isinstance(obj, tuple):
        return {"!tuple": [to_data(v) for v in obj]}
    if isinstance(obj, list):
        return [to_data(v) for v in obj]
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError("configuration mappings have string keys")
        return {k: to_data(v) for k, v in obj.items()}
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in the configuration's JSON form")


def from_data(data: Any) -> Any:
    """The inverse of to_data; ValueError on anything it did not write."""
    if isinstance(data, list):
        return [from_data(v) for v in data]
    if isinstance(data, dict):
        if "!tuple" in data:
            return tuple(from_data(v) for v in data["!tuple"])
        name = data.get("!")
        if name is None:
            return {k: from_data(v) for k, v in data.items()}
        cls = _CLASSES.get(name) if isinstance(name, str) else None
        if cls is None:
            raise ValueError(f"unknown configuration class {name!r}")
        kwargs = {k: from_data(v) for k, v in data.items() if k != "!"}
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise ValueError(f"bad {name}: {exc}") from None
    return data


def encode_config(cfg: model.Configuration) -> dict[str, Any]:
    return {"format": FORMAT, "config": to_data(cfg)}


def decode_config(data: Any) -> model.Configuration:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("not a configuration JSON form this version reads")
    cfg = from_data(data.get("config"))
    if not isinstance(cfg, model.Configuration):
        raise ValueError("the configuration JSON form holds no configuration")
    return cfg
