"""`nlp-theming export`: the suggestions as a tidy long table that pandas, R and spreadsheets read."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from nlp_theming import Project
from nlp_theming.cli import main
from nlp_theming.review import accept, reject
from nlp_theming.store.documents import current_texts
from tests.helpers.runs import store_run


def _suggestions(path: Path) -> pd.DataFrame:
    with Project(path) as p:
        return p.suggestions()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
def test_export_is_a_tidy_table_pandas_reads_back(corpus_project: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"suggestions.{fmt}"
    result = CliRunner().invoke(main, ["export", str(corpus_project), "--out", str(out)])
    assert result.exit_code == 0, result.output
    back = {"csv": pd.read_csv, "xlsx": pd.read_excel, "parquet": pd.read_parquet}[fmt](out)
    table = _suggestions(corpus_project)
    assert len(back) == len(table)
    for column in (
        "document",
        "segment_id",
        "start",
        "end",
        "speaker",
        "text",
        "code",
        "score",
        "rank",
        "site",
        "role",
    ):
        assert column in back.columns
    with Project(corpus_project) as p:
        texts = current_texts(p.con)
    row = back.iloc[len(back) // 2]
    assert texts[row.document][int(row.start) : int(row.end)] == row.text


def test_status_has_the_three_words_of_the_review_page(tmp_path: Path) -> None:
    """pending; accepted when any coder applies the code; rejected when every coder who decided
    rejected it. (A run written through the store: no embedding model needed.)"""
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "d.txt").write_text("Interviewer: Tell me.\nP1: The board meets monthly and the agenda is long."
                                          "\n", encoding="utf-8")
    (tmp_path / "codebook.csv").write_text("code,description\nBoards,b\nUnits,u\nMoney,m\n", encoding="utf-8")
    with Project.init(tmp_path / "p") as p:
        p.ingest([tmp_path / "t"])
        p.load_codebook(tmp_path / "codebook.csv")
        seg = int(p.segments().query("speaker_role == 'participant'").segment_id.iloc[0])
        run = store_run(p, [(seg, "Boards", 0.9), (seg, "Units", 0.6), (seg, "Money", 0.2)])
        accept(p.con, "ana", seg, "Boards", run)
        reject(p.con, "bo", seg, "Boards", run)  # one coder applies it: accepted
        reject(p.con, "ana", seg, "Units", run)
        path = p.export(tmp_path / "s.csv")
    status = pd.read_csv(path).set_index("code").status.to_dict()
    assert status == {"Boards": "accepted", "Units": "rejected", "Money": "pending"}
