"""REFI-QDA project exchange: the confirmed human coding as a .qdpx file for NVivo, ATLAS.ti, MAXQDA.

A .qdpx is a zip holding ``project.qde`` (XML in the ``urn:QDA-XML:project:1.0`` namespace,
REFI-QDA 1.5, schema ``Project-mrt2019.xsd``) and a flat ``sources/`` folder. We write:

* ``Users``: one per human coder (the machine is never a coder of record);
* ``CodeBook``: the latest stored codebook with its hierarchy (meta-themes as parent codes, which
  are ``isCodable="false"`` unless somebody coded them), definitions in ``Description``;
* ``Variables`` and ``Cases``: every document attribute (site, participant, role, ...) as a
  variable; one case per value of ``case_by`` (default ``site``) holding its documents and the
  attributes that are constant within every such case;
* ``Sources``: each current document as a ``TextSource`` whose normalised text is
  ``sources/<guid>.txt`` (UTF-8, no byte-order mark), with its attributes as ``VariableValue``;
* one ``PlainTextSelection`` per (coder, document, span) in the current coding, carrying one
  ``Coding`` per code that coder applied to it. Positions are Unicode code points from 0, the end
  exclusive (as in the spec's examples): ``text[startPosition:endPosition]`` is the passage;
* ``Notes``: each memo in force as a ``Note`` (its text inline), referred to by a ``NoteRef``
  where it belongs: the project, a ``TextSource`` (document memos), a ``Code``, the coder's
  ``Coding`` (a memo on a decision whose code applies) or a ``PlainTextSelection`` of the passage
  (passage memos; one without codings when the coder coded nothing there).

Only the coding derived from the decision log goes in (:func:`nlp_theming.review.coding`):
machine suggestions, rejected and undone decisions are never exported. Every GUID is a uuid5 of
the project's creation stamp and a stable key (code name, document name, coder, span), and dates
come from the store, never the clock, so exporting an unchanged project twice gives the same bytes.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
import uuid
import zipfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from lxml import etree

from ..codebook import Code, CodebookError, load_stored_codebook
from ..store.decisions import coding, decision_row, decision_times, human_coders
from ..store.documents import (
    current_attributes,
    current_documents_frame,
    document_versions,
    recorded_scheme,
    segment_with_document,
)
from ..store.memos import memos_frame
from ..store.schema import get_meta
from ..textio import ZIP_ERRORS, InputError, check_size, open_archive
from ..version import __version__
from .refi_codebook import XmlError, build_qdc, parse_xml, write_codes, xml_text

__all__ = [
    "NAMESPACE",
    "NOT_EXPORTED",
    "QdcReport",
    "QdpxReport",
    "build_qdpx",
    "check_qdpx",
    "export_qdc",
    "export_qdpx",
    "validate_qde",
]

# How the project's Description names its segmentation scheme, so that importing the file into a
# fresh project cuts the same coding units (REFI-QDA has no element for them).
UNITS_NOTE = "Coding units: "
NAMESPACE = "urn:QDA-XML:project:1.0"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{NAMESPACE} http://schema.qdasoftware.org/versions/Project/v1.0/Project.xsd"
QDE_NAME = "project.qde"
SOURCES = "sources/"
MAX_INTERNAL_BYTES = 2**31 - 1  # REFI-QDA 8.5: the largest internal file
# Root of every GUID we make; the project's own namespace hangs off it.
_ROOT = uuid.uuid5(uuid.NAMESPACE_URL, "urn:nlp-theming:refi-qda")
_INTEGER = re.compile(r"-?(?:0|[1-9]\d{0,17})")
_DECIMAL = re.compile(r"-?\d+\.\d+")
NOT_EXPORTED = (
    "machine suggestions, rejected and undone decisions, segment boundaries, speaker turns and timestamps "
    "are not part of a REFI-QDA project and are not exported"
)


@dataclass
class QdpxReport:
    """What an export wrote, and what it could not (REFI-QDA 7: the user is told of data loss)."""

    path: Path
    users: list[str] = field(default_factory=list)
    codes: int = 0
    sources: int = 0
    selections: int = 0
    codings: int = 0
    variables: int = 0
    cases: int = 0
    notes: int = 0
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        who = ", ".join(self.users) if self.users else "nobody"
        return (
            f"wrote {self.path}: {self.sources} sources, {self.codes} codes, {self.selections} coded passages"
            f" ({self.codings} codings) by {len(self.users)} coders ({who}), {self.variables} variables,"
            f" {self.cases} cases, {self.notes} notes (memos)"
        )


def _stamp(value: object) -> str | None:
    """An ISO timestamp from the store as an xsd:dateTime in UTC (``...Z``); None when unreadable."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Guids:
    """Deterministic GUIDs: uuid5 over the project's namespace and a stable key."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.created = get_meta(con, "created_at") or ""
        self.namespace = uuid.uuid5(_ROOT, f"project:{self.created}")

    def __call__(self, kind: str, *parts: object) -> str:
        return str(uuid.uuid5(self.namespace, "\x1f".join([kind, *(str(p) for p in parts)])))


def _excerpt(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _variable_type(values: Iterable[str]) -> str:
    values = [v for v in values if v not in (None, "")]
    if values and all(_INTEGER.fullmatch(v) for v in values):
        return "Integer"
    if values and all(_INTEGER.fullmatch(v) or _DECIMAL.fullmatch(v) for v in values):
        return "Float"
    return "Text"


def _sub(
    parent: etree._Element, tag: str, attrs: dict[str, object] | None = None, text: str | None = None
) -> etree._Element:
    el = etree.SubElement(parent, f"{{{NAMESPACE}}}{tag}")
    for key, value in (attrs or {}).items():
        if value is not None:
            el.set(key, xml_text(value))
    if text is not None:
        el.text = xml_text(text)
    return el


def _current_coding(con: sqlite3.Connection, coders: list[str] | None) -> tuple[pd.DataFrame, list[str]]:
    """The confirmed coding of human coders (all, or those named) and the coders in the export."""
    known = human_coders(con)
    if coders is not None:
        unknown = [c for c in coders if c not in known]
        if unknown:
            raise ValueError(
                f"no decisions by {', '.join(map(repr, unknown))} in this project"
                f" (coders: {', '.join(known) or 'none yet'})"
            )
        known = sorted(set(coders))
    current = coding(con)
    if not current.empty:
        current = current[current.coder.isin(known)]
    return current, known


@dataclass
class _Passage:
    coder: str
    document_id: int
    start: int | None  # None: the coding applies to the whole document
    end: int | None
    code: str
    when: str | None  # xsd:dateTime of the decision that made it so


class _Builder:
    """Assembles project.qde from the store, one REFI-QDA section per method."""

    def __init__(self, con: sqlite3.Connection, coders: Iterable[str] | None, project_name: str) -> None:
        self.con = con
        self.guid = _Guids(con)
        self.report = QdpxReport(path=Path())
        self.project_name = project_name
        current, self.users = _current_coding(con, None if coders is None else list(coders))
        memos = memos_frame(con)
        self.memos = memos[memos.coder.isin(self.users)] if coders is not None else memos
        # a memo's author is a user of the file even with no coding of their own
        self.users = sorted(set(self.users) | set(self.memos.coder))
        self.report.users = self.users
        docs = current_documents_frame(con)
        self.docs = {int(d.id): d for d in docs.itertuples(index=False)}
        self.passages = self._place(current)
        attrs = current_attributes(con)
        self.attrs: dict[int, dict[str, str]] = defaultdict(dict)
        for r in attrs.itertuples(index=False):
            self.attrs[int(r.document_id)][str(r.key)] = str(r.value)
        self.keys = sorted({k for a in self.attrs.values() for k in a})
        self.var_type = {k: _variable_type(a[k] for a in self.attrs.values() if k in a) for k in self.keys}
        self.user_guid = {name: self.guid("user", name) for name in self.users}
        self.source_guid = {doc_id: self.guid("source", d.name) for doc_id, d in self.docs.items()}
        self.code_guid: dict[str, str] = {}
        self.files: dict[str, bytes] = {}
        self.book_label = "none"
        self.scheme = recorded_scheme(con)
        stamps = [p.when for p in self.passages if p.when]
        self.modified = max(stamps) if stamps else None
        self.created = _stamp(self.guid.created)

    def _place(self, current: pd.DataFrame) -> list[_Passage]:
        """Coding as passages of current texts; what cannot be placed is reported, not guessed."""
        at = decision_times(self.con)
        names = {doc_id: name for doc_id, (name, _) in document_versions(self.con).items()}
        stale: dict[tuple[str, str], int] = defaultdict(int)
        out = []
        self.span_of: dict[tuple[str, int, str], tuple[int, int]] = {}  # (coder, segment, code) -> its span
        for row in current.itertuples(index=False):
            doc_id = None if pd.isna(row.document_id) else int(row.document_id)
            doc = self.docs.get(doc_id) if doc_id is not None else None
            if doc is None:
                stale[(row.coder, names.get(doc_id, "?"))] += 1
                continue
            whole = pd.isna(row.start) or pd.isna(row.end)
            start, end = (None, None) if whole else (int(row.start), int(row.end))
            if start is not None and not 0 <= start < end <= len(doc.text):
                self.report.warnings.append(
                    f"{row.coder}'s {row.code!r} at {start}-{end} lies outside {doc.name!r}"
                    f" (0-{len(doc.text)}): not exported"
                )
                continue
            out.append(_Passage(row.coder, doc_id, start, end, row.code, _stamp(at.get(int(row.decision_id)))))
            if start is not None and not pd.isna(row.segment_id):
                self.span_of.setdefault((row.coder, int(row.segment_id), row.code), (start, end))
        for (coder, name), n in sorted(stale.items()):
            self.report.warnings.append(
                f"{n} codings by {coder} on an earlier version of {name!r} (re-ingested since): not exported"
            )
        return out

    def build(self, case_by: str | None) -> bytes:
        root = etree.Element(f"{{{NAMESPACE}}}Project", nsmap={None: NAMESPACE, "xsi": XSI})
        root.set("name", xml_text(self.project_name))
        root.set("origin", f"nlp-theming {__version__}")
        for attr, value in (("creationDateTime", self.created), ("modifiedDateTime", self.modified)):
            if value:
                root.set(attr, value)
        root.set(f"{{{XSI}}}schemaLocation", SCHEMA_LOCATION)
        # the schema's order: Users, CodeBook, Variables, Cases, Sources, ..., Description
        self.users_section(root)
        self.codebook_section(root)
        self.variables_section(root)
        self.cases_section(root, case_by)
        self.sources_section(root)
        notes = self.notes_section(root)
        who = ", ".join(self.users) or "none"
        _sub(root, "Description", text=(
            f"Exported by nlp-theming {__version__}: the confirmed coding of {len(self.users)} human coders"
            f" ({who}); machine suggestions are not included. Codebook: {self.book_label}."
            + (f" {UNITS_NOTE}{self.scheme}." if self.scheme else "")
        ))
        for guid in notes:  # the project's own notes come last, after its Description
            _sub(root, "NoteRef", {"targetGUID": guid})
        # the declaration as the spec's examples write it (lxml's own has single quotes)
        return b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(root, encoding="UTF-8", pretty_print=True)

    def users_section(self, root: etree._Element) -> None:
        if self.users:
            users_el = _sub(root, "Users")
            for name in self.users:
                _sub(users_el, "User", {"guid": self.user_guid[name], "name": name, "id": name})

    def codebook_section(self, root: etree._Element) -> None:
        """The latest stored codebook as nested codes, plus any code used in coding that it lacks."""
        try:
            version, book = load_stored_codebook(self.con)
            codes = list(book.codes)
            self.book_label = f"{book.name} (version {version})"
        except CodebookError:
            codes = []
        used = {p.code for p in self.passages}
        extra = sorted(used - {c.code for c in codes})
        if extra:
            self.report.warnings.append(
                f"codes used in coding but not in the latest codebook, exported as top-level codes: {', '.join(extra)}"
            )
        codes += [Code(code=c) for c in extra]
        self.code_guid = {c.code: self.guid("code", c.code) for c in codes}
        if codes:
            self.report.codes = write_codes(_sub(root, "CodeBook"), NAMESPACE, codes, self.code_guid.__getitem__, used)

    def variables_section(self, root: etree._Element) -> None:
        """Every document attribute, typed Integer or Float when all its values are such numbers."""
        if self.keys:
            variables_el = _sub(root, "Variables")
            for k in self.keys:
                _sub(variables_el, "Variable",
                     {"guid": self.guid("variable", k), "name": k, "typeOfVariable": self.var_type[k]})
            self.report.variables = len(self.keys)

    def _value(self, parent_el: etree._Element, key: str, value: str) -> None:
        value_el = _sub(parent_el, "VariableValue")
        _sub(value_el, "VariableRef", {"targetGUID": self.guid("variable", key)})
        kind = {"Integer": "IntegerValue", "Float": "FloatValue"}.get(self.var_type[key], "TextValue")
        _sub(value_el, kind, text=value)

    def cases_section(self, root: etree._Element, case_by: str | None) -> None:
        """One case per value of ``case_by``, holding its documents and the attributes constant in every case."""
        if not case_by or case_by not in self.keys:
            return
        members: dict[str, list[int]] = defaultdict(list)
        for doc_id in self.docs:  # in name order
            if case_by in self.attrs.get(doc_id, {}):
                members[self.attrs[doc_id][case_by]].append(doc_id)
        case_keys = [
            k for k in self.keys
            if all(k in self.attrs[ids[0]] and len({self.attrs[d].get(k) for d in ids}) == 1
                   for ids in members.values())
        ]
        cases_el = _sub(root, "Cases")
        for value in sorted(members):
            ids = members[value]
            case_el = _sub(cases_el, "Case", {"guid": self.guid("case", case_by, value), "name": value})
            _sub(case_el, "Description", text=f"Documents with {case_by} = {value}")
            for k in case_keys:
                self._value(case_el, k, self.attrs[ids[0]][k])
            for d in ids:
                _sub(case_el, "SourceRef", {"targetGUID": self.source_guid[d]})
        self.report.cases = len(members)

    def sources_section(self, root: etree._Element) -> None:
        """Each current document as a TextSource: its text file, passages and codings, attributes."""
        by_doc: dict[int, list[_Passage]] = defaultdict(list)
        for p in self.passages:
            by_doc[p.document_id].append(p)
        sources_el = _sub(root, "Sources") if self.docs else None
        for doc_id, doc in self.docs.items():
            text_guid = self.guid("text", doc.name, int(doc.version))
            data = doc.text.encode("utf-8")
            if len(data) > MAX_INTERNAL_BYTES:
                raise ValueError(f"{doc.name!r} is over the 2 GB REFI-QDA limit for an internal file")
            self.files[f"{SOURCES}{text_guid}.txt"] = data
            source_el = _sub(sources_el, "TextSource", {
                "guid": self.source_guid[doc_id],
                "name": doc.name,
                "plainTextPath": f"internal://{text_guid}.txt",
                "creationDateTime": _stamp(doc.ingested_at),
            })
            _sub(source_el, "Description", text=f"{doc.source_format} transcript, version {int(doc.version)}")
            self._selections(source_el, doc, [p for p in by_doc[doc_id] if p.start is not None])
            # coding of the whole document hangs on the source itself
            whole = _first_of_each(p for p in by_doc[doc_id] if p.start is None)
            for (coder, code), when in sorted(whole.items()):
                self._coding(source_el, ("coding", doc.name, coder, "document", code), coder, code, when)
            for k in sorted(self.attrs.get(doc_id, {})):
                self._value(source_el, k, self.attrs[doc_id][k])
            self.report.sources += 1

    def _selections(self, source_el: etree._Element, doc: Any, passages: list[_Passage]) -> None:
        """One PlainTextSelection per (coder, span), one Coding per code that coder applied to it."""
        spans: dict[tuple[int, int, str], list[_Passage]] = defaultdict(list)
        for p in passages:
            spans[(p.start, p.end, p.coder)].append(p)
        for (start, end, coder), here in sorted(spans.items(), key=lambda kv: kv[0]):
            # a span can come from several segments (an imported passage): one coding per code
            codes = _first_of_each(here)
            stamps = sorted(w for w in codes.values() if w)
            sel_el = _sub(source_el, "PlainTextSelection", {
                "guid": self.guid("selection", doc.name, coder, start, end),
                "name": _excerpt(doc.text[start:end]),
                "startPosition": start,
                "endPosition": end,
                "creatingUser": self.user_guid[coder],
                "creationDateTime": stamps[0] if stamps else None,
            })
            for (_, code), when in sorted(codes.items()):
                self._coding(sel_el, ("coding", doc.name, coder, start, end, code), coder, code, when)
            self.report.selections += 1

    def _coding(self, parent_el: etree._Element, key: tuple, coder: str, code: str, when: str | None) -> None:
        coding_el = _sub(parent_el, "Coding", {
            "guid": self.guid(*key),
            "creatingUser": self.user_guid[coder],
            "creationDateTime": when,
        })
        _sub(coding_el, "CodeRef", {"targetGUID": self.code_guid[code]})
        self.report.codings += 1


    def notes_section(self, root: etree._Element) -> list[str]:
        """Every memo in force as a Note, and a NoteRef where it belongs; returns the project's notes."""
        if self.memos.empty:
            return []
        by_guid = {el.get("guid"): el for el in root.iter() if isinstance(el.tag, str) and el.get("guid")}
        sources = {d.name: (doc_id, d) for doc_id, d in self.docs.items()}
        notes_el = etree.Element(f"{{{NAMESPACE}}}Notes")
        project_notes: list[str] = []
        for m in self.memos.itertuples(index=False):
            guid = self.guid("note", m.memo)
            note_el = _sub(notes_el, "Note", {"guid": guid, "name": f"Memo by {m.coder}: {_excerpt(m.text, 40)}",
                                              "creatingUser": self.user_guid[m.coder],
                                              "creationDateTime": _stamp(m.at)})
            _sub(note_el, "PlainTextContent", text=m.text)
            self.report.notes += 1
            if m.target == "project":
                project_notes.append(guid)
                continue
            holder = self._note_holder(m, by_guid, sources)
            if holder is None:
                self.report.warnings.append(f"{m.coder}'s memo on {m.target} ({_excerpt(m.text, 30)!r}) is about "
                                            "something not in this export (an earlier version?): kept as a note only")
                continue
            _insert_ref(holder, guid)
        # the schema's order: ... Sources, Notes, Links, ...
        anchor = root.find(f"{{{NAMESPACE}}}Sources")
        if anchor is not None:
            anchor.addnext(notes_el)
        else:
            root.append(notes_el)
        return project_notes

    def _note_holder(self, m: Any, by_guid: dict, sources: dict) -> etree._Element | None:
        """The element a memo's NoteRef goes in (None when it is not in the export)."""
        if m.target == "code":
            return by_guid.get(self.code_guid.get(m.code))
        if m.document not in sources:
            return None
        doc_id, doc = sources[m.document]
        if m.target == "document":
            return by_guid.get(self.source_guid[doc_id])
        segment = None if pd.isna(m.segment_id) else int(m.segment_id)
        if m.target == "decision":
            row = decision_row(self.con, int(m.decision_id))
            code = row["code"] if row is not None else None
            span = self.span_of.get((m.coder, segment, code)) if segment is not None else None
            if span is not None:
                coding_el = by_guid.get(self.guid("coding", doc.name, m.coder, *span, code))
                if coding_el is not None:
                    return coding_el
        seg = segment_with_document(self.con, segment) if segment is not None else None
        if seg is None or int(seg["document_id"]) != doc_id:
            return None
        start, end = int(seg["start"]), int(seg["end"])
        guid = self.guid("selection", doc.name, m.coder, start, end)
        if guid not in by_guid:
            # a passage the coder noted but did not code: a selection with no coding
            source_el = by_guid[self.source_guid[doc_id]]
            sel_el = etree.Element(f"{{{NAMESPACE}}}PlainTextSelection")
            for key, value in (("guid", guid), ("name", _excerpt(doc.text[start:end])), ("startPosition", start),
                               ("endPosition", end), ("creatingUser", self.user_guid[m.coder]),
                               ("creationDateTime", _stamp(m.at))):
                if value is not None:
                    sel_el.set(key, xml_text(value))
            later = [c for c in source_el if _local_name(c) in ("Coding", "NoteRef", "VariableValue")]
            if later:
                later[0].addprevious(sel_el)
            else:
                source_el.append(sel_el)
            by_guid[guid] = sel_el
            self.report.selections += 1
        return by_guid[guid]


def _local_name(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _insert_ref(holder: etree._Element, guid: str) -> None:
    """A NoteRef in ``holder`` where the schema wants it: after Description, CodeRef, selections
    and codings; before nested codes and variable values."""
    ref = etree.Element(f"{{{NAMESPACE}}}NoteRef")
    ref.set("targetGUID", guid)
    before = [c for c in holder if _local_name(c) in ("Code", "VariableValue")]
    if before:
        before[0].addprevious(ref)
    else:
        holder.append(ref)


def _first_of_each(passages: Iterable[_Passage]) -> dict[tuple[str, str], str | None]:
    """(coder, code) -> the earliest decision time among duplicates of one coding."""
    out: dict[tuple[str, str], str | None] = {}
    for p in sorted(passages, key=lambda p: (p.coder, p.code, p.when or "~")):
        out.setdefault((p.coder, p.code), p.when)
    return out


def build_qdpx(
    con: sqlite3.Connection,
    coders: Iterable[str] | None = None,
    project_name: str = "nlp-theming project",
    case_by: str | None = "site",
) -> tuple[bytes, dict[str, bytes], QdpxReport]:
    """Build ``project.qde`` and the source files of a REFI-QDA export, without writing anything.

    Returns (the project.qde bytes, {``sources/<guid>.txt``: UTF-8 bytes}, the report; its
    ``path`` is empty until :func:`export_qdpx` writes the file).
    """
    builder = _Builder(con, coders, project_name)
    return builder.build(case_by), builder.files, builder.report


def export_qdpx(
    con: sqlite3.Connection,
    out: str | Path,
    coders: Iterable[str] | None = None,
    project_name: str = "nlp-theming project",
    case_by: str | None = "site",
) -> QdpxReport:
    """Write the project's confirmed human coding as a REFI-QDA ``.qdpx`` file.

    ``coders`` limits the export to those coders (default: every human coder in the decision
    log); ``case_by`` names the document attribute whose values become cases (None: no cases).
    The file is written atomically and is byte-identical for an unchanged project.
    """
    builder = _Builder(con, coders, project_name)
    qde, files, report = builder.build(case_by), builder.files, builder.report
    stamp_text = builder.modified or builder.created
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Entries are dated by the project, not the clock, so the zip bytes are reproducible.
    stamp = datetime.strptime(stamp_text or "1980-01-01T00:00:00Z", "%Y-%m-%dT%H:%M:%SZ")
    date_time = max((stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second),
                    (1980, 1, 1, 0, 0, 0))
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w") as zf:
            for name, data in [(QDE_NAME, qde), *sorted(files.items())]:
                info = zipfile.ZipInfo(name, date_time=date_time)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3
                info.external_attr = 0o644 << 16
                zf.writestr(info, data, compresslevel=6)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    report.path = out
    return report


@dataclass
class QdcReport:
    """What a codebook export wrote."""

    path: Path
    codes: int
    label: str

    def summary(self) -> str:
        return f"wrote {self.path}: {self.codes} codes of codebook {self.label}"


def export_qdc(con: sqlite3.Connection, out: str | Path, version: int | None = None) -> QdcReport:
    """Write a stored codebook (default: the latest) as a REFI-QDA ``.qdc`` file, atomically.

    Codes keep the GUIDs they have in this project's .qdpx export, so the two files agree.
    """
    version, book = load_stored_codebook(con, version)
    guid = _Guids(con)
    data = build_qdc(book, lambda name: guid("code", name))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return QdcReport(out, len(book.codes), f"{book.name} (version {version})")


# ---------------------------------------------------------------------------- checking


def validate_qde(qde: bytes, xsd: str | Path) -> list[str]:
    """Problems found validating ``project.qde`` against a REFI-QDA XML schema (empty: valid)."""
    schema = etree.XMLSchema(etree.parse(str(xsd), etree.XMLParser(no_network=True)))
    try:
        doc = parse_xml(qde)
    except XmlError as exc:
        return [f"project.qde: {exc}"]
    if schema.validate(doc):
        return []
    return [f"project.qde line {e.line}: {e.message}" for e in schema.error_log]


def check_qdpx(path: str | Path, xsd: str | Path | None = None) -> list[str]:
    """Problems in a .qdpx file (empty: none found).

    Checks the zip layout, the XML (against ``xsd`` when given), that every ``internal://`` file
    is in ``sources/``, that GUIDs are unique and every reference (codes, users, variables,
    sources) resolves, and that text selections lie inside their plain text.
    """
    try:
        check_size(Path(path).stat().st_size)
        zf = open_archive(Path(path).read_bytes(), ".qdpx")  # bombs, climbing names, DOCTYPEs: refused
    except InputError as exc:
        return [f"{path}: {exc}"]
    except OSError as exc:
        return [f"{path}: cannot be read ({exc})"]
    try:
        return _check_members(zf, path, xsd)
    except ZIP_ERRORS as exc:  # a member that cannot be unpacked
        return [f"{path}: a member cannot be read ({type(exc).__name__}: {exc})"]


def _check_members(zf: zipfile.ZipFile, path: str | Path, xsd: str | Path | None) -> list[str]:
    with zf:
        entries = {n: n for n in zf.namelist()}
        lower = {n.lower(): n for n in entries}
        qde_name = lower.get(QDE_NAME)
        if qde_name is None:
            return [f"{path}: no {QDE_NAME} at the top of the zip"]
        problems = [f"{path}: {n!r} is outside sources/" for n in entries
                    if n != qde_name and not n.lower().startswith(SOURCES) and not n.endswith("/")]
        qde = zf.read(qde_name)
        if xsd is not None:
            problems += validate_qde(qde, xsd)
        try:
            root = parse_xml(qde)
        except XmlError as exc:
            return [*problems, f"project.qde: {exc}"]
        ns = f"{{{NAMESPACE}}}"
        if root.tag != f"{ns}Project":
            return [*problems, f"project.qde: root element is {root.tag}, not {ns}Project"]

        def norm(g: str | None) -> str:
            return (g or "").strip("{}").lower()

        guids: dict[str, str] = {}
        for el in root.iter():
            g = el.get("guid")
            if g is None or not isinstance(el.tag, str):
                continue
            if norm(g) in guids:
                problems.append(f"GUID {g} is used by both {guids[norm(g)]} and {etree.QName(el).localname}")
            guids[norm(g)] = etree.QName(el).localname
        kinds = {
            "CodeRef": {"Code"},
            "VariableRef": {"Variable"},
            "SourceRef": {"TextSource", "PictureSource", "PDFSource", "AudioSource", "VideoSource"},
        }
        for tag, allowed in kinds.items():
            for el in root.iter(f"{ns}{tag}"):
                if guids.get(norm(el.get("targetGUID"))) not in allowed:
                    problems.append(f"{tag} targetGUID {el.get('targetGUID')} names no {'/'.join(sorted(allowed))}")
        users = {norm(u.get("guid")) for u in root.iter(f"{ns}User")}
        for attr in ("creatingUser", "modifyingUser", "creatingUserGUID", "modifyingUserGUID"):
            for el in root.iter():
                value = el.get(attr) if isinstance(el.tag, str) else None
                if value is not None and norm(value) not in users:
                    problems.append(f"{etree.QName(el).localname} {attr} {value} names no User")
        for el in root.iter():
            if not isinstance(el.tag, str):
                continue
            for attr in ("plainTextPath", "richTextPath", "path"):
                target = el.get(attr)
                if target and target.startswith("internal://"):
                    member = SOURCES + target[len("internal://"):]
                    if member.lower() not in lower:
                        problems.append(f"{etree.QName(el).localname} {attr} {target}: no {member} in the zip")
        for source in root.iter(f"{ns}TextSource"):
            target = source.get("plainTextPath") or ""
            if not target.startswith("internal://"):
                continue
            member = lower.get((SOURCES + target[len("internal://"):]).lower())
            if member is None:
                continue
            try:
                n = len(zf.read(member).decode("utf-8"))
            except UnicodeDecodeError:
                problems.append(f"{member}: plain text is not UTF-8")
                continue
            for sel in source.findall(f"{ns}PlainTextSelection"):
                start, end = _position(sel.get("startPosition")), _position(sel.get("endPosition"))
                if not 0 <= start <= end <= n:
                    problems.append(
                        f"selection {sel.get('guid')} in {source.get('name')!r}: {start}-{end}"
                        f" is outside the text (0-{n})"
                    )
    return problems


def _position(value: str | None) -> int:
    """A selection's position attribute; -1 (outside any text) when it is not a whole number."""
    try:
        return int(value) if value is not None and len(value) < 20 else -1
    except ValueError:
        return -1
