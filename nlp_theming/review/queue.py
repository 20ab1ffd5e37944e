"""The review queue: the latest run's suggestions, ordered by what helps a coder most.

One row per (segment, suggested code). The default order puts the least certain first (score
nearest the 0.5 operating threshold), where a person's judgement changes the most; the
confident ones at either end can wait, or be bulk-accepted. By default a segment's suggestions
stay together (``per="segment"``): a passage is one item of the queue, decided at once (accept
some, reject the rest, or "no code applies"); ``per="suggestion"`` orders suggestions one by
one. Status is per coder and derived from the decision log.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from ..codebook import Codebook, load_stored_codebook
from ..match.active import uncertainty
from ..store.decisions import (
    NO_CODE,
    PENDING,
    REVIEW_STATUSES,
    decided_segments,
    latest_decision,
    segments_decided_since,
    status_of,
)
from ..store.documents import (
    attribute_values,
    current_document_names,
    document_count,
    document_table,
    documents_stamp,
    segment_text_frame,
)
from ..store.queue import (
    ROW_COLUMNS,
    QueueQuery,
    count_rows,
    decided_in_run,
    has_teach_order,
    load_state_part,
    queue_rows,
    run_codes,
    run_figures,
    run_score_blocks,
    run_segment_places,
    segment_rows,
    state_stamp,
    store_teach_order,
)
from ..store.runs import latest_run, require_run, run_row

ORDERS = ("uncertain", "teach", "theme", "site", "document", "score")
STATUSES = REVIEW_STATUSES
#: queue items: a passage with all its suggestions, or each suggestion on its own
PER = ("segment", "suggestion")

COLUMNS = [
    "key", "run_id", "segment_id", "document_id", "document", "segment_idx", "turn_idx", "speaker", "start", "end",
    "start_time", "end_time", "text", "code", "parent", "meta_theme", "score", "rank", "site", "role", "status",
    "decision_id", "changed_to", "reviewed_by_anyone",
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
    what = "no code applies" if decision["action"] == NO_CODE else decision["action"]
    return f"{what}{where}"


def parse_key(key: str) -> tuple[int, str]:
    seg, _, code = str(key).partition(":")
    if not seg.strip().isdigit() or not code:
        raise ValueError(f"not a queue item: {key!r} (expected segment_id:code)")
    return int(seg), code


def run_codebook(con: sqlite3.Connection, run_id: int) -> tuple[int, Codebook]:
    row = run_row(con, run_id)
    return load_stored_codebook(con, row["codebook_version"] if row else None)


def as_list(value: str | Iterable[str] | None) -> list[str] | None:
    """A filter value as a list of strings (None when blank): one value, a list, or a tuple."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        return [value]
    values = [str(v) for v in value if str(v).strip()]
    return values or None


@dataclass(frozen=True)
class QueueFilter:
    """Which suggestions to review, in which order: the one filter object that the CLI, the
    review page, the terminal and the sheet all use.

    ``order``: ``uncertain`` (score nearest the operating threshold first), ``teach`` (segments
    whose decisions teach the matcher most first, spread over documents), ``theme`` (codebook
    order, uncertain first within a theme), ``site`` and ``document`` (reading order), ``score``
    (highest first). ``theme`` matches a code or any meta-theme above it; ``site`` and ``role``
    are document attributes; ``status`` is pending/accepted/rejected for the coder (without a
    coder: accepted by anyone, rejected by everyone who decided). Filters take a value or a list.
    """

    order: str = "uncertain"
    theme: str | tuple[str, ...] | None = None
    site: str | tuple[str, ...] | None = None
    role: str | tuple[str, ...] | None = None
    document: str | tuple[str, ...] | None = None
    min_score: float | None = None
    max_score: float | None = None
    status: str | tuple[str, ...] | None = None
    unreviewed: bool = False
    per: str = "segment"
    max_confidence: float | None = None  # the recogniser's: words to check before coding

    #: what each filter means, for command-line help and the page's labels
    HELP: ClassVar[dict[str, str]] = {
        "order": "uncertain: score nearest the operating threshold first; teach: the segments whose decisions"
                 " teach the matcher most, spread over documents; theme; site; document (reading order); "
        "score.",
        "theme": "A theme, or a meta-theme for all themes under it.",
        "site": "Documents of this site (manifest column 'site').",
        "role": "Documents of this role (manifest column 'role').",
        "document": "One document, by name.",
        "min_score": "Suggestions scoring at least this.",
        "max_score": "Suggestions scoring at most this.",
        "status": "pending, accepted or rejected.",
        "unreviewed": "Only passages nobody has decided anything on yet (in blind mode: you).",
        "per": "segment: a passage with all its suggestions is one item (the default); suggestion: one by one.",
        "max_confidence": "Speech recognised with at most this confidence (recordings): words to check first.",
    }
    #: the short names the review page uses in its URLs
    QUERY_KEYS: ClassVar[dict[str, str]] = {
        "order": "order", "theme": "theme", "site": "site", "role": "role", "document": "document",
        "min_score": "min", "max_score": "max", "status": "status", "unreviewed": "unreviewed", "per": "per",
        "max_confidence": "conf",
    }

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise ValueError(f"unknown queue order {self.order!r}; choose one of {', '.join(ORDERS)}")
        if self.per not in PER:
            raise ValueError(f"unknown queue item {self.per!r}; choose one of {', '.join(PER)}")
        for s in as_list(self.status) or []:
            if s not in STATUSES:
                raise ValueError(f"unknown status {s!r}; choose one of {', '.join(STATUSES)}")

    @classmethod
    def of(cls, order: str | None = None, **filters: object) -> QueueFilter:
        """From keyword arguments, ignoring None and blank values (CLI options, API calls)."""
        values = {k: v for k, v in filters.items() if v is not None and not (isinstance(v, str) and not v.strip())}
        unknown = set(values) - set(cls.HELP)
        if unknown:
            raise TypeError(f"unknown queue filter(s): {', '.join(sorted(unknown))}")
        for k, v in list(values.items()):
            if isinstance(v, list | set):
                values[k] = tuple(v)
        return cls(order=order or "uncertain", **values)  # type: ignore[arg-type]

    @classmethod
    def from_query(cls, query: dict[str, str], default_status: str | None = PENDING) -> QueueFilter:
        """From the review page's query string: lenient (an unknown order or status falls back to
        the default, an unreadable score is ignored), since URLs are typed and shared by people."""
        get = {name: (query.get(key) or "").strip() for name, key in cls.QUERY_KEYS.items()}
        order = get["order"] if get["order"] in ORDERS else "uncertain"
        status: str | None = get["status"] if "status" in query else default_status
        if status not in (None, "", *STATUSES):
            status = default_status
        return cls(order=order, theme=get["theme"] or None, site=get["site"] or None, role=get["role"] or None,
                   document=get["document"] or None, min_score=_number(get["min_score"]),
                   max_score=_number(get["max_score"]), status=status or None,
                   unreviewed=get["unreviewed"].lower() in ("1", "true", "on", "yes"),
                   per=get["per"] if get["per"] in PER else "segment",
                   max_confidence=_number(get["max_confidence"]))

    def to_query(self) -> dict[str, str]:
        """The review page's query string for this filter (the inverse of :meth:`from_query`)."""
        out = {}
        for name, key in self.QUERY_KEYS.items():
            value = getattr(self, name)
            if isinstance(value, bool):
                out[key] = "1" if value else ""
            else:
                out[key] = "" if value is None else ",".join(value) if isinstance(value, tuple) else str(value)
        return out

    def replace(self, **changes: object) -> QueueFilter:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def review_queue(
    con: sqlite3.Connection,
    coder: str | None = None,
    queue_filter: QueueFilter | None = None,
    *,
    run_id: int | None = None,
    **filters: object,
) -> pd.DataFrame:
    """The suggestions to review, as a DataFrame (columns: :data:`COLUMNS`, then the rest): the
    whole view, read through :func:`queue_page` (a page at a time: pass ``offset``/``limit`` there).

    Which and in which order: a :class:`QueueFilter`, or its fields as keyword arguments
    (``order``, ``theme``, ``site``, ``role``, ``document``, ``min_score``, ``max_score``, ``status``).
    """
    queue_filter = queue_filter or QueueFilter.of(**filters)  # type: ignore[arg-type]
    return queue_page(con, coder, queue_filter, run_id=run_id).items


def passages(view: pd.DataFrame) -> pd.DataFrame:
    """One row per segment of a queue view, in its order: the first (most pressing) suggestion's
    row with ``codes`` (the segment's suggested codes in the view, best first) and ``n_pending``."""
    if view.empty:
        return view.assign(codes=[], n_pending=[])
    grouped = view.groupby("segment_id", sort=False)
    first = grouped.head(1).set_index("segment_id")
    first["codes"] = grouped.apply(lambda g: g.sort_values("rank").code.tolist(), include_groups=False)
    first["n_pending"] = grouped.status.apply(lambda s: int((s == PENDING).sum()))
    return first.reset_index()[[*view.columns.tolist(), "codes", "n_pending"]]


#: the document filter offers at most this many names (a text field takes any other)
MENU_DOCUMENTS = 200


def filter_values(con: sqlite3.Connection, run_id: int | None = None,
                  limit: int | None = MENU_DOCUMENTS, cache: dict | None = None) -> dict[str, list[str]]:
    """The values each filter can take in this project (for menus): site, role, document (the
    first ``limit`` names: a project of 10,000 documents offers a short list, ``n_documents``
    says how many there are), theme. ``cache``: kept by a long-running caller, read again only
    when a document is stored or a run is made."""
    if cache is not None:
        stamp = (run_id, limit, latest_run(con), *documents_stamp(con))
        if cache.get("options_stamp") != stamp:
            cache.update(options_stamp=stamp, options=filter_values(con, run_id, limit))
        return cache["options"]
    if run_id is None:
        try:
            run_id = require_run(con)
        except ValueError:
            run_id = None
    out: dict = {key: attribute_values(con, key) for key in ("site", "role")}
    out["document"] = current_document_names(con, limit)
    out["n_documents"] = document_count(con)
    out["theme"] = [c.code for c in run_codebook(con, run_id)[1].codes] if run_id is not None else []
    return out


# ---------------------------------------------------------------------------- the queue in SQL

#: a view is counted up to this many items (or passages); past it the page says "more than"
COUNT_CAP = 10_000
#: when at most this many documents pass the filters, the read starts from them and sorts their rows
SMALL_DOCUMENTS = 200


@dataclass
class QueuePage:
    """One page of a queue view. ``items``: the page's rows (columns :data:`COLUMNS`, then the
    rest); ``count``: the view's items (``passages``: its passages, per segment), counted up to
    :data:`COUNT_CAP` (``capped``: there are more); ``total``: the run's suggestions, ``decided``:
    those the coder (without one: anyone) has decided."""

    items: pd.DataFrame
    count: int | None = None
    passages: int | None = None
    capped: bool = False
    total: int = 0
    decided: int = 0


def queue_page(
    con: sqlite3.Connection,
    coder: str | None = None,
    queue_filter: QueueFilter | None = None,
    *,
    run_id: int | None = None,
    offset: int = 0,
    limit: int | None = None,
    blind: bool = False,
    cache: dict | None = None,
    count: bool = False,
    segment_ids: Iterable[int] | None = None,
) -> QueuePage:
    """The view of ``queue_filter`` from ``offset`` (items, or passages per segment), at most
    ``limit`` of them (None: to the end): filtered, ordered and paged in SQL, the text read for
    the page's rows only. ``cache``: a dict kept by a long-running caller for what changes only
    with a new run or document version. ``count``: also count the view (up to :data:`COUNT_CAP`).
    ``segment_ids``: instead, every row of these passages that passes the filters, best first."""
    qf = queue_filter or QueueFilter()
    run_id = require_run(con, run_id)
    cache = {} if cache is None else cache
    run, book, docs = _run_parts(con, run_id, cache)
    keep = _kept_documents(con, qf, docs, cache)
    statuses = as_list(qf.status)
    load_statuses(con, coder, blind)
    if qf.order == "teach":
        _ensure_teach_order(con, run_id, cache)
    driver = "index"
    if statuses and PENDING not in statuses:
        driver = "segments"  # only decided rows: few, whatever the run's size
    elif len(keep) <= SMALL_DOCUMENTS and len(keep) < len(docs):
        driver = "documents"
    query = QueueQuery(
        run_id=run_id, scheme=str(run["scheme"]), order=qf.order, codes=_theme_codes(qf, book),
        min_score=qf.min_score, max_score=qf.max_score, statuses=tuple(statuses) if statuses else None,
        unreviewed=qf.unreviewed, max_confidence=qf.max_confidence, per_segment=qf.per == "segment", driver=driver,
    )
    if segment_ids is not None:
        rows = segment_rows(con, dataclasses.replace(query, per_segment=False), [int(s) for s in segment_ids])
    elif qf.per == "segment":
        wanted: list[int] = []
        seen: set[int] = set()
        for row in _stream(con, query, book, cache):
            segment = row[1]
            if segment in seen:
                continue
            seen.add(segment)
            if len(seen) > offset:
                wanted.append(segment)
                if limit is not None and len(wanted) >= limit:
                    break
        place = {s: i for i, s in enumerate(wanted)}
        rows = sorted(segment_rows(con, query, wanted), key=lambda r: (place[r[1]], r[15]))
    else:
        rows = list(itertools.islice(_stream(con, query, book, cache, offset, limit), 0, None))
    page = QueuePage(_frame(con, rows, run, book, docs))
    if count:
        # counts hold until a decision or a document changes the state they were read under
        state = (cache["sql_stamp"], *(state_stamp(con, part) for part in ("documents", "status", "touched")))
        counts = cache.setdefault("counts", {})
        if counts.get("state") != state:
            counts.clear()
            counts["state"] = state
            counts["decided"] = decided_in_run(con, run_id)
        if query not in counts:
            counts[query] = _count(con, query, qf.per == "segment")
        page.count, page.passages, page.capped = counts[query]
        if cache.get("total_of") != cache["sql_stamp"]:
            # the run's figures are counted once per run (store.queue.run_figures keeps them)
            cache.update(total_of=cache["sql_stamp"], total=sum(n for _, n, _ in run_figures(con, run_id)[1]))
        page.total, page.decided = cache["total"], counts["decided"]
    return page


def _count(con: sqlite3.Connection, query: QueueQuery, per_segment: bool) -> tuple[int, int | None, bool]:
    """(items, passages or None, capped) of a view, each counted up to :data:`COUNT_CAP`."""
    rows_query = dataclasses.replace(query, per_segment=False)
    passages = None
    if per_segment:
        # a passage is in the view when one of its rows passes: its segments among the passing rows
        passages = count_rows(con, rows_query, COUNT_CAP, distinct_segments=True)
    # a passage has one row or more: past the cap in passages, past it in rows without counting them
    items = COUNT_CAP + 1 if (passages or 0) > COUNT_CAP else count_rows(con, rows_query, COUNT_CAP)
    capped = items > COUNT_CAP or (passages or 0) > COUNT_CAP
    return min(items, COUNT_CAP), None if passages is None else min(passages, COUNT_CAP), capped


def passage_rows(con: sqlite3.Connection, coder: str | None, segment_id: int, *, cache: dict | None = None,
                 blind: bool = False) -> pd.DataFrame:
    """Every suggestion of the latest run on one passage with the coder's statuses, best first."""
    return queue_page(con, coder, QueueFilter(order="document"), cache=cache, blind=blind,
                      segment_ids=[segment_id]).items


def _run_parts(con: sqlite3.Connection, run_id: int, cache: dict) -> tuple[sqlite3.Row, Codebook, pd.DataFrame]:
    """The run, its codebook and the current documents with their attributes: read once per run
    and document version (``cache``)."""
    stamp = (run_id, *documents_stamp(con))
    if cache.get("sql_stamp") != stamp:
        docs = document_table(con).drop(columns=["path", "content_hash", "ingested_at", "n_chars"])
        for col in ("site", "role"):
            if col not in docs.columns:
                docs[col] = None
        for key in ("run_codes", "teach"):
            cache.pop(key, None)
        cache.update(sql_stamp=stamp, run=run_row(con, run_id), book=run_codebook(con, run_id)[1], docs=docs)
    return cache["run"], cache["book"], cache["docs"]


def _kept_documents(con: sqlite3.Connection, qf: QueueFilter, docs: pd.DataFrame, cache: dict) -> pd.DataFrame:
    """The documents passing the filters, in the order's reading order; loaded into the
    connection's queue state unless it holds them already (same documents, same filters)."""
    wanted = (qf.order == "site", *(as_list(getattr(qf, col)) for col in ("site", "role", "document")))
    stamp = repr((cache["sql_stamp"], wanted))
    if cache.get("keep_stamp") == stamp:
        keep = cache["keep"]
    else:
        keep = docs
        for col in ("site", "role", "document"):
            values = as_list(getattr(qf, col))
            if values:
                keep = keep[keep[col].astype(str).isin(values)]
        if qf.order == "site":
            keep = keep.assign(_site=keep.site.fillna("").astype(str)).sort_values(["_site", "document"],
                                                                                  kind="stable")
        cache.update(keep_stamp=stamp, keep=keep)
    if state_stamp(con, "documents") != stamp:
        load_state_part(con, "documents", stamp, ((i, int(d), str(n)) for i, (d, n) in
                                                  enumerate(zip(keep.document_id, keep.document, strict=True))))
    return keep


#: past this many segments decided on since the statuses were loaded, they are loaded afresh
INCREMENTAL_SEGMENTS = 500


def load_statuses(con: sqlite3.Connection, coder: str | None, blind: bool = False) -> None:
    """The coder's statuses and the touched segments in the connection's queue state, derived
    from the decision log once per decision: stamped with the newest decision's id, and after a
    few new decisions only their segments derived again."""
    mark = latest_decision(con)[0]
    for part, who in (("status", coder), ("touched", coder if blind else None)):
        stamp = json.dumps([who, mark])
        was = state_stamp(con, part)
        if was == stamp:
            continue
        since = None
        old = json.loads(was) if was and was.startswith("[") else None
        if old is not None and old[0] == who and old[1] <= mark:
            since = segments_decided_since(con, old[1])
        if since is not None and len(since) > INCREMENTAL_SEGMENTS:
            since = None
        if part == "status":
            decided = status_of(con, who, segment_ids=since)
            rows = ((int(r.segment_id), str(r.code), str(r.status), int(r.decision_id),
                     None if pd.isna(r.new_code) else str(r.new_code)) for r in decided.itertuples(index=False))
        else:
            rows = ((s,) for s in decided_segments(con, who, segment_ids=since))
        load_state_part(con, part, stamp, rows, replace_segments=since)


def _theme_codes(qf: QueueFilter, book: Codebook) -> tuple[str, ...] | None:
    themes = as_list(qf.theme)
    if not themes:
        return None
    wanted = set(themes)
    under = {c.code for c in book.codes if wanted & set(book.ancestors(c.code))}
    return tuple(sorted(wanted | under))


def _stream(con: sqlite3.Connection, query: QueueQuery, book: Codebook, cache: dict, offset: int = 0,
            limit: int | None = None) -> Iterable[tuple]:
    """The query's rows in order. The theme order reads one code at a time, in codebook order
    (meta-theme, then code), through the (run, code, distance) index; codes outside the codebook last."""
    if query.order != "theme":
        return queue_rows(con, query, offset, limit)
    if "run_codes" not in cache:
        cache["run_codes"] = run_codes(con, query.run_id)
    position = {c.code: i for i, c in enumerate(book.codes)}
    codes = [c for c in cache["run_codes"] if query.codes is None or c in query.codes]
    last = len(position)
    known = sorted((c for c in codes if c in position), key=lambda c: (position.get(book.top_level(c), last),
                                                                        position[c]))
    groups = [(c,) for c in known] + ([tuple(c for c in codes if c not in position)] if set(codes) - set(known)
                                       else [])
    rows = itertools.chain.from_iterable(queue_rows(con, dataclasses.replace(query, group=g)) for g in groups)
    return itertools.islice(rows, offset, None if limit is None else offset + limit)


def _ensure_teach_order(con: sqlite3.Connection, run_id: int, cache: dict) -> None:
    """Derive the run's teach places once (``queue_teach``): each segment's summed entropy over
    all its suggestions (``match.active.uncertainty``, additive per code), and its turn within its
    document, most uncertain first. Over the whole run, so a filter does not move a passage."""
    if cache.get("teach") == run_id or has_teach_order(con, run_id):
        cache["teach"] = run_id
        return
    ids, sums = np.zeros(0, dtype=np.int64), np.zeros(0)
    for block in run_score_blocks(con, run_id):
        entropy = uncertainty(block[:, 1][:, None])
        ids = np.concatenate([ids, block[:, 0].astype(np.int64)])
        sums = np.concatenate([sums, entropy])
    segments, inverse = np.unique(ids, return_inverse=True)
    unsure = np.bincount(inverse, weights=sums, minlength=len(segments))
    places = pd.DataFrame(run_segment_places(con, run_id), columns=["segment_id", "document_id", "idx"])
    names = document_table(con, all_versions=True).set_index("document_id").document
    places["unsure"] = places.segment_id.map(dict(zip(segments.tolist(), unsure.tolist(), strict=True)))
    places["name"] = places.document_id.map(names)
    places = places.sort_values(["unsure", "name", "idx"], ascending=[False, True, True], kind="stable")
    places["turn"] = places.groupby("document_id").cumcount()
    store_teach_order(con, run_id, zip(places.segment_id, places.turn, places.unsure, strict=True))
    cache["teach"] = run_id


def _frame(con: sqlite3.Connection, rows: list[tuple], run: sqlite3.Row, book: Codebook,
           docs: pd.DataFrame) -> pd.DataFrame:
    """Queue rows as the queue's table: document attributes, codebook columns, the text of these rows only."""
    table = pd.DataFrame(rows, columns=ROW_COLUMNS)
    table = table.merge(docs, on="document_id", how="left")
    texts = segment_text_frame(con, sorted(set(table.segment_id.tolist())))
    table["text"] = table.segment_id.map(texts.text) if not table.empty else pd.Series(dtype=object)
    parents = {c.code: c.parent for c in book.codes}
    table["parent"] = table.code.map(parents)
    table["meta_theme"] = [book.top_level(c) if c in book else c for c in table.code]
    table["key"] = [item_key(s, c) for s, c in zip(table.segment_id, table.code, strict=True)]
    table["reviewed_by_anyone"] = table.pop("reviewed").astype(bool)
    table["decision_id"] = table["decision_id"].astype("Int64")
    changed = table.pop("new_code").fillna("").astype(str)
    table["changed_to"] = changed.where(changed != table.code, "")
    table["model_id"] = run["model_id"]
    rest = [c for c in table.columns if c not in COLUMNS]
    return table[COLUMNS + rest].reset_index(drop=True)
