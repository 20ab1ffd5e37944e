"""Memos: a coder's notes on the project, a document, a segment (passage), a code or a decision.

Like the decision log, memos are appended and never changed: editing a memo appends a new
version under the same key, and an empty text withdraws it. The current memos are the latest
version of each key whose text is not empty; the history stays readable.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass

import pandas as pd

from .schema import now

#: what a memo can be written on
MEMO_TARGETS = ("project", "document", "segment", "code", "decision")
MEMO_COLUMNS = ["memo", "version", "at", "coder", "target", "document", "segment_id", "code", "decision_id", "text"]
MAX_MEMO_CHARS = 20_000


class MemoError(ValueError):
    """A memo that cannot be written (unknown target, another coder's memo, too long)."""


@dataclass
class Memo:
    coder: str
    target: str
    text: str
    document: str | None = None
    segment_id: int | None = None
    code: str | None = None
    decision_id: int | None = None
    memo: str | None = None  # the key of the memo this edits; None: a new memo
    at: str | None = None  # when it was written (an imported note keeps its own time)


def _where(m: Memo) -> tuple:
    return (m.target, m.document, m.segment_id, m.code, m.decision_id)


def write_memo(con: sqlite3.Connection, m: Memo) -> tuple[str, int]:
    """Append a memo, or a new version of memo ``m.memo`` (its author's only). Returns (key, version).

    The target's fields are checked for shape here; that the document, segment, code or decision
    exists is checked by the caller (``review.memos``), which knows the codebook."""
    coder = (m.coder or "").strip()
    if not coder:
        raise MemoError("a memo needs a coder name")
    if m.target not in MEMO_TARGETS:
        raise MemoError(f"a memo is written on one of {', '.join(MEMO_TARGETS)}, not {m.target!r}")
    if len(m.text) > MAX_MEMO_CHARS:
        raise MemoError(f"a memo holds up to {MAX_MEMO_CHARS:,} characters ({len(m.text):,} given)")
    needs = {"document": m.document, "segment": m.segment_id, "code": m.code, "decision": m.decision_id}
    if not m.memo and m.target in needs and needs[m.target] in (None, ""):
        raise MemoError(f"a memo on a {m.target} must name it")
    if m.memo:
        last = con.execute("SELECT * FROM memos WHERE memo = ? ORDER BY version DESC LIMIT 1", (m.memo,)).fetchone()
        if last is None:
            raise MemoError(f"no memo {m.memo!r} to edit")
        if last["coder"] != coder:
            raise MemoError(f"that memo is {last['coder']}'s: a coder edits only their own memos")
        key, version = m.memo, int(last["version"]) + 1
        where = (last["target"], last["document"], last["segment_id"], last["code"], last["decision_id"])
    else:
        if not m.text.strip():
            raise MemoError("the memo is empty")
        key, version, where = uuid.uuid4().hex, 1, _where(m)
    con.execute(
        "INSERT INTO memos(memo, version, at, coder, target, document, segment_id, code, decision_id, text)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (key, version, m.at or now(), coder, *where, m.text),
    )
    return key, version


def memos_frame(con: sqlite3.Connection, coder: str | None = None, history: bool = False,
                document: str | None = None) -> pd.DataFrame:
    """The memos in force (latest version of each, withdrawn ones left out), oldest first; with
    ``history`` every version. ``coder``: one coder's only; ``document``: memos on that document,
    its segments and the decisions on them."""
    sql = f"SELECT {', '.join(MEMO_COLUMNS)} FROM memos m"
    args: list = []
    clauses = []
    if not history:
        clauses.append("version = (SELECT MAX(version) FROM memos m2 WHERE m2.memo = m.memo)")
    if coder is not None:
        clauses.append("coder = ?")
        args.append(coder)
    if document is not None:
        clauses.append("document = ?")
        args.append(document)
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    frame = pd.read_sql_query(sql + " ORDER BY id", con, params=args)
    if not history:
        frame = frame[frame.text != ""]
    for col in ("segment_id", "decision_id"):
        frame[col] = frame[col].astype("Int64")
    frame["version"] = frame["version"].astype(int)
    return frame.reset_index(drop=True)


def memo_count(con: sqlite3.Connection) -> int:
    """How many memos are in force."""
    return int(con.execute(
        "SELECT COUNT(*) FROM memos m WHERE text != '' AND version = (SELECT MAX(version) FROM memos m2"
        " WHERE m2.memo = m.memo)").fetchone()[0])


def current_memo(con: sqlite3.Connection, coder: str, m: Memo) -> tuple[str, str] | None:
    """(key, text) of ``coder``'s latest memo in force on ``m``'s target, if any."""
    frame = memos_frame(con, coder)
    t, doc, seg, code, dec = _where(m)
    hit = frame[(frame.target == t) & _same(frame.document, doc) & _same(frame.segment_id, seg)
                & _same(frame.code, code) & _same(frame.decision_id, dec)]
    return None if hit.empty else (str(hit.memo.iloc[-1]), str(hit.text.iloc[-1]))


def _same(column: pd.Series, value: object) -> pd.Series:
    return column.isna() if value is None else column == value
