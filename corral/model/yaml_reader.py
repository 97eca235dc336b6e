"""Reading YAML with the source line of every value.

`read_yaml` turns YAML text into plain data plus a map from path to line, using the
composed node tree (PyYAML marks). YAML 1.2 core scalars only, so `on`, `no` and
`0755` stay strings (the YAML 1.1 "Norway problem" bites node attributes and params
otherwise); duplicate keys are errors, not silent overrides. Numbers remember how
they were written (RawInt, RawFloat) for fields that want text.

Used by both YAML formats: the configuration (corral.model.yaml_config) and the
simulation state (corral.model.yaml_state).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from corral.model.errors import ConfigError
from corral.model.validate import ConfigErrors

PathT = tuple[str | int, ...]


_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader with YAML 1.2 core-schema implicit types."""


_Loader.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
              r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+0123456789."),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("merge", r"^(?:<<)$", "<"),
):
    _Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_regexp), list(_first))

_MAX_NODES = 200_000  # values after alias expansion: a real configuration has a few thousand


class RawInt(int):
    """An int that remembers how it was written: `mode: 0755` and `v: 1.10` stay
    '0755' and '1.10' where a string is wanted (params, meta, attributes)."""
    raw: str

    def __new__(cls, value: int, raw: str) -> RawInt:
        obj = super().__new__(cls, value)
        obj.raw = raw
        return obj


class RawFloat(float):
    raw: str

    def __new__(cls, value: float, raw: str) -> RawFloat:
        obj = super().__new__(cls, value)
        obj.raw = raw
        return obj


def format_path(path: PathT) -> str:
    """('resources', 2, 'ops', 0, 'interval') -> 'resources[2].ops[0].interval'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_#-]+", part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out or "(top level)"


@dataclass
class YamlDoc:
    """Loaded YAML data with the line (1-based) of every value and mapping key."""
    source: str
    data: Any
    lines: dict[PathT, int] = field(default_factory=dict)
    key_lines: dict[PathT, int] = field(default_factory=dict)

    def line(self, path: PathT) -> int | None:
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return None

    def where(self, path: PathT, *, at_key: bool = False, line_of: PathT | None = None) -> str:
        line = self.key_lines.get(path) if at_key else None
        line = line or self.line(path if line_of is None else line_of)
        return f"{self.source}:{line}: {format_path(path)}" if line else f"{self.source}: {format_path(path)}"


class _Builder:
    def __init__(self, doc: YamlDoc, loader: Any) -> None:
        self.doc = doc
        self.loader = loader
        self.errors: list[tuple[str, str]] = []
        self.count = 0

    def build(self, node: Node, path: PathT, stack: tuple[int, ...] = ()) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            raise ConfigError(self.doc.source, "document too large (aliases expand to too many values)")
        self.doc.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if id(node) in stack:
            self.errors.append((self.doc.where(path), "an alias refers to itself"))
            return None
        stack = (*stack, id(node))
        if isinstance(node, SequenceNode):
            return [self.build(child, (*path, i), stack) for i, child in enumerate(node.value)]
        assert isinstance(node, MappingNode)
        out: dict[str, Any] = {}
        merges: list[Node] = []
        for knode, vnode in node.value:
            if knode.tag == "tag:yaml.org,2002:merge":
                merges.append(vnode)
                continue
            key = self.key(knode, path)
            if key is None:
                continue
            kpath = (*path, key)
            if key in out:
                first = self.doc.key_lines.get(kpath)
                self.errors.append((f"{self.doc.source}:{knode.start_mark.line + 1}: {format_path(kpath)}",
                                    f"duplicate key {key!r} (first given at line {first})"))
                continue
            self.doc.key_lines[kpath] = knode.start_mark.line + 1
            out[key] = self.build(vnode, kpath, stack)
        # `<<: *anchor` merges: explicit keys win, then earlier merged mappings.
        for merged in merges:
            for m in (merged.value if isinstance(merged, SequenceNode) else [merged]):
                value = self.build(m, path, stack)
                if isinstance(value, dict):
                    for k, v in value.items():
                        out.setdefault(k, v)
                else:
                    self.errors.append((self.doc.where(path), "'<<' can only merge mappings"))
        return out

    def key(self, knode: Node, path: PathT) -> str | None:
        if not isinstance(knode, ScalarNode):
            self.errors.append((self.doc.where(path), f"line {knode.start_mark.line + 1}: a key must be a "
                                "plain value, not a list or mapping"))
            return None
        value = self.scalar(knode, path)
        if value is None:
            self.errors.append((f"{self.doc.source}:{knode.start_mark.line + 1}: {format_path(path)}",
                                "empty key"))
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def scalar(self, node: ScalarNode, path: PathT) -> Any:
        tag, v = node.tag, node.value
        if tag == "tag:yaml.org,2002:str":
            return v
        if tag == "tag:yaml.org,2002:null":
            return None
        if tag == "tag:yaml.org,2002:bool":
            return v.lower() == "true"
        if tag == "tag:yaml.org,2002:int" and not node.style and re.fullmatch(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", v):
            number = int(v[2:], 8) if v.startswith("0o") else int(v[2:], 16) if v.startswith("0x") else int(v)
            return RawInt(number, v)
        if tag == "tag:yaml.org,2002:float" and not node.style:
            t = v.lower().lstrip("+")
            if t in (".inf", "-.inf", ".nan"):
                return RawFloat({".inf": math.inf, "-.inf": -math.inf}.get(t, math.nan), v)
            return RawFloat(float(v), v)
        try:  # explicit tags such as !!str or !!int
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.errors.append((self.doc.where(path), f"cannot read value: {getattr(exc, 'problem', exc)}"))
            return None


def _expanded_size(root: Node) -> int:
    """How many values the node graph expands to, counting each alias in full, computed once
    per distinct node (so a billion laughs is measured in microseconds). A node that refers
    to itself counts once; the builder reports it."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in visiting or isinstance(node, ScalarNode):
            return 1
        visiting.add(key)
        children = node.value if isinstance(node, SequenceNode) else [n for pair in node.value for n in pair]
        total = 1
        for child in children:
            total += size(child)
            if total > _MAX_NODES:
                break
        visiting.discard(key)
        sizes[key] = total
        return total

    return size(root)


def read_yaml(text: str, source: str) -> YamlDoc:
    """Parse YAML text into a YamlDoc; syntax errors and duplicate keys raise ConfigErrors."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        doc = YamlDoc(source, None)
        if root is None:
            return doc
        if _expanded_size(root) > _MAX_NODES:  # before building anything: an alias bomb costs nothing
            raise ConfigError(source, f"document too large (aliases expand to more than {_MAX_NODES:,} values)")
        builder = _Builder(doc, loader)
        doc.data = builder.build(root, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigErrors(source, [(where, f"invalid YAML: {problem}")]) from exc
    except yaml.YAMLError as exc:
        raise ConfigErrors(source, [(source, f"invalid YAML: {exc}")]) from exc
    finally:
        loader.dispose()
    if builder.errors:
        raise ConfigErrors(source, builder.errors)
    return doc
