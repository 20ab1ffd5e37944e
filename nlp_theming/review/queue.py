"""The review queue: the latest run's suggestions, ordered by what helps a coder most.

One row per (segment, suggested code). The default order puts the least certain first (score
nearest the 0.5 operating threshold), where a person's judgement changes the most; the
confident ones at either end can wait, or be bulk-accepted. Status is per coder and derived
from the decision log.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import pandas as pd

from ..codebook import Codebook, load_stored_codebook
from .log import status_of

THRESHOLD = 0.5  # the matchers' operating threshold (match.matchers.Matcher.threshold)
ORDERS = ("uncertain", "theme", "site", "document", "score")
STATUSES = ("pending", "accepted", "rejected")

COLUMNS = [
    "key", "run_id", "segment_id", "document_id", "document", "segment_idx", "turn_idx", "speaker", "start", "end",
    "start_time", "end_time", "text", "code", "parent", "meta_theme", "score", "rank", "site", "role", "status",
    "decision_id", "changed_to",
]


def item_key(segment_id: int, code: str) -> str:
    """A queue item's stable name, used in URLs and sheets: ``segment_id:code``."""
    return f"{int(segment_id)}:{code}"


def decision_item(decision: pd.Series) -> str | None:
    """The queue item a decision (a log row) was about; None when it names no segment (an
    imported span) or no code (an adjustment of all the coder's codes on a segment)."""
    segment_id, code = decision.get("segment_id"), decision.get("code")
    if segment_id is None or pd.isna(segment_id) or not isinstance(code, str) or not code:
        return None
    return item_key(int(segment_id), code)


def describe(decision: pd.Series) -> str:
    """A decision in a few words, for "Undone: ..." messages."""
    code = decision.get("code")
    if isinstance(code, str) and code:
        return f"{decision['action']} of {code}"
    segment_id = decision.get("segment_id")
    where = f" on segment {int(segment_id)}" if segment_id is not None and pd.notna(segment_id) else ""
    return f"{decision['action']}{where}"


def parse_key(key: str) -> tuple[int, str]:
    seg, _, code = str(key).partition(":")
    if not seg.strip().isdigit() or not code:
        raise ValueError(f"not a queue item: {key!r} (expected segment_id:code)")
    return int(seg), code


def run_codebook(con: sqlite3.Connection, run_id: int) -> tuple[int, Codebook]:
    row = con.execute("SELECT codebook_version FROM runs WHERE id = ?", (run_id,)).fetchone()
    return load_stored_codebook(con, row[0] if row else None)


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        return [value]
    values = [str(v) for v in value if str(v).strip()]
    return values or None


def review_queue(
    con: sqlite3.Connection,
    coder: str | None = None,
    *,
    order: str = "uncertain",
    theme: str | Iterable[str] | None = None,
    site: str | Iterable[str] | None = None,
    role: str | Iterable[str] | None = None,
    document: str | Iterable[str] | None = None,
    min_score: float | None = None,
    max_score: float | None = None,
    status: str | Iterable[str] | None = None,
    run_id: int | None = None,
) -> pd.DataFrame:
    """The suggestions to review, as a DataFrame (columns: :data:`COLUMNS`, then the rest).

    ``order``: ``uncertain`` (score nearest 0.5 first), ``theme`` (codebook order, uncertain
    first within a theme), ``site`` and ``document`` (reading order), ``score`` (highest first).
    Filters take a value or a list: ``theme`` matches a code or any meta-theme above it;
    ``site`` and ``role`` are document attributes; ``status`` is pending/accepted/rejected for
    ``coder`` (without a coder: accepted by anyone, rejected by everyone who decided).
    """
    table, book = full_queue(con, coder, run_id)
    return select(table, book, order=order, theme=theme, site=site, role=role, document=document,
                  min_score=min_score, max_score=max_score, status=status)


def full_queue(
    con: sqlite3.Connection, coder: str | None = None, run_id: int | None = None, cache: dict | None = None
) -> tuple[pd.DataFrame, Codebook]:
    """Every suggestion of the run with the coder's status, unordered; and the run's codebook.

    ``cache``: a dict kept by a long-running caller (the review server) for the parts that only
    change with a new run or a new document version; the statuses are always read afresh.
    """
    from ..suggest import latest_run

    run_id = run_id if run_id is not None else latest_run(con)
    if run_id is None:
        raise ValueError("the project has no complete suggestion run yet; run `nlp-theming suggest PROJECT`")
    stamp = (run_id, *con.execute("SELECT COUNT(*), MAX(id) FROM documents").fetchone())
    if cache is not None and cache.get("stamp") == stamp:
        base, book = cache["base"], cache["book"]
    else:
        base, book = _base(con, run_id)
        if cache is not None:
            cache.update(stamp=stamp, base=base, book=book)
    decided = status_of(con, coder)
    table = base.merge(decided.drop(columns=["action"]), on=["segment_id", "code"], how="left")
    table["status"] = table["status"].fillna("pending")
    table["decision_id"] = table["decision_id"].astype("Int64")
    # changed_to: the code a change replaced this one with; "" otherwise (falsy everywhere, unlike NaN)
    changed = table.pop("new_code").fillna("").astype(str)
    table["changed_to"] = changed.where(changed != table.code, "")
    return table, book


def _base(con: sqlite3.Connection, run_id: int) -> tuple[pd.DataFrame, Codebook]:
    from ..export import suggestion_table

    table = suggestion_table(con, run_id).drop(columns=["status"])
    _, book = run_codebook(con, run_id)
    for col in ("site", "role"):
        if col not in table.columns:
            table[col] = None
    table["meta_theme"] = [book.top_level(c) if c in book else c for c in table.code]
    table["key"] = [item_key(s, c) for s, c in zip(table.segment_id, table.code, strict=True)]
    return table, book


def select(
    table: pd.DataFrame,
    book: Codebook,
    *,
    order: str = "uncertain",
    theme: str | Iterable[str] | None = None,
    site: str | Iterable[str] | None = None,
    role: str | Iterable[str] | None = None,
    document: str | Iterable[str] | None = None,
    min_score: float | None = None,
    max_score: float | None = None,
    status: str | Iterable[str] | None = None,
) -> pd.DataFrame:
    """Filter and order a :func:`full_queue` table (the arguments of :func:`review_queue`)."""
    if order not in ORDERS:
        raise ValueError(f"unknown queue order {order!r}; choose one of {', '.join(ORDERS)}")
    statuses = _as_list(status)
    for s in statuses or []:
        if s not in STATUSES:
            raise ValueError(f"unknown status {s!r}; choose one of {', '.join(STATUSES)}")
    themes = _as_list(theme)
    if themes:
        wanted = set(themes)
        table = table[[c in wanted or bool(wanted & set(book.ancestors(c) if c in book else [])) for c in table.code]]
    for col, values in (("site", _as_list(site)), ("role", _as_list(role)), ("document", _as_list(document))):
        if values:
            table = table[table[col].astype(str).isin(values)]
    if min_score is not None:
        table = table[table.score >= min_score]
    if max_score is not None:
        table = table[table.score <= max_score]
    if statuses:
        table = table[table.status.isin(statuses)]
    table = _ordered(table, order, book)
    rest = [c for c in table.columns if c not in COLUMNS]
    return table[COLUMNS + rest].reset_index(drop=True)


def _ordered(table: pd.DataFrame, order: str, book: Codebook) -> pd.DataFrame:
    table = table.assign(_distance=(table.score - THRESHOLD).abs(), _neg_score=-table.score)
    reading = ["document", "segment_idx", "rank"]
    if order == "uncertain":
        keys = ["_distance", "_neg_score", *reading]
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


def filter_values(con: sqlite3.Connection, run_id: int | None = None) -> dict[str, list[str]]:
    """The values each filter can take in this project (for menus): site, role, document, theme."""
    from ..suggest import latest_run

    run_id = run_id if run_id is not None else latest_run(con)
    out: dict[str, list[str]] = {}
    for key in ("site", "role"):
        rows = con.execute(
            "SELECT DISTINCT a.value FROM document_attributes a JOIN current_documents d ON d.id = a.document_id"
            " WHERE a.key = ? AND a.value IS NOT NULL AND a.value != '' ORDER BY a.value",
            (key,),
        ).fetchall()
        out[key] = [r[0] for r in rows]
    out["document"] = [r[0] for r in con.execute("SELECT name FROM current_documents ORDER BY name")]
    out["theme"] = [c.code for c in run_codebook(con, run_id)[1].codes] if run_id is not None else []
    return out
