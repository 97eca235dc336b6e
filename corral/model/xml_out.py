"""XML text as Pacemaker (libxml2) writes it: two-space indent, attributes in insertion order,
`<empty/>` with no space before the slash, attribute values escaped as libxml2 escapes them.

Agents parse `cibadmin` and `crm_mon` output line by line with grep and sed, so the exact text
matters (ElementTree's own writer puts a space before `/>` and escapes differently).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

_ATTR_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;",
                 "\t": "&#9;"}
_TEXT_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}


def _escape(text: str, table: dict[str, str]) -> str:
    return "".join(table.get(c, c) for c in text)


def element(tag: str, attrs: dict[str, str] | None = None, parent: ET.Element | None = None) -> ET.Element:
    """A new element (appended to parent when given); attribute order is the dict's."""
    el = ET.Element(tag, {k: v for k, v in (attrs or {}).items() if v is not None})
    if parent is not None:
        parent.append(el)
    return el


def to_text(root: ET.Element) -> str:
    """The element tree as text, one element per line, ending with a newline."""
    lines: list[str] = []
    _write(root, 0, lines)
    return "\n".join(lines) + "\n"


def parse(text: str) -> ET.Element:
    """XML text -> element tree, comments kept (cibadmin prints them back)."""
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    parser.feed(text)
    return parser.close()


def _write(el: ET.Element, depth: int, lines: list[str]) -> None:
    pad = "  " * depth
    if el.tag is ET.Comment:
        lines.append(f"{pad}<!--{el.text or ''}-->")
        return
    attrs = "".join(f' {k}="{_escape(str(v), _ATTR_ESCAPES)}"' for k, v in el.attrib.items())
    text = (el.text or "").strip()
    children = list(el)
    if not children and not text:
        lines.append(f"{pad}<{el.tag}{attrs}/>")
    elif not children:
        lines.append(f"{pad}<{el.tag}{attrs}>{_escape(text, _TEXT_ESCAPES)}</{el.tag}>")
    else:
        lines.append(f"{pad}<{el.tag}{attrs}>")
        for child in children:
            _write(child, depth + 1, lines)
        lines.append(f"{pad}</{el.tag}>")
