"""The review queue (ordering, filters, per-coder status) and the progress figures."""

from __future__ import annotations

import sqlite3

import pytest

from nlp_theming.review import actions
from nlp_theming.review.queue import COLUMNS, QueueFilter, passages, review_queue
from nlp_theming.store.runs import OPERATING_THRESHOLD as THRESHOLD
from tests.helpers.queue_reference import apply, full_queue


def test_default_order_is_least_certain_first(con: sqlite3.Connection) -> None:
    q = review_queue(con, per="suggestion")
    assert list(q.columns[: len(COLUMNS)]) == COLUMNS
    assert len(q) == con.execute("SELECT COUNT(*) FROM suggestions").fetchone()[0]
    distance = (q.score - THRESHOLD).abs()
    assert distance.is_monotonic_increasing
    assert (q.status == "pending").all()
    assert q.key.is_unique


def test_other_orders(con: sqlite3.Connection) -> None:
    codebook = [r[0] for r in con.execute("SELECT code FROM codes ORDER BY position")]
    by_theme = review_queue(con, order="theme", per="suggestion")
    metas = list(dict.fromkeys(by_theme.meta_theme))
    assert metas == [c for c in codebook if c in metas]  # codebook order of meta-themes
    for _, group in by_theme.groupby("code", sort=False):
        assert (group.score - THRESHOLD).abs().is_monotonic_increasing
    by_site = review_queue(con, order="site")
    assert list(dict.fromkeys(by_site.site)) == ["North", "South"]
    by_doc = review_queue(con, order="document")
    assert list(by_doc.document) == sorted(by_doc.document)
    for _, group in by_doc.groupby("document"):
        assert group.segment_idx.is_monotonic_increasing
    assert review_queue(con, order="score", per="suggestion").score.is_monotonic_decreasing
    with pytest.raises(ValueError, match="order"):
        review_queue(con, order="random")


def test_the_default_item_is_a_passage_with_all_its_suggestions(con: sqlite3.Connection) -> None:
    one_by_one = review_queue(con, per="suggestion")
    q = review_queue(con)
    assert sorted(q.key) == sorted(one_by_one.key)
    segments = list(dict.fromkeys(q.segment_id))
    assert q.segment_id.ne(q.segment_id.shift()).sum() == len(segments)  # a passage's suggestions together
    assert segments == list(dict.fromkeys(one_by_one.segment_id))  # passages where their most pressing one was
    for _, group in q.groupby("segment_id", sort=False):
        assert group["rank"].is_monotonic_increasing  # best first within the passage
    # a passage keeps its place while its suggestions are decided one by one
    top = q.iloc[0]
    actions.accept(con, "ana", int(top.segment_id), top.code, int(top.run_id))
    assert review_queue(con, "ana", status="pending").segment_id.iloc[0] == top.segment_id
    items = passages(q)
    assert list(items.segment_id) == segments and items.n_pending.sum() == len(q)
    assert items.codes.iloc[0] == q[q.segment_id == segments[0]].code.tolist()


def test_not_yet_reviewed_by_anyone(con: sqlite3.Connection) -> None:
    q = review_queue(con)
    first, second = (int(s) for s in list(dict.fromkeys(q.segment_id))[:2])
    actions.add(con, "ana", first, q[q.segment_id == first].code.iloc[0])
    actions.no_code(con, "ben", second)
    untouched = review_queue(con, "carl", unreviewed=True)
    assert first not in set(untouched.segment_id) and second not in set(untouched.segment_id)
    assert set(untouched.segment_id) == set(q.segment_id) - {first, second}
    assert (untouched.status == "pending").all()  # carl decided nothing
    # blind: only the coder's own decisions count as reviewed
    table, book = full_queue(con, "carl", blind=True)
    assert apply(QueueFilter(unreviewed=True), table, book).segment_id.nunique() == q.segment_id.nunique()
    assert QueueFilter.from_query({"unreviewed": "1"}).unreviewed
    assert QueueFilter.from_query({"per": "x"}).per == "segment"
    assert QueueFilter(unreviewed=True, per="suggestion").to_query()["unreviewed"] == "1"
    with pytest.raises(ValueError, match="queue item"):
        QueueFilter(per="page")


def test_teach_order_spreads_the_most_uncertain_segments_over_documents(con: sqlite3.Connection) -> None:
    from nlp_theming.match.active import uncertainty

    q = review_queue(con, order="teach")
    assert len(q) == len(review_queue(con)) and q.key.is_unique
    segments = list(dict.fromkeys(q.segment_id))
    assert q.segment_id.ne(q.segment_id.shift()).sum() == len(segments)  # a segment's suggestions together
    unsure = {s: float(uncertainty(g.score.to_numpy()[None, :])[0]) for s, g in q.groupby("segment_id")}
    documents = q.drop_duplicates("segment_id").document.tolist()
    n_docs = len(set(documents))
    assert len(set(documents[:n_docs])) == n_docs  # every document's first segment before any second
    first_round = segments[:n_docs]
    assert [unsure[s] for s in first_round] == sorted((unsure[s] for s in first_round), reverse=True)
    assert unsure[segments[0]] == max(unsure.values())


def test_filters(con: sqlite3.Connection) -> None:
    everything = review_queue(con)
    meta = review_queue(con, theme="Doing the role")
    assert set(meta.code) == {"Time and workload", "Working in the triumvirate"}
    assert len(meta) == everything.code.isin(meta.code.unique()).sum()
    assert set(review_queue(con, theme="Hierarchy and voice").code) == {"Hierarchy and voice"}
    assert set(review_queue(con, site="North").document) == {"north-consultant", "north-nurse"}
    assert set(review_queue(con, role="consultant").document) == {"north-consultant", "south-consultant"}
    assert set(review_queue(con, role=["nurse", "manager"]).document) == {"north-nurse", "south-manager"}
    assert set(review_queue(con, document="south-manager").document) == {"south-manager"}
    band = review_queue(con, min_score=0.4, max_score=0.6)
    assert len(band) and band.score.between(0.4, 0.6).all()
    combined = review_queue(con, site="South", theme="Becoming a leader", min_score=0.2)
    assert set(combined.site) == {"South"} and combined.meta_theme.eq("Becoming a leader").all()
    with pytest.raises(ValueError, match="status"):
        review_queue(con, status="maybe")


def test_status_filter_is_per_coder(con: sqlite3.Connection) -> None:
    q = review_queue(con)
    a, b = q.iloc[0], q.iloc[1]
    actions.accept(con, "alice", a.segment_id, a.code)
    actions.reject(con, "alice", b.segment_id, b.code)
    assert list(review_queue(con, "alice", status="accepted").key) == [a.key]
    assert list(review_queue(con, "alice", status="rejected").key) == [b.key]
    assert len(review_queue(con, "alice", status="pending")) == len(q) - 2
    assert len(review_queue(con, "bob", status="pending")) == len(q)
    both = review_queue(con, "alice", status=["accepted", "rejected"])
    assert set(both.key) == {a.key, b.key}
