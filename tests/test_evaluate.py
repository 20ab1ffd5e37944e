"""evaluate: simulated pre-coding on the sample corpus's gold coding, with the real model."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import CORPUS

from nlp_theming import Project
from nlp_theming.cli import main
from nlp_theming.exchange.coded import write_coded_units_csv
from nlp_theming.export import coded_units_table
from nlp_theming.review import import_spans
from nlp_theming.segment import Segmenter


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
