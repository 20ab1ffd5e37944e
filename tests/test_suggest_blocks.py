"""Suggest in blocks of whole documents, and the float16 vector cache, with the real model."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nlp_theming import Project, SuggestConfig
from nlp_theming.embed import DEFAULT_MODEL, Embedder, load_model
from nlp_theming.store.embeddings import as_stored, open_cache
from nlp_theming.store.runs import RunSpec, add_suggestions, claim_run, fail_run, latest_run, run_row
from nlp_theming.suggest import POOL_ROWS, blocks
from tests.helpers.paths import CORPUS


@pytest.fixture(scope="module")
def small_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight transcripts of the sample corpus with its codebook."""
    path = tmp_path_factory.mktemp("blocks") / "project"
    with Project.init(path) as p:
        p.ingest(sorted((CORPUS / "transcripts").iterdir())[:8], CORPUS / "manifest.csv")
        p.load_codebook(CORPUS / "codebook.csv")
    return path


def _rows(p: Project, run_id: int) -> pd.DataFrame:
    rows = pd.read_sql_query("SELECT segment_id, code, score, rank, method FROM suggestions WHERE run_id = ?"
                             " ORDER BY segment_id, rank", p.con, params=[run_id])
    assert not rows.empty
    return rows


def _proposals(p: Project, run_id: int) -> pd.DataFrame:
    return pd.read_sql_query(
        "SELECT t.proposal, t.label, t.keywords, m.segment_id FROM theme_proposals t"
        " JOIN proposal_members m ON m.run_id = t.run_id AND m.proposal = t.proposal"
        " WHERE t.run_id = ? ORDER BY t.proposal, m.segment_id", p.con, params=[run_id])


def test_blocks_hold_whole_documents_in_reading_order() -> None:
    index = pd.DataFrame({"segment_id": range(10), "document_id": [7, 7, 7, 3, 3, 9, 9, 9, 9, 1]})
    assert blocks(index, 4) == [([7, 3], 0, 5), ([9], 5, 9), ([1], 9, 10)]
    assert blocks(index, 100) == [([7, 3, 9, 1], 0, 10)]
    assert blocks(index, 1) == [([7], 0, 3), ([3], 3, 5), ([9], 5, 9), ([1], 9, 10)]


@pytest.mark.slow
def test_a_run_in_blocks_gives_exactly_the_rows_of_one_block(small_project: Path) -> None:
    """Documents are never split, and the matcher's pool is every row under POOL_ROWS, so a run
    in many blocks stores the same suggestions and candidate themes as a run in one."""
    with Project(small_project) as p:
        one = p.suggest(SuggestConfig(discover=True, reduction="pca"))
        assert one.n_segments <= POOL_ROWS and one.n_proposals > 0
        rows_one, themes_one = _rows(p, one.run_id), _proposals(p, one.run_id)
        # declare the run failed so that the same configuration runs again, on the cached vectors
        fail_run(p.con, one.run_id)
        assert p.con.execute("SELECT COUNT(*) FROM suggestions WHERE run_id = ?", (one.run_id,)).fetchone()[0] == 0
        many = p.suggest(SuggestConfig(discover=True, reduction="pca", block_segments=40))
        assert many.run_id != one.run_id and many.status == "complete"
        assert p.con.execute("SELECT COUNT(DISTINCT document_id) FROM segments").fetchone()[0] == 8
        pd.testing.assert_frame_equal(_rows(p, many.run_id), rows_one)
        pd.testing.assert_frame_equal(_proposals(p, many.run_id), themes_one)
        assert many.per_code == one.per_code and many.n_suggestions == one.n_suggestions
        assert run_row(p.con, many.run_id)["n_segments"] == one.n_segments


@pytest.mark.slow
def test_a_run_killed_between_blocks_is_taken_over_and_starts_its_rows_afresh(small_project: Path,
                                                                              tmp_path: Path) -> None:
    """What a kill between blocks leaves (a 'running' run with the rows of its first blocks, each
    block committed on its own) is never read as a run, and the next suggest takes it over."""
    import json
    import shutil

    project = tmp_path / "copy"
    shutil.copytree(small_project, project)
    with Project(project) as p:
        done = p.suggest(SuggestConfig(block_segments=40))
        expected = _rows(p, done.run_id)
        spec = run_row(p.con, done.run_id)
        for (run_id,) in p.con.execute("SELECT id FROM runs WHERE status = 'complete'").fetchall():
            fail_run(p.con, run_id)  # no complete run left
        # the killed run: the same configuration claimed, its first block's rows added (wrong ones)
        killed = claim_run(p.con, RunSpec(spec["model_id"], spec["codebook_version"], spec["matcher"], spec["scheme"],
                                          json.loads(spec["params"]), spec["config_hash"], spec["seed"],
                                          spec["decision_mark"]))
        first = expected[expected.segment_id.isin(expected.segment_id.unique()[:30])]
        add_suggestions(p.con, killed, [(int(r.segment_id), r.code, 0.999, int(r.rank), "left-over")
                                        for r in first.itertuples()])
        assert latest_run(p.con) is None  # a running run is no run to read
        with pytest.raises(ValueError, match="no complete suggestion run"):
            p.suggestions()
        again = p.suggest(SuggestConfig(block_segments=40))
        assert again.run_id == killed and again.status == "complete"
        pd.testing.assert_frame_equal(_rows(p, killed), expected)
        assert [r[0] for r in p.con.execute("SELECT status FROM runs WHERE id >= ?", (done.run_id,))] == [
            "failed", "complete"]


@pytest.mark.slow
def test_vectors_are_the_same_fresh_cached_and_from_an_older_float32_cache(tmp_path: Path) -> None:
    texts = ["I felt supported by my manager.", "The rota changed every week.", "Nobody asked the nurses."]
    con = open_cache(tmp_path / "cache.db")
    fresh = Embedder(con=con).encode(texts)  # embeds and stores float16
    cached = Embedder(con=con).encode(texts)
    assert np.array_equal(fresh, cached) and fresh.dtype == np.float32
    assert len(con.execute("SELECT vector FROM embeddings").fetchone()[0]) == 2 * fresh.shape[1]
    assert np.array_equal(Embedder().encode(texts), fresh)  # no cache at all: the same
    # a row written as float32 by an earlier version reads, rounded the same way
    raw = np.asarray(load_model(DEFAULT_MODEL).encode(texts, normalize_embeddings=True), dtype=np.float32)
    old = open_cache(tmp_path / "old.db")
    model_id = Embedder().model_id
    old.executemany("INSERT INTO embeddings(model_id, text_hash, dim, vector) VALUES (?, ?, ?, ?)",
                    [(model_id, hashlib.sha256(t.encode("utf-8")).hexdigest(), len(v), v.tobytes())
                     for t, v in zip(texts, raw, strict=True)])
    from_old = Embedder(con=old).encode(texts)
    assert np.array_equal(from_old, as_stored(raw))
    assert np.abs(from_old - raw).max() < 1e-3 and not np.array_equal(from_old, raw)
    assert np.allclose(from_old, fresh, atol=1e-3)
