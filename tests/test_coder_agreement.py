"""`compare`: agreement between a project's coders on segments, sentences and characters.

A small project is built here from SYNTHETIC transcripts; two coders' span coding is imported with
known overlaps, and the expected statistics are computed in the test from those spans with
scikit-learn and the krippendorff package, not with the code under test. The machine as a coder
needs a real suggest run (the real embedding model, a dozen segments).
"""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from markupsafe import escape
from sklearn.metrics import cohen_kappa_score, f1_score

from nlp_theming import Project
from nlp_theming.agreement.coders import Comparison, compare_coders
from nlp_theming.cli import main
from nlp_theming.review import import_spans
from nlp_theming.segment import Segmenter
from nlp_theming.suggest import SuggestConfig, run_suggest

W, S, F = "Workload", "Selection", "Finance"
CODES = (W, S, F)
CODEBOOK = f"""code,description
{W},"Time the leadership role takes: sessions, evenings, weekends, rotas"
{S},"How people are chosen for leadership posts: interviews, applicants, whose turn it is"
{F},"Budgets, deficits, savings and money"
"""
UNTRUSTED = 'I typed <script>alert("x")</script> into the form.'
# document -> three answers, each two sentences (one coding unit each, two sentence units)
ANSWERS = {
    "D1": ["I get two sessions a week for the role. It spills into my evenings.",
           "There was an interview panel for the post. Only two of us applied.",
           "The budget is always overspent. We close beds to save money."],
    "D2": ["Money is tight this year. Every meeting is about savings.",
           "The job takes far more time than planned. I answer emails at night.",
           f"Nobody else wanted the post. {UNTRUSTED}"],
    "D3": ["They picked me because of my experience. It was my turn really.",
           "The deficit is two million pounds. Locums cost the most.",
           "My rota has no slack at all. I work most weekends."],
    "D4": ["I am always tired these days. The hours are long.",
           "We lost money on agency staff. The board noticed.",
           "I applied when the post came up. The panel was kind."],
}
QUESTIONS = ["How much time does the role take?", "How were you chosen?", "What about money?"]

# Spans as (document, answer, part, code): part "all", "s1", "s2" or (start, end) within the answer.
CODER_A = [(d, k, "all", c) for d, cs in {"D1": [W, S, F], "D2": [F, W, S], "D3": [S, F], "D4": [W, F, S]}.items()
           for k, c in enumerate(cs)]
CODER_B = [
    ("D1", 0, "s1", W), ("D1", 1, "all", S), ("D1", 2, "all", F), ("D1", 2, "s2", W),
    ("D2", 0, "all", F), ("D2", 1, "all", S),  # D2 answer 2 (the untrusted one): nothing
    ("D3", 0, "s2", S), ("D3", 1, (15, 56), F), ("D3", 2, "all", W),
]


def write_corpus(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for doc, answers in ANSWERS.items():
        lines = ["SYNTHETIC interview for tests"]
        for q, a in zip(QUESTIONS, answers, strict=True):
            lines += [f"Interviewer: {q}", f"Ms Patel: {a}"]
        (folder / f"{doc}.txt").write_text("\n\n".join(lines) + "\n", encoding="utf-8")


def answer_offsets(con: sqlite3.Connection) -> dict[tuple[str, int], tuple[int, int]]:
    out = {}
    for doc in ANSWERS:
        doc_id, text = con.execute("SELECT id, text FROM current_documents WHERE name = ?", (doc,)).fetchone()
        turns = con.execute("SELECT start, end FROM turns WHERE document_id = ? AND is_interviewer = 0"
                            " AND speaker IS NOT NULL ORDER BY idx", (doc_id,)).fetchall()
        for k, (start, end) in enumerate(turns):
            assert text[start:end] == ANSWERS[doc][k]
            out[(doc, k)] = (start, end)
    return out


def sentences(doc: str, k: int, offsets: dict) -> list[tuple[int, int]]:
    start, _ = offsets[(doc, k)]
    answer = ANSWERS[doc][k]
    cut = answer.index(". ") + 1
    return [(start, start + cut), (start + cut + 1, start + len(answer))]


def absolute(span: tuple, offsets: dict) -> tuple[str, int, int, str]:
    doc, k, part, code = span
    start, end = offsets[(doc, k)]
    if part == "all":
        return doc, start, end, code
    if isinstance(part, tuple):
        return doc, start + part[0], start + part[1], code
    return (doc, *sentences(doc, k, offsets)[0 if part == "s1" else 1], code)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("compare")
    write_corpus(root / "corpus")
    (root / "codebook.csv").write_text(CODEBOOK, encoding="utf-8")
    project = root / "project"
    with Project.init(project) as p:
        p.ingest([root / "corpus"])
        p.load_codebook(root / "codebook.csv")
        offsets = answer_offsets(p.con)
        spans = {coder: [absolute(s, offsets) for s in plan] for coder, plan in (("A", CODER_A), ("B", CODER_B))}
        for coder, rows in spans.items():
            frame = pd.DataFrame(rows, columns=["document", "start", "end", "code"]).assign(coder=coder)
            report = import_spans(p.con, frame, Segmenter().scheme)
            assert not report.problems and report.spans == len(rows)
        summary = run_suggest(p.con, SuggestConfig(seed=0, discover=False))
        machine = pd.read_sql_query(
            "SELECT d.name AS document, s.start, s.end, g.code FROM suggestions g"
            " JOIN segments s ON s.id = g.segment_id JOIN documents d ON d.id = s.document_id"
            " WHERE g.run_id = ? AND g.score >= 0.5 AND s.role = 'participant'",
            p.con, params=[summary.run_id])
        segs = pd.read_sql_query(
            "SELECT d.name AS document, s.start, s.end FROM segments s JOIN documents d ON d.id = s.document_id"
            " WHERE s.scheme = ? AND s.role = 'participant' ORDER BY d.name, s.start", p.con,
            params=[Segmenter().scheme])
    spans["machine"] = list(machine.itertuples(index=False, name=None))
    return {"project": project, "offsets": offsets, "spans": spans, "segments": segs, "run_id": summary.run_id}


def labels(spans: list[tuple], units: list[tuple[str, int, int]]) -> np.ndarray:
    """units x codes, 1 where one of the coder's spans of the code overlaps the unit."""
    out = np.zeros((len(units), len(CODES)), dtype=int)
    for i, (doc, us, ue) in enumerate(units):
        for d, s, e, c in spans:
            if d == doc and min(ue, e) > max(us, s):
                out[i, CODES.index(c)] = 1
    return out


def expected(ya: np.ndarray, yb: np.ndarray) -> dict[str, float]:
    """The figures compare() should give for reference a and coder b, from sklearn and krippendorff."""
    used = (ya + yb).sum(0) > 0
    ya, yb = ya[:, used], yb[:, used]
    with np.errstate(all="ignore"):
        kappas = [cohen_kappa_score(ya[:, j], yb[:, j]) for j in range(ya.shape[1])]
    pooled = np.vstack([ya.ravel(), yb.ravel()]).astype(float)
    return {
        "mean_kappa": float(np.nanmean(kappas)),
        "percent_agreement": float((ya == yb).mean()),
        "alpha": float(krippendorff.alpha(reliability_data=pooled, level_of_measurement="nominal")),
        "micro_f1": float(f1_score(ya, yb, average="micro")),
        "macro_f1": float(f1_score(ya, yb, average="macro", zero_division=np.nan)),
    }


def check(result: Comparison, exp: dict[str, float], other: str) -> None:
    o = result.report.overall
    assert o["mean_kappa"] == pytest.approx(exp["mean_kappa"], abs=1e-9)
    assert o["micro_percent_agreement"] == pytest.approx(exp["percent_agreement"], abs=1e-9)
    assert o["alpha_pooled"] == pytest.approx(exp["alpha"], abs=1e-9)
    prf = o["precision_recall_f1"][other]
    assert prf["micro_f1"] == pytest.approx(exp["micro_f1"], abs=1e-9)
    assert prf["macro_f1"] == pytest.approx(exp["macro_f1"], abs=1e-9)
    for key in ("mean_kappa", "alpha_pooled", "micro_ac1"):
        assert o[f"{key}_lo"] <= o[key] + 1e-12 and o[key] <= o[f"{key}_hi"] + 1e-12


def human_units(built: dict, docs: tuple[str, ...] = ("D1", "D2", "D3")) -> list[tuple[str, int, int]]:
    segs = built["segments"]
    return [tuple(r) for r in segs[segs.document.isin(docs)].itertuples(index=False, name=None)]


@pytest.mark.slow  # the module fixture `built` runs the real embedding model (~8 s)
def test_segments(built: dict) -> None:
    units = human_units(built)
    assert len(units) == 9, "one coding unit per answer"
    with Project(built["project"]) as p:
        result = compare_coders(p.con, ["A", "B"], reference="A", unit="segment", n_boot=200)
    assert result.settings["documents"] == ["D1", "D2", "D3"]
    assert result.settings["documents_excluded"] == {"D4": ["A"]}
    assert [(r.document, r.start, r.end) for r in result.units.itertuples()] == units
    ya, yb = labels(built["spans"]["A"], units), labels(built["spans"]["B"], units)
    check(result, expected(ya, yb), "B")
    # the disagreements are exactly the unit x code cells where the two differ, with the unit's text
    cells = {(u[0], u[1], CODES[j]) for i, u in enumerate(units) for j in range(3) if ya[i, j] != yb[i, j]}
    dis = result.disagreements
    assert set(zip(dis.document, dis.start, dis.code, strict=True)) == cells
    row = dis[dis.text.str.contains("<script>", regex=False)].iloc[0]
    assert (row.code, row.applied_by, row.not_applied_by) == (S, ["A"], ["B"])


@pytest.mark.slow
def test_sentences(built: dict) -> None:
    units = [(d, s, e) for d in ("D1", "D2", "D3") for k in range(3) for s, e in sentences(d, k, built["offsets"])]
    with Project(built["project"]) as p:
        result = compare_coders(p.con, ["A", "B"], reference="A", unit="sentence", n_boot=200)
    assert [(r.document, r.start, r.end) for r in result.units.itertuples()] == units
    check(result, expected(labels(built["spans"]["A"], units), labels(built["spans"]["B"], units)), "B")


@pytest.mark.slow
def test_characters(built: dict) -> None:
    # every character of participant speech is a unit of its own
    units = [(d, i, i + 1) for d, s, e in human_units(built) for i in range(s, e)]
    with Project(built["project"]) as p:
        result = compare_coders(p.con, ["A", "B"], reference="A", unit="character", n_boot=200)
    assert result.settings["n_characters"] == len(units)
    assert result.units.weight.sum() == len(units)
    check(result, expected(labels(built["spans"]["A"], units), labels(built["spans"]["B"], units)), "B")


@pytest.mark.slow
def test_machine_as_coder(built: dict) -> None:
    units = human_units(built, ("D1", "D2", "D3", "D4"))  # the run covered every document; so did A
    machine = labels(built["spans"]["machine"], units)
    assert machine.sum() > 0, "the fixture needs suggestions at the operating threshold"
    with Project(built["project"]) as p:
        result = compare_coders(p.con, ["A"], machine=True, reference="A", unit="segment", n_boot=200)
        both = compare_coders(p.con, ["A", "B", "machine"], reference="A", unit="character", n_boot=50)
    assert result.settings["coders"] == ["A", "machine"]
    assert result.settings["machine"]["run_id"] == built["run_id"]
    assert result.settings["documents"] == ["D1", "D2", "D3", "D4"]
    # the run was made after A's coding was imported, so it learned from all 12 of A's decisions
    assert result.settings["machine"]["learned_from"] == len(CODER_A)
    check(result, expected(labels(built["spans"]["A"], units), machine), "machine")
    # D4 was coded by A and the machine, not by B: kept, with B's coding there missing
    assert both.settings["documents"] == ["D1", "D2", "D3", "D4"]
    assert both.settings["documents_missing"] == {"B": ["D4"]}
    assert set(both.report.overall["precision_recall_f1"]) == {"B", "machine"}
    assert len(both.report.pairwise) == 3


CODER_C = [("D1", 0, "all", W), ("D1", 1, "all", F), ("D2", 0, "all", F), ("D2", 2, "all", S),
           ("D4", 0, "all", W), ("D4", 1, "all", F)]  # C never coded D3


@pytest.mark.slow
def test_three_coders_on_partly_overlapping_documents(built: dict, tmp_path: Path) -> None:
    import shutil

    project = tmp_path / "project"
    shutil.copytree(built["project"], project)
    c_spans = [absolute(sp, built["offsets"]) for sp in CODER_C]
    with Project(project) as p:
        frame = pd.DataFrame(c_spans, columns=["document", "start", "end", "code"]).assign(coder="C")
        assert not import_spans(p.con, frame, Segmenter().scheme).problems
        result = compare_coders(p.con, ["A", "B", "C"], reference="A", unit="segment", n_boot=0)
    docs = ("D1", "D2", "D3", "D4")
    # every document has at least two coders: A everywhere, B on D1-D3, C on D1, D2, D4
    assert result.settings["documents"] == list(docs) and result.settings["documents_excluded"] == {}
    assert result.settings["documents_missing"] == {"B": ["D4"], "C": ["D3"]}
    units = human_units(built, docs)
    y = {"A": labels(built["spans"]["A"], units), "B": labels(built["spans"]["B"], units), "C": labels(c_spans, units)}
    coded = {"A": set(docs), "B": {"D1", "D2", "D3"}, "C": {"D1", "D2", "D4"}}
    seen = {c: np.array([u[0] in coded[c] for u in units]) for c in y}
    # Krippendorff's alpha over all three, the missing coding as missing (NaN), pooled over codes
    data = np.vstack([np.where(seen[c][:, None], y[c], np.nan).ravel() for c in ("A", "B", "C")])
    o = result.report.overall
    assert o["alpha_pooled"] == pytest.approx(krippendorff.alpha(reliability_data=data,
                                                                 level_of_measurement="nominal"), abs=1e-9)
    # each pair's kappa on the units both coded
    pairs = result.report.pairwise.set_index(["coder_a", "coder_b"])
    for a, b in (("A", "B"), ("A", "C"), ("B", "C")):
        both = seen[a] & seen[b]
        exp = expected(y[a][both], y[b][both])
        assert pairs.loc[(a, b), "n_units"] == both.sum()
        assert pairs.loc[(a, b), "mean_kappa"] == pytest.approx(exp["mean_kappa"], abs=1e-9)
    both = seen["A"] & seen["C"]
    assert o["precision_recall_f1"]["C"]["micro_f1"] == pytest.approx(expected(y["A"][both], y["C"][both])["micro_f1"])
    lines = "\n".join(result.summary_lines())
    assert "coded by at least two of them" in lines and "B lacked D4; C lacked D3" in lines


@pytest.mark.slow
def test_outputs_and_cli(built: dict, tmp_path: Path) -> None:
    out = tmp_path / "agreement"
    res = CliRunner().invoke(main, ["compare", str(built["project"]), "--coders", "A,B", "--reference", "A",
                                    "--unit", "sentence", "--n-boot", "100", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "mean kappa" in res.output and "micro F1" in res.output and "1 coded only by A: D4" in res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["unit"] == "sentence" and metrics["settings"]["n_boot"] == 100
    assert {"per_code", "overall", "pairwise", "disagreements"} <= set(metrics)
    per_code = pd.read_csv(out / "per_code.csv")
    assert set(per_code.code) == set(CODES) and {"kappa_lo", "kappa_hi", "f1_B"} <= set(per_code.columns)
    assert len(pd.read_csv(out / "pairwise.csv")) == 1
    dis = pd.read_csv(out / "disagreements.csv")
    assert {"document", "text", "applied_by", "not_applied_by", "code"} <= set(dis.columns)
    assert UNTRUSTED in set(dis.text), "the CSV keeps the text as it is"
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower(), "transcript text must never become markup"
    assert str(escape(UNTRUSTED)) in page  # shown, as text
    assert "data:image/png;base64," in page and "http://" not in page and "https://" not in page


@pytest.mark.slow
def test_bootstrap_by_document(built: dict, tmp_path: Path) -> None:
    out = tmp_path / "agreement"
    args = ["compare", str(built["project"]), "--coders", "A,B", "--n-boot", "200", "--out", str(out)]
    res = CliRunner().invoke(main, [*args, "--bootstrap-by", "document"])
    assert res.exit_code == 0, res.output
    assert "resamples of whole documents" in res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["bootstrap_by"] == "document"
    assert metrics["overall"]["n_clusters"] == len(metrics["settings"]["documents"])
    assert "resamples of whole documents" in (out / "report.html").read_text(encoding="utf-8")
    res = CliRunner().invoke(main, [*args, "--bootstrap-by", "sentence"])
    assert res.exit_code != 0


@pytest.mark.slow
def test_errors(built: dict) -> None:
    with Project(built["project"]) as p:
        with pytest.raises(ValueError, match="no decisions by 'Z'"):
            compare_coders(p.con, ["A", "Z"])
        with pytest.raises(ValueError, match="at least two coders"):
            compare_coders(p.con, ["A"])
        with pytest.raises(ValueError, match="reference coder"):
            compare_coders(p.con, ["A", "B"], reference="C")
        with pytest.raises(ValueError, match="unit of analysis"):
            compare_coders(p.con, ["A", "B"], unit="paragraph")


def test_report_page_escapes_and_tables_are_guarded(tmp_path: Path) -> None:
    """Codes and transcript text are untrusted: the page escapes them, the CSVs never run them."""
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "d1.txt").write_text(
        "Interviewer: Anything to add?\nP1: =HYPERLINK(\"http://example.invalid\") was pasted in the minutes."
        " <script>window.x=1</script> too.\n", encoding="utf-8")
    (tmp_path / "codebook.csv").write_text(
        'code,description\n"<script>alert(1)</script>",bad\n@Other,x\n+Plus,y\n-Minus,z\n', encoding="utf-8")
    with Project.init(tmp_path / "p") as p:
        p.ingest([tmp_path / "t"])
        p.load_codebook(tmp_path / "codebook.csv")
        text = p.documents().iloc[0]
        start = (tmp_path / "t" / "d1.txt").read_text(encoding="utf-8").index("=HYPERLINK")
        assert text.n_chars > start
        frame = pd.DataFrame([("d1", start, start + 30, "<script>alert(1)</script>", "A"),
                              ("d1", start, start + 30, "@Other", "B"),
                              ("d1", start, start + 30, "+Plus", "A"),
                              ("d1", start, start + 30, "-Minus", "B")],
                             columns=["document", "start", "end", "code", "coder"])
        assert not import_spans(p.con, frame, p.segmenter().scheme).problems
        result = p.compare(["A", "B"], n_boot=0, out=tmp_path / "out")
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<h2>Disagreements (4)</h2>" in html and result.report.per_code.shape[0] == 4
    assert "<td>@Other</td>" in html and "<td>+Plus</td>" in html  # the page shows codes as they are
    cells = {}
    for name in ("per_code.csv", "pairwise.csv", "disagreements.csv"):
        with open(tmp_path / "out" / name, newline="", encoding="utf-8") as fh:
            cells[name] = [c for row in csv.reader(fh) for c in row]
        assert not [c for c in cells[name] if c.startswith(("=", "+", "-", "@")) and not _number(c)], name
    assert any(c.startswith("'=HYPERLINK") for c in cells["disagreements.csv"])
    for name in ("per_code.csv", "disagreements.csv"):
        for code in ("@Other", "+Plus", "-Minus"):
            assert "'" + code in cells[name], (name, code)  # text, with the apostrophe guard


def _number(cell: str) -> bool:
    """A negative kappa is a number, not a formula: spreadsheets read it as one."""
    try:
        float(cell)
    except ValueError:
        return False
    return True
