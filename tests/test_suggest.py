"""Suggest runs on the sample corpus with the real embedding model."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nlp_theming import Project, SuggestConfig
from nlp_theming.onnx_encoder import split_mode
from nlp_theming.review import import_spans
from nlp_theming.segment import Segmenter
from nlp_theming.store.embeddings import cache_size
from tests.helpers.paths import CORPUS


def _suggestions(path: Path) -> pd.DataFrame:
    with Project(path) as p:
        return p.suggestions()


@pytest.mark.slow
def test_every_participant_segment_gets_ranked_scored_suggestions(corpus_project: Path) -> None:
    with Project(corpus_project) as p:
        table = p.suggestions()
        segments = p.segments()
        codes = p.codebook()
    participant = segments[segments.speaker_role == "participant"]
    assert set(table.segment_id) == set(participant.segment_id)
    assert not set(table.segment_id) & set(segments[segments.speaker_role != "participant"].segment_id)
    assert table.score.between(0, 1).all()
    per_segment = table.groupby("segment_id")
    assert per_segment.size().max() == 5
    for _, group in per_segment:
        assert list(group["rank"]) == list(range(1, len(group) + 1))
        assert group.score.is_monotonic_decreasing
    assert set(table.code) <= set(codes[codes.is_leaf].code)
    assert (table.status == "pending").all()
    # the metadata of the manifest travels with every row
    assert {"site", "participant", "role", "level"} <= set(table.columns)
    assert set(table.site) == set("ABCDEFGHI")


def _gold_coded_segments(project: Path, coder: str = "coder1") -> pd.DataFrame:
    gold = pd.read_csv(CORPUS / "gold_spans.csv")
    gold = gold[gold.coder == coder]
    with Project(project) as p:
        segments = p.segments()
    rows = []
    from nlp_theming.review import span_segments

    for doc, spans in gold.groupby("document"):
        segs = segments[segments.document == doc]
        for span in spans.itertuples(index=False):
            for sid in span_segments(segs, span.start, span.end):
                rows.append((sid, doc, span.code))
    return pd.DataFrame(rows, columns=["segment_id", "document", "code"]).drop_duplicates()


def _hit_rates(table: pd.DataFrame, gold: pd.DataFrame, documents: set[str]) -> tuple[float, float]:
    gold = gold[gold.document.isin(documents)]
    truth = gold.groupby("segment_id").code.apply(set)
    top = table[table.segment_id.isin(truth.index)]
    first = top[top["rank"] == 1].set_index("segment_id").code
    five = top.groupby("segment_id").code.apply(set)
    hit1 = np.mean([first[s] in truth[s] for s in truth.index])
    recall5 = np.mean([len(five[s] & truth[s]) / len(truth[s]) for s in truth.index])
    return float(hit1), float(recall5)


@pytest.mark.slow
def test_zero_shot_suggestions_are_far_better_than_chance(corpus_project: Path) -> None:
    table = _suggestions(corpus_project)
    gold = _gold_coded_segments(corpus_project)
    hit1, recall5 = _hit_rates(table, gold, set(gold.document))
    n_codes = table.code.nunique()
    # chance: 1/30 for the first suggestion, about 5/30 for five
    assert hit1 > 4 / n_codes, hit1
    assert recall5 > 2.5 * 5 / n_codes, recall5


@pytest.mark.slow
def test_confirmed_codes_teach_the_matcher(project_copy: Path) -> None:
    gold = _gold_coded_segments(project_copy)
    documents = sorted(gold.document.unique())
    train, test = set(documents[::2]), set(documents[1::2])
    before = _hit_rates(_suggestions(project_copy), gold, test)
    spans = pd.read_csv(CORPUS / "gold_spans.csv")
    spans = spans[(spans.coder == "coder1") & spans.document.isin(train)]
    with Project(project_copy) as p:
        report = import_spans(p.con, spans, Segmenter().scheme)
        assert report.problems == []
        summary = p.suggest(SuggestConfig(seed=0))
    assert summary.n_labeled > 100 and summary.status == "complete"
    table = _suggestions(project_copy)
    assert table.method.str.contains("labels").all()
    after = _hit_rates(table, gold, test)
    assert after[0] > before[0] + 0.03, (before, after)
    assert after[1] > before[1], (before, after)


@pytest.mark.slow
def test_rejections_teach_that_code_only(project_copy: Path) -> None:
    """Rejecting a code where it ranked first lowers that code there; the other codes of those
    segments are not taught "absent" (a rejection is a negative for one code only)."""
    from nlp_theming.review import reject

    before = _suggestions(project_copy)
    confident = before[(before["rank"] == 1) & (before.score >= 0.5)]
    code = confident.code.value_counts().index[0]
    rows = confident[confident.code == code].head(6)
    assert len(rows) >= 3
    with Project(project_copy) as p:
        vectors = cache_size(p.con)
        for r in rows.itertuples(index=False):
            reject(p.con, "ana", int(r.segment_id), code, int(r.run_id))
        summary = p.suggest(SuggestConfig(seed=0, discover=False))
        assert cache_size(p.con) == vectors, "re-suggesting after decisions embedded something again"
    assert summary.n_labeled == len(rows)
    after = _suggestions(project_copy)
    old = before.set_index(["segment_id", "code"]).score
    new = after.set_index(["segment_id", "code"]).score
    for r in rows.itertuples(index=False):
        assert new.get((r.segment_id, code), 0.0) < old[(r.segment_id, code)] - 0.1, "the rejection did not teach"
    # the codes nobody decided keep their scores on those segments (to within the shared
    # standardisation), instead of being pushed to zero as "no other code applies"
    others = before[before.segment_id.isin(rows.segment_id) & (before.code != code) & (before["rank"] <= 3)]
    kept = [new.get((r.segment_id, r.code)) for r in others.itertuples(index=False)]
    assert all(k is not None and abs(k - r.score) < 0.05 for k, r in zip(kept, others.itertuples(index=False),
                                                                           strict=True))


@pytest.mark.slow
def test_same_seed_same_input_same_suggestions(corpus_project: Path, tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        target = tmp_path / name
        shutil.copytree(corpus_project, target)
        with Project(target) as p:
            summary = p.suggest(SuggestConfig(seed=3, top_k=3, discover=True))
            assert summary.status == "complete" and summary.n_proposals > 0
            runs.append(p.suggestions(summary.run_id).drop(columns=["run_id"]))
            proposals = pd.read_sql_query(
                "SELECT label, keywords, size FROM theme_proposals WHERE run_id = ? ORDER BY proposal",
                p.con,
                params=[summary.run_id],
            )
            runs[-1].attrs["proposals"] = proposals
        # the same configuration again is recognised as done
        with Project(target) as p:
            assert p.suggest(SuggestConfig(seed=3, top_k=3, discover=True)).status == "up-to-date"
    pd.testing.assert_frame_equal(runs[0], runs[1])
    pd.testing.assert_frame_equal(runs[0].attrs["proposals"], runs[1].attrs["proposals"])


@pytest.mark.slow
def test_candidate_themes_are_proposals_named_by_keywords(corpus_project: Path) -> None:
    with Project(corpus_project) as p:
        proposals = pd.read_sql_query("SELECT * FROM theme_proposals", p.con)
        members = pd.read_sql_query("SELECT * FROM proposal_members", p.con)
        codes = set(p.codebook().code)
    assert len(proposals) >= 1
    assert not set(proposals.label) & codes  # never codes
    for row in proposals.itertuples():
        assert len(members[members.proposal == row.proposal]) == row.size
        assert row.label.split(" / ")[0] in row.keywords
    # a segment the matcher already gave a code is never evidence for a new theme
    run = int(proposals.run_id.max())
    with Project(corpus_project) as p:
        best = pd.read_sql_query("SELECT segment_id, MAX(score) AS best FROM suggestions WHERE run_id = ? GROUP BY 1",
                                 p.con, params=[run]).set_index("segment_id").best
    in_run = members[members.run_id == run]
    assert len(in_run) and (best.loc[in_run.segment_id] < 0.5).all()


@pytest.mark.slow
def test_discover_is_its_own_step_stored_with_the_run_and_the_same_twice(project_copy: Path) -> None:
    """suggest leaves discovery out unless asked; discover adds a run's candidate themes (the same
    ones for the same seed), replacing what the run had, and prints its phases unless --quiet."""
    from click.testing import CliRunner

    from nlp_theming.cli import main

    with Project(project_copy) as p:
        summary = p.suggest(SuggestConfig(seed=1))  # a new run: discovery off by default
        assert summary.status == "complete" and summary.n_proposals == 0
    stored = []
    for _ in range(2):
        result = CliRunner().invoke(main, ["discover", str(project_copy), "--reduction", "pca"])
        assert result.exit_code == 0, result.output
        assert "discover: discovering candidate themes among" in result.output  # the phase line (stderr)
        assert f"run {summary.run_id}: " in result.output and "candidate new themes among" in result.output
        with Project(project_copy) as p:
            stored.append(pd.read_sql_query(
                "SELECT t.proposal, t.label, t.keywords, m.segment_id FROM theme_proposals t JOIN proposal_members m"
                " USING (run_id, proposal) WHERE run_id = ? ORDER BY t.proposal, m.segment_id", p.con,
                params=[summary.run_id]))
            best = p.suggestions(summary.run_id).groupby("segment_id").score.max()
    assert len(stored[0]) and stored[0].proposal.nunique() >= 2
    pd.testing.assert_frame_equal(stored[0], stored[1])  # replaced, not added to; the same for the same seed
    assert (best.reindex(stored[0].segment_id).fillna(0) < 0.5).all()  # only segments that matched no code
    quiet = CliRunner().invoke(main, ["discover", str(project_copy), "--reduction", "pca", "--quiet"])
    assert quiet.exit_code == 0 and "discover:" not in quiet.output


@pytest.mark.slow
def test_bertopic_zero_shot_path_really_runs(corpus_project: Path) -> None:
    """Guards the BERTopic trap: precomputed embeddings without an embedding model skip zero-shot."""
    from nlp_theming.embed import Embedder
    from nlp_theming.match import ZeroShotMatcher, discover_themes

    with Project(corpus_project) as p:
        segments = p.segments()
        segments = segments[segments.speaker_role == "participant"]
        from nlp_theming.codebook import load_stored_codebook

        codes = load_stored_codebook(p.con)[1].leaves
        embedder = Embedder(con=p.con)
        X = embedder.encode(segments.text.tolist())
        matcher = ZeroShotMatcher().fit(codes, embedder.encode, X_unlabeled=X)
        result = discover_themes(
            segments.text.tolist(), X, [c.code for c in codes], matcher.prototypes_, 0.6, embedder.encode,
            strategy="zeroshot",
        )
    assert result.skipped is None
    assert 0.5 * len(X) < result.zeroshot_assigned < 0.7 * len(X)
    assert result.proposals and all(len(pr.keywords) >= 3 for pr in result.proposals)


@pytest.mark.slow
def test_killed_run_leaves_store_consistent_and_next_run_completes(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    with Project.init(project) as p:
        files = sorted((CORPUS / "transcripts").iterdir())[:6]
        p.ingest(files)
        p.load_codebook(CORPUS / "codebook.csv")
    cmd = [sys.executable, "-m", "nlp_theming.cli", "suggest", str(project), "--quiet", "--batch-size", "8"]
    proc = subprocess.Popen(cmd, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    db = sqlite3.connect(project / "project.db", timeout=30)
    deadline = time.time() + 120
    # kill once the run has started embedding: some vectors cached, no suggestions yet
    while time.time() < deadline and proc.poll() is None:
        if db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] > 16:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run = db.execute("SELECT id, status FROM runs").fetchall()
    assert [r[1] for r in run] == ["running"]
    assert db.execute("SELECT COUNT(*) FROM suggestions").fetchone()[0] == 0
    cached = db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    assert cached > 16  # what was embedded before the kill is kept
    db.close()
    with Project(project) as p:
        summary = p.suggest(SuggestConfig(batch_size=8))
        assert summary.run_id == run[0][0] and summary.status == "complete"
        runs = p.con.execute("SELECT status FROM runs").fetchall()
        assert [r[0] for r in runs] == ["complete"]
        table = p.suggestions()
    assert not table.duplicated(["segment_id", "code"]).any()
    assert table.groupby("segment_id").size().max() == 5


def test_a_run_that_fails_is_marked_failed_not_left_running(tmp_path: Path) -> None:
    from nlp_theming.embed import ModelNotFound

    with Project.init(tmp_path / "proj") as p:
        p.ingest(sorted((CORPUS / "transcripts").iterdir())[:1])
        p.load_codebook(CORPUS / "codebook.csv")
        with pytest.raises(ModelNotFound, match="not available locally"):
            p.suggest(SuggestConfig(model=str(tmp_path / "no-such-model-folder")))
        assert [r[0] for r in p.con.execute("SELECT status FROM runs")] == ["failed"]


@pytest.mark.slow
def test_fine_tuning_the_encoder_on_confirmed_segments(tmp_path) -> None:
    """suggest --fine-tune trains a copy of the encoder on pairs of confirmed segments, stores it in
    the project, embeds with it, and reuses it until a new decision comes; the base is untouched."""
    import shutil

    from nlp_theming import Project
    from nlp_theming.embed import resolve_model
    from nlp_theming.review import actions
    from nlp_theming.store.runs import latest_run, run_row
    from tests.helpers.paths import CORPUS

    base = resolve_model("all-MiniLM-L6-v2")[1]
    before = {p.name: p.stat().st_mtime for p in Path(base).rglob("*") if p.is_file()}
    with Project.init(tmp_path / "p") as p:
        for name in ("A-02.txt", "C-01.txt", "I-04.txt"):
            (tmp_path / "t").mkdir(exist_ok=True)
            shutil.copy(CORPUS / "transcripts" / name, tmp_path / "t" / name)
        p.ingest([tmp_path / "t"])
        p.load_codebook(CORPUS / "codebook.yaml")
        p.suggest(discover=False)
        top = p.queue("ana").query("rank == 1")
        for code, group in list(top.groupby("code"))[:3]:
            for row in group.head(3).itertuples():
                actions.accept(p.con, "ana", int(row.segment_id), code)
        first = p.suggest(discover=False, fine_tune=5)
        tuned = [d for d in (tmp_path / "p" / "models").iterdir() if d.name.startswith("tuned-")]
        assert len(tuned) == 1 and (tuned[0] / "config.json").exists()
        model_id = run_row(p.con, latest_run(p.con))["model_id"]
        assert split_mode(model_id)[0].endswith(str(tuned[0]))  # embedded with the tuned copy (in either mode)
        again = p.suggest(discover=False, fine_tune=5)
        assert again.run_id == first.run_id and again.status == "up-to-date"  # same decisions, same model
    after = {p.name: p.stat().st_mtime for p in Path(base).rglob("*") if p.is_file()}
    assert after == before
