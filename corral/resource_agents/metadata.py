"""Agent meta-data: the OCF XML format, parsed into plain dataclasses.

Native agents emit the same XML, and LSB/systemd get a synthesized copy, so
configuration validation and default operation timeouts work for every class.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field


class MetadataError(ValueError):
    """An agent's meta-data could not be obtained or parsed."""


@dataclass(frozen=True)
class ParameterInfo:
    name: str
    required: bool = False
    unique: bool = False
    default: str | None = None
    content_type: str = "string"
    shortdesc: str = ""
    deprecated: bool = False


@dataclass(frozen=True)
class ActionInfo:
    name: str
    timeout_s: float | None = None
    interval_ms: int | None = None  # ms, the unit AgentRunner.run() takes
    depth: int | None = None
    role: str | None = None


@dataclass(frozen=True)
class AgentMetadata:
    name: str
    version: str = ""
    shortdesc: str = ""
    longdesc: str = ""
    parameters: list[ParameterInfo] = field(default_factory=list)
    actions: list[ActionInfo] = field(default_factory=list)

    def parameter(self, name: str) -> ParameterInfo | None:
        return next((p for p in self.parameters if p.name == name), None)

    def action(self, name: str, role: str | None = None) -> ActionInfo | None:
        """First action of that name (and role, if given); monitors may repeat per role."""
        return next((a for a in self.actions
                     if a.name == name and (role is None or a.role == role)), None)

    @property
    def required_parameters(self) -> list[str]:
        return [p.name for p in self.parameters if p.required]


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_UNIT_MS = {"": 1000.0, "s": 1000.0, "sec": 1000.0, "ms": 1.0, "msec": 1.0, "us": 0.001,
            "usec": 0.001, "m": 60_000.0, "min": 60_000.0, "h": 3_600_000.0, "hr": 3_600_000.0}
_ISO = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def parse_duration_ms(text: str) -> int:
    """Pacemaker's duration syntax: '20s', '20' (seconds), '500ms', '2min', '1h', 'PT1M30S'."""
    m = _DURATION.match(text)
    if m and m.group(2).lower() in _UNIT_MS:
        return round(float(m.group(1)) * _UNIT_MS[m.group(2).lower()])
    iso = _ISO.match(text.strip().upper())
    if iso and any(iso.groups()):
        d, h, mi, s = (float(g) if g else 0.0 for g in iso.groups())
        return round((((d * 24 + h) * 60 + mi) * 60 + s) * 1000)
    raise ValueError(f"invalid duration {text!r} (expected e.g. '20s', '500ms', '2min')")


def _text(el: ET.Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def parse_metadata_xml(xml_text: str, source: str = "agent") -> AgentMetadata:
    """Parse OCF <resource-agent> XML; `source` names the agent in errors."""
    try:
        root = ET.fromstring(xml_text.strip())
    except ET.ParseError as e:
        raise MetadataError(f"{source}: meta-data is not well-formed XML: {e}") from None
    if root.tag != "resource-agent":
        raise MetadataError(f"{source}: meta-data root is <{root.tag}>, expected <resource-agent>")
    params = []
    for p in root.iterfind("parameters/parameter"):
        name = p.get("name")
        if not name:
            raise MetadataError(f"{source}: a <parameter> has no name")
        content = p.find("content")
        params.append(ParameterInfo(
            name=name, required=_flag(p.get("required")), unique=_flag(p.get("unique")),
            default=content.get("default") if content is not None else None,
            content_type=(content.get("type") or "string") if content is not None else "string",
            shortdesc=_text(p.find("shortdesc")), deprecated=_flag(p.get("deprecated"))
            or p.find("deprecated") is not None))
    actions = []
    for a in root.iterfind("actions/action"):
        name = a.get("name")
        if not name:
            raise MetadataError(f"{source}: an <action> has no name")
        try:
            timeout = a.get("timeout")
            interval = a.get("interval")
            depth = a.get("depth")
            actions.append(ActionInfo(
                name=name,
                timeout_s=parse_duration_ms(timeout) / 1000 if timeout else None,
                interval_ms=parse_duration_ms(interval) if interval else None,
                depth=int(depth) if depth not in (None, "") else None,
                role=a.get("role")))
        except ValueError as e:
            raise MetadataError(f"{source}: action {name!r}: {e}") from None
    return AgentMetadata(
        name=root.get("name") or "", version=_text(root.find("version")) or root.get("version") or "",
        shortdesc=_text(root.find("shortdesc")), longdesc=_text(root.find("longdesc")),
        parameters=params, actions=actions)


def _xml_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def render_metadata_xml(md: AgentMetadata) -> str:
    """OCF meta-data XML for `md` (native agents print this for `meta-data`)."""
    out = ['<?xml version="1.0"?>', '<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">',
           f'<resource-agent name="{_xml_escape(md.name)}" version="{_xml_escape(md.version)}">',
           "<version>1.1</version>",
           f'<longdesc lang="en">{_xml_escape(md.longdesc)}</longdesc>',
           f'<shortdesc lang="en">{_xml_escape(md.shortdesc)}</shortdesc>', "<parameters>"]
    for p in md.parameters:
        default = f' default="{_xml_escape(p.default)}"' if p.default is not None else ""
        out += [f'<parameter name="{_xml_escape(p.name)}" required="{int(p.required)}" '
                f'unique="{int(p.unique)}">',
                f'<longdesc lang="en">{_xml_escape(p.shortdesc)}</longdesc>',
                f'<shortdesc lang="en">{_xml_escape(p.shortdesc)}</shortdesc>',
                f'<content type="{_xml_escape(p.content_type)}"{default}/>', "</parameter>"]
    out += ["</parameters>", "<actions>"]
    for a in md.actions:
        attrs = f'name="{_xml_escape(a.name)}"'
        if a.timeout_s is not None:
            attrs += f' timeout="{a.timeout_s:g}s"'
        if a.interval_ms is not None:
            attrs += f' interval="{a.interval_ms / 1000:g}s"'
        if a.depth is not None:
            attrs += f' depth="{a.depth}"'
        if a.role:
            attrs += f' role="{_xml_escape(a.role)}"'
        out.append(f"<action {attrs}/>")
    out += ["</actions>", "</resource-agent>", ""]
    return "\n".join(out)
