"""Load a configuration file, Corral YAML or Pacemaker CIB XML, chosen by content.

A file whose first non-blank character is '<' is a CIB; anything else is YAML.
Both paths end in `corral.model.validate`. A CIB is checked leniently (what
Pacemaker's scheduler tolerates becomes a warning) so an existing cluster's CIB
can be imported and simulated; YAML is strict. `strict=` overrides either.
"""
from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from xml.parsers import expat

from corral.model.cib import parse_cib
from corral.model.cib_status import parse_status
from corral.model.config import Configuration
from corral.model.errors import ConfigError
from corral.model.state import ClusterState
from corral.model.validate import DefaultLocator, validate
from corral.model.yaml_config import _read_text, parse_yaml_config
from corral.model.yaml_state import parse_yaml_state

log = logging.getLogger("corral.model")

Format = Literal["yaml", "cib"]


@dataclass
class Loaded:
    config: Configuration
    format: Format
    source: str
    warnings: list[str] = field(default_factory=list)
    state: ClusterState | None = None  # a CIB's status section, when it has one


def detect_format(text: str) -> Format:
    return "cib" if text.lstrip("\ufeff \t\r\n").startswith("<") else "yaml"


Unsupported = Literal["error", "warn"]


def load(path: str | Path, *, strict: bool | None = None, unsupported: Unsupported = "error") -> Loaded:
    """Read, parse and validate a configuration file; raise ConfigError naming every problem.

    unsupported: "warn" accepts settings Corral does not implement (`corral.model.support`)
    with a warning, for simulation only; a configuration to run is refused ("error")."""
    source = str(path)
    text = _read_text(path)
    if detect_format(text) == "cib":
        return _load_cib(text, source, strict=False if strict is None else strict, unsupported=unsupported)
    config, locator = parse_yaml_config(text, source)
    config.warnings.extend(validate(config, source, locator, lenient=strict is False,
                                    unsupported=unsupported))
    return Loaded(config, "yaml", source, config.warnings)


def load_config(path: str | Path, *, strict: bool | None = None,
                unsupported: Unsupported = "error") -> Configuration:
    """The Configuration of a YAML or CIB file; its warnings are in `config.warnings`
    and also go to the 'corral.model' logger."""
    loaded = load(path, strict=strict, unsupported=unsupported)
    for w in loaded.warnings:
        log.warning("%s", w)
    return loaded.config


def load_state(path: str | Path, config: Configuration) -> ClusterState:
    """A cluster state from a YAML state file or a CIB's status section."""
    text = _read_text(path)
    if detect_format(text) == "yaml":
        return parse_yaml_state(text, config, str(path))
    return parse_status(_parse_xml(text, str(path)), config)


def _load_cib(text: str, source: str, *, strict: bool, unsupported: Unsupported = "error") -> Loaded:
    root = _parse_xml(text, source)
    config = parse_cib(root, source)
    templates = {el.get("id", ""): "template" for el in root.iterfind("configuration/resources/template")}
    config.warnings.extend(validate(config, source, DefaultLocator(config, source, _id_lines(text)),
                                    lenient=not strict, other_ids=templates, unsupported=unsupported))
    state = parse_status(root, config) if root.find("status") is not None else None
    return Loaded(config, "cib", source, config.warnings, state)


def _parse_xml(text: str, source: str) -> ET.Element:
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        line, col = exc.position
        problem = str(exc).split(": line ")[0]
        raise ConfigError(f"{source}:{line}:{col + 1}", f"invalid XML: {problem}") from exc


def _id_lines(text: str) -> dict[str, int]:
    """Element id -> line, so CIB problems can name a line as well as the element."""
    lines: dict[str, int] = {}
    parser = expat.ParserCreate()

    def start(_tag: str, attrs: dict[str, str]) -> None:
        ident = attrs.get("id")
        if ident and ident not in lines:
            lines[ident] = parser.CurrentLineNumber

    parser.StartElementHandler = start
    try:
        parser.Parse(text, True)
    except expat.ExpatError:
        pass  # already parsed once; lines are a courtesy
    return lines
