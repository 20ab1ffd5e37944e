"""The codebook in REFI-QDA XML, both ways: a project's ``CodeBook`` and the ``.qdc`` codebook file.

One place writes and reads codes as XML, for the .qdpx export, the .qdpx import and the .qdc
exchange (REFI-QDA 1.5, 4.4 and 5.2: root ``CodeBook`` in ``urn:QDA-XML:codebook:1.0``, the
same ``Code`` elements as a project's codebook). A code's definition, use-when and not-when
criteria and examples travel in its one ``Description``, as paragraphs::

    <definition>

    Use when: <inclusion>

    Not when: <exclusion>

    Examples: <example> | <example>

and are split back on import; a description from another tool, with none of these labels, is
the definition. REFI-QDA codes nest to any depth; so do ours (summaries group by the top-level
code, the meta-theme).

Every XML file from outside is parsed by :func:`parse_xml`: no DTD, no entities, no network.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from lxml import etree

from ..codebook import Code, Codebook
from ..textio import clean_name
from ..version import __version__

__all__ = [
    "QDC_NAMESPACE",
    "XmlError",
    "build_qdc",
    "code_description",
    "parse_xml",
    "read_codes",
    "read_qdc",
    "split_description",
    "write_codes",
]

QDC_NAMESPACE = "urn:QDA-XML:codebook:1.0"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
QDC_SCHEMA_LOCATION = f"{QDC_NAMESPACE} http://schema.qdasoftware.org/versions/Codebook/v1.0/Codebook.xsd"
MAX_QDC_BYTES = 64 * 1024 * 1024  # a codebook is names and paragraphs
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# The labels of our Description paragraphs, and the Code fields they carry.
_LABELS = {"Use when:": "inclusion", "Not when:": "exclusion", "Examples:": "examples"}
_ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be")
_LABEL = re.compile(r"^(Use when:|Not when:|Examples:)[ \t]*", re.MULTILINE)


class XmlError(ValueError):
    """XML that is refused: not well-formed, or with a DTD or entities."""


def xml_text(value: object) -> str:
    """Text XML 1.0 can carry: control characters other than tab and newline removed."""
    return _NOT_XML.sub("", str(value).replace("\r\n", "\n"))


def parse_xml(data: bytes) -> etree._Element:
    """Parse XML from outside, refusing a DOCTYPE: no entity is expanded, nothing is fetched.

    A DTD is how the billion-laughs bomb and external entities come in, and REFI-QDA files
    have none, so one is refused outright rather than parsed around.
    """
    # Refused before parsing: libxml2 expands internal entities in attribute values even with
    # resolve_entities off. Only a DTD declares entities; the markers are looked for in UTF-8 and UTF-16.
    if any(marker.encode(enc) in data for marker in ("<!DOCTYPE", "<!ENTITY") for enc in _ENCODINGS):
        raise XmlError("has a DOCTYPE (a DTD or entities), which REFI-QDA files never have: refused")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                             huge_tree=False, remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise XmlError(f"not well-formed XML ({' '.join(str(exc).split())})") from exc  # libxml2 ends lines in it
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise XmlError("has a DOCTYPE (a DTD or entities), which REFI-QDA files never have: refused")
    if any(isinstance(el, etree._Entity) for el in root.iter()):
        raise XmlError("uses XML entities: refused")
    return root


# ---------------------------------------------------------------------------- descriptions


def code_description(code: Code) -> str:
    """A code's definition, criteria and examples as one ``Description`` (labelled paragraphs)."""
    parts = [code.description] if code.description else []
    if code.inclusion:
        parts.append(f"Use when: {code.inclusion}")
    if code.exclusion:
        parts.append(f"Not when: {code.exclusion}")
    if code.examples:
        parts.append("Examples: " + " | ".join(code.examples))
    return "\n\n".join(parts)


def split_description(text: str | None) -> dict[str, object]:
    """A ``Description`` back into description, inclusion, exclusion and examples.

    A label counts at the start of a paragraph only, and its section runs to the next label;
    what precedes the first label is the definition (all of it, for another tool's text).
    """
    text = (text or "").replace("\r\n", "\n").strip()
    out: dict[str, object] = {"description": "", "inclusion": "", "exclusion": "", "examples": []}
    starts = [m for m in _LABEL.finditer(text) if m.start() == 0 or text[max(0, m.start() - 2):m.start()] == "\n\n"]
    if not starts:
        out["description"] = text
        return out
    out["description"] = text[: starts[0].start()].strip()
    for m, nxt in zip(starts, [*starts[1:], None], strict=True):
        body = text[m.end(): nxt.start() if nxt else len(text)].strip()
        key = _LABELS[m.group(1)]
        if key == "examples":
            out[key] = [*out[key], *(p.strip() for p in body.split(" | ") if p.strip())]  # type: ignore[misc]
        else:
            out[key] = f"{out[key]}\n\n{body}".strip() if out[key] else body
    return out


# ---------------------------------------------------------------------------- writing


def write_codes(
    parent_el: etree._Element, namespace: str, codes: list[Code], guid: Callable[[str], str],
    used: set[str] = frozenset(),  # type: ignore[assignment]
) -> int:
    """Add ``<Codes>`` with the codebook's hierarchy under ``parent_el`` (a ``CodeBook``).

    ``guid(code name)`` gives each code's GUID. A code with children groups them
    (``isCodable="false"``, REFI-QDA 11: a code folder) unless it is in ``used``, codes
    somebody applied directly. Returns how many codes were written.
    """
    names = {c.code for c in codes}
    children: dict[str | None, list[Code]] = defaultdict(list)
    for c in codes:
        children[c.parent if c.parent in names else None].append(c)
    written = 0

    def sub(parent: etree._Element, tag: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{namespace}}}{tag}")

    def add(parent_el: etree._Element, parent: str | None) -> None:
        nonlocal written
        for c in children.get(parent, []):
            el = sub(parent_el, "Code")
            el.set("guid", guid(c.code))
            el.set("name", xml_text(c.code))
            el.set("isCodable", "true" if c.code in used or not children.get(c.code) else "false")
            description = code_description(c)
            if description:
                sub(el, "Description").text = xml_text(description)
            written += 1
            add(el, c.code)

    if codes:
        add(sub(parent_el, "Codes"), None)
    return written


def build_qdc(book: Codebook, guid: Callable[[str], str], origin: str | None = None) -> bytes:
    """A codebook as a REFI-QDA ``.qdc`` file (bytes)."""
    root = etree.Element(f"{{{QDC_NAMESPACE}}}CodeBook", nsmap={None: QDC_NAMESPACE, "xsi": XSI})
    root.set("origin", origin or f"nlp-theming {__version__}")
    root.set(f"{{{XSI}}}schemaLocation", QDC_SCHEMA_LOCATION)
    write_codes(root, QDC_NAMESPACE, list(book.codes), guid)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(root, encoding="UTF-8", pretty_print=True)


# ---------------------------------------------------------------------------- reading


@dataclass
class ReadCodes:
    codes: list[Code] = field(default_factory=list)
    by_guid: dict[str, str] = field(default_factory=dict)  # normalised GUID -> code name
    warnings: list[str] = field(default_factory=list)


def norm_guid(value: str | None) -> str:
    """GUIDs compare without braces and case (REFI-QDA allows ``{...}`` and either case)."""
    return (value or "").strip().strip("{}").lower()


def read_codes(codebook_el: etree._Element | None, namespace: str) -> ReadCodes:
    """The codes under a ``CodeBook`` element, parents first, descriptions split.

    Names must be unique in our codebook: a repeated name gets its parent's name in brackets
    (then a number), and an empty one its GUID; each such change is a warning.
    """
    out = ReadCodes()
    if codebook_el is None:
        return out
    ns = f"{{{namespace}}}"
    codes_el = codebook_el.find(f"{ns}Codes")
    taken: set[str] = set()
    deep: list[str] = []

    def unique(name: str, parent: str | None, guid: str) -> str:
        base = name.strip() or f"code {clean_name(guid)}"
        if not name.strip():
            out.warnings.append(f"a code with no name (GUID {guid}) is called {base!r}")
        candidate, n = base, 1
        if candidate in taken and parent:
            candidate = f"{base} ({parent})"
        while candidate in taken:
            n += 1
            candidate = f"{base} ({n})"
        if candidate != base:
            out.warnings.append(f"code name {base!r} is used more than once: this one (GUID {guid}) is {candidate!r}")
        taken.add(candidate)
        return candidate

    def walk(el: etree._Element, parent: str | None, depth: int) -> None:
        for code_el in el.findall(f"{ns}Code"):
            guid = code_el.get("guid") or ""
            name = unique(clean_name(code_el.get("name")), parent, guid)
            parts = split_description(code_el.findtext(f"{ns}Description"))
            out.codes.append(Code(name, parent, str(parts["description"]), str(parts["inclusion"]),
                                  str(parts["exclusion"]), list(parts["examples"])))  # type: ignore[call-overload]
            out.by_guid[norm_guid(guid)] = name
            if depth > 2:
                deep.append(name)
            walk(code_el, name, depth + 1)

    if codes_el is not None:
        walk(codes_el, None, 1)
    if deep:
        shown = ", ".join(map(repr, deep[:5])) + (f" and {len(deep) - 5} more" if len(deep) > 5 else "")
        out.warnings.append(
            f"{len(deep)} codes are nested deeper than two levels ({shown}): kept where they are;"
            " summaries group every code under its top-level code"
        )
    return out


def read_qdc(data: bytes, name: str) -> tuple[Codebook, list[str]]:
    """A ``.qdc`` file's codebook (named ``name``) and warnings; XmlError/ValueError with the problem."""
    if len(data) > MAX_QDC_BYTES:
        raise ValueError(f"is too large for a codebook ({len(data) / 1e6:.0f} MB)")
    root = parse_xml(data)
    if root.tag != f"{{{QDC_NAMESPACE}}}CodeBook":
        raise ValueError(f"is not a REFI-QDA codebook: the root element is {root.tag}, not CodeBook in {QDC_NAMESPACE}")
    found = read_codes(root, QDC_NAMESPACE)
    if not found.codes:
        raise ValueError("holds no codes")
    dup = _duplicate_guid(root.iter(f"{{{QDC_NAMESPACE}}}Code"))
    if dup:
        raise ValueError(f"GUID {dup} names more than one code")
    warnings = list(found.warnings)
    sets = root.findall(f"{{{QDC_NAMESPACE}}}Sets/{{{QDC_NAMESPACE}}}Set")
    if sets:
        warnings.append(f"{len(sets)} code sets are not carried (nlp-theming has no sets)")
    return Codebook(name, found.codes), warnings


def _duplicate_guid(elements: Iterable[etree._Element]) -> str | None:
    seen: set[str] = set()
    for el in elements:
        g = norm_guid(el.get("guid"))
        if g in seen:
            return el.get("guid")
        seen.add(g)
    return None
