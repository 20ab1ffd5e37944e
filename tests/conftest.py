"""Shared fixtures. The embedding model is the real one; nothing of ours is mocked."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests.helpers.paths import CORPUS


@pytest.fixture(scope="session")
def fixture_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.helpers.formats import write_all

    return write_all(tmp_path_factory.mktemp("formats"))


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from tests.helpers.formats import write_bad

    return write_bad(tmp_path_factory.mktemp("bad"))


@pytest.fixture(scope="session")
def corpus_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample corpus ingested, its codebook loaded and one zero-shot suggest run done, with
    candidate themes (``discover``).

    Built once per session; tests that change it work on a copy (``project_copy``), so the
    embeddings computed here are cached for them.
    """
    from nlp_theming import Project
    from nlp_theming.suggest import SuggestConfig

    path = tmp_path_factory.mktemp("corpus") / "project"
    with Project.init(path) as p:
        report = p.ingest([CORPUS / "transcripts"], CORPUS / "manifest.csv")
        assert report.failed == []
        p.load_codebook(CORPUS / "codebook.csv")
        p.suggest(SuggestConfig(seed=0, discover=True))
    return path


@pytest.fixture
def project_copy(corpus_project: Path, tmp_path: Path) -> Path:
    target = tmp_path / "project"
    shutil.copytree(corpus_project, target)
    return target


# The review tests share one small project with a real suggest run, built once per session.
@pytest.fixture(scope="session")
def review_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.helpers.review import base_project

    return base_project(tmp_path_factory.mktemp("review"))


@pytest.fixture
def project(review_base: Path, tmp_path: Path) -> Path:
    from tests.helpers.review import copy_project

    return copy_project(review_base, tmp_path / "project")


@pytest.fixture
def con(project: Path) -> Iterator[sqlite3.Connection]:
    from nlp_theming import store

    c = store.open_project(project)
    yield c
    c.close()
