"""import: existing human coding (spans, coded units, Taguette) becomes coders' decisions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import CORPUS, SHARED

from nlp_theming import Project
from nlp_theming.cli import main
from nlp_theming.review import coding, decisions_frame

TAGUETTE = SHARED / "data/serdif-usability/data/transcripts/thematic-analysis/SERDIF_P2_ThematicAnalysis.sqlite3"


@pytest.fixture
def corpus_files_project(tmp_path: Path) -> Path:
    """Six corpus transcripts and the codebook; no model needed."""
    path = tmp_path / "proj"
    with Project.init(path) as p:
        p.ingest(sorted((CORPUS / "transcripts").iterdir())[:6], CORPUS / "manifest.csv")
        p.load_codebook(CORPUS / "codebook.csv")
    return path


def test_span_import_then_units_round_trip(corpus_files_project: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    gold = pd.read_csv(CORPUS / "gold_spans.csv")
    with Project(corpus_files_project) as p:
        names = set(p.documents().document)
    spans = gold[gold.document.isin(names)]
    spans_file = tmp_path / "spans.csv"
    spans.to_csv(spans_file, index=False)
    result = runner.invoke(main, ["import", str(corpus_files_project), str(spans_file)])
    assert result.exit_code == 0, result.output
    assert f"imported {len(spans)} spans" in result.output and "0 problems" in result.output
    with Project(corpus_files_project) as p:
        first = coding(p.con)
    assert set(first.coder) == set(spans.coder)
    assert set(first.code) == set(spans.code)
    # every imported span lies inside the text of the segments it was mapped to
    assert (first.start < first.end).all()

    units_file = tmp_path / "units.csv"
    assert runner.invoke(main, ["coded-units", str(corpus_files_project), "--out", str(units_file)]).exit_code == 0
    fresh = tmp_path / "fresh"
    with Project.init(fresh) as p:
        p.ingest(sorted((CORPUS / "transcripts").iterdir())[:6], CORPUS / "manifest.csv")
        p.load_codebook(CORPUS / "codebook.csv")
    result = runner.invoke(main, ["import", str(fresh), str(units_file), "--coder", "coder1"])
    assert result.exit_code == 0, result.output
    with Project(fresh) as p:
        second = coding(p.con)
    key = ["segment_id", "code"]
    expected = first[first.coder == "coder1"][key].drop_duplicates().sort_values(key).reset_index(drop=True)
    assert second[key].sort_values(key).reset_index(drop=True).equals(expected)


def test_bad_rows_are_reported_and_the_rest_imported(corpus_files_project: Path, tmp_path: Path) -> None:
    with Project(corpus_files_project) as p:
        doc = p.documents().document.iloc[0]
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "document,start,end,code,coder\n"
        f"{doc},10,200,Time commitment of medical leaders,ana\n"
        f"{doc},10,200,No such code,ana\n"
        f"nowhere,10,200,Time commitment of medical leaders,ana\n"
        f"{doc},10,99999999,Time commitment of medical leaders,ana\n"
    )
    result = CliRunner().invoke(main, ["import", str(corpus_files_project), str(bad)])
    assert "imported 1 spans" in result.output and "3 problems" in result.output
    assert "unknown code 'No such code'" in result.output and "unknown document 'nowhere'" in result.output


@pytest.mark.skipif(not TAGUETTE.exists(), reason="shared serdif-usability data not available")
def test_taguette_project_brings_documents_and_highlights(tmp_path: Path) -> None:
    from nlp_theming.exchange.taguette import read_taguette

    project = tmp_path / "serdif"
    codebook = TAGUETTE.parent / "codebooks" / "codebook_20220303_8.csv"
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(project)]).exit_code == 0
    assert runner.invoke(main, ["codebook", str(project), str(codebook)]).exit_code == 0
    result = runner.invoke(main, ["import", str(project), str(TAGUETTE)])
    assert result.exit_code == 0, result.output
    tag = read_taguette(TAGUETTE)
    with Project(project) as p:
        assert len(p.documents()) == len(tag.documents) == 17
        assert set(coding(p.con).coder) == {"admin"}
        log = decisions_frame(p.con)
    assert set(log.action) == {"import"}
    imported = log.drop_duplicates(["document_id", "start", "end", "code"])
    # every highlight whose tag is in the codebook arrives once
    assert len(imported) == tag.highlights.code.isin(set(pd.read_csv(codebook).tag)).sum()
