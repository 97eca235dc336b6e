"""Pacemaker's readers for resource agents: `cibadmin -Q` and `crm_mon` (XML), from Corral's state.

Debian's galera and rabbitmq-cluster agents read the cluster with exactly these forms (grep of
resource-agents 4.12 and its ocf-shellfuncs):

    cibadmin -Q                                     the whole CIB (crm_mon_no_validation feeds it
                                                    to crm_mon as CIB_file=<(cibadmin -Q | sed ...))
    cibadmin -Q --xpath "//node_state[@crmd='online']//nvpair[@name='...']"   (rabbitmq-cluster)
    crm_mon -1 --output-as=xml, crm_mon -1 --as-xml, crm_mon -1X               (galera)
    crm_mon -r --as-xml                                                        (rabbitmq-cluster)

Those are accepted (and `-l`/`--local`, `-V`, `--inactive`); anything else is refused with a
usage error (exit 64) that says what is supported: Corral's configuration is changed with `corral`,
never through cibadmin. With CIB_file set both tools read that file, as Pacemaker's do (the CIB
a file holds is printed as Pacemaker prints it, comments kept); without it `cibadmin` asks this
node's agent for the live CIB (corral.cluster.cib_export) and `crm_mon` renders that.

Exit codes as Pacemaker's: 0 ok, 64 usage, 69 cluster unreachable, 105 (cibadmin) no match.
This module imports only the standard library at start-up; rendering imports Corral's model.
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

EX_OK, EX_USAGE, EX_UNAVAILABLE, EX_NOSUCH, EX_DATAERR = 0, 64, 69, 105, 65
CIB_FILE_ENV = "CIB_file"


class ToolFailure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class CibSource(Protocol):
    def cib(self) -> str: ...


class _Parser(argparse.ArgumentParser):
    def __init__(self, prog: str, supported: str) -> None:
        super().__init__(prog=prog, add_help=False, allow_abbrev=False)
        self.supported = supported

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ToolFailure(EX_USAGE, f"{message} (Corral provides only {self.supported})")


def _cib_text(source: CibSource, env: Mapping[str, str]) -> str:
    path = env.get(CIB_FILE_ENV)
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except OSError as exc:
            raise ToolFailure(EX_UNAVAILABLE, f"could not read CIB_file {path}: {exc.strerror}") from None
    return source.cib()


# --- cibadmin ----------------------------------------------------------------------------------------
CIBADMIN_FORMS = "cibadmin -Q [--xpath XPATH] [-l]: queries"


def cibadmin(argv: Sequence[str], source: CibSource, out: Callable[[str], None],
             env: Mapping[str, str] | None = None) -> int:
    p = _Parser("cibadmin", CIBADMIN_FORMS)
    p.add_argument("-Q", "--query", action="store_true")
    p.add_argument("-A", "--xpath")
    p.add_argument("-l", "--local", action="store_true")   # one CIB here: local and cluster-wide agree
    p.add_argument("-V", "--verbose", action="count", default=0)
    a = p.parse_args(list(argv))
    if not a.query:
        raise ToolFailure(EX_USAGE, f"Corral's cibadmin answers only queries ({CIBADMIN_FORMS}); the configuration "
                                    "changes with `corral load` and the other corral commands")
    from corral.model.xml_out import parse, to_text

    text = _cib_text(source, env if env is not None else os.environ)
    try:
        root = parse(text)
    except Exception as exc:  # noqa: BLE001 - ParseError and expat's errors alike
        raise ToolFailure(EX_DATAERR, f"the CIB is not valid XML: {exc}") from None
    if a.xpath is None:
        out(to_text(root).rstrip("\n"))
        return EX_OK
    matches = xpath_find(root, a.xpath)
    if not matches:
        raise ToolFailure(EX_NOSUCH, "Call failed: No such device or address")
    if len(matches) == 1:
        out(to_text(matches[0]).rstrip("\n"))
    else:
        from corral.model.xml_out import element

        wrapper = element("xpath-query")
        wrapper.extend(matches)
        out(to_text(wrapper).rstrip("\n"))
    return EX_OK


def xpath_find(root, xpath: str) -> list:  # noqa: ANN001 - an ElementTree element
    """The elements an XPath selects, for the location paths ElementTree can evaluate
    (`//a[@x='y']//b`, `/cib/status/...`); anything else is a usage error, not a wrong answer."""
    if xpath.startswith("//"):
        path = "." + xpath
    elif xpath.startswith("/"):
        first, _, rest = xpath[1:].partition("/")
        if first != root.tag:
            return []
        if not rest:
            return [root]
        path = "./" + rest
    else:
        raise ToolFailure(EX_USAGE, f"XPath {xpath!r}: only absolute location paths are supported")
    try:
        return [e for e in root.findall(path) if isinstance(e.tag, str)]
    except (SyntaxError, KeyError, TypeError) as exc:
        raise ToolFailure(EX_USAGE, f"XPath {xpath!r} is not supported by Corral's cibadmin ({exc}); "
                                    "location paths with [@attr='value'] predicates are") from None


# --- crm_mon -------------------------------------------------------------------------------------------
CRM_MON_FORMS = "crm_mon -1 --output-as=xml, crm_mon [-1] --as-xml / -X, with -r: one-shot XML"


def crm_mon(argv: Sequence[str], source: CibSource, out: Callable[[str], None],
            env: Mapping[str, str] | None = None) -> int:
    p = _Parser("crm_mon", CRM_MON_FORMS)
    p.add_argument("-1", "--one-shot", dest="one_shot", action="store_true")
    p.add_argument("--output-as", choices=("xml", "text"))
    p.add_argument("-X", "--as-xml", action="store_true")
    p.add_argument("-r", "--inactive", action="store_true")  # XML always lists inactive resources
    p.add_argument("-V", "--verbose", action="count", default=0)
    a = p.parse_args(list(argv))
    legacy = a.as_xml
    if a.output_as == "text" or (a.output_as is None and not legacy):
        raise ToolFailure(EX_USAGE, f"Corral's crm_mon provides only XML output ({CRM_MON_FORMS}); "
                                    "`corral status` prints the text form")
    if not legacy and not a.one_shot:
        raise ToolFailure(EX_USAGE, f"Corral's crm_mon provides only one-shot output ({CRM_MON_FORMS})")
    import xml.etree.ElementTree as ET

    from corral.model import crm_mon_xml

    text = _cib_text(source, env if env is not None else os.environ)
    try:
        root = ET.fromstring(text)
        cfg, state, header = crm_mon_xml.inputs_from_cib(root)
    except ET.ParseError as exc:
        raise ToolFailure(EX_DATAERR, f"the CIB is not valid XML: {exc}") from None
    except ValueError as exc:  # ConfigError: a CIB Corral cannot read
        raise ToolFailure(EX_DATAERR, f"cannot read the CIB: {exc}") from None
    request = " ".join(["crm_mon", *argv])
    out(crm_mon_xml.render(cfg, state, header, legacy=legacy, request=request).rstrip("\n"))
    return EX_OK
