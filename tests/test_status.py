"""Review progress: `nlp-theming status`, `Project.review_status` and the figures behind them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from nlp_theming import Project
from nlp_theming.cli import main
from nlp_theming.review import actions, decisions_frame, review_status
from nlp_theming.review.queue import review_queue
from nlp_theming.store.runs import OPERATING_THRESHOLD as THRESHOLD


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
    # the run's figures were counted and kept before the re-ingest: the old version's rows come off
    now = review_queue(con, status=None, per="suggestion")
    assert (s.suggestions, s.segments) == (len(now), now.segment_id.nunique())
    assert s.themes.set_index("theme").suggested.to_dict() == now.groupby("code").size().to_dict()
    assert s.pending == int((now.status == "pending").sum())
    assert s.superseded.to_dict("records") == [{"document": "north-consultant", "version": 1, "n_decisions": 3}]
    assert "3 decision(s) sit on superseded document versions" in s.superseded_line
    assert len(decisions_frame(con)) == 6  # the log is untouched
    result = CliRunner().invoke(main, ["status", str(project)])
    assert result.exit_code == 0, result.output
    assert "3 decision(s) sit on superseded document versions" in result.output
    assert "north-consultant (version 1: 3)" in result.output
    # blind: only the coder's own
    assert review_status(con, "bob", blind=True).superseded.empty


def test_status_measures_precision_at_the_threshold_on_the_projects_decisions(project: Path,
                                                                              con: sqlite3.Connection) -> None:
    q = review_queue(con)
    likely, unlikely = q[q.score >= THRESHOLD], q[q.score < THRESHOLD]
    assert len(likely) >= 3 and len(unlikely) >= 1, "the fixture needs suggestions on both sides"
    assert review_status(con).precision_line is None  # nothing decided yet
    for row in likely.head(2).itertuples():
        actions.accept(con, "alice", row.segment_id, row.code)
    actions.reject(con, "alice", likely.iloc[2].segment_id, likely.iloc[2].code)
    actions.reject(con, "bob", unlikely.iloc[0].segment_id, unlikely.iloc[0].code)
    s = review_status(con)
    assert (s.decided_likely, s.precision_likely) == (3, 2 / 3)
    assert (s.decided_unlikely, s.accepted_unlikely) == (1, 0.0)
    assert f"of 3 decided suggestions scoring >= {THRESHOLD}, 67% were accepted" in s.precision_line
    result = CliRunner().invoke(main, ["status", str(project)])
    assert "67% were accepted" in result.output
