"""The review queue's reads in SQL: a run's suggestions filtered, ordered and read a page at a time.

The review layer (``review.queue``) says what it wants as a :class:`QueueQuery`; this module
writes the SQL. What the review layer derives in Python, because it is small, comes in as
temporary tables of the connection (:func:`load_queue_state`): the documents that pass the
document filters with their place in reading order, and the coder's statuses from the decision
log. Each order is read through an index (``docs/schema.md``), so the first page of a run of
millions of suggestions is read without sorting them all; the text is read only for the rows
of a page (:func:`segment_text_frame`).

The "teach" order needs every suggestion of a segment (its summed entropy) and then a place per
document: :func:`store_teach_order` keeps that per run in ``queue_teach``, derived and
rebuildable (a complete run's rows never change).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .runs import OPERATING_THRESHOLD
from .schema import transaction

#: the expression the queue orders "nearest the operating threshold" by; an index of the
#: schema (``suggestions_by_distance``) holds it, so the two must read the same
DISTANCE = f"abs(score - {OPERATING_THRESHOLD!r})"

ROW_COLUMNS = [
    "run_id", "segment_id", "document_id", "segment_idx", "turn_idx", "speaker", "start", "end", "start_time",
    "end_time", "confidence", "speaker_role", "scheme", "code", "score", "rank", "method", "status",
    "decision_id", "new_code", "reviewed",
]

_SELECT = (
    "g.run_id, g.segment_id, s.document_id, s.idx, s.turn_idx, s.speaker, s.start, s.end, s.start_time,"
    " s.end_time, s.confidence, s.role, s.scheme, g.code, g.score, g.rank, g.method,"
    " COALESCE(x.status, 'pending'), x.decision_id, x.new_code,"
    " g.segment_id IN (SELECT segment_id FROM temp.queue_touched)"
)


@dataclass(frozen=True)
class QueueQuery:
    """One read of the queue. ``codes``: only these codes (None: all); ``statuses``: only rows of
    these statuses (None: all); ``per_segment``: the status filter keeps a passage when any of its
    rows passes, and the rows are the passage's place in the order (the caller groups them);
    ``group``: the rows read are of these codes (the passage's other rows still count for the
    status filter); ``driver``: which table the read starts from: ``index`` (the order's index over the run),
    ``documents`` (the few documents that pass the filters) or ``segments`` (the few segments
    that hold a decided status)."""

    run_id: int
    scheme: str
    order: str
    codes: tuple[str, ...] | None = None
    min_score: float | None = None
    max_score: float | None = None
    statuses: tuple[str, ...] | None = None
    unreviewed: bool = False
    max_confidence: float | None = None
    per_segment: bool = False
    driver: str = "index"
    group: tuple[str, ...] | None = None  # the theme order reads one code group at a time


_TEMP_TABLES = (
    "CREATE TEMP TABLE IF NOT EXISTS queue_documents (pos INTEGER PRIMARY KEY, document_id INTEGER UNIQUE,"
    " name TEXT);"
    "CREATE TEMP TABLE IF NOT EXISTS queue_status (segment_id INTEGER, code TEXT, status TEXT,"
    " decision_id INTEGER, new_code TEXT, PRIMARY KEY (segment_id, code));"
    "CREATE TEMP TABLE IF NOT EXISTS queue_touched (segment_id INTEGER PRIMARY KEY);"
    "CREATE TEMP TABLE IF NOT EXISTS queue_loaded (part TEXT PRIMARY KEY, stamp TEXT);"
)
#: the parts of a connection's queue state, each loaded under its own stamp
STATE_PARTS = {"documents": "queue_documents", "status": "queue_status", "touched": "queue_touched"}


def _temp_tables(con: sqlite3.Connection) -> None:
    con.execute("PRAGMA temp_store = MEMORY")  # scratch tables: never on disk, never synced
    con.executescript(_TEMP_TABLES)


def state_stamp(con: sqlite3.Connection, part: str) -> str | None:
    """The stamp the connection's ``part`` of the queue state (:data:`STATE_PARTS`) was loaded
    under; None when it was never loaded on this connection."""
    _temp_tables(con)
    row = con.execute("SELECT stamp FROM temp.queue_loaded WHERE part = ?", (part,)).fetchone()
    return None if row is None else str(row[0])


def load_state_part(con: sqlite3.Connection, part: str, stamp: str, rows: Iterable[tuple],
                    replace_segments: Iterable[int] | None = None) -> None:
    """Fill one part of the connection's queue state and record its stamp: ``documents`` as
    (position in the order, document_id, name), ``status`` as (segment_id, code, status,
    decision_id, new_code), ``touched`` as (segment_id,): the segments someone decided something on.
    ``replace_segments``: replace only these segments' rows (``status``, ``touched``): an update
    after a few decisions, not a reload. One transaction of the temporary tables only."""
    table = STATE_PARTS[part]
    _temp_tables(con)
    marks = {"documents": 3, "status": 5, "touched": 1}[part]
    # a deferred savepoint, not BEGIN IMMEDIATE: only temp tables change, the project stays unlocked
    con.execute("SAVEPOINT queue_state")
    try:
        if replace_segments is None:
            con.execute(f"DELETE FROM temp.{table}")
        else:
            con.executemany(f"DELETE FROM temp.{table} WHERE segment_id = ?", ((int(s),) for s in replace_segments))
        con.executemany(f"INSERT OR REPLACE INTO temp.{table} VALUES ({','.join('?' * marks)})", rows)
        con.execute("INSERT OR REPLACE INTO temp.queue_loaded(part, stamp) VALUES (?, ?)", (part, stamp))
    except BaseException:
        con.execute("ROLLBACK TO queue_state")
        con.execute("RELEASE queue_state")
        raise
    con.execute("RELEASE queue_state")


def load_queue_state(
    con: sqlite3.Connection,
    documents: Iterable[tuple[int, int, str]],
    statuses: Iterable[tuple[int, str, str, int, str | None]],
    touched: Iterable[int],
) -> None:
    """Fill every part of the connection's queue state afresh (no stamps: the next read reloads)."""
    load_state_part(con, "documents", "", documents)
    load_state_part(con, "status", "", statuses)
    load_state_part(con, "touched", "", ((int(s),) for s in touched))


def _row_filters(q: QueueQuery, alias: str, by_key: bool = False) -> tuple[list[str], list]:
    """``by_key``: the rows are found by their key (a passage's own rows): a unary + keeps
    SQLite from reading them through a score or code index instead, a range of millions."""
    plus = "+" if by_key else ""
    where, args = [f"{alias}.run_id = ?"], [q.run_id]
    if q.codes is not None:
        where.append(f"{plus}{alias}.code IN ({','.join('?' * len(q.codes))})")
        args.extend(q.codes)
    if q.min_score is not None:
        where.append(f"{plus}{alias}.score >= ?")
        args.append(q.min_score)
    if q.max_score is not None:
        where.append(f"{plus}{alias}.score <= ?")
        args.append(q.max_score)
    return where, args


def _where(q: QueueQuery, by_key: bool = False) -> tuple[str, list]:
    where, args = _row_filters(q, "g", by_key)
    if q.group is not None:
        where.append(f"g.code IN ({','.join('?' * len(q.group))})")
        args.extend(q.group)
    where.append("s.scheme = ?")
    args.append(q.scheme)
    if q.unreviewed:
        where.append("g.segment_id NOT IN (SELECT segment_id FROM temp.queue_touched)")
    if q.max_confidence is not None:
        where.append("s.confidence <= ?")  # typed text has none: left out
        args.append(q.max_confidence)
    if q.statuses:
        marks = ",".join("?" * len(q.statuses))
        if q.per_segment:
            # a passage stays in place while its rows are decided: it is in the view when any row passes
            inner, inner_args = _row_filters(q, "g2", by_key=True)
            where.append(
                "EXISTS (SELECT 1 FROM suggestions g2 LEFT JOIN temp.queue_status x2 ON x2.segment_id = g2.segment_id"
                f" AND x2.code = g2.code WHERE g2.segment_id = g.segment_id AND {' AND '.join(inner)}"
                f" AND COALESCE(x2.status, 'pending') IN ({marks}))")
            args.extend([*inner_args, *q.statuses])
        else:
            where.append(f"COALESCE(x.status, 'pending') IN ({marks})")
            args.extend(q.statuses)
    return " AND ".join(where), args


_ORDER_BY = {
    "uncertain": f"abs(g.score - {OPERATING_THRESHOLD!r}), g.score DESC, q.pos, s.idx, g.rank",
    "score": "g.score DESC, q.pos, s.idx, g.rank",
    "theme": f"abs(g.score - {OPERATING_THRESHOLD!r}), q.pos, s.idx, g.rank",  # one code group at a time
    "teach": f"t.turn, t.unsure DESC, q.pos, s.idx, abs(g.score - {OPERATING_THRESHOLD!r}), g.rank",
    "site": "q.pos, s.idx, g.rank",
    "document": "q.pos, s.idx, g.rank",
}
_STATUS_JOIN = "LEFT JOIN temp.queue_status x ON x.segment_id = g.segment_id AND x.code = g.code"


def _from(q: QueueQuery) -> str:
    docs = "temp.queue_documents q"
    if q.order == "teach":
        # the run's teach places come first; CROSS JOIN keeps SQLite to this join order
        return (f"queue_teach t CROSS JOIN suggestions g ON g.run_id = t.run_id AND g.segment_id = t.segment_id"
                f" CROSS JOIN segments s ON s.id = g.segment_id CROSS JOIN {docs} ON q.document_id = s.document_id"
                f" {_STATUS_JOIN}")
    if q.driver == "segments":
        return ("(SELECT DISTINCT segment_id FROM temp.queue_status) c CROSS JOIN suggestions g"
                f" ON g.segment_id = c.segment_id CROSS JOIN segments s ON s.id = g.segment_id"
                f" CROSS JOIN {docs} ON q.document_id = s.document_id {_STATUS_JOIN}")
    if q.driver == "documents" or q.order in ("site", "document"):
        return (f"{docs} CROSS JOIN segments s ON s.document_id = q.document_id CROSS JOIN suggestions g"
                f" ON g.segment_id = s.id {_STATUS_JOIN}")
    index = {"uncertain": "suggestions_by_distance", "score": "suggestions_by_score",
             "theme": "suggestions_by_code"}[q.order]
    return (f"suggestions g INDEXED BY {index} CROSS JOIN segments s ON s.id = g.segment_id"
            f" CROSS JOIN {docs} ON q.document_id = s.document_id {_STATUS_JOIN}")


def _sql(q: QueueQuery) -> tuple[str, list]:
    where, args = _where(q)
    if q.order == "teach":
        where = "t.run_id = ? AND " + where
        args = [q.run_id, *args]
    return f"SELECT {_SELECT} FROM {_from(q)} WHERE {where} ORDER BY {_ORDER_BY[q.order]}", args


def queue_rows(con: sqlite3.Connection, q: QueueQuery, offset: int = 0, limit: int | None = None,
               block: int = 512) -> Iterator[tuple]:
    """The rows of the queue in its order (columns :data:`ROW_COLUMNS`), read lazily: a caller
    that stops after a page has read little more than the page."""
    sql, args = _sql(q)
    if limit is not None or offset:
        sql += " LIMIT ? OFFSET ?"
        args += [-1 if limit is None else int(limit), int(offset)]
    cur = con.execute(sql, args)
    try:
        while rows := cur.fetchmany(block):
            yield from (tuple(r) for r in rows)
    finally:
        cur.close()  # a reader stopping after a page must not keep its read snapshot open


def count_rows(con: sqlite3.Connection, q: QueueQuery, cap: int, distinct_segments: bool = False) -> int:
    """How many rows (or passages) the query has, counted up to ``cap`` + 1 (then: "more than cap")."""
    where, args = _where(q)
    what = "DISTINCT g.segment_id" if distinct_segments else "1"
    frm = _from(QueueQuery(**{**q.__dict__, "order": "document"}) if q.order == "teach" else q)
    for index in ("suggestions_by_distance", "suggestions_by_score", "suggestions_by_code"):
        frm = frm.replace(f" INDEXED BY {index}", "")  # a count needs no order: SQLite picks the way
    sql = f"SELECT COUNT(*) FROM (SELECT {what} FROM {frm} WHERE {where} LIMIT ?)"
    return int(con.execute(sql, [*args, int(cap) + 1]).fetchone()[0])


def query_plan(con: sqlite3.Connection, q: QueueQuery, segment_ids: Sequence[int] | None = None) -> list[str]:
    """SQLite's plan for a queue read (EXPLAIN QUERY PLAN), one line per step: for tests and
    benchmarks. ``segment_ids``: the plan of :func:`segment_rows` for these passages."""
    sql, args = _sql(q) if segment_ids is None else _segment_sql(q, segment_ids)
    return [str(r[3]) for r in con.execute("EXPLAIN QUERY PLAN " + sql, args)]


def _segment_sql(q: QueueQuery, segment_ids: Sequence[int]) -> tuple[str, list]:
    where, args = _where(QueueQuery(**{**q.__dict__, "per_segment": False}), by_key=True)
    marks = ",".join("?" * len(segment_ids))
    sql = (f"SELECT {_SELECT} FROM suggestions g CROSS JOIN segments s ON s.id = g.segment_id"
           f" CROSS JOIN temp.queue_documents q ON q.document_id = s.document_id {_STATUS_JOIN}"
           f" WHERE g.segment_id IN ({marks}) AND {where} ORDER BY g.segment_id, g.rank")
    return sql, [*map(int, segment_ids), *args]


def segment_rows(con: sqlite3.Connection, q: QueueQuery, segment_ids: Sequence[int]) -> list[tuple]:
    """Every row of the given segments passing the query's filters (its statuses included), best
    first within a segment: the items of a page of passages."""
    rows: list[tuple] = []
    ids = list(segment_ids)
    for start in range(0, len(ids), 500):  # SQLite caps the variables of one statement
        sql, args = _segment_sql(q, ids[start : start + 500])
        rows.extend(tuple(r) for r in con.execute(sql, args))
    return rows


def decided_in_run(con: sqlite3.Connection, run_id: int) -> int:
    """How many of the run's suggestions hold a decided status in ``temp.queue_status``."""
    return int(con.execute(
        "SELECT COUNT(*) FROM temp.queue_status x CROSS JOIN suggestions g ON g.run_id = ?"
        " AND g.segment_id = x.segment_id AND g.code = x.code WHERE x.status != 'pending'", (int(run_id),),
    ).fetchone()[0])


def has_teach_order(con: sqlite3.Connection, run_id: int) -> bool:
    return con.execute("SELECT 1 FROM queue_teach WHERE run_id = ? LIMIT 1", (int(run_id),)).fetchone() is not None


def run_score_blocks(con: sqlite3.Connection, run_id: int, block: int = 200_000) -> Iterator[np.ndarray]:
    """A run's (segment_id, score) pairs in blocks, as float arrays of two columns: read without
    holding the whole run in Python objects."""
    cur = con.execute("SELECT segment_id, score FROM suggestions WHERE run_id = ?", (int(run_id),))
    while rows := cur.fetchmany(block):
        yield np.asarray(rows, dtype=float)


def run_segment_places(con: sqlite3.Connection, run_id: int) -> np.ndarray:
    """(segment_id, document_id, idx) of each segment a run suggested codes for, as an int array."""
    rows = con.execute("SELECT s.id, s.document_id, s.idx FROM segments s WHERE s.id IN"
                       " (SELECT segment_id FROM suggestions WHERE run_id = ?)", (int(run_id),)).fetchall()
    return np.asarray([tuple(r) for r in rows], dtype=np.int64).reshape(-1, 3)


def run_codes(con: sqlite3.Connection, run_id: int) -> list[str]:
    """The distinct codes a run suggested, sorted: one index seek per code, not a scan of the run."""
    rows = con.execute(
        "WITH RECURSIVE c(code) AS (SELECT MIN(code) FROM suggestions WHERE run_id = ?1 UNION ALL"
        " SELECT (SELECT MIN(code) FROM suggestions WHERE run_id = ?1 AND code > c.code) FROM c"
        " WHERE c.code IS NOT NULL) SELECT code FROM c WHERE code IS NOT NULL", (int(run_id),))
    return [str(r[0]) for r in rows]


def store_teach_order(con: sqlite3.Connection, run_id: int, rows: Iterable[tuple[int, int, float]]) -> None:
    """Keep a run's teach places (segment_id, turn, unsure), replacing any; one transaction."""
    with transaction(con):
        con.execute("DELETE FROM queue_teach WHERE run_id = ?", (int(run_id),))
        con.executemany("INSERT INTO queue_teach(run_id, segment_id, turn, unsure) VALUES (?, ?, ?, ?)",
                        ((int(run_id), int(s), int(t), float(u)) for s, t, u in rows))


_LIKELY = f"SUM(g.score >= {OPERATING_THRESHOLD!r})"


def run_figures(con: sqlite3.Connection, run_id: int) -> tuple[int, list[tuple[str, int, int]]]:
    """A run's segments, and per code (code, suggested, scoring at or above the operating
    threshold), on current document versions. A complete run's whole figures are counted once
    (``queue_figures``: one pass over its rows); the few rows on superseded versions come off."""
    run_id = int(run_id)
    rows = con.execute("SELECT code, suggested, likely FROM queue_figures WHERE run_id = ?", (run_id,)).fetchall()
    if not rows:
        rows = [tuple(r) for r in con.execute(
            f"SELECT g.code, COUNT(*), {_LIKELY} FROM suggestions g WHERE g.run_id = ? GROUP BY g.code", (run_id,))]
        n = con.execute("SELECT COUNT(*) FROM (SELECT DISTINCT segment_id FROM suggestions WHERE run_id = ?)",
                        (run_id,)).fetchone()[0]
        rows.append(("", int(n), 0))
        complete = con.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
        if complete is not None and complete[0] == "complete":  # a complete run's rows never change
            with transaction(con):
                con.executemany("INSERT OR REPLACE INTO queue_figures(run_id, code, suggested, likely)"
                                " VALUES (?, ?, ?, ?)", ((run_id, c, int(n), int(k or 0)) for c, n, k in rows))
    figures = {str(c): [int(n), int(k or 0)] for c, n, k in rows}
    old = ("FROM documents d CROSS JOIN segments s ON s.document_id = d.id CROSS JOIN suggestions g"
           " ON g.run_id = ? AND g.segment_id = s.id WHERE d.id NOT IN (SELECT id FROM current_documents)")
    for code, n, k in con.execute(f"SELECT g.code, COUNT(*), {_LIKELY} {old} GROUP BY g.code", (run_id,)):
        figures[str(code)][0] -= int(n)
        figures[str(code)][1] -= int(k or 0)
    figures[""][0] -= int(con.execute(f"SELECT COUNT(DISTINCT g.segment_id) {old}", (run_id,)).fetchone()[0])
    segments = figures.pop("")[0]
    return segments, [(c, n, k) for c, (n, k) in sorted(figures.items()) if n > 0]


def suggestion_scores(con: sqlite3.Connection, run_id: int,
                      pairs: Iterable[tuple[int, str]]) -> list[tuple[int, str, float]]:
    """(segment_id, code, score) of those (segment, code) pairs the run suggested on current
    document versions: a few thousand decided pairs, each found through the primary key."""
    _temp_tables(con)
    con.execute("CREATE TEMP TABLE IF NOT EXISTS queue_pairs (segment_id INTEGER, code TEXT,"
                " PRIMARY KEY (segment_id, code))")
    con.execute("DELETE FROM temp.queue_pairs")
    con.executemany("INSERT OR IGNORE INTO temp.queue_pairs VALUES (?, ?)", ((int(s), str(c)) for s, c in pairs))
    rows = con.execute(
        "SELECT g.segment_id, g.code, g.score FROM temp.queue_pairs x CROSS JOIN suggestions g ON g.run_id = ?"
        " AND g.segment_id = x.segment_id AND g.code = x.code CROSS JOIN segments s ON s.id = g.segment_id"
        " WHERE s.document_id IN (SELECT id FROM current_documents)", (int(run_id),)).fetchall()
    return [(int(r[0]), str(r[1]), float(r[2])) for r in rows]
