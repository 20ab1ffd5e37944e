"""Suggestion runs and their suggestions; the operating threshold; one word per review status.

A run is ``running`` while its suggestions are added (a block of documents per transaction, see
:func:`add_suggestions`) and ``complete`` once :func:`finish_run` marks it so; readers read
complete runs only. An error marks it ``failed`` and drops its rows; a run killed half-way stays
``running`` and the next run with the same configuration takes it over, starting its rows afresh.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from .decisions import PENDING, status_of
from .documents import segment_table
from .schema import now, transaction

#: The score at or above which a suggestion counts as likely: the matchers are calibrated so
#: that it is their operating point; the review queue, status, summaries and the machine as a
#: coder in agreement reports all read it from here.
OPERATING_THRESHOLD = 0.5

NO_RUN = "the project has no complete suggestion run yet; run `nlp-theming suggest PROJECT`"


def latest_run(con: sqlite3.Connection) -> int | None:
    """The id of the latest complete run, or None."""
    row = con.execute("SELECT id FROM runs WHERE status = 'complete' ORDER BY id DESC LIMIT 1").fetchone()
    return None if row is None else int(row[0])


def require_run(con: sqlite3.Connection, run_id: int | None = None) -> int:
    """``run_id`` when given, else the latest complete run; a clear ValueError when there is none."""
    run_id = run_id if run_id is not None else latest_run(con)
    if run_id is None:
        raise ValueError(NO_RUN)
    return int(run_id)


def run_row(con: sqlite3.Connection, run_id: int) -> sqlite3.Row | None:
    return con.execute("SELECT * FROM runs WHERE id = ?", (int(run_id),)).fetchone()


def find_run(con: sqlite3.Connection, config_hash: str, status: str) -> int | None:
    row = con.execute(
        "SELECT id FROM runs WHERE config_hash = ? AND status = ? ORDER BY id DESC LIMIT 1", (config_hash, status)
    ).fetchone()
    return None if row is None else int(row["id"])


def decision_mark(con: sqlite3.Connection) -> int:
    """The id of the newest decision: what a run started now learns from."""
    return int(con.execute("SELECT COALESCE(MAX(id), 0) FROM decisions").fetchone()[0])


@dataclass
class RunSpec:
    model_id: str
    codebook_version: int
    matcher: str
    scheme: str
    params: dict
    config_hash: str
    seed: int
    decision_mark: int


def claim_run(con: sqlite3.Connection, spec: RunSpec) -> int:
    """Start a run, or take over an interrupted one with the same configuration (dropping the
    rows it had added: the run starts them afresh)."""
    with transaction(con):
        taken = find_run(con, spec.config_hash, "running")
        if taken is not None:
            _drop_rows(con, taken)
            return taken
        cur = con.execute(
            "INSERT INTO runs(started_at, status, model_id, codebook_version, matcher, scheme, params, config_hash,"
            " seed, decision_mark) VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?)",
            (now(), spec.model_id, spec.codebook_version, spec.matcher, spec.scheme,
             json.dumps(spec.params, sort_keys=True), spec.config_hash, spec.seed, spec.decision_mark),
        )
        return int(cur.lastrowid)


def fail_run(con: sqlite3.Connection, run_id: int) -> None:
    """Mark a run failed and drop the rows it had added."""
    with transaction(con):
        _drop_rows(con, run_id)
        con.execute("UPDATE runs SET status = 'failed', finished_at = ? WHERE id = ?", (now(), run_id))


def _drop_rows(con: sqlite3.Connection, run_id: int) -> None:
    con.execute("DELETE FROM suggestions WHERE run_id = ?", (run_id,))
    con.execute("DELETE FROM proposal_members WHERE run_id = ?", (run_id,))
    con.execute("DELETE FROM theme_proposals WHERE run_id = ?", (run_id,))


@dataclass
class ProposalRows:
    label: str
    keywords: list
    segment_ids: list[int]


def complete_run(
    con: sqlite3.Connection,
    run_id: int,
    suggestions: Sequence[tuple[int, str, float, int, str]],
    proposals: Sequence[ProposalRows],
    n_segments: int,
) -> None:
    """Store a run's suggestions (segment_id, code, score, rank, method) and candidate themes,
    and mark it complete: all in one transaction."""
    with transaction(con):
        _drop_rows(con, run_id)  # nothing, unless a crash left rows
        _insert_suggestions(con, run_id, suggestions)
        _finish(con, run_id, proposals, n_segments)


def add_suggestions(con: sqlite3.Connection, run_id: int,
                    suggestions: Sequence[tuple[int, str, float, int, str]]) -> None:
    """Append one block's suggestions (segment_id, code, score, rank, method) to a running run,
    in one transaction; nobody reads them until :func:`finish_run`."""
    with transaction(con):
        _insert_suggestions(con, run_id, suggestions)


def finish_run(con: sqlite3.Connection, run_id: int, proposals: Sequence[ProposalRows], n_segments: int) -> None:
    """Store a run's candidate themes and mark it complete (its suggestions added block by block)."""
    with transaction(con):
        _finish(con, run_id, proposals, n_segments)


def _insert_suggestions(con: sqlite3.Connection, run_id: int, suggestions: Sequence[tuple]) -> None:
    con.executemany(
        "INSERT INTO suggestions(run_id, segment_id, code, score, rank, method) VALUES (?, ?, ?, ?, ?, ?)",
        [(run_id, *row) for row in suggestions],
    )


def _finish(con: sqlite3.Connection, run_id: int, proposals: Sequence[ProposalRows], n_segments: int) -> None:
    _insert_proposals(con, run_id, proposals)
    con.execute(
        "UPDATE runs SET status = 'complete', finished_at = ?, n_segments = ? WHERE id = ?",
        (now(), n_segments, run_id),
    )


def _insert_proposals(con: sqlite3.Connection, run_id: int, proposals: Sequence[ProposalRows]) -> None:
    con.execute("DELETE FROM proposal_members WHERE run_id = ?", (run_id,))
    con.execute("DELETE FROM theme_proposals WHERE run_id = ?", (run_id,))
    for p_idx, proposal in enumerate(proposals):
        con.execute(
            "INSERT INTO theme_proposals(run_id, proposal, label, keywords, size) VALUES (?, ?, ?, ?, ?)",
            (run_id, p_idx, proposal.label, json.dumps(proposal.keywords), len(proposal.segment_ids)),
        )
        con.executemany(
            "INSERT INTO proposal_members(run_id, proposal, segment_id) VALUES (?, ?, ?)",
            [(run_id, p_idx, int(s)) for s in proposal.segment_ids],
        )


def store_proposals(con: sqlite3.Connection, run_id: int, proposals: Sequence[ProposalRows]) -> None:
    """Replace a complete run's candidate themes (``discover`` after ``suggest``), in one transaction.
    Proposals are not decisions: nothing people decided is touched."""
    with transaction(con):
        _insert_proposals(con, run_id, proposals)


def run_counts(con: sqlite3.Connection, run_id: int) -> tuple[int, int, int, dict[str, int]]:
    """(segments, suggestions, candidate themes, top-1 suggestions per code) of a run."""
    run = run_row(con, run_id)
    per_code = dict(con.execute(
        "SELECT code, COUNT(*) FROM suggestions WHERE run_id = ? AND rank = 1 GROUP BY code ORDER BY COUNT(*) DESC",
        (run_id,),
    ).fetchall())
    n_sugg = con.execute("SELECT COUNT(*) FROM suggestions WHERE run_id = ?", (run_id,)).fetchone()[0]
    n_prop = con.execute("SELECT COUNT(*) FROM theme_proposals WHERE run_id = ?", (run_id,)).fetchone()[0]
    return int(run["n_segments"] or 0) if run else 0, int(n_sugg), int(n_prop), per_code


def was_suggested(con: sqlite3.Connection, segment_id: int, code: str, run_id: int | None = None) -> bool:
    """Whether the machine suggested ``code`` for the segment (in ``run_id``, or in any run)."""
    sql = ("SELECT 1 FROM suggestions g JOIN runs r ON r.id = g.run_id"
           " WHERE g.segment_id = ? AND g.code = ? AND r.status = 'complete'")  # not a run still adding rows
    args: tuple = (int(segment_id), code)
    if run_id:
        sql += " AND g.run_id = ?"
        args += (int(run_id),)
    return con.execute(sql, args).fetchone() is not None


def segment_suggestions(con: sqlite3.Connection, segment_id: int, run_id: int | None = None) -> list[tuple[str, int]]:
    """(code, run id) of each suggestion for the segment in ``run_id`` (default: the latest run), best first."""
    run_id = latest_run(con) if run_id is None else int(run_id)
    rows = con.execute("SELECT code, run_id FROM suggestions WHERE segment_id = ? AND run_id = ? ORDER BY rank",
                       (int(segment_id), run_id))
    return [(str(r[0]), int(r[1])) for r in rows]


_DOCUMENT_SUGGESTIONS = (
    "SELECT g.segment_id, g.code, g.score, g.rank FROM segments s CROSS JOIN suggestions g"
    " ON g.run_id = ? AND g.segment_id = s.id WHERE s.document_id = ? ORDER BY g.segment_id, g.rank")


def document_suggestions_plan(con: sqlite3.Connection, run_id: int, document_id: int) -> list[str]:
    """SQLite's plan for :func:`document_suggestions` (EXPLAIN QUERY PLAN), for tests."""
    rows = con.execute("EXPLAIN QUERY PLAN " + _DOCUMENT_SUGGESTIONS, (int(run_id), int(document_id)))
    return [str(r[3]) for r in rows]


def document_suggestions(con: sqlite3.Connection, run_id: int, document_id: int) -> list[sqlite3.Row]:
    """A run's suggestions on one document's segments: segment_id, code, score, rank (best first).
    The document's segments first, then each one's rows by key: left to itself SQLite read the
    run through an index of its own (millions of rows at a million segments)."""
    return con.execute(_DOCUMENT_SUGGESTIONS, (int(run_id), int(document_id))).fetchall()


def likely_codes(con: sqlite3.Connection, run_id: int, threshold: float = OPERATING_THRESHOLD,
                 role: str | None = "participant") -> pd.DataFrame:
    """A run's suggestions at or above ``threshold`` (segments of ``role``): the machine as a
    coder. Columns: document_id, segment_id, code, score, start, end."""
    sql = ("SELECT s.document_id, s.id AS segment_id, g.code, g.score, s.start, s.end FROM suggestions g"
           " JOIN segments s ON s.id = g.segment_id WHERE g.run_id = ? AND g.score >= ?")
    args: list = [int(run_id), threshold]
    if role:
        sql += " AND s.role = ?"
        args.append(role)
    return pd.read_sql_query(sql, con, params=args)


def suggested_documents(con: sqlite3.Connection, run_id: int, role: str | None = "participant") -> set[int]:
    """The documents a run suggested codes in (on segments of ``role``)."""
    sql = "SELECT DISTINCT s.document_id FROM suggestions g JOIN segments s ON s.id = g.segment_id WHERE g.run_id = ?"
    args: list = [int(run_id)]
    if role:
        sql += " AND s.role = ?"
        args.append(role)
    return {int(r[0]) for r in con.execute(sql, args)}


SUGGESTION_COLUMNS = [
    "run_id", "document", "segment_id", "segment_idx", "start", "end", "speaker", "start_time", "end_time", "text",
    "code", "parent", "score", "rank", "method", "status",
]


def suggestion_table(con: sqlite3.Connection, run_id: int | None = None, with_status: bool = True,
                     document_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """Suggestions of a run (default: the latest complete one) with segment text, offsets, times
    and document metadata as plain columns; ``status`` is the review status across coders
    (accepted when any coder applies the code, rejected when coders decided and none does).
    ``document_ids``: only the suggestions on these documents (a block of a streamed export)."""
    run_id = require_run(con, run_id)
    run = run_row(con, run_id)
    sql, args = "SELECT run_id, segment_id, code, score, rank, method FROM suggestions WHERE run_id = ?", [run_id]
    if document_ids is not None:
        sql += (" AND segment_id IN (SELECT id FROM segments WHERE document_id IN"
                f" ({','.join('?' * len(document_ids))}))")
        args.extend(int(d) for d in document_ids)
    sugg = pd.read_sql_query(sql, con, params=args)
    codes = pd.read_sql_query(
        "SELECT code, parent FROM codes WHERE codebook_version = ?", con, params=[run["codebook_version"]]
    )
    segs = segment_table(con, run["scheme"], document_ids=document_ids)
    out = sugg.merge(codes, on="code", how="left").merge(segs, on="segment_id", how="inner")
    if with_status:
        decided = status_of(con)
        if decided.empty:
            out["status"] = PENDING
        else:
            out = out.merge(decided[["segment_id", "code", "status"]], on=["segment_id", "code"], how="left")
            out["status"] = out["status"].fillna(PENDING)
    else:
        out["status"] = PENDING
    out["model_id"] = run["model_id"]
    rest = [c for c in out.columns if c not in SUGGESTION_COLUMNS]
    return out[SUGGESTION_COLUMNS + rest].sort_values(["document", "segment_idx", "rank"]).reset_index(drop=True)


def best_scores(con: sqlite3.Connection, run_id: int) -> pd.Series:
    """A run's best score per segment (indexed by segment id): what says a segment matched a code."""
    frame = pd.read_sql_query("SELECT segment_id, MAX(score) AS score FROM suggestions WHERE run_id = ?"
                              " GROUP BY segment_id", con, params=[int(run_id)])
    return frame.set_index("segment_id").score


def likely_per_code(con: sqlite3.Connection, run_id: int, threshold: float = OPERATING_THRESHOLD) -> dict[str, int]:
    """How many of a run's suggestions of each code score at or above ``threshold``."""
    return dict(con.execute(
        "SELECT code, COUNT(*) FROM suggestions WHERE run_id = ? AND score >= ? GROUP BY code", (run_id, threshold)
    ).fetchall())

