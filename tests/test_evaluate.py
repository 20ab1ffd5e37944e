"""evaluate: simulated pre-coding on the sample corpus's gold coding, with the real model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from nlp_theming import Project
from nlp_theming.cli import main
from nlp_theming.exchange.coded import write_coded_units_csv
from nlp_theming.exchange.tidy import coded_units_table
from nlp_theming.review import import_spans
from nlp_theming.segment import Segmenter
from tests.helpers.paths import CORPUS


@pytest.fixture(scope="module")
def coded_units(corpus_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import shutil

    folder = tmp_path_factory.mktemp("evaluate")
    shutil.copytree(corpus_project, folder / "project")
    with Project(folder / "project") as p:
        report = import_spans(p.con, pd.read_csv(CORPUS / "gold_spans.csv"), Segmenter().scheme)
        assert report.problems == []
        units = coded_units_table(p.con, Segmenter().scheme)
    path = folder / "units.csv"
    write_coded_units_csv(units, path)
    return path


@pytest.fixture(scope="module")
def evaluation(coded_units: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "out"
    args = ["evaluate", "--codebook", str(CORPUS / "codebook.csv"), "--coded", str(coded_units), "--out", str(out),
            "--train-fraction", "0.3", "--seed", "1", "--learning-curve", "0,0.3",
            "--method", "zeroshot,semisupervised,classifier", "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "human ceiling vs coder2" in result.output
    return out


@pytest.mark.slow
def test_predictions_file_has_the_promised_shape(evaluation: Path, coded_units: Path) -> None:
    predictions = pd.read_csv(evaluation / "predictions.csv")
    assert list(predictions.columns) == ["unit_id", "code", "score", "rank", "split"]
    units = pd.read_csv(coded_units)
    coder1 = units[units.coder == "coder1"]
    assert set(predictions.unit_id) == set(coder1.unit_id)
    per_unit = predictions.groupby("unit_id")
    assert per_unit.size().max() == 10
    assert predictions.score.between(0, 1).all()
    split = per_unit.split.first()
    assert split.eq("train").mean() == pytest.approx(0.3, abs=0.01)
    for name in ("predictions_semisupervised.csv", "predictions_classifier.csv", "learning_curve.png"):
        assert (evaluation / name).exists()


@pytest.mark.slow
def test_metrics_and_learning_curve(evaluation: Path) -> None:
    metrics = json.loads((evaluation / "metrics.json").read_text())
    for key in ("top1_hit_rate", "top5_recall", "micro_f1", "macro_f1", "mean_kappa", "n_train", "n_test", "seconds"):
        assert key in metrics
    assert metrics["method"] == "zeroshot" and metrics["train_fraction"] == 0.3
    assert metrics["n_train"] + metrics["n_test"] == metrics["n_units"]
    curve = pd.read_csv(evaluation / "learning_curve.csv")
    assert len(curve) == 6  # three methods x two fractions
    at = curve.set_index(["method", "train_fraction"])
    # learning from 30% hand-coded beats knowing only the codebook, on the same held-out units
    assert at.loc[("semisupervised", 0.3), "mean_kappa"] > at.loc[("zeroshot", 0.3), "mean_kappa"]
    assert at.loc[("classifier", 0.0), "micro_f1"] == 0  # nothing to learn from
    assert at.loc[("semisupervised", 0.0), "micro_f1"] == at.loc[("zeroshot", 0.0), "micro_f1"]
    ceiling = metrics["human_ceiling"]["coder2"]
    assert ceiling["n_units"] > 100
    assert ceiling["human"]["mean_kappa"] > ceiling["machine"]["mean_kappa"]


@pytest.mark.slow
def test_same_seed_same_figures(evaluation: Path, coded_units: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    args = ["evaluate", "--codebook", str(CORPUS / "codebook.csv"), "--coded", str(coded_units), "--out", str(out),
            "--train-fraction", "0.3", "--seed", "1", "--method", "zeroshot", "--quiet"]
    assert CliRunner().invoke(main, args).exit_code == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "predictions.csv"), pd.read_csv(evaluation / "predictions.csv"))


def test_coder_choice_and_unknown_codes(tmp_path: Path) -> None:
    codebook = tmp_path / "codebook.csv"
    codebook.write_text("code,description,group\nBudget,Money and budgets,Resources\nTime,Hours spent,Resources\n")
    coded = tmp_path / "coded.csv"
    rows = ["unit_id,document,coder,text,codes"]
    texts = ["We overspent the budget again.", "It takes every evening.", "The weather was nice.", "Money is tight."]
    for i, text in enumerate(texts * 3):
        rows.append(f"u{i},d1,ann,{text},{'Budget' if 'budget' in text or 'Money' in text else ''}")
        rows.append(f"u{i},d1,bob,{text},{'Time | Other' if 'evening' in text else ''}")
    coded.write_text("\n".join(rows) + "\n")
    runner = CliRunner()
    result = runner.invoke(main, ["evaluate", "--codebook", str(codebook), "--coded", str(coded), "--out",
                                  str(tmp_path / "o"), "--coder", "bob", "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["coder"] == "bob" and metrics["codes_not_in_codebook"] == {"Other": 3}
    bad = runner.invoke(main, ["evaluate", "--codebook", str(codebook), "--coded", str(coded), "--out",
                               str(tmp_path / "p"), "--coder", "nobody", "--quiet"])
    assert bad.exit_code == 1 and "no coder 'nobody'" in bad.output


def test_units_coded_by_different_people_are_all_kept(tmp_path: Path) -> None:
    from nlp_theming.evaluate import load_coded_units

    coded = tmp_path / "coded.csv"
    rows = ["unit_id,document,coder,text,codes"]
    rows += [f"u{i},d1,ann,text {i},Budget" for i in range(6)]
    rows += [f"u{i},d2,bob,text {i},Time" for i in range(6)]
    rows += ["u0,d1,bob,text 0,Time"]  # one unit coded twice
    coded.write_text("\n".join(rows) + "\n")
    data = load_coded_units(coded, ["Budget", "Time"])
    assert len(data.units) == 12
    assert data.Y.sum(axis=0).tolist() == [6, 6]  # ann is the reference of d1/u0, the first to code it
    assert list(data.others) == ["bob"] and len(data.others["bob"]) == 1
    prefer_bob = load_coded_units(coded, ["Budget", "Time"], coder="bob")
    assert prefer_bob.Y.sum(axis=0).tolist() == [5, 7]


# ---------------------------------------------------------------------------------------------
# Reading messy coded files; what the reference is; the figures against sklearn
# ---------------------------------------------------------------------------------------------


def _write_lines(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def test_codes_match_loosely_and_unknown_only_units_are_left_out(tmp_path: Path) -> None:
    from nlp_theming.evaluate import code_resolver, load_coded_units

    coded = _write_lines(tmp_path / "coded.csv", [
        "unit_id,document,coder,text,codes",
        "u1,d,ann,a,budget",  # case differs from the codebook: unambiguous
        "u2,d,ann,b, Time |Other",  # spaces, no spaces, one unknown code: kept with Time
        "u3,d,ann,c,Other | Misc",  # only unknown codes: left out, not "no code"
        "u4,d,ann,d,",  # coded, no code applies: kept
        "u5,d,ann,e,staff",  # Staff and STAFF are both codes: only an exact match counts
        "u6,d,ann,f,Resources",  # a group of the codebook, applied as a code
        "u7,d,ann,g,Caf\u00e9",
    ])
    codes = ["Budget", "Time", "Staff", "STAFF", "Cafe\u0301"]  # the last one in NFD
    data = load_coded_units(coded, codes, groups=["Resources", "People"])
    assert data.units.unit_id.tolist() == ["u1", "u2", "u4", "u6", "u7"]
    assert data.codes == [*codes, "Resources"] and data.non_leaf == ["Resources"]
    assert data.units.codes.tolist() == [["Budget"], ["Time"], [], ["Resources"], ["Cafe\u0301"]]
    assert data.Y.sum(axis=0).tolist() == [1, 1, 0, 0, 1, 1]
    assert data.left_out == {"n_units": 2, "codes": {"Other": 1, "Misc": 1, "staff": 1}}
    assert data.dropped_codes == {"Other": 2, "Misc": 1, "staff": 1}
    assert data.matched == {"budget": "Budget", "Caf\u00e9": "Cafe\u0301"}
    assert data.n_units_in_file == 7
    resolve = code_resolver(["Staff", "STAFF", "Budget"])
    assert (resolve("  Staff "), resolve("STAFF"), resolve("sTaFF"), resolve("BUDGET")) == ("Staff", "STAFF", None,
                                                                                            "Budget")


def test_reference_coders_are_reported_and_only_coder_restricts(tmp_path: Path) -> None:
    from nlp_theming.evaluate import FIRST_CODER, load_coded_units

    rows = ["unit_id,document,coder,text,codes"]
    rows += [f"u{i},d1,ann,text {i},Budget" for i in range(4)]
    rows += [f"u{i},d1,bob,text {i},Time" for i in range(2)]  # bob also coded u0, u1
    rows += [f"v{i},d2,bob,text {i},Time" for i in range(3)]  # only bob
    coded = _write_lines(tmp_path / "coded.csv", rows)
    first = load_coded_units(coded, ["Budget", "Time"])
    assert first.reference_coders == {"ann": 4, "bob": 3} and first.coder == FIRST_CODER
    prefer = load_coded_units(coded, ["Budget", "Time"], coder="bob")
    assert prefer.reference_coders == {"ann": 2, "bob": 5}
    assert prefer.coder == "bob where they coded the unit, otherwise the unit's first coder"
    only = load_coded_units(coded, ["Budget", "Time"], coder="bob", only_coder=True)
    assert only.reference_coders == {"bob": 5} and only.coder == "bob"
    assert only.units.unit_id.tolist() == ["u0", "u1", "v0", "v1", "v2"]
    assert list(only.others) == ["ann"] and len(only.others["ann"]) == 2  # the human ceiling keeps ann on u0, u1
    with pytest.raises(ValueError, match="--only-coder needs --coder"):
        load_coded_units(coded, ["Budget"], only_coder=True)


def test_clear_errors_for_data_that_cannot_be_scored(tmp_path: Path) -> None:
    from nlp_theming.evaluate import split_units
    from nlp_theming.match import resolve_methods

    with pytest.raises(ValueError, match="leaves no held-out unit"):
        split_units(3, 0.9, 0)  # round(2.7) = 3 train units
    assert split_units(3, 0.5, 0).sum() == 2
    assert resolve_methods(["Zero-Shot", " semi_supervised", "LOGISTIC", "baseline", "zeroshot"]) == [
        "zeroshot", "semisupervised", "classifier"]
    with pytest.raises(ValueError, match="unknown matcher 'bert'"):
        resolve_methods(["bert"])
    codebook = tmp_path / "codebook.csv"
    codebook.write_text("code,description,group\nBudget,Money,Resources\nTime,Hours,Resources\n")
    runner = CliRunner()

    def run(lines: list[str], *extra: str):
        coded = _write_lines(tmp_path / "coded.csv", ["unit_id,document,coder,text,codes", *lines])
        return runner.invoke(main, ["evaluate", "--codebook", str(codebook), "--coded", str(coded),
                                    "--out", str(tmp_path / "o"), "--quiet", *extra])

    few = run(["u1,d,a,t,Budget", "u2,d,a,t,Money"])
    assert few.exit_code == 1 and "1 unit(s) to evaluate (1 left out because none of their codes" in few.output
    none = run(["u1,d,a,t,Money", "u2,d,a,t,", "u3,d,a,t,", "u4,d,a,t,Cash"])
    assert none.exit_code == 1 and "no unit has a code from the codebook; codes in the file such as" in none.output
    tiny = run(["u1,d,a,t,Budget", "u2,d,a,t,Time", "u3,d,a,t,"], "--train-fraction", "0.9")
    assert tiny.exit_code == 1 and "leaves no held-out unit" in tiny.output
    assert not (tmp_path / "o").exists(), "bad data fails before the output folder and the model"
    alias = run(["u1,d,a,t,Budget", "u2,d,a,t,Time", "u3,d,a,t,"], "--method", "Zero-Shot,baseline")
    assert alias.exit_code == 0, alias.output
    assert {r["method"] for r in json.loads((tmp_path / "o" / "metrics.json").read_text())["methods"]} == {
        "zeroshot", "classifier"}


@pytest.mark.slow
def test_messy_spreadsheet_export_end_to_end(tmp_path: Path) -> None:
    """cp1252, a spaced header, blank and repeated rows, codes in other case, unknown codes, a group code."""
    codebook = _write_lines(tmp_path / "codebook.csv", [
        "Code,Description,Group",
        "Coût,Money: budgets and what things cost,Ressources",
        ",,",
        "Temps,Hours and evenings the work takes,Ressources",
        "Temps,Hours and evenings the work takes,Ressources",
        "Ressources,Resources in general,",
        "Équipe,Colleagues and the team,",
    ], encoding="cp1252")
    texts = {
        "Coût": "The budget was cut again and it costs too much money.",
        "Temps": "I work every evening and most weekends.",
        "Équipe": "My colleagues in the team are great.",
        "Ressources": "We lack resources of every kind.",
        "": "The weather was nice that day.",
    }
    lines = [" Unit_ID ,Document,Coder,Text, codes "]
    n = 0
    for rep in range(4):
        for code, text in texts.items():
            written = {"Coût": "coût", "Temps": "Temps", "Équipe": "ÉQUIPE"}.get(code, code)
            lines.append(f"u{n},doc{rep},ann,{text},{written}")
            if n % 3 == 0:
                lines.append(f"u{n},doc{rep},bob,{text},{written}|Autre" if code else f"u{n},doc{rep},bob,{text},")
            n += 1
    lines.append("u0,doc0,ann,x,coût")  # the same coding again: dropped silently
    lines.append("u1,doc0,ann,x,Temps | Coût")  # a second row that adds a code: merged, with a note
    lines += [f"x{i},doc9,ann,Something else entirely.,Inconnu" for i in range(3)]  # unknown only: left out
    coded = _write_lines(tmp_path / "coded.csv", lines, encoding="cp1252")
    out = tmp_path / "eval"
    result = CliRunner().invoke(main, ["evaluate", "--codebook", str(codebook), "--coded", str(coded), "--out",
                                       str(out), "--train-fraction", "0.3", "--method", "Semi-Supervised",
                                       "--coder", "bob", "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_units"] == 20 and metrics["n_units_in_file"] == 23
    assert metrics["units_left_out"] == {"n_units": 3, "codes": {"Inconnu": 3}}
    assert metrics["codes_not_in_codebook"] == {"Autre": 6, "Inconnu": 3}
    assert metrics["non_leaf_codes_kept"] == ["Ressources"]
    assert metrics["codes_matched_loosely"] == {"coût": "Coût", "ÉQUIPE": "Équipe"}
    assert metrics["reference_coders"] == {"bob": 7, "ann": 13}
    assert metrics["n_codes"] == 4 and metrics["method"] == "semisupervised"
    assert "1 units had several rows for one coder" in metrics["notes"][0]
    assert "note: 3 units left out: none of their codes is in the codebook: 'Inconnu' (3)" in result.output
    assert "bob on 7, ann on 13 units" in result.output


def test_ranking_figures_by_hand() -> None:
    from nlp_theming.evaluate import ranking_figures

    Y = np.zeros((4, 7))
    Y[0, 0] = Y[1, 5] = Y[1, 6] = Y[2, 1] = Y[2, 6] = 1  # unit 3 has no code: not scored
    falling = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
    scores = np.array([falling, falling, [0.1, 0.9, 0.2, 0.3, 0.4, 0.5, 0.05], falling])
    figures = ranking_figures(scores, Y)
    # top-1: unit 0 hit, unit 1 missed (code 0 first), unit 2 hit (code 1 first)
    assert figures["top1_hit_rate"] == pytest.approx(2 / 3)
    # top-5: unit 0 1/1, unit 1 0/2 (codes 5, 6 rank 6th and 7th), unit 2 1/2 (code 6 ranks last)
    assert figures["top5_recall"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert np.isnan(ranking_figures(scores, np.zeros((4, 7)))["top1_hit_rate"])


def test_agreement_figures_match_sklearn() -> None:
    from sklearn.metrics import cohen_kappa_score, f1_score, precision_score

    from nlp_theming.evaluate import agreement_figures

    codes = ["A", "B", "C", "D"]  # C and D: used by neither side
    reference = [{"A"}, {"A", "B"}, set(), {"B"}, {"A"}, {"A"}]
    predicted = [{"A"}, {"B"}, {"B"}, set(), {"A", "B"}, {"A"}]
    figures = agreement_figures([f"u{i}" for i in range(6)], reference, predicted, codes)
    # by hand: A tp 3 fp 0 fn 1 -> F1 6/7; B tp 1 fp 2 fn 1 -> F1 2/5; C, D undefined and left out
    assert figures["macro_f1"] == pytest.approx((6 / 7 + 2 / 5) / 2)
    assert figures["micro_f1"] == pytest.approx(8 / 12)  # tp 4, fp 2, fn 2
    assert figures["mean_kappa"] == pytest.approx((2 / 3 + 0) / 2)  # kappa A 2/3, B 0
    y_true = np.array([[c in s for c in codes] for s in reference], dtype=int)
    y_pred = np.array([[c in s for c in codes] for s in predicted], dtype=int)
    assert figures["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=np.nan))
    assert figures["micro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="micro"))
    assert figures["micro_precision"] == pytest.approx(precision_score(y_true, y_pred, average="micro"))
    kappas = [cohen_kappa_score(y_true[:, j], y_pred[:, j]) for j in range(2)]
    assert figures["mean_kappa"] == pytest.approx(np.mean(kappas))


def test_calibration_by_hand() -> None:
    from nlp_theming.evaluate import calibration

    # half the pairs score 0.05 and never have the code, half score 0.95 and always do
    scores = np.array([[0.05, 0.95]] * 10)
    Y = np.array([[0, 1]] * 10)
    figures = calibration(scores, Y)
    assert figures["ece"] == pytest.approx(0.05) and figures["brier"] == pytest.approx(0.0025)
    assert [b["n"] for b in figures["bins"]] == [10, 10]
    # a score of 0.5 on pairs of which half have the code: calibrated, however uninformative
    assert calibration(np.full((4, 2), 0.5), np.array([[1, 0], [0, 1], [1, 0], [0, 1]]))["ece"] == 0
    # always 0.9, never right: as far off as it gets in that bin
    assert calibration(np.full((5, 1), 0.9), np.zeros((5, 1)))["ece"] == pytest.approx(0.9)


def test_document_split_holds_out_whole_documents() -> None:
    from nlp_theming.evaluate import split_documents

    documents = [f"d{i // 10}" for i in range(100)]  # ten documents of ten units
    train = split_documents(documents, 0.3, seed=0)
    assert train.sum() == 30
    for d in set(documents):
        units = train[[doc == d for doc in documents]]
        assert units.all() or not units.any(), "a document is split between train and test"
    assert (split_documents(documents, 0.3, seed=0) == train).all()  # seeded
    assert (split_documents(documents, 0.3, seed=1) != train).any()
    assert not split_documents(documents, 0.0, seed=0).any()
    assert (~split_documents(documents, 0.99, seed=0)).sum() >= 10  # one document is always held out
    with pytest.raises(ValueError, match="at least two documents"):
        split_documents(["only"] * 5, 0.3, seed=0)


@pytest.mark.slow
def test_document_split_and_calibration_end_to_end(coded_units: Path, tmp_path: Path) -> None:
    out = tmp_path / "by-document"
    args = ["evaluate", "--codebook", str(CORPUS / "codebook.csv"), "--coded", str(coded_units), "--out", str(out),
            "--train-fraction", "0.3", "--seed", "1", "--method", "semisupervised", "--split", "both", "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    rows = {r["split"]: r for r in metrics["methods"]}
    assert set(rows) == {"unit", "document"} and metrics["split"] == "unit"
    for r in rows.values():
        assert 0 <= r["calibration"]["ece"] <= 1 and r["calibration"]["bins"]
        assert sum(b["n"] for b in r["calibration"]["bins"]) == r["n_test"] * metrics["n_codes"]
    assert (out / "reliability.png").stat().st_size > 0
    assert "document" in result.output and "ECE" in result.output


def test_simulated_reviewer_decides_only_the_first_suggestions() -> None:
    from nlp_theming.evaluate import simulated_decisions

    scores = np.array([[0.9, 0.8, 0.1, 0.05], [0.1, 0.2, 0.9, 0.3]])
    Y = np.array([[0, 1, 1, 0], [0, 0, 1, 0]], dtype=np.float32)
    partial = simulated_decisions(scores, Y, k=2)
    np.testing.assert_array_equal(partial[0], [0, 1, np.nan, np.nan])  # the missed code stays undecided
    np.testing.assert_array_equal(partial[1], [np.nan, np.nan, 1, 0])
    np.testing.assert_array_equal(simulated_decisions(scores, Y, k=2, as_full=True)[0], [0, 1, 0, 0])


@pytest.mark.slow
def test_contexts_and_strategies_side_by_side(coded_units: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(coded_units)
    assert {"speaker", "role", "position", "previous_text"} <= set(frame.columns)
    assert set(frame.role) == {"participant"} and frame.previous_text.notna().mean() > 0.8  # the questions
    out = tmp_path / "context"
    args = ["evaluate", "--codebook", str(CORPUS / "codebook.csv"), "--coded", str(coded_units), "--out", str(out),
            "--train-fraction", "0.3", "--seed", "1", "--context", "all", "--context", "none",
            "--strategy", "random,active", "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    rows = {r["context"]: r for r in metrics["methods"]}
    everything = "neighbours+question+role+neighbour_codes"
    assert set(rows) == {everything, "none"} and metrics["context"] == everything
    assert rows["none"]["top1_hit_rate"] != rows[everything]["top1_hit_rate"]
    assert metrics["context_columns"] == ["speaker", "role", "position", "previous_text"]
    strategies = metrics["strategies"]
    curves = pd.read_csv(out / "strategies.csv")
    assert set(curves.strategy) == {"random", "active"} and curves.n_coded.max() <= strategies["n_pool"]
    assert (curves.groupby("strategy").n_coded.apply(list).map(len) == 6).all()
    assert "active reached random's kappa" in result.output and (out / "strategies.png").stat().st_size > 0


def test_per_code_calibration_where_data_allows() -> None:
    from nlp_theming.evaluate import per_code_calibration

    Y = np.zeros((100, 2))
    Y[:40, 0], Y[:5, 1] = 1, 1
    scores = np.zeros((100, 2))
    scores[:, 0] = 0.4  # right on average for code a: 40 of 100 have it
    figures = per_code_calibration(scores, Y, ["a", "b"])
    assert list(figures) == ["a"]  # b has too few held-out units to say
    assert figures["a"]["n_positive"] == 40 and figures["a"]["ece"] == pytest.approx(0.0)
    assert figures["a"]["brier"] == pytest.approx(0.4 * 0.6 ** 2 + 0.6 * 0.4 ** 2)
