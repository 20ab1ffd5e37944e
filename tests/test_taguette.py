"""Taguette project reader: the shared SERDIF usability project, plus small synthetic databases."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from nlp_theming.agreement import agreement_report as compare
from nlp_theming.agreement import character_units, spans_to_codings
from nlp_theming.exchange.taguette import TaguetteError, html_to_text, read_taguette
from tests.helpers.fuzzing import TAGUETTE_SCHEMA
from tests.helpers.paths import SHARED

SERDIF = SHARED / "data" / "serdif-usability" / "data" / "transcripts" / "thematic-analysis"
SERDIF_DB = SERDIF / "SERDIF_P2_ThematicAnalysis.sqlite3"
needs_serdif = pytest.mark.skipif(not SERDIF_DB.exists(), reason="shared SERDIF data not available")


def _norm(s: str) -> str:
    return " ".join(s.split())


@pytest.fixture(scope="module")
def serdif():
    return read_taguette(SERDIF_DB)


@needs_serdif
def test_serdif_every_highlight_is_its_text_slice(serdif):
    texts = serdif.documents.set_index("document")["text"]
    assert len(serdif.documents) == 17
    assert serdif.documents["name"].str.endswith(".odt").all()
    hl = serdif.highlights
    assert len(hl) == 1930  # highlight x tag rows, as in the project's own CSV export
    for row in hl.itertuples():
        assert 0 <= row.start < row.end <= len(texts[row.document])
        assert row.text == texts[row.document][row.start : row.end]
    # All 1794 highlights sit exactly where their stored (byte) offsets say; one has no tag.
    assert serdif.location_counts == {"offset": 1794, "search": 0, "missing": 0}
    assert hl["highlight_id"].nunique() == 1793
    assert serdif.problems == ["highlight 1630 in document 16 ('P16_GMT20211215.odt'): has no tags; left out"]
    assert set(hl["coder"]) == {"admin"}


@needs_serdif
def test_serdif_matches_its_csv_export_and_codebook(serdif):
    names = serdif.documents.set_index("document")["name"]
    ours = Counter((names[r.document], r.code, _norm(r.text)) for r in serdif.highlights.itertuples())
    with open(SERDIF / "tags/csv/all_tags_20220303.csv", encoding="utf-8") as fh:
        exported = Counter((r["document"], r["tag"], _norm(r["content"])) for r in csv.DictReader(fh))
    assert ours == exported
    with open(SERDIF / "codebooks/codebook_20220303_8.csv", encoding="utf-8") as fh:
        codebook = {r["tag"]: int(r["number of highlights"]) for r in csv.DictReader(fh)}
    assert dict(Counter(serdif.highlights["code"])) == codebook
    assert set(serdif.tags["code"]) == set(codebook)
    assert serdif.tags.set_index("code").loc["System issue", "description"].startswith("The user identifies")


@needs_serdif
def test_serdif_drifted_offsets_are_found_by_text(tmp_path):
    db = tmp_path / "drifted.sqlite3"
    shutil.copyfile(SERDIF_DB, db)
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE highlights SET start_offset = start_offset + 7, end_offset = end_offset + 7 WHERE id <= 40")
        con.execute("UPDATE highlights SET start_offset = 999999, end_offset = 1000100 WHERE id = 41")
        con.execute("UPDATE highlights SET snippet = '<p>This sentence is in no transcript.</p>' WHERE id = 42")
    con.close()
    project = read_taguette(db)
    assert project.location_counts == {"offset": 1794 - 42, "search": 41, "missing": 1}
    assert any("highlight 42" in p and "not found" in p for p in project.problems)
    texts = project.documents.set_index("document")["text"]
    original = read_taguette(SERDIF_DB).highlights.set_index(["highlight_id", "code"])
    moved = project.highlights.set_index(["highlight_id", "code"])
    for key in moved.index[moved["located"] == "search"]:
        row = moved.loc[key]
        assert row["text"] == texts[row["document"]][row["start"] : row["end"]]
        assert (row["start"], row["end"]) == (original.loc[key, "start"], original.loc[key, "end"])


@needs_serdif
def test_serdif_character_level_units_from_highlights(serdif):
    spans = serdif.highlights
    units = character_units(spans, serdif.documents[["document", "text"]])
    assert units["weight"].sum() == serdif.documents["text"].str.len().sum()
    codings = spans_to_codings(spans, units)
    assert set(codings["coder"]) == {"admin"}
    # A second "coder" that is the first with one code dropped: agreement is perfect elsewhere.
    other = spans[spans["code"] != "System issue"].assign(coder="copy")
    both = spans_to_codings(pd.concat([spans, other]), units)
    rep = compare(both, n_boot=0)
    per = rep.per_code.set_index("code")
    assert per.drop(index="System issue")["alpha"].eq(1.0).all()
    assert per.loc["System issue", "prevalence_copy"] == 0.0


# ---------------------------------------------------------------------------------------------
# Synthetic projects (schema written here: only the tables and columns the reader uses)
# ---------------------------------------------------------------------------------------------

SCHEMA = TAGUETTE_SCHEMA  # one schema for the synthetic projects here and the fuzzer's seeds


def _byte_offsets(text: str, piece: str, occurrence: int = 0) -> tuple[int, int]:
    i = -1
    for _ in range(occurrence + 1):
        i = text.index(piece, i + 1)
    start = len(text[:i].encode("utf-8"))
    return start, start + len(piece.encode("utf-8"))


def _make(path: Path, *, two_projects: bool = False) -> dict[str, str]:
    html = (
        "<p>Café &amp; crème — naïve 👍 start.</p>\n<p>So we said yes. Later we said yes.</p>\n"
        "<h2>Q2</h2>\n<p>Tabs\tand  spaces here.</p>"
    )
    text = html_to_text(html)
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    con.execute("INSERT INTO projects VALUES (1, 'Study', 'desc')")
    if two_projects:
        con.execute("INSERT INTO projects VALUES (2, 'Other', '')")
    con.executemany("INSERT INTO project_members VALUES (1, ?, 'ADMIN')", [("ann",), ("ben",)])
    con.execute("INSERT INTO documents VALUES (10, 'interview.docx', 1, ?)", (html,))
    con.executemany(
        "INSERT INTO tags VALUES (?, 1, ?, ?)", [(1, "Food", "about food"), (2, "Assent", ""), (3, "Form", "")]
    )
    s1, e1 = _byte_offsets(text, "crème — naïve 👍")  # correct byte offsets after multi-byte text
    s2, e2 = _byte_offsets(text, "we said yes", 1)
    s3, e3 = _byte_offsets(text, "Tabs\tand  spaces")
    highlights = [
        (1, 10, s1, e1, "<p>crème — naïve 👍</p>"),
        # Snippet is the 2nd "we said yes" but offsets drifted 3 bytes past it: nearest occurrence wins.
        (2, 10, s2 + 3, e2 + 3, "we said yes"),
        # Same words, different whitespace (e.g. re-wrapped snippet).
        (3, 10, 0, 5, "<p>Tabs and\nspaces</p>"),
        (4, 10, 2, 9, "<p>Not in the document.</p>"),
        (5, 10, s3, e3, "Tabs\tand  spaces"),  # no tags
    ]
    con.executemany("INSERT INTO highlights VALUES (?, ?, ?, ?, ?)", highlights)
    con.executemany("INSERT INTO highlight_tags VALUES (?, ?)", [(1, 1), (2, 2), (3, 3), (3, 1), (4, 1)])
    con.executemany(
        "INSERT INTO commands (user_login, project_id, payload) VALUES (?, 1, ?)",
        [
            ("ann", json.dumps({"type": "highlight_add", "highlight_id": 1, "tags": [1]})),
            ("ben", json.dumps({"type": "highlight_add", "highlight_id": 2, "tags": [2]})),
            ("ann", json.dumps({"type": "highlight_add", "highlight_id": 3, "tags": [3]})),
            ("ben", json.dumps({"type": "highlight_add", "highlight_id": 3, "tags": [3, 1]})),  # later edit wins
            ("ann", "not json"),
        ],
    )
    con.commit()
    con.close()
    return {"text": text}


def test_synthetic_project(tmp_path):
    db = tmp_path / "p.sqlite3"
    info = _make(db)
    p = read_taguette(db)
    text = info["text"]
    assert p.documents["text"].tolist() == [text]
    assert text.startswith("Café & crème")  # entity decoded, markup gone, newlines kept
    hl = p.highlights.set_index(["highlight_id", "code"])
    food = hl.loc[(1, "Food")]
    assert (food["start"], food["end"]) == (text.index("crème"), text.index("crème") + len("crème — naïve 👍"))
    assert food["located"] == "offset" and food["coder"] == "ann"
    assent = hl.loc[(2, "Assent")]
    second = text.index("we said yes", text.index("we said yes") + 1)
    assert assent["start"] == second and assent["located"] == "search" and assent["coder"] == "ben"
    form = hl.loc[(3, "Form")]
    assert form["text"] == "Tabs\tand  spaces" and form["located"] == "search" and form["coder"] == "ben"
    assert hl.loc[(3, "Food")]["start"] == form["start"]
    for r in p.highlights.itertuples():
        assert r.text == text[r.start : r.end]
    assert p.location_counts == {"offset": 2, "search": 2, "missing": 1}
    assert len(p.problems) == 2
    assert "highlight 4" in p.problems[0] and "not found" in p.problems[0]
    assert "highlight 5" in p.problems[1] and "no tags" in p.problems[1]
    assert p.tags.set_index("code").loc["Food", "description"] == "about food"
    assert p.name == "Study"


def test_project_selection_and_bad_files(tmp_path):
    db = tmp_path / "two.sqlite3"
    _make(db, two_projects=True)
    with pytest.raises(TaguetteError, match="2 projects"):
        read_taguette(db)
    assert read_taguette(db, project="Study").location_counts["offset"] == 2
    assert read_taguette(db, project=2).highlights.empty
    with pytest.raises(TaguetteError, match="no project"):
        read_taguette(db, project="Nope")
    not_db = tmp_path / "x.sqlite3"
    not_db.write_text("hello", encoding="utf-8")
    with pytest.raises(TaguetteError, match="not an SQLite database"):
        read_taguette(not_db)
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(TaguetteError, match="not a Taguette project"):
        read_taguette(empty)
    with pytest.raises(FileNotFoundError):
        read_taguette(tmp_path / "missing.sqlite3")


def test_taguette_units_only_on_documents_a_coder_highlighted(tmp_path):
    from click.testing import CliRunner

    from nlp_theming.cli import main

    docs = {
        1: "We have no money. The budget is cut. Costs rise. I work late. Evenings are gone. Weekends too.",
        2: "The team is kind. We help each other. Nobody leaves early. The ward is busy. Beds are full. It is hard.",
        3: "Nothing was highlighted here. Not by anyone. At all.",
    }
    db = tmp_path / "p.sqlite3"
    con = sqlite3.connect(db)
    con.executescript(SCHEMA)
    con.execute("INSERT INTO projects VALUES (1, 'Study', '')")
    for doc_id, text in docs.items():
        con.execute("INSERT INTO documents VALUES (?, ?, 1, ?)", (doc_id, f"doc{doc_id}.txt", f"<p>{text}</p>"))
    con.executemany("INSERT INTO tags VALUES (?, 1, ?, '')", [(1, "Money"), (2, "Team")])
    marks = [(1, 1, "The budget is cut.", 1, "ann"), (2, 2, "We help each other.", 2, "ann"),
             (3, 1, "Costs rise.", 1, "ben")]  # ben never highlighted doc2
    for hid, doc_id, piece, tag, who in marks:
        start, end = _byte_offsets(docs[doc_id], piece)
        con.execute("INSERT INTO highlights VALUES (?, ?, ?, ?, ?)", (hid, doc_id, start, end, piece))
        con.execute("INSERT INTO highlight_tags VALUES (?, ?)", (hid, tag))
        con.execute("INSERT INTO commands (user_login, project_id, payload) VALUES (?, 1, ?)",
                    (who, json.dumps({"type": "highlight_add", "highlight_id": hid})))
    con.commit()
    con.close()
    out = tmp_path / "units.csv"
    result = CliRunner().invoke(main, ["taguette-units", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "note: 1 documents without highlights left out: doc3" in result.output
    units = pd.read_csv(out, keep_default_na=False)
    assert set(units[units.coder == "ann"].document) == {"doc1", "doc2"}
    assert set(units[units.coder == "ben"].document) == {"doc1"}, "no 'no code' rows where ben coded nothing"
    assert units.groupby("coder").size().to_dict() == {"ann": 4, "ben": 2}
    ben = units[units.coder == "ben"]
    assert ben.codes.tolist() == ["Money", ""]
