"""Word-processor transcripts (.docx, .odt): paragraphs become lines of labelled text.

Besides the text, a reader notes which paragraphs are bold throughout or headings (a speaker's
name on its own line is often shown so) and reads tables with a speaker column and a text
column (:func:`.layouts.table_rows`) as one turn per row; :mod:`.text` then sniffs the layout.
"""

from __future__ import annotations

import io
import unicodedata
import zipfile

from ..textio import clean_text, open_archive
from ..transcript import IngestError, Transcript
from .layouts import table_rows
from .text import Label, parse_labelled_text


def _open_zip(raw: bytes, kind: str) -> zipfile.ZipFile:
    return open_archive(raw, kind)


class _Lines:
    """The lines of a document as they are collected, with what the layout sniffer needs."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.emphasised: set[int] = set()
        self.known: dict[int, Label] = {}

    def paragraph(self, text: str, emphasised: bool = False) -> None:
        # a line break inside a paragraph is a line of its own: some exports put the speaker's
        # name and their speech in one paragraph, separated by a break
        parts = text.splitlines() or [""]
        if emphasised and len(parts) == 1 and text.strip():
            self.emphasised.add(len(self.lines))
        self.lines.extend(parts)

    def table(self, rows: list[list[str]]) -> None:
        turns = table_rows(rows)
        if turns is None:  # not a transcript table: its rows as text
            self.lines.extend(" ".join(c for c in row if c.strip()) for row in rows)
            return
        for row in turns:
            if row.speaker:
                self.known[len(self.lines)] = (row.speaker, len(row.speaker) + 2, row.time)
                self.lines.append(f"{row.speaker}: {row.text}")
            else:
                self.lines.append(row.text)

    def transcript(self, source_format: str) -> Transcript:
        joined = "\n".join(" ".join(line.splitlines()) for line in self.lines)
        if not joined.strip():
            raise IngestError("document has no text")
        # clean_text keeps one line per paragraph, so line indices stay valid; NFC may change a
        # label's length, so the speech offsets are measured again
        text = clean_text(joined)
        known = {i: (nfc := unicodedata.normalize("NFC", label), len(nfc) + 2, time)
                 for i, (label, _, time) in self.known.items()}
        return parse_labelled_text(text, source_format, self.emphasised, known)


# ---------------------------------------------------------------------- .docx


def read_docx(raw: bytes) -> Transcript:
    import docx  # python-docx

    _open_zip(raw, ".docx")
    try:
        document = docx.Document(io.BytesIO(raw))
    except Exception as exc:  # python-docx raises several unrelated types for broken packages
        raise IngestError(f"not a valid .docx file ({type(exc).__name__}: {exc})") from exc
    out = _Lines()
    # Walk paragraphs and tables in document order.
    for child in document.element.body.iterchildren():
        tag = _local(child.tag)
        if tag == "p":
            out.paragraph(_paragraph_text(child), _docx_emphasised(child))
        elif tag == "tbl":
            rows = [
                [
                    " ".join(_paragraph_text(p) for p in cell.iter() if _local(p.tag) == "p").strip()
                    for cell in row.iterchildren() if _local(cell.tag) == "tc"
                ]
                for row in child.iter() if _local(row.tag) == "tr"
            ]
            out.table(rows)
    return out.transcript("docx")


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _paragraph_text(p) -> str:
    parts: list[str] = []
    for node in p.iter():
        tag = _local(node.tag)
        if tag == "t" and node.text:
            parts.append(node.text)
        elif tag == "tab":
            parts.append("\t")
        elif tag in ("br", "cr"):
            parts.append("\n")
    return "".join(parts)


def _run_text(run) -> str:
    return "".join(t.text or "" for t in run.iter() if _local(t.tag) == "t")


def _on(flag) -> bool:
    """A w:b element switches bold on unless its w:val says 0 or false."""
    if flag is None:
        return False
    value = next((v for k, v in flag.attrib.items() if _local(k) == "val"), "1")
    return value.lower() not in ("0", "false", "off")


def _docx_emphasised(p) -> bool:
    """A heading, or a paragraph whose text is bold throughout (directly or by a bold style)."""
    style = next((e for e in p.iter() if _local(e.tag) == "pStyle"), None)
    style_name = next((v for k, v in style.attrib.items() if _local(k) == "val"), "") if style is not None else ""
    if style_name.lower().startswith(("heading", "title")):
        return True
    props = next((c for c in p if _local(c.tag) == "pPr"), None)
    marks = next((c for c in props if _local(c.tag) == "rPr"), None) if props is not None else None
    paragraph_bold = marks is not None and any(_on(c) for c in marks if _local(c.tag) == "b")
    runs = [r for r in p.iter() if _local(r.tag) == "r" and _run_text(r).strip()]
    if not runs:
        return False

    def bold(run) -> bool:
        props = next((c for c in run if _local(c.tag) == "rPr"), None)
        if props is None:
            return paragraph_bold
        flag = next((c for c in props if _local(c.tag) == "b"), None)
        if flag is not None:
            return _on(flag)
        rstyle = next((c for c in props if _local(c.tag) == "rStyle"), None)
        if rstyle is not None and any(v.lower() in ("strong", "bold") for k, v in rstyle.attrib.items()):
            return True
        return paragraph_bold

    return all(bold(r) for r in runs)


# ---------------------------------------------------------------------- .odt


def read_odt(raw: bytes) -> Transcript:
    archive = _open_zip(raw, ".odt")
    if "content.xml" not in archive.namelist():
        raise IngestError("not a valid .odt file (no content.xml)")
    from odf import teletype
    from odf.opendocument import load

    try:
        document = load(io.BytesIO(raw))
    except Exception as exc:  # odfpy raises bare XML errors on damaged files
        raise IngestError(f"not a valid .odt file ({type(exc).__name__}: {exc})") from exc
    if getattr(document, "text", None) is None:
        raise IngestError("not a valid .odt file (content.xml has no text body)")
    bold = _odt_bold_styles(document)
    out = _Lines()
    for kind, node in _blocks(document.text):
        if kind == "table":
            rows = [
                [" ".join(teletype.extractText(p).replace("\n", " ") for _, p in _blocks(cell)).strip()
                 for cell in row.childNodes if _qname(cell) in ("table-cell", "covered-table-cell")]
                for row in _descendants(node, "table-row")
            ]
            out.table(rows)
        else:
            out.paragraph(teletype.extractText(node), kind == "h" or _odt_all_bold(node, bold))
    return out.transcript("odt")


def _qname(node) -> str | None:
    return getattr(node, "qname", (None, None))[1]


def _blocks(root):
    """Paragraphs (``p``, ``h``) and tables (``table``) in document order, lists included."""
    stack = list(reversed(root.childNodes))
    while stack:
        node = stack.pop()
        name = _qname(node)
        if name in ("p", "h", "table"):
            yield name, node
            continue
        stack.extend(reversed(getattr(node, "childNodes", [])))


def _descendants(root, name: str):
    for child in getattr(root, "childNodes", []):
        if _qname(child) == name:
            yield child
        elif _qname(child) != "table":  # rows of a nested table are its own
            yield from _descendants(child, name)


def _odt_bold_styles(document) -> set[str]:
    """Names of the paragraph and text styles that make text bold."""
    names: set[str] = set()
    for container in (document.automaticstyles, document.styles):
        for style in getattr(container, "childNodes", []):
            if _qname(style) != "style":
                continue
            for props in style.childNodes:
                if _qname(props) == "text-properties" and _attr(props, "font-weight") == "bold":
                    names.add(_attr(style, "name") or "")
    return names


def _attr(node, local: str) -> str | None:
    for (_, name), value in getattr(node, "attributes", {}).items():
        if name == local:
            return value
    return None


def _odt_all_bold(p, bold: set[str]) -> bool:
    """Whether every non-blank piece of text in the paragraph is bold (by its or a span's style)."""
    texts: list[tuple[str, bool]] = []

    def walk(node, inherited: bool) -> None:
        for child in getattr(node, "childNodes", []):
            if child.nodeType == child.TEXT_NODE:
                texts.append((str(child.data), inherited))
            else:
                walk(child, inherited or _attr(child, "style-name") in bold)

    walk(p, _attr(p, "style-name") in bold)
    spoken = [b for text, b in texts if text.strip()]
    return bool(spoken) and all(spoken)
