"""Bring coding made elsewhere into a project, and turn it into the files ``evaluate`` reads.

What ``nlp-theming import``, ``coded-units`` and ``taguette-units`` do, as library calls (the
CLI and :class:`~nlp_theming.api.Project` only print or return what these return):

* :func:`import_coding`: span CSVs, coded-unit CSVs, Taguette projects, the coded-segment tables
  of MAXQDA, ATLAS.ti and NVivo, and REFI-QDA projects (.qdpx, with their documents and codebook)
  become ``import`` decisions of the coders who made them, on the project's own segmentation
  scheme; a REFI-QDA codebook (.qdc) a codebook version.
* :func:`write_project_units`: a project's human coding as a coded-units CSV.
* :func:`taguette_units`: a Taguette project as coded units (and spans), no project needed.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..codebook import Code, Codebook, load_stored_codebook, store_codebook
from ..ingest import ingest_text, text_transcript
from ..review.imports import import_spans, locate_units
from ..segment import Segmenter, project_segmenter, segment_documents
from ..store.codebooks import latest_version
from ..textio import InputError, clean_name
from .coded import header_names, read_coded_units_csv, read_span_csv, write_coded_units_csv, write_span_csv
from .qda_tables import qda_spans, sniff_table
from .refi_import import import_qdc, import_qdpx
from .taguette import TaguetteError, TaguetteProject, read_taguette
from .tidy import coded_units_table
from .units import units_from_spans

KINDS = ("auto", "spans", "units", "taguette", "qda", "qdpx", "qdc")


@dataclass
class ImportResult:
    kind: str
    spans: int = 0
    decisions: int = 0
    already: int = 0  # decisions an earlier import of the same coding recorded: not recorded again
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what could not be carried


def guess_kind(path: str | Path) -> str:
    """``taguette`` for a SQLite file; ``qdpx``/``qdc`` for REFI-QDA files; ``qda`` for a QDA
    package's coded-segment table (CSV or XLSX, by its header); ``units`` for a CSV with a
    unit_id column or without start/end offsets; else ``spans``."""
    if str(path).endswith((".sqlite3", ".sqlite", ".db")):
        return "taguette"
    suffix = Path(path).suffix.lower()
    if suffix in (".qdpx", ".qdc"):
        return suffix[1:]
    if sniff_table(path) is not None:
        return "qda"
    names = set(header_names(path))  # any encoding, "Unit ID" as unit_id
    return "units" if "unit_id" in names or not {"start", "end"} <= names else "spans"


def import_coding(con: sqlite3.Connection, path: str | Path, kind: str = "auto",
                  coder: str | None = None) -> ImportResult:
    """Record existing human coding as decisions of the coders who made it (only ``coder``'s
    when given). A Taguette project's documents are ingested too. Bad rows are reported in
    ``problems`` and skipped; the rest are recorded."""
    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r}; choose one of {', '.join(KINDS)}")
    kind = guess_kind(path) if kind == "auto" else kind
    result = ImportResult(kind)
    if kind == "qdc":
        book = import_qdc(con, path)
        state = "stored as version" if book.created else "unchanged, still version"
        result.notes.append(f"codebook {state} {book.version}: {book.codes} codes")
        result.warnings += book.warnings
        return result
    if kind == "qdpx":
        refi = import_qdpx(con, path, coder)
        result.spans, result.decisions, result.already = refi.spans, refi.decisions, refi.already
        result.problems, result.notes, result.warnings = refi.problems, refi.notes(), refi.warnings
        return result
    if kind == "taguette":
        tag = read_taguette(path)
        names = taguette_names(tag, path)
        # checked whole before anything is stored: one document that cannot be read names itself
        # and leaves the project as it was
        for doc in tag.documents.itertuples(index=False):
            try:
                text_transcript(doc.text, "taguette")
            except InputError as exc:
                raise TaguetteError(f"{path}: document {doc.document} ({doc.name!r}): {exc}; nothing was imported"
                                    ) from None
        book = tags_codebook(tag) if latest_version(con) is None else None
        result.problems += tag.problems
        if book is not None:
            version, _ = store_codebook(con, book, Path(path).resolve())
            result.notes.append(f"the project had no codebook: the Taguette project's {len(book.codes)} tags became"
                                f" codebook version {version}")
        for doc in tag.documents.itertuples(index=False):
            ingest_text(con, names[doc.document], doc.text, str(path), "taguette")
        result.problems += [f"{name}: {problem}" for _, name, problem in segment_documents(con)]
        spans = tag.highlights.assign(document=tag.highlights.document.map(names))
    elif kind == "qda":  # MAXQDA, ATLAS.ti, NVivo tables: located by their words
        qda = qda_spans(con, path, coder)
        result.problems += qda.problems
        result.notes += qda.notes
        spans = qda.spans
    elif kind == "units":
        spans, located = locate_units(con, read_coded_units_csv(path, notes=result.notes))
        result.problems += located
    else:
        spans = read_span_csv(path)
    if coder:
        spans = spans[spans.coder == coder]
    known = {c.code for c in load_stored_codebook(con)[1].leaves}
    report = import_spans(con, spans, project_segmenter(con).scheme, known, source=f"{Path(path).name}: ")
    result.spans, result.decisions, result.already = report.spans, report.decisions, report.already
    result.problems += report.problems
    return result


def tags_codebook(project: TaguetteProject) -> Codebook:
    """The codebook a project with none takes from a Taguette project: its tags, flat (a tag's
    path is its code, its description the definition)."""
    codes = [Code(str(t.code), None, str(t.description or "").strip()) for t in project.tags.itertuples(index=False)]
    return Codebook(f"{project.name} (Taguette tags)", codes)


def taguette_names(project: TaguetteProject, path: str | Path) -> dict[int, str]:
    """Document id -> the name it is stored under (its file name's stem). Two documents with one
    name would become two versions of one document: refused, naming both."""
    names: dict[int, str] = {}
    seen: dict[str, int] = {}
    for doc in project.documents.itertuples(index=False):
        name = clean_name(Path(str(doc.name)).stem) or f"taguette-{doc.document}"
        if name in seen:
            raise TaguetteError(f"{path}: documents {seen[name]} and {doc.document} are both named {name!r};"
                                " rename one in Taguette; nothing was imported")
        names[doc.document] = seen[name] = name
    return names


def write_project_units(con: sqlite3.Connection, out: str | Path, coders: list[str] | None = None) -> pd.DataFrame:
    """Write the project's human coding (of ``coders``) as a coded-units CSV; returns the units."""
    units = coded_units_table(con, project_segmenter(con).scheme, coders or None)
    write_coded_units_csv(units, out)
    return units


@dataclass
class TaguetteUnits:
    units: pd.DataFrame
    documents: list[str]  # every document of the Taguette project
    unhighlighted: list[str]  # documents nobody highlighted anything in: left out
    problems: list[str] = field(default_factory=list)

    @property
    def n_coded(self) -> int:
        return int((self.units.codes.str.len() > 0).sum())


def taguette_units(path: str | Path, out: str | Path, spans_out: str | Path | None = None,
                   segmenter: Segmenter | None = None) -> TaguetteUnits:
    """Turn a Taguette project (its .sqlite3 file) into coded units for ``evaluate`` (and its
    highlights into a span CSV when ``spans_out`` is given)."""
    project = read_taguette(path)
    units = units_from_spans(project.documents, project.highlights, segmenter or Segmenter())
    write_coded_units_csv(units, out)
    if spans_out:
        stems = project.documents.set_index("document").name.map(lambda n: Path(str(n)).stem)
        frame = project.highlights.assign(document=project.highlights.document.map(stems))
        write_span_csv(frame[["document", "start", "end", "code", "coder", "text"]], spans_out)
    names = [Path(str(n)).stem for n in project.documents.name]
    unhighlighted = [n for n in names if n not in set(units.document)]
    return TaguetteUnits(units, names, unhighlighted, list(project.problems))
