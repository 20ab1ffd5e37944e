"""One segmentation scheme per project, recorded in the store and read by every command.

Before it was recorded, `import` assumed the default scheme and silently recorded nothing in a
project ingested with ``--unit sentence``.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from nlp_theming import Project
from nlp_theming.cli import main
from nlp_theming.segment import Segmenter

TRANSCRIPT = """Interviewer: How is the board organised?
P1: The medical director sits on the board. We meet every month. The agenda is long.
Interviewer: And the clinical units?
P1: Each unit has a clinical director. They report to the division. It works well enough.
"""


def _project(tmp_path: Path, *options: str) -> Path:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "doc.txt").write_text(TRANSCRIPT, encoding="utf-8")
    (tmp_path / "codebook.csv").write_text("code,description\nBoards,Boards\nUnits,Units\n", encoding="utf-8")
    runner = CliRunner()
    project = tmp_path / "p"
    for args in (["init", str(project)], ["ingest", str(project), str(tmp_path / "t"), "--quiet", *options],
                 ["codebook", str(project), str(tmp_path / "codebook.csv")]):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
    return project


def test_ingest_options_become_the_project_scheme_and_import_uses_it(tmp_path: Path) -> None:
    project = _project(tmp_path, "--unit", "sentence")
    with Project(project) as p:
        assert p.segmenter() == Segmenter(unit="sentence")
        segs = p.segments()
        assert set(segs.scheme) == {Segmenter(unit="sentence").scheme}
        text = p.documents().iloc[0]
        start = TRANSCRIPT.index("The medical director")
        assert text.n_chars > start
    spans = tmp_path / "spans.csv"
    spans.write_text(f"document,start,end,code,coder\ndoc,{start},{start + 20},Boards,ana\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["import", str(project), str(spans)])
    assert result.exit_code == 0, result.output
    assert "as 1 decisions" in result.output  # one sentence: one decision, not zero
    out = tmp_path / "units.csv"
    result = CliRunner().invoke(main, ["coded-units", str(project), "--out", str(out)])
    assert result.exit_code == 0, result.output
    units = out.read_text(encoding="utf-8")
    assert "The medical director sits on the board.,Boards" in units  # sentence units, not windows


def test_a_new_project_records_the_default_scheme_and_keeps_it(tmp_path: Path) -> None:
    project = _project(tmp_path)
    with Project(project) as p:
        assert p.segmenter() == Segmenter()
        n = len(p.segments())
        # a second ingest without options keeps the scheme: nothing is segmented twice
        p.ingest([tmp_path / "t"])
        assert p.segmenter() == Segmenter() and len(p.segments()) == n
        # an explicit segmenter becomes the project's, and every document gets its units
        p.ingest([], segmenter=Segmenter(unit="turn"))
        assert p.segmenter() == Segmenter(unit="turn")
        assert set(p.segments().scheme) == {Segmenter(unit="turn").scheme}


def test_scheme_names_round_trip() -> None:
    for s in (Segmenter(), Segmenter(unit="sentence"), Segmenter(unit="turn", max_words=50),
              Segmenter(max_sentences=2, max_words=60, spacy_model="en_core_web_sm")):
        assert Segmenter.from_scheme(s.scheme) == s
