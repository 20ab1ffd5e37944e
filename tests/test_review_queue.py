"""The review queue (ordering, filters, per-coder status) and the progress figures."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from nlp_theming import Project
from nlp_theming.cli import main
from nlp_theming.review import actions, decisions_frame, review_status
from nlp_theming.review.queue import COLUMNS, review_queue
from nlp_theming.store.runs import OPERATING_THRESHOLD as THRESHOLD


def test_default_order_is_least_certain_first(con: sqlite3.Connection) -> None:
    q = review_queue(con)
    assert list(q.columns[: len(COLUMNS)]) == COLUMNS
    assert len(q) == con.execute("SELECT COUNT(*) FROM suggestions").fetchone()[0]
    distance = (q.score - THRESHOLD).abs()
    assert distance.is_monotonic_increasing
    assert (q.status == "pending").all()
    assert q.key.is_unique


def test_other_orders(con: sqlite3.Connection) -> None:
    codebook = [r[0] for r in con.execute("SELECT code FROM codes ORDER BY position")]
    by_theme = review_queue(con, order="theme")
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
    assert review_queue(con, order="score").score.is_monotonic_decreasing
    with pytest.raises(ValueError, match="order"):
        review_queue(con, order="random")


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


def test_status_figures(project: Path, con: sqlite3.Connection) -> None:
    q = review_queue(con)
    for row in q.head(4).itertuples():
        actions.accept(con, "alice", row.segment_id, row.code)
    actions.reject(con, "bob", q.iloc[0].segment_id, q.iloc[0].code)
    new_code = "Hierarchy and voice" if q.iloc[5].code != "Hierarchy and voice" else "Time and workload"
    actions.change(con, "bob", q.iloc[5].segment_id, q.iloc[5].code, new_code)
    decided = set(q.key[[0, 1, 2, 3, 5]]) | ({f"{q.iloc[5].segment_id}:{new_code}"} & set(q.key))
    s = review_status(con)
    assert (s.documents, s.suggestions) == (4, len(q))
    assert s.segments == q.segment_id.nunique()
    assert s.likely == int((q.score >= THRESHOLD).sum())
    assert s.pending == len(q) - len(decided)  # with a decision from someone
    alice = s.by_coder.set_index("coder").loc["alice"]
    assert (alice.decided, alice.accepted, alice.rejected, alice.pending) == (4, 4, 0, len(q) - 4)
    assert alice.progress == pytest.approx(4 / len(q))
    bob = s.by_coder.set_index("coder").loc["bob"]
    assert (bob.decided, bob.rejected, bob.changed) == (len(decided) - 3, 2, 1)
    assert s.themes.suggested.sum() == len(q)
    per_theme = s.by_theme_coder[s.by_theme_coder.coder == "alice"]
    assert per_theme.accepted.sum() == 4 and per_theme.applied.sum() == 4
    # blind: one coder's figures, nothing of the others shows through
    blind = review_status(con, "bob", blind=True)
    assert list(blind.by_coder.coder) == ["bob"]
    assert blind.pending == len(q) - (len(decided) - 3)
    with pytest.raises(ValueError, match="blind"):
        review_status(con, blind=True)
    # the same from Python's Project and from the CLI
    with Project(project) as p:
        assert p.review_status().suggestions == len(q)
    result = CliRunner().invoke(main, ["status", str(project)])
    assert result.exit_code == 0, result.output
    assert f"4 documents, {s.segments} segments with suggestions, {len(q)} suggestions" in result.output
    assert "alice" in result.output and "bob" in result.output and "Hierarchy and voice" in result.output
    result = CliRunner().invoke(main, ["status", str(project), "--coder", "alice", "--blind"])
    assert "bob" not in result.output


def test_status_separates_pending_at_any_score_from_pending_above_the_threshold(con: sqlite3.Connection) -> None:
    q = review_queue(con)
    likely = q[q.score >= THRESHOLD]
    low = q[q.score < THRESHOLD]
    assert len(likely) and len(low), "the fixture needs suggestions on both sides of the threshold"
    actions.reject(con, "alice", likely.iloc[0].segment_id, likely.iloc[0].code)
    actions.reject(con, "bob", low.iloc[0].segment_id, low.iloc[0].code)
    s = review_status(con)
    assert s.pending == len(q) - 2
    assert s.pending_likely == len(likely) - 1  # what a summary calls "scoring >= 0.5 not yet reviewed"
    line = s.lines()[0]
    assert f"{s.pending} pending for everyone at any score" in line
    assert f"({s.pending_likely} scoring >= {THRESHOLD} not yet reviewed)" in line
    assert review_status(con, "bob", blind=True).pending_likely == len(likely)


def test_status_counts_decisions_left_on_superseded_versions(project: Path, con: sqlite3.Connection,
                                                             tmp_path: Path) -> None:
    q = review_queue(con, document="north-consultant", order="document")
    for row in q.head(3).itertuples():
        actions.accept(con, "alice", row.segment_id, row.code)
    undone = q.iloc[3]
    actions.accept(con, "alice", undone.segment_id, undone.code)
    actions.undo(con, "alice")  # undone: not in force, not counted
    other = review_queue(con, document="south-manager").iloc[0]
    actions.accept(con, "bob", other.segment_id, other.code)  # on a document that does not change
    assert review_status(con).superseded.empty and review_status(con).superseded_line is None
    # the transcript is corrected and re-ingested: a new version with new segments
    original = Path(con.execute("SELECT path FROM documents WHERE name = 'north-consultant'").fetchone()[0])
    source = tmp_path / original.name
    source.write_text(original.read_text().replace("eight years", "nine years"))
    with Project(project) as p:
        assert p.ingest([source]).updated
    s = review_status(con)
    assert s.superseded.to_dict("records") == [{"document": "north-consultant", "version": 1, "n_decisions": 3}]
    assert "3 decision(s) sit on superseded document versions" in s.superseded_line
    assert len(decisions_frame(con)) == 6  # the log is untouched
    result = CliRunner().invoke(main, ["status", str(project)])
    assert result.exit_code == 0, result.output
    assert "3 decision(s) sit on superseded document versions" in result.output
    assert "north-consultant (version 1: 3)" in result.output
    # blind: only the coder's own
    assert review_status(con, "bob", blind=True).superseded.empty
