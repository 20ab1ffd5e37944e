"""A reference for the review queue's meaning, for tests only: the whole run read into pandas,
then filtered and ordered there (what ``review.queue`` did before it read the queue in SQL).
``queue_page`` must give the same rows in the same order; tests compare the two on small projects."""

from __future__ import annotations

import sqlite3

import pandas as pd

from nlp_theming.codebook import Codebook
from nlp_theming.match.active import uncertainty
from nlp_theming.review.queue import COLUMNS, QueueFilter, as_list, item_key, run_codebook
from nlp_theming.store.decisions import PENDING, decided_segments, status_of
from nlp_theming.store.runs import OPERATING_THRESHOLD, require_run, suggestion_table


def apply(qf: QueueFilter, table: pd.DataFrame, book: Codebook) -> pd.DataFrame:
    """Filter and order a :func:`full_queue` table."""
    statuses = as_list(qf.status)
    themes = as_list(qf.theme)
    if themes:
        wanted = set(themes)
        table = table[[c in wanted or bool(wanted & set(book.ancestors(c) if c in book else []))
                       for c in table.code]]
    for col in ("site", "role", "document"):
        values = as_list(getattr(qf, col))
        if values:
            table = table[table[col].astype(str).isin(values)]
    if qf.min_score is not None:
        table = table[table.score >= qf.min_score]
    if qf.max_score is not None:
        table = table[table.score <= qf.max_score]
    passage_at: dict[int, int] = {}
    if qf.per == "segment":
        # a passage stands where its most pressing suggestion does, decided or not, so that it
        # keeps its place while its suggestions are decided one by one
        seen = _ordered(table, qf.order, book).segment_id
        passage_at = {int(s): i for i, s in enumerate(dict.fromkeys(seen))}
    if statuses:
        table = table[table.status.isin(statuses)]
    if qf.unreviewed:
        table = table[~table.reviewed_by_anyone.astype(bool)]
    if qf.max_confidence is not None and "confidence" in table.columns:
        table = table[table.confidence <= qf.max_confidence]  # typed text has none: left out
    table = _ordered(table, qf.order, book)
    if qf.per == "segment":
        table = table.assign(_passage=table.segment_id.map(passage_at))  # its suggestions best first
        table = table.sort_values(["_passage", "rank"], kind="stable").drop(columns="_passage")
    rest = [c for c in table.columns if c not in COLUMNS]
    return table[COLUMNS + rest].reset_index(drop=True)


def full_queue(
    con: sqlite3.Connection, coder: str | None = None, run_id: int | None = None, cache: dict | None = None,
    blind: bool = False,
) -> tuple[pd.DataFrame, Codebook]:
    """Every suggestion of the run with the coder's status, unordered; and the run's codebook.

    ``reviewed_by_anyone``: someone (when ``blind``, the coder) decided something on the segment.
    """
    run_id = require_run(con, run_id)
    base, book = _base(con, run_id)
    decided = status_of(con, coder)
    table = base.merge(decided.drop(columns=["action"]), on=["segment_id", "code"], how="left")
    table["status"] = table["status"].fillna(PENDING)
    touched = decided_segments(con, coder if blind else None)
    table["reviewed_by_anyone"] = table.segment_id.isin(touched)
    table["decision_id"] = table["decision_id"].astype("Int64")
    # changed_to: the code a change replaced this one with; "" otherwise (falsy everywhere, unlike NaN)
    changed = table.pop("new_code").fillna("").astype(str)
    table["changed_to"] = changed.where(changed != table.code, "")
    return table, book


def _base(con: sqlite3.Connection, run_id: int) -> tuple[pd.DataFrame, Codebook]:
    table = suggestion_table(con, run_id, with_status=False).drop(columns=["status"])
    _, book = run_codebook(con, run_id)
    for col in ("site", "role"):
        if col not in table.columns:
            table[col] = None
    table["meta_theme"] = [book.top_level(c) if c in book else c for c in table.code]
    table["key"] = [item_key(s, c) for s, c in zip(table.segment_id, table.code, strict=True)]
    return table, book


def _ordered(table: pd.DataFrame, order: str, book: Codebook) -> pd.DataFrame:
    table = table.assign(_distance=(table.score - OPERATING_THRESHOLD).abs(), _neg_score=-table.score)
    reading = ["document", "segment_idx", "rank"]
    if order == "uncertain":
        keys = ["_distance", "_neg_score", *reading]
    elif order == "teach":
        # Segments whose decisions teach the matcher most first (match.active), taking each
        # document's most uncertain segment before any document's second: spread, not one
        # transcript's near-copies. A segment's suggestions stay together, nearest 0.5 first.
        by_segment = table.groupby("segment_id").score.apply(lambda s: float(uncertainty(s.to_numpy()[None, :])[0]))
        table = table.assign(_unsure=-table.segment_id.map(by_segment))
        segments = table.drop_duplicates("segment_id").sort_values(["_unsure", "document", "segment_idx"])
        turn = segments.groupby("document").cumcount()
        table = table.assign(_turn=table.segment_id.map(dict(zip(segments.segment_id, turn, strict=True))))
        keys = ["_turn", "_unsure", *reading[:2], "_distance", "rank"]
    elif order == "theme":
        position = {c.code: i for i, c in enumerate(book.codes)}
        last = len(position)
        table = table.assign(_meta=table.meta_theme.map(position).fillna(last),
                             _code=table.code.map(position).fillna(last))
        keys = ["_meta", "_code", "_distance", *reading]
    elif order == "site":
        table = table.assign(_site=table.site.fillna("").astype(str))
        keys = ["_site", *reading]
    elif order == "document":
        keys = reading
    else:
        keys = ["_neg_score", *reading]
    table = table.sort_values(keys, kind="stable")
    return table.drop(columns=[c for c in table.columns if c.startswith("_")])


