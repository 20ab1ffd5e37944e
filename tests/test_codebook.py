"""Codebooks: CSV and YAML, hierarchy, validation errors, versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlp_theming import Project, load_codebook
from nlp_theming.codebook import CodebookError

CSV = """code,description,parent,inclusion,exclusion,examples
Structure,How the organisation is arranged,,,,
Process,How leadership works day to day,,,,
Composition of executive board,Who sits on the board,Structure,Mentions board members,Not unit teams,\
We have three doctors on the board | The board is mostly managers
Time commitment of medical leaders,How much time leadership roles take,Process,PAs; evenings,Not money,\
It takes far more than two PAs
"""

YAML = """name: test
codes:
  - code: Structure
    description: How the organisation is arranged
    children:
      - code: Composition of executive board
        description: Who sits on the board
        inclusion: Mentions board members
        exclusion: Not unit teams
        examples: [We have three doctors on the board, The board is mostly managers]
  - code: Process
    description: How leadership works day to day
    children:
      - code: Time commitment of medical leaders
        description: How much time leadership roles take
        inclusion: PAs; evenings
        exclusion: Not money
        examples: [It takes far more than two PAs]
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_and_yaml_give_the_same_codebook(tmp_path: Path) -> None:
    a = load_codebook(_write(tmp_path, "cb.csv", CSV))
    b = load_codebook(_write(tmp_path, "cb.yaml", YAML))
    assert [c.code for c in a.leaves] == ["Composition of executive board", "Time commitment of medical leaders"]
    assert {c.code: c.parent for c in a.codes} == {c.code: c.parent for c in b.codes}
    assert a["Composition of executive board"].examples == b["Composition of executive board"].examples
    assert a.top_level("Time commitment of medical leaders") == "Process"


def test_group_column_creates_meta_themes(tmp_path: Path) -> None:
    cb = load_codebook(_write(tmp_path, "g.csv", "tag,description,group\nA,first,G1\nB,second,G1\nC,third,\n"))
    assert [c.code for c in cb.codes] == ["G1", "A", "B", "C"]
    assert [c.code for c in cb.leaves] == ["A", "B", "C"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("code,description\nA,x\nA,y\n", "row 3: duplicate code 'A', different from the first (at row 2)"),
        ("code,description,group\nA,x,G\nA,x,H\n", "duplicate code 'A'"),
        ("code,description\nA,x\n,y\n", "row 3: empty code"),
        ("code,description,parent\nA,x,Nowhere\n", "unknown parent 'Nowhere'"),
        ("code,description,parent\nA,x,B\nB,y,A\n", "cycle"),
        ("description\nx\n", "needs a 'code' column"),
        ("code,description\n", "no codes"),
    ],
)
def test_bad_codebooks_get_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, "bad.csv", text)
    with pytest.raises(CodebookError) as info:
        load_codebook(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_spreadsheet_exports_load(tmp_path: Path) -> None:
    # Excel: cp1252, blank rows of commas, a row pasted twice, padded cells, a spaced header.
    text = (
        "Code , Description ,Meta-theme,\r\n"
        " Coût ,Money – and what it costs, Ressources \r\n"
        ",,,\r\n"
        "Temps,Hours spent,Ressources,\r\n"
        " Coût ,Money – and what it costs, Ressources \r\n"
        ",,,\r\n"
    )
    path = tmp_path / "cb.csv"
    path.write_bytes(text.encode("cp1252"))
    cb = load_codebook(path)
    assert [(c.code, c.parent) for c in cb.codes] == [("Ressources", None), ("Coût", "Ressources"),
                                                        ("Temps", "Ressources")]
    assert cb["Coût"].description == "Money – and what it costs"
    semicolons = _write(tmp_path, "semi.csv", "code;description;group\nA;first, with a comma;G\n;;\n")
    assert [c.code for c in load_codebook(semicolons).leaves] == ["A"]


def test_malformed_yaml_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CodebookError, match="malformed YAML"):
        load_codebook(_write(tmp_path, "bad.yaml", "codes: [\n  - code: A\n    description: x: y"))


def test_codebook_versions_change_only_with_content(tmp_path: Path) -> None:
    path = _write(tmp_path, "cb.csv", CSV)
    with Project.init(tmp_path / "proj") as p:
        assert p.load_codebook(path) == (1, True)
        assert p.load_codebook(path) == (1, False)
        assert p.load_codebook(_write(tmp_path, "cb.yaml", YAML), name="cb") == (1, False)
        path.write_text(CSV.replace("Who sits on the board", "Who sits on the trust board"))
        assert p.load_codebook(path) == (2, True)
        assert "trust board" in p.codebook().set_index("code").loc["Composition of executive board", "description"]
        assert len(p.codebook(1)) == 4
