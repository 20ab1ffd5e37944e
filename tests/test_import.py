"""import: existing human coding (spans, coded units, Taguette) becomes coders' decisions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from nlp_theming import Project
from nlp_theming.cli import main
from nlp_theming.review import coding, decisions_frame
from tests.helpers.paths import CORPUS, SHARED

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


def test_import_maps_onto_the_project_scheme_and_a_second_run_records_nothing(tmp_path: Path) -> None:
    from nlp_theming.segment import Segmenter

    files = sorted((CORPUS / "transcripts").iterdir())[:3]
    with Project.init(tmp_path / "proj") as p:
        p.ingest(files, CORPUS / "manifest.csv", Segmenter(unit="sentence"))
        p.load_codebook(CORPUS / "codebook.csv")
        names = set(p.documents().document)
        sentence_ids = set(p.segments().segment_id)
    gold = pd.read_csv(CORPUS / "gold_spans.csv")
    spans_file = tmp_path / "spans.csv"
    gold[gold.document.isin(names)].to_csv(spans_file, index=False)
    runner = CliRunner()
    first = runner.invoke(main, ["import", str(tmp_path / "proj"), str(spans_file)])
    assert first.exit_code == 0, first.output
    with Project(tmp_path / "proj") as p:
        log = decisions_frame(p.con)
    assert len(log) > 0 and set(log.segment_id.astype(int)) <= sentence_ids  # sentences, not windows
    second = runner.invoke(main, ["import", str(tmp_path / "proj"), str(spans_file)])
    assert second.exit_code == 0, second.output
    assert "as 0 decisions" in second.output and f"({len(log)} already recorded" in second.output
    with Project(tmp_path / "proj") as p:
        assert len(decisions_frame(p.con)) == len(log)


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
    assert result.exit_code == 3  # the rows it could not use
    assert "unknown code 'No such code'" in result.output and "unknown document 'nowhere'" in result.output


@pytest.mark.slow  # a real Taguette project, 17 transcripts (~4 s)
@pytest.mark.skipif(not TAGUETTE.exists(), reason="shared serdif-usability data not available")
def test_taguette_project_brings_documents_and_highlights(tmp_path: Path) -> None:
    from nlp_theming.exchange.taguette import read_taguette

    project = tmp_path / "serdif"
    codebook = TAGUETTE.parent / "codebooks" / "codebook_20220303_8.csv"
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(project)]).exit_code == 0
    assert runner.invoke(main, ["codebook", str(project), str(codebook)]).exit_code == 0
    result = runner.invoke(main, ["import", str(project), str(TAGUETTE)])
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    # tags the codebook does not have are rows it could not use: counted in the exit status
    assert errors and result.exit_code == min(len(errors), 100), result.output
    assert all("unknown code" in e or "no tags" in e for e in errors)
    tag = read_taguette(TAGUETTE)
    with Project(project) as p:
        assert len(p.documents()) == len(tag.documents) == 17
        assert set(coding(p.con).coder) == {"admin"}
        log = decisions_frame(p.con)
    assert set(log.action) == {"import"}
    imported = log.drop_duplicates(["document_id", "start", "end", "code"])
    # every highlight whose tag is in the codebook arrives once
    assert len(imported) == tag.highlights.code.isin(set(pd.read_csv(codebook).tag)).sum()

    again = runner.invoke(main, ["import", str(project), str(TAGUETTE)])
    assert "as 0 decisions" in again.output and "already recorded" in again.output
    with Project(project) as p:
        assert len(decisions_frame(p.con)) == len(log)  # the log does not double
        assert len(p.documents(all_versions=True)) == 17

    # a project with no codebook takes the Taguette project's tags as its codebook
    bare = tmp_path / "bare"
    assert runner.invoke(main, ["init", str(bare)]).exit_code == 0
    result = runner.invoke(main, ["import", str(bare), str(TAGUETTE)])
    assert "tags became codebook version 1" in result.output
    assert not any("unknown code" in line for line in result.output.splitlines())
    with Project(bare) as p:
        book = p.codebook()
        assert set(book.code) == set(tag.tags.code)
        assert book.set_index("code").loc["Moderator assist", "description"].startswith("The moderator intervenes")
        assert set(coding(p.con).code) <= set(tag.tags.code)


def test_units_are_located_per_coder(tmp_path: Path) -> None:
    """Each coder's units are searched from the top of the document, not from where the last coder stopped."""
    from nlp_theming.exchange.coded import read_coded_units_csv
    from nlp_theming.review.imports import locate_units

    folder = tmp_path / "docs"
    folder.mkdir()
    text = "Yes. We talked about the rota for a long time. Yes."
    (folder / "d1.txt").write_text(text, encoding="utf-8")
    units = tmp_path / "units.csv"
    units.write_text(
        "unit_id,document,coder,text,codes\n"
        "u1,d1,ann,Yes.,Agree\n"
        "u2,d1,ann,We talked about the rota for a long time.,Rota\n"
        "u3,d1,ann,Yes.,Agree\n"
        "u1,d1,bob,Yes.,Agree\n"  # bob's first unit is the first "Yes.", not ann's last
        "u3,d1,bob,Yes.,\n",
        encoding="utf-8",
    )
    with Project.init(tmp_path / "proj") as p:
        p.ingest([folder / "d1.txt"])
        stored = p.con.execute("SELECT text FROM current_documents").fetchone()[0]
        spans, problems = locate_units(p.con, read_coded_units_csv(units))
    assert problems == []
    first, last = stored.index("Yes."), stored.rindex("Yes.")
    assert first != last
    found = {(r.coder, r.code, r.start) for r in spans.itertuples()}
    assert found == {("ann", "Agree", first), ("ann", "Rota", stored.index("We talked")), ("ann", "Agree", last),
                     ("bob", "Agree", first)}


def test_import_units_from_a_spreadsheet_export(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "d1.txt").write_text("Participant: The budget is cut every year. I work late most evenings.\n")
    (tmp_path / "codebook.csv").write_text("code,description\nBudget,Money\nTime,Hours\n")
    with Project.init(tmp_path / "proj") as p:
        p.ingest([folder / "d1.txt"])
        p.load_codebook(tmp_path / "codebook.csv")
    units = tmp_path / "units.csv"  # cp1252, a spaced header, one unit in two rows that disagree
    units.write_bytes(
        (" Unit ID ;Document;Coder;Text;Codes\r\n"
         "u1;d1;zoë;The budget is cut every year.;Budget\r\n"
         "u1;d1;zoë;The budget is cut every year.;Time\r\n").encode("cp1252")
    )
    result = CliRunner().invoke(main, ["import", str(tmp_path / "proj"), str(units)])
    assert result.exit_code == 0, result.output
    assert "note:" in result.output and "1 units had several rows for one coder; their codes" in result.output
    assert "imported 2 spans" in result.output and "0 problems" in result.output
    with Project(tmp_path / "proj") as p:
        current = coding(p.con)
    assert set(zip(current.coder, current.code, strict=True)) == {("zoë", "Budget"), ("zoë", "Time")}
