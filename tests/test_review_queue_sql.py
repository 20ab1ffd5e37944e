"""The review queue read in SQL (``queue_page``) against the queue's meaning: every order, per
passage and per suggestion, with the filters the page offers, equal to the whole-table path
(``tests/helpers/queue_reference.py``: the run read whole into pandas) on the sample project; pages that stay put."""

from __future__ import annotations

import itertools
import sqlite3

import pytest

from nlp_theming.review import actions
from nlp_theming.review.queue import ORDERS, PER, QueueFilter, item_key, queue_page
from nlp_theming.store.queue import DISTANCE, QueueQuery, load_queue_state, query_plan
from nlp_theming.store.runs import OPERATING_THRESHOLD, latest_run
from nlp_theming.store.schema import SCHEMA
from tests.helpers.queue_reference import apply, full_queue

FILTERS = [
    {},
    {"status": "pending"},
    {"status": "accepted"},
    {"status": ("rejected", "accepted")},
    {"site": "North"},
    {"unreviewed": True},
    {"min_score": 0.3, "max_score": 0.7},
]


def _decide_some(con: sqlite3.Connection) -> None:
    q = queue_page(con, limit=None).items
    first = q.drop_duplicates("segment_id").head(6)
    for i, row in enumerate(first.itertuples(index=False)):
        (actions.accept if i % 2 else actions.reject)(con, ("ana", "ben")[i % 3 == 0], int(row.segment_id), row.code)


@pytest.mark.parametrize("coder", [None, "ana"])
def test_every_order_and_filter_equals_the_whole_table_path(con: sqlite3.Connection, coder: str | None) -> None:
    _decide_some(con)
    table, book = full_queue(con, coder)
    meta = next(c for c in book.codes if any(book.ancestors(d.code)[:1] == [c.code] for d in book.codes))
    filters = [*FILTERS, {"theme": meta.code, "status": "pending"}, {"theme": book.leaves[-1].code}]
    for order, per, extra in itertools.product(ORDERS, PER, filters):
        if order == "teach" and (set(extra) & {"status", "min_score", "max_score", "theme", "unreviewed"}):
            continue  # teach places are the run's (queue_teach): filters keep them, by design
        qf = QueueFilter.of(order, per=per, **extra)
        want = apply(qf, table, book)
        got = queue_page(con, coder, qf).items
        assert got.key.tolist() == want.key.tolist(), (order, per, extra)
        assert got.status.tolist() == want.status.tolist()
        assert got.text.tolist() == want.text.tolist()
        assert got.reviewed_by_anyone.tolist() == want.reviewed_by_anyone.tolist()
        assert got.changed_to.tolist() == want.changed_to.tolist()


def test_pages_join_up_to_the_whole_view(con: sqlite3.Connection) -> None:
    for per in PER:
        qf = QueueFilter(per=per)
        whole = queue_page(con, None, qf).items
        size = 7
        pieces, offset = [], 0
        while True:
            page = queue_page(con, None, qf, offset=offset, limit=size).items
            if page.empty:
                break
            pieces.extend(page.key)
            offset += size
        assert pieces == whole.key.tolist()
        assert queue_page(con, None, qf, offset=7, limit=7).items.key.tolist() == \
            queue_page(con, None, qf, offset=7, limit=7).items.key.tolist()


def test_a_decision_moves_an_item_out_of_the_pending_page(con: sqlite3.Connection) -> None:
    qf = QueueFilter(status="pending", per="suggestion")
    first = queue_page(con, "ana", qf, limit=5, count=True)
    top = first.items.iloc[0]
    actions.accept(con, "ana", int(top.segment_id), top.code)
    after = queue_page(con, "ana", qf, limit=5, count=True)
    assert top.key not in after.items.key.tolist()
    assert after.items.key.tolist()[:4] == first.items.key.tolist()[1:5]
    assert after.count == first.count - 1 and after.decided == first.decided + 1
    assert queue_page(con, "ben", qf, limit=1).items.key.iloc[0] == top.key  # another coder's queue keeps it


def test_the_distance_index_is_the_operating_threshold_and_is_used(con: sqlite3.Connection) -> None:
    assert f"abs(score - {OPERATING_THRESHOLD!r})" == DISTANCE and DISTANCE in SCHEMA
    queue_page(con, None, QueueFilter(), limit=1)  # fills the temporary tables the plan reads
    run = latest_run(con)
    plan = " ".join(query_plan(con, QueueQuery(run_id=run, scheme="x", order="uncertain")))
    assert "suggestions_by_distance" in plan
    plan = " ".join(query_plan(con, QueueQuery(run_id=run, scheme="x", order="score")))
    assert "suggestions_by_score" in plan


@pytest.mark.parametrize("coder", [None, "ana"])
def test_state_kept_on_the_connection_follows_every_kind_of_decision(con: sqlite3.Connection,
                                                                     coder: str | None) -> None:
    """The statuses stay in the connection's temporary tables between reads and only the segments
    of new decisions are derived again: after accepts, a change, "no code applies", an undo and
    an undo of that undo, each read equals one from a state loaded afresh."""
    qf = QueueFilter(order="document", per="suggestion")
    rows = queue_page(con, coder, qf).items.drop_duplicates("segment_id").head(5)
    segs = [(int(r.segment_id), r.code) for r in rows.itertuples(index=False)]
    steps = [
        lambda: actions.accept(con, "ana", *segs[0]),
        lambda: actions.change(con, "ana", segs[1][0], segs[1][1], segs[0][1]),
        lambda: actions.no_code(con, "ana", segs[2][0]),
        lambda: actions.reject(con, "ben", *segs[3]),
        lambda: actions.undo(con, "ana"),  # the "no code applies"
        lambda: actions.undo(con, "ana"),  # ... and that undo: it applies again
        lambda: actions.reject_rest(con, "ana", segs[4][0]),
    ]

    def seen() -> list[tuple]:
        page = queue_page(con, coder, qf, blind=coder is not None)
        return list(zip(page.items.key, page.items.status, page.items.changed_to, page.items.reviewed_by_anyone,
                        strict=True))

    kept = seen()
    for step in steps:
        step()
        kept = seen()  # derived again for the new decisions' segments only
        load_queue_state(con, [], [], [])  # the stamps are lost: the next read loads everything
        assert kept == seen()
    statuses = dict((k, s) for k, s, _, _ in kept)
    assert statuses[item_key(*segs[3])] == ("rejected" if coder is None else "pending")
    assert (statuses[item_key(*segs[0])] == "accepted") and any(s != "pending" for s in statuses.values())


def test_a_passages_own_rows_are_read_by_their_key_under_a_score_filter(con: sqlite3.Connection) -> None:
    """Per passage, the status filter looks at each passage's other rows: by the (run, segment)
    key, never through the score index (at a million segments that read a range of millions per row)."""
    queue_page(con, None, QueueFilter(), limit=1)
    q = QueueQuery(run_id=latest_run(con), scheme="x", order="uncertain", min_score=0.4, max_score=0.6,
                   codes=("a", "b"), statuses=("pending",), per_segment=True)
    inner = [step for step in query_plan(con, q) if " g2 " in step]
    assert inner and all("(run_id=? AND segment_id=?)" in step for step in inner), inner
    # a page's passages are read by their segment ids, whatever the score filter
    rows = query_plan(con, q, segment_ids=[1, 2, 3])
    assert any("suggestions" in step and "segment_id=?" in step for step in rows) and \
        not any("suggestions_by_score" in step for step in rows), rows


def test_the_transcript_views_suggestions_are_read_from_the_documents_segments(con: sqlite3.Connection) -> None:
    from nlp_theming.store.runs import document_suggestions_plan

    plan = document_suggestions_plan(con, latest_run(con), 1)
    assert "segments" in plan[0] and "document_id=?" in plan[0], plan  # the document's segments, then by key
    assert any("(run_id=? AND segment_id=?)" in step for step in plan[1:]), plan


def test_passages_past_the_statement_variable_limit_read_in_batches(con: sqlite3.Connection) -> None:
    """A whole queue of passages (the API, the sheet) reads more segments than SQLite allows
    variables in one statement (250,000 in this build): the rows come back in batches, all of them."""
    whole = queue_page(con, limit=None).items
    ids = sorted(set(whole.segment_id))
    padded = ids + list(range(10**9, 10**9 + 260_000))  # ids no segment has: nothing extra comes back
    rows = queue_page(con, limit=None, segment_ids=padded).items
    assert len(rows) == len(whole)
    assert set(zip(rows.segment_id, rows.code, strict=True)) == set(zip(whole.segment_id, whole.code, strict=True))
