"""import --kind qda: the coded-segment tables of MAXQDA, ATLAS.ti and NVivo become coders' decisions.

The fixtures (tests/fixtures/qda, SYNTHETIC, written by make_qda_tables.py) hold one coding of two
made-up interviews in every layout, as CSV and XLSX, so one set of expectations checks them all.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from nlp_theming import Project
from nlp_theming.cli import main
from nlp_theming.codebook import Code, Codebook, load_codebook
from nlp_theming.exchange.imports import guess_kind
from nlp_theming.exchange.qda_tables import find_layout, read_qda_table
from nlp_theming.review import coding
from nlp_theming.review.locate import FUZZY_THRESHOLD, find_passage, normalise, paragraph_region, resolve_document
from nlp_theming.segment import project_segmenter
from nlp_theming.store.documents import current_texts, segment_spans
from nlp_theming.textio import InputError, header_name

FIXTURES = Path(__file__).parent / "fixtures" / "qda"
TABLES = {
    "maxqda_segments.csv": "maxqda",
    "maxqda_segments.xlsx": "maxqda",
    "atlasti_quotations.csv": "atlas.ti",
    "atlasti_quotations.xlsx": "atlas.ti",
    "nvivo_coding_summary.csv": "nvivo-summary",
    "nvivo_coding_summary.xlsx": "nvivo-summary",
    "nvivo_coded_content.csv": "nvivo-content",
    "nvivo_coded_content.xlsx": "nvivo-content",
}
# (document, theme, coder, paragraph the coded span starts in): the same in every table
EXPECTED = {
    ("Interview 1", "Rota pressure", "ana", 5),  # spans paragraphs 5-6, two codes
    ("Interview 1", "Staffing gaps", "ana", 5),
    ("Interview 1", "Line manager support", "ana", 8),  # "-" exported for the stored em dash
    ("Interview 1", "Directorate support", "ana", 10),  # "…" exported for "..."
    ("Interview 1", "Directorate support", "ben", 10),  # words also in paragraph 5: the stated one wins
    ("Interview 2", "Taking on the role", "ben", 3),  # "Interview 2.docx", a run of spaces
    ("Interview 2", "Peer support", "ana", 5),  # a changed word: fuzzy
    ("Interview 2", "Staffing gaps", "ben", 7),  # its other code is unknown
}


def paragraph_of(text: str, offset: int) -> int:
    """1-based number of the non-empty line holding ``offset``, counted here without the library."""
    line_start = text.rfind("\n", 0, offset) + 1
    return sum(1 for line in text[:line_start].split("\n") if line.strip()) + 1


@pytest.fixture(scope="module")
def qda_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two SYNTHETIC interviews and their codebook; no model needed."""
    path = tmp_path_factory.mktemp("qda") / "base"
    with Project.init(path) as p:
        report = p.ingest(sorted((FIXTURES / "transcripts").iterdir()))
        assert report.failed == []
        p.load_codebook(FIXTURES / "codebook.csv")
    return path


@pytest.fixture
def qda_project(qda_base: Path, tmp_path: Path) -> Path:
    target = tmp_path / "project"
    shutil.copytree(qda_base, target)
    return target


def imported(project: Path) -> tuple[set[tuple], pd.DataFrame, dict[int, str]]:
    with Project(project) as p:
        current = coding(p.con)
        texts = current_texts(p.con, by="id")
        names = {v: k for k, v in current_texts(p.con).items()}
        segments = segment_spans(p.con, project_segmenter(p.con).scheme)
    found = {
        (names[texts[r.document_id]], r.code, r.coder, paragraph_of(texts[r.document_id], int(r.start)))
        for r in current.itertuples()
    }
    merged = current.merge(segments[["segment_id", "start", "end"]], on="segment_id", suffixes=("", "_segment"))
    return found, merged, texts


@pytest.mark.parametrize("name", sorted(TABLES))
def test_each_table_lands_on_the_stated_passages(qda_project: Path, name: str) -> None:
    result = CliRunner().invoke(main, ["import", str(qda_project), str(FIXTURES / name)])
    assert result.exit_code == 2, result.output  # the two rows it could not use: passage not found, unknown code
    assert "imported 8 spans" in result.output
    assert f"({TABLES[name]})" in result.output  # the layout was recognised from the header
    found, merged, _ = imported(qda_project)
    assert found == EXPECTED
    # each decision is on a segment the coded span overlaps
    assert ((merged.start < merged.end_segment) & (merged.start_segment < merged.end)).all()
    assert set(merged.coder) == {"ana", "ben"}
    # what could not be used is reported with the file and its spreadsheet row
    problems = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(problems) == 2, result.output
    assert any(f"{name}: row " in p and "passage not found in 'Interview 2'" in p and "never had a problem" in p
               for p in problems)
    assert any(f"{name}: row " in p and "unknown code" in p and "Low morale" in p for p in problems)


def test_reported_rows_are_the_spreadsheet_rows() -> None:
    """A title row above the header shifts every row: the report names the row Excel shows."""
    with_title = read_qda_table(FIXTURES / "nvivo_coding_summary.xlsx")
    without = read_qda_table(FIXTURES / "nvivo_coding_summary.csv")
    assert [p.row for p in with_title.passages] == [p.row + 1 for p in without.passages]
    assert without.passages[0].row == 2
    budget = next(p for p in without.passages if "budget" in p.text)
    frame = pd.read_csv(FIXTURES / "nvivo_coding_summary.csv")
    assert "budget" in frame.loc[budget.row - 2, "Coded Text"]


def test_character_ranges_are_used_when_the_text_there_matches(qda_project: Path) -> None:
    rows = read_qda_table(FIXTURES / "nvivo_coding_summary.csv").passages
    with Project(qda_project) as p:
        result = p.import_coding(FIXTURES / "nvivo_coding_summary.csv")
        current = coding(p.con)
    assert "2 at the stated characters" in result.notes[0] and "5 near the stated characters" in result.notes[0]
    exact = next(r for r in rows if r.text == "The rota is never finished")
    # NVivo-style 1-based inclusive range, read as the 0-based end-exclusive span it is
    assert ((current.coder == "ben") & (current.start == exact.first - 1) & (current.end == exact.last)).any()


def test_positions_decide_between_repeated_words() -> None:
    text = (FIXTURES / "transcripts" / "Interview 1.txt").read_text(encoding="utf-8")
    anywhere = find_passage(text, "The rota is never finished")
    stated = find_passage(text, "The rota is never finished", paragraph_region(text, 10))
    assert paragraph_of(text, anywhere.start) == 5
    assert paragraph_of(text, stated.start) == 10 and stated.in_region
    # a stated paragraph far from the words: found elsewhere, and said so
    elsewhere = find_passage(text, "Could you tell me about your role", paragraph_region(text, 10))
    assert elsewhere is not None and not elsewhere.in_region and paragraph_of(text, elsewhere.start) == 2


def test_normalised_and_fuzzy_matching() -> None:
    text = "Sam: I\u2019m back \u2014 again\u2026\n\nWe  meet\non Mondays and the matron listens to every one of us."
    assert normalise("\u201cA\u201d \u2013  B\u2026")[0] == '"a" - b...'
    hit = find_passage(text, "I'm BACK - again...")
    assert hit.how == "normalised" and text[hit.start:hit.end] == "I\u2019m back \u2014 again\u2026"
    assert find_passage(text, "we meet on mondays").how == "normalised"
    fuzzy = find_passage(text, "the matron really listens to every one of us")
    assert fuzzy.how == "fuzzy" and fuzzy.score >= FUZZY_THRESHOLD
    assert text[fuzzy.start:fuzzy.end] == "the matron listens to every one of us"
    # below the threshold: a few shared words do not make a match
    assert find_passage(text, "the matron listens, but the directorate never answers our emails or calls") is None
    assert find_passage(text, "nothing like this") is None


def test_documents_and_codes_given_as_paths_or_files() -> None:
    names = {"Interview 1", "Interview 2", "A-01"}
    assert resolve_document("Interview 1.docx", names) == "Interview 1"
    assert resolve_document("Files\\Interviews\\A-01.txt", names) == "A-01"
    assert resolve_document("interview  2", names) == "Interview 2"
    assert resolve_document("Interview 3.docx", names) is None
    book = load_codebook(FIXTURES / "codebook.csv")
    for written in ("Workload\\Rota pressure", "Codes\\\\Workload\\Rota pressure", "Workload > Rota pressure",
                    "Workload::Rota pressure", "rota  pressure"):
        assert book.resolve_leaf(written) == "Rota pressure", written
    assert book.resolve_leaf("Workload") is None  # a meta-theme is not a code one applies
    assert book.resolve_leaf("Morale\\Low morale") is None


def test_layouts_are_recognised_by_header_and_other_csvs_are_not(tmp_path: Path) -> None:
    for name, layout in TABLES.items():
        assert guess_kind(FIXTURES / name) == "qda", name
        assert read_qda_table(FIXTURES / name).layout.name == layout
    spans = tmp_path / "spans.csv"
    spans.write_text("document,start,end,code,coder,text\nd,0,4,c,ana,text\n", encoding="utf-8")
    units = tmp_path / "units.csv"
    units.write_text("unit_id,document,coder,text,codes\nu1,d,ana,some text,c\n", encoding="utf-8")
    assert (guess_kind(spans), guess_kind(units)) == ("spans", "units")
    assert find_layout([header_name(h) for h in "unit_id,document,coder,text,codes".split(",")]) is None
    with pytest.raises(InputError, match=r"units\.csv: not a coded-segment table of a known layout"):
        read_qda_table(units)


def test_only_the_named_coder_and_rows_without_coders(qda_project: Path, tmp_path: Path) -> None:
    with Project(qda_project) as p:
        result = p.import_coding(FIXTURES / "atlasti_quotations.xlsx", coder="ana")
        assert set(coding(p.con).coder) == {"ana"}
    assert result.spans == 5 and result.problems == []  # ben's unusable rows are not his to report here

    # a MAXQDA table exported without its Created by / Modified by columns
    table = pd.read_excel(FIXTURES / "maxqda_segments.xlsx", dtype=str, keep_default_na=False)
    bare = tmp_path / "no coder.csv"
    table.drop(columns=["Created by", "Modified by"]).head(4).to_csv(bare, index=False)
    with Project(qda_project) as p:
        result = p.import_coding(bare)
        assert "MAXQDA" in set(coding(p.con).coder)
    assert any("no coder column" in n and "'MAXQDA'" in n for n in result.notes)


def test_unusable_rows_are_reported_and_the_rest_imported(qda_project: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "Document name,Code,Beginning,End,Segment,Created by\n"
        "Interview 1,Workload\\Rota pressure,5,5,The rota is never finished,ana\n"
        ",Workload\\Rota pressure,5,5,The rota is never finished,ana\n"
        "Interview 1,,5,5,The rota is never finished,ana\n"
        "Interview 9,Workload\\Rota pressure,5,5,The rota is never finished,ana\n"
        "Interview 1,Workload\\Rota pressure,5,5,,ana\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["import", str(qda_project), str(bad), "--kind", "qda"])
    assert result.exit_code == 4, result.output
    assert "imported 1 spans" in result.output and "4 problems" in result.output
    for expected in ("bad.csv: row 3: no document named", "bad.csv: row 4: no code",
                     "bad.csv: row 5: unknown document 'Interview 9'",
                     "bad.csv: row 6: no passage text to look for"):
        assert expected in result.output
    found, _, _ = imported(qda_project)
    assert found == {("Interview 1", "Rota pressure", "ana", 5)}


def test_a_file_of_no_known_layout_is_one_clear_line(qda_project: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["import", str(qda_project), str(other), "--kind", "qda"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("error: other.csv: not a coded-segment table")


def test_a_code_path_decides_between_themes_of_the_same_name() -> None:
    """Two meta-themes each with a "Positive" theme (an import keeps the second as "Positive (Staff)"):
    the path picks the right one, and a bare name that could be either is not guessed."""
    book = Codebook("two", [Code("Experience"), Code("Staff"), Code("Positive", "Experience"),
                            Code("Positive (Staff)", "Staff")])
    for written in ("Staff\\Positive", "Codes\\Staff\\Positive", "Staff::Positive", "Staff > Positive"):
        assert book.resolve_leaf(written) == "Positive (Staff)", written
    assert book.resolve_leaf("Experience\\Positive") == "Positive"
    assert book.resolve_leaf("Positive") == "Positive"  # written exactly as a code
    assert book.resolve_leaf("POSITIVE") is None  # either of two: reported, not guessed


def test_a_repeated_short_answer_is_taken_at_its_stated_paragraph() -> None:
    from nlp_theming.review.locate import find_passage, paragraph_region

    text = ("Interviewer: Did you wait long?\nKim: Yes.\nInterviewer: Was it cold?\nKim: Yes.\n"
            "Interviewer: And then?\nKim: Yes.\n")
    starts = [i for i in range(len(text)) if text.startswith("Yes.", i)]
    for paragraph, expected in ((2, starts[0]), (4, starts[1]), (6, starts[2])):
        found = find_passage(text, "Yes.", paragraph_region(text, paragraph, paragraph),
                             paragraph_region(text, paragraph, paragraph, slack=0))
        assert found is not None and found.start == expected, paragraph
