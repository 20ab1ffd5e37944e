"""Word-processor transcripts (.docx, .odt): paragraphs become lines of labelled text."""

from __future__ import annotations

import io
import zipfile

from ..textio import clean_text
from ..transcript import IngestError, Transcript
from .text import parse_labelled_text


def _open_zip(raw: bytes, kind: str) -> zipfile.ZipFile:
    if not raw:
        raise IngestError("file is empty")
    try:
        return zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile as exc:
        raise IngestError(f"not a valid {kind} file (it is not a zip archive, or the archive is damaged)") from exc


def read_docx(raw: bytes) -> Transcript:
    import docx  # python-docx

    _open_zip(raw, ".docx")
    try:
        document = docx.Document(io.BytesIO(raw))
    except Exception as exc:  # python-docx raises several unrelated types for broken packages
        raise IngestError(f"not a valid .docx file ({type(exc).__name__}: {exc})") from exc
    lines: list[str] = []
    body = document.element.body
    # Walk paragraphs and tables in document order: transcripts are sometimes laid out as
    # two-column tables (speaker | speech).
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            lines.append(_paragraph_text(child))
        elif tag == "tbl":
            for row in child.iter(child.tag.replace("tbl", "tr")):
                cells = [
                    " ".join(_paragraph_text(p) for p in cell.iter(child.tag.replace("tbl", "p"))).strip()
                    for cell in row.iterchildren(child.tag.replace("tbl", "tc"))
                ]
                cells = [c for c in cells if c]
                if len(cells) == 2 and len(cells[0]) <= 40:
                    lines.append(f"{cells[0].rstrip(':')}: {cells[1]}")
                else:
                    lines.append(" ".join(cells))
    text = "\n".join(lines)
    if not text.strip():
        raise IngestError("document has no text")
    return parse_labelled_text(clean_text(text), "docx")


def _paragraph_text(p) -> str:
    parts: list[str] = []
    for node in p.iter():
        tag = node.tag.rsplit("}", 1)[-1]
        if tag == "t" and node.text:
            parts.append(node.text)
        elif tag == "tab":
            parts.append("\t")
        elif tag in ("br", "cr"):
            parts.append(" ")
    return "".join(parts)


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
    lines = [teletype.extractText(p).replace("\n", " ") for p in _paragraphs(document.text)]
    text = "\n".join(lines)
    if not text.strip():
        raise IngestError("document has no text")
    return parse_labelled_text(clean_text(text), "odt")


def _paragraphs(root):
    """text:p and text:h elements in document order (lists and tables included)."""
    stack = list(reversed(root.childNodes))
    while stack:
        node = stack.pop()
        if getattr(node, "qname", (None, None))[1] in ("p", "h"):
            yield node
            continue
        stack.extend(reversed(getattr(node, "childNodes", [])))
