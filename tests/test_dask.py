"""Suggest on a Dask cluster (a LocalCluster of worker processes, the real model on each) stores
what a run on one machine stores. The runs need the dask extra, and are skipped without it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from nlp_theming import Project, SuggestConfig
from nlp_theming.cli import main
from nlp_theming.embed import Embedder
from nlp_theming.store.embeddings import cache_size, open_cache
from tests.helpers.paths import CORPUS


def test_chunks_are_the_texts_the_cache_lacks_in_the_order_encode_embeds_them(tmp_path: Path) -> None:
    # what the client sends out: a local run's chunks (sorted by length, four batches each), each text once
    embedder = Embedder(batch_size=1, encoder="torch", con=open_cache(tmp_path / "cache.db"))
    texts = ["ccc", "a", "bb", "a", "dddd", "e"]
    assert embedder.chunks(texts) == [["a", "e", "bb", "ccc"], ["dddd"]]
    embedder.remember(["bb", "e"], np.ones((2, 3), dtype=np.float32))
    assert embedder.chunks(texts) == [["a", "ccc", "dddd"]]
    assert embedder.chunks(["bb", "e"]) == []


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    # one thread per worker: torch on one thread per process, the reproducible setting (docs/scale.md)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


@pytest.fixture(scope="module")
def small_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three transcripts of the (synthetic) sample corpus and its codebook; no run, no vectors."""
    path = tmp_path_factory.mktemp("dask") / "base"
    with Project.init(path) as p:
        p.ingest(sorted((CORPUS / "transcripts").iterdir())[:3], CORPUS / "manifest.csv")
        p.load_codebook(CORPUS / "codebook.csv")
    return path


def _copy(base: Path, target: Path) -> Path:
    shutil.copytree(base, target)
    return target


def _table(path: Path) -> pd.DataFrame:
    with Project(path) as p:
        table = p.suggestions()
    return table.sort_values(["segment_id", "rank"]).reset_index(drop=True)


def _same_suggestions(local: pd.DataFrame, remote: pd.DataFrame) -> None:
    assert len(local) > 100
    assert local[["segment_id", "code", "rank"]].equals(remote[["segment_id", "code", "rank"]])
    # scores within 1e-6 before they are stored rounded to 6 decimals: one step of the last decimal after
    np.testing.assert_allclose(remote.score.to_numpy(), local.score.to_numpy(), rtol=0, atol=1e-6 + 5e-7)


@pytest.mark.slow
def test_a_run_on_dask_stores_the_suggestions_of_a_local_run(small_project: Path, tmp_path: Path, cluster) -> None:
    local, remote = _copy(small_project, tmp_path / "local"), _copy(small_project, tmp_path / "remote")
    with Project(local) as p:
        p.suggest(SuggestConfig(seed=0, encoder="torch"))
    with Project(remote) as p:
        summary = p.suggest(SuggestConfig(seed=0, encoder="torch", dask=cluster.scheduler_address))
        # every vector the run used came from the workers: the segments' and the questions'
        segments = p.segments()
        texts = segments[segments.speaker_role == "participant"].text.tolist()
        embedder = Embedder(encoder="torch", con=p.con)
        assert embedder.chunks(texts) == []
        remote_vectors = embedder.encode(texts)
        remote_cached = cache_size(p.con)
    assert summary.status == "complete"
    with Project(local) as p:
        local_vectors = Embedder(encoder="torch", con=p.con).encode(texts)
        assert cache_size(p.con) == remote_cached
    np.testing.assert_allclose(remote_vectors, local_vectors, rtol=0, atol=1e-6)
    _same_suggestions(_table(local), _table(remote))
    # the address is where it ran, not what it computed: a rerun here finds the run up to date
    with Project(remote) as p:
        assert p.suggest(SuggestConfig(seed=0, encoder="torch")).status == "up-to-date"


@pytest.mark.slow
def test_suggest_dask_local_on_the_command_line_matches_a_local_run(small_project: Path, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    local, remote = _copy(small_project, tmp_path / "local"), _copy(small_project, tmp_path / "remote")
    with Project(local) as p:
        p.suggest(SuggestConfig(seed=0))
    result = CliRunner().invoke(main, ["suggest", str(remote), "--dask", "local", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "complete" in result.output
    _same_suggestions(_table(local), _table(remote))


@pytest.mark.slow
def test_an_unreachable_scheduler_is_one_clear_line_and_the_project_keeps_no_run(small_project: Path,
                                                                                  tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    project = _copy(small_project, tmp_path / "p")
    result = CliRunner().invoke(main, ["suggest", str(project), "--dask", "tcp://127.0.0.1:1", "--quiet"])
    assert result.exit_code != 0
    assert "no Dask scheduler at tcp://127.0.0.1:1" in result.output
    assert "Traceback" not in result.output
    with Project(project) as p, pytest.raises(ValueError, match="no complete suggestion run"):
        p.suggestions()
