"""Memos, checked: what the web page, the sheet import and ``Project.memos`` call.

A memo is a coder's note on the project, a document, a passage (segment), a code or one
decision. It is stored in the append-only ``memos`` table (:mod:`nlp_theming.store.memos`):
editing appends a version, an empty text withdraws the memo, the history stays. Here the
target is checked against the project (the document exists, the code is in the codebook, ...)
and memos are read as a table with what each is about, for pages, search and exports.
"""

from __future__ import annotations

import sqlite3

import pandas as pd

from ..codebook import CodebookError, load_stored_codebook
from ..store import transaction
from ..store.decisions import decision_row, decisions_frame, effective, visible
from ..store.documents import current_document, current_lengths, segment_spans, segment_with_document
from ..store.memos import MEMO_TARGETS, Memo, MemoError, current_memo, memos_frame, write_memo
from .imports import span_segments

#: the author of an imported note that names none
UNKNOWN_AUTHOR = "unknown author"

__all__ = [
    "MEMO_TARGETS",
    "UNKNOWN_AUTHOR",
    "MemoError",
    "import_memos",
    "memo",
    "memo_records",
    "memo_table",
    "memos_on",
    "search_memos",
    "set_memo",
]


def _checked(con: sqlite3.Connection, m: Memo) -> Memo:
    """``m`` with its document filled in from what it names; MemoError when that does not exist."""
    if m.target == "document":
        if current_document(con, m.document or "") is None:
            raise MemoError(f"no document {m.document!r}")
    elif m.target == "segment":
        row = segment_with_document(con, int(m.segment_id)) if m.segment_id is not None else None
        if row is None:
            raise MemoError(f"no passage {m.segment_id}")
        m.document = str(row["document"])
    elif m.target == "decision":
        row = decision_row(con, int(m.decision_id)) if m.decision_id is not None else None
        if row is None:
            raise MemoError(f"no decision {m.decision_id}")
        m.document = str(row["document"]) if row["document"] is not None else None
        m.segment_id = int(row["segment_id"]) if row["segment_id"] is not None else None
        m.code = row["code"]
    elif m.target == "code":
        try:
            known = load_stored_codebook(con)[1]
        except CodebookError as exc:
            raise MemoError(f"no codebook yet: {exc}") from exc
        if m.code not in known:
            raise MemoError(f"unknown code {m.code!r}")
    return m


def memo(con: sqlite3.Connection, coder: str, target: str, text: str, *, document: str | None = None,
         segment_id: int | None = None, code: str | None = None, decision_id: int | None = None,
         edits: str | None = None) -> tuple[str, int]:
    """Write a memo (or, with ``edits``, a new version of one of the coder's memos; an empty text
    withdraws it). One transaction. Returns (the memo's key, its version)."""
    if target not in MEMO_TARGETS:
        raise MemoError(f"a memo is written on one of {', '.join(MEMO_TARGETS)}, not {target!r}")
    m = Memo(coder, target, (text or "").strip(), document=document or None,
             segment_id=None if segment_id is None else int(segment_id), code=code or None,
             decision_id=None if decision_id is None else int(decision_id), memo=edits or None)
    with transaction(con):
        if not edits:
            m = _checked(con, m)
        return write_memo(con, m)


def set_memo(con: sqlite3.Connection, coder: str, target: str, text: str, **where: object) -> tuple[str, int] | None:
    """The coder's one memo on a target set to ``text``: a new memo, a new version of the one
    there, or nothing when the text is unchanged (a sheet imported twice records nothing).
    Returns (key, version), or None when nothing was written."""
    probe = Memo(coder, target, text, **where)  # type: ignore[arg-type]
    if target != "project":
        probe = _checked(con, probe)
    held = current_memo(con, coder, probe)
    if held is not None and held[1] == (text or "").strip():
        return None
    if held is None and not (text or "").strip():
        return None
    return memo(con, coder, target, text, edits=held[0] if held else None, **where)  # type: ignore[arg-type]


def memo_table(con: sqlite3.Connection, viewer: str | None = None, blind: bool = False,
               document: str | None = None) -> pd.DataFrame:
    """The memos in force that ``viewer`` may see (in blind mode, only their own), oldest first:
    :data:`~nlp_theming.store.memos.MEMO_COLUMNS` plus ``about`` (what it is on, in words)."""
    frame = visible(memos_frame(con, document=document), viewer, blind)
    frame = frame.assign(about=[_about(r) for r in frame.itertuples(index=False)])
    return frame.reset_index(drop=True)


def _about(r: object) -> str:
    target = r.target  # type: ignore[attr-defined]
    if target == "project":
        return "the project"
    if target == "document":
        return f"document {r.document}"  # type: ignore[attr-defined]
    if target == "code":
        return f"code {r.code}"  # type: ignore[attr-defined]
    if target == "segment":
        return f"a passage of {r.document}"  # type: ignore[attr-defined]
    return f"a decision on {r.code or 'a passage'} in {r.document}"  # type: ignore[attr-defined]


def search_memos(con: sqlite3.Connection, q: str = "", viewer: str | None = None, blind: bool = False) -> pd.DataFrame:
    """Memos whose text, author or subject holds every word of ``q`` (any case), newest first."""
    frame = memo_table(con, viewer, blind)
    words = [w for w in (q or "").lower().split() if w]
    if words and not frame.empty:
        hay = (frame.text + " " + frame.coder + " " + frame.about).str.lower()
        keep = pd.Series(True, index=frame.index)
        for w in words:
            keep &= hay.str.contains(w, regex=False)
        frame = frame[keep]
    return frame.iloc[::-1].reset_index(drop=True)


def memos_on(frame: pd.DataFrame, target: str, **where: object) -> pd.DataFrame:
    """The rows of a :func:`memo_table` written on one target (``segment_id=...``, ``code=...``)."""
    keep = frame.target == target
    for key, value in where.items():
        keep &= frame[key] == value
    return frame[keep]


def memo_records(frame: pd.DataFrame) -> list[dict]:
    """A memo table's rows as dicts for a page, with missing values as None."""
    return [{k: (None if v is pd.NA or (isinstance(v, float) and v != v) else v) for k, v in row.items()}
            for row in frame.to_dict("records")]


def import_memos(con: sqlite3.Connection, notes: list[tuple], scheme: str) -> tuple[int, list[str]]:
    """Store notes read from another tool as memos: (target, coder, text, at, document, start,
    end, code) each, where ``start``-``end`` is a passage of the current ``document``. A passage
    note lands on the segment the passage covers (as its coding does), a note on a coding on the
    ``import`` decision that recorded it. A memo already in force with the same author, subject and
    text is not stored again (a file imported twice). Returns (how many stored, problems)."""
    docs = current_lengths(con)
    spans = segment_spans(con, scheme)
    held = memos_frame(con)
    def plain(v: object) -> object:
        return None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v

    have = {(r.coder, r.target, plain(r.document), None if pd.isna(r.segment_id) else int(r.segment_id),
             plain(r.code), None if pd.isna(r.decision_id) else int(r.decision_id), r.text)
            for r in held.itertuples(index=False)}
    log = effective(decisions_frame(con))
    imported = log[log.action == "import"]
    stored, problems = 0, []
    with transaction(con):
        for target, coder, text, at, document, start, end, code in notes:
            m = Memo(coder, target, text, at=at)
            if target in ("document", "segment", "decision"):
                if document not in docs:
                    problems.append(f"a memo on {document!r}, which is not in the project: not stored")
                    continue
                m.document = document
            if target == "code":
                m.code = code
            if target in ("segment", "decision"):
                doc_id = docs[document][0]
                targets = span_segments(spans[spans.document_id == doc_id], int(start), int(end))
                if not targets:
                    problems.append(f"a memo on {document!r} {start}-{end} covers no passage: not stored")
                    continue
                m.segment_id = targets[0]
                if target == "decision":
                    hit = imported[(imported.coder == coder) & (imported.code == code) & (imported.start == start)
                                   & (imported.end == end) & imported.segment_id.isin(targets)]
                    if hit.empty:
                        m.target = "segment"
                    else:
                        m.decision_id, m.code = int(hit.id.iloc[0]), code
            key = (m.coder, m.target, m.document, m.segment_id, m.code, m.decision_id, m.text)
            if key in have:
                continue
            try:
                write_memo(con, m)
            except MemoError as exc:
                problems.append(f"a memo by {coder}: {exc}")
                continue
            have.add(key)
            stored += 1
    return stored, problems
