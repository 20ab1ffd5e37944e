"""Evaluate the matcher on data people already coded: how good are suggestions, and how much
must be hand-coded before the machine agrees with people as well as people agree with each other?

A random fraction of the units counts as confirmed by a person; the machine suggests codes for
the rest with the same matchers as ``suggest``. Everything is seeded: the same command gives the
same figures.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .agreement import cohen_kappa, precision_recall_f1
from .codebook import load_codebook
from .embed import DEFAULT_MODEL, Embedder, open_cache
from .exchange.coded import read_coded_units_csv
from .match import make_matcher

TOP_N = 10


@dataclass
class CodedUnits:
    """The reference coding of units as a binary matrix, plus other coders' for the human ceiling."""

    units: pd.DataFrame  # key, unit_id, document, text, codes (list), coder: the reference row per unit
    Y: np.ndarray  # units x codes, 0/1
    codes: list[str]
    coder: str  # the preferred reference coder ("first coder of each unit" when none was asked for)
    others: dict[str, pd.Series]  # other coder -> key -> set of codes, on units where they are not the reference
    dropped_codes: dict[str, int]


POOLED = "any other coder"


def load_coded_units(path: str | Path, codes: Sequence[str], coder: str | None = None) -> CodedUnits:
    """Read long-format coded units. Where a unit has several coders, ``coder`` is its reference
    when they coded it, otherwise the unit's first coder in the file: units coded by one person
    only are never thrown away."""
    frame = read_coded_units_csv(path)
    if frame.empty:
        raise ValueError(f"{path}: no coded units")
    coders = list(dict.fromkeys(frame.coder))
    if coder is not None and coder not in coders:
        raise ValueError(f"{path}: no coder {coder!r} (coders: {', '.join(coders)})")
    frame = frame.assign(key=frame.document.astype(str) + "\x1f" + frame.unit_id.astype(str))
    index = {c: j for j, c in enumerate(codes)}
    dropped: dict[str, int] = {}
    for code_list in frame.codes:
        for c in code_list:
            if c not in index:
                dropped[c] = dropped.get(c, 0) + 1
    preferred = frame.coder == coder if coder is not None else pd.Series(False, index=frame.index)
    # the reference row of each unit: the preferred coder's, else the first in file order
    order = frame.assign(_rank=np.where(preferred, 0, 1), _pos=np.arange(len(frame)))
    reference = order.sort_values(["_rank", "_pos"]).drop_duplicates("key").sort_values("_pos")
    mine = reference.drop(columns=["_rank", "_pos"]).reset_index(drop=True)
    Y = np.zeros((len(mine), len(codes)), dtype=np.float32)
    for i, code_list in enumerate(mine.codes):
        for c in code_list:
            if c in index:
                Y[i, index[c]] = 1.0
    rest = frame.drop(index=reference.index)
    known = rest.assign(codes=rest.codes.map(lambda cs: {c for c in cs if c in index}))
    others = {other: group.set_index("key").codes for other, group in known.groupby("coder", sort=False)}
    if len(others) > 1:
        others[POOLED] = known.drop_duplicates("key").set_index("key").codes
    label = coder if coder is not None else (coders[0] if len(mine.coder.unique()) == 1 else "first coder of each unit")
    return CodedUnits(mine, Y, list(codes), label, others, dropped)


def split_units(n: int, train_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of training units: a seeded random fraction."""
    if not 0 <= train_fraction < 1:
        raise ValueError("train fraction must be in [0, 1)")
    order = np.random.default_rng(seed).permutation(n)
    mask = np.zeros(n, dtype=bool)
    mask[order[: round(train_fraction * n)]] = True
    return mask


def _codings(keys: Sequence[str], code_sets: Sequence[set[str]], coder: str) -> pd.DataFrame:
    rows = [(k, coder, c) for k, cs in zip(keys, code_sets, strict=True) for c in cs]
    rows += [(k, coder, None) for k, cs in zip(keys, code_sets, strict=True) if not cs]
    return pd.DataFrame(rows, columns=["unit", "coder", "code"])


def agreement_figures(
    keys: Sequence[str], reference: Sequence[set[str]], predicted: Sequence[set[str]], codes: Sequence[str]
) -> dict[str, float]:
    """Micro/macro F1 of predicted against reference, and mean per-code Cohen's kappa."""
    codings = pd.concat([_codings(keys, reference, "reference"), _codings(keys, predicted, "predicted")])
    prf = precision_recall_f1(codings, "predicted", "reference", codes=list(codes))
    kappas = []
    for code in codes:
        a = [code in s for s in reference]
        b = [code in s for s in predicted]
        if any(a) or any(b):
            kappas.append(cohen_kappa(a, b))
    kappas = [k for k in kappas if not math.isnan(k)]
    return {
        "micro_f1": prf.micro["f1"],
        "macro_f1": prf.macro["f1"],
        "micro_precision": prf.micro["precision"],
        "micro_recall": prf.micro["recall"],
        "mean_kappa": float(np.mean(kappas)) if kappas else math.nan,
    }


def ranking_figures(scores: np.ndarray, Y: np.ndarray) -> dict[str, float]:
    has = Y.sum(axis=1) > 0
    if not has.any():
        return {"top1_hit_rate": math.nan, "top5_recall": math.nan}
    order = np.argsort(-scores, axis=1, kind="stable")
    top1 = Y[np.arange(len(Y)), order[:, 0]][has]
    top5 = np.take_along_axis(Y, order[:, :5], axis=1).sum(axis=1)[has] / Y.sum(axis=1)[has]
    return {"top1_hit_rate": float(top1.mean()), "top5_recall": float(top5.mean())}


def _evaluate_one(
    data: CodedUnits, codebook_codes, X: np.ndarray, embed, method: str, fraction: float, seed: int
) -> tuple[dict, pd.DataFrame]:
    started = time.perf_counter()
    train = split_units(len(data.units), fraction, seed)
    test = ~train
    matcher = make_matcher(method, random_state=seed)
    matcher.fit(codebook_codes, embed, X[train] if train.any() else None, data.Y[train] if train.any() else None, X)
    scores = matcher.predict_proba(X)
    keys = data.units.key.tolist()
    gold = [{data.codes[j] for j in np.flatnonzero(row)} for row in data.Y]
    predicted = [{data.codes[j] for j in np.flatnonzero(row >= matcher.threshold)} for row in scores]
    test_idx = np.flatnonzero(test)
    figures = {
        "method": method,
        "train_fraction": fraction,
        "n_train": int(train.sum()),
        "n_test": int(test.sum()),
        "threshold": matcher.threshold,
        **ranking_figures(scores[test], data.Y[test]),
        **agreement_figures(
            [keys[i] for i in test_idx], [gold[i] for i in test_idx], [predicted[i] for i in test_idx], data.codes
        ),
    }
    # Human ceiling: on units another coder also coded, people against people and the machine
    # against the same people, test units only.
    ceiling = {}
    for other, theirs in data.others.items():
        shared = [i for i in test_idx if keys[i] in theirs.index]
        if len(shared) < 5:
            continue
        human = agreement_figures(
            [keys[i] for i in shared], [gold[i] for i in shared], [theirs[keys[i]] for i in shared], data.codes
        )
        machine = agreement_figures(
            [keys[i] for i in shared], [gold[i] for i in shared], [predicted[i] for i in shared], data.codes
        )
        ceiling[other] = {"n_units": len(shared), "human": human, "machine": machine}
    if ceiling:
        figures["human_ceiling"] = ceiling
    figures["seconds"] = round(time.perf_counter() - started, 3)
    rows = []
    order = np.argsort(-scores, axis=1, kind="stable")[:, :TOP_N]
    for i, unit in enumerate(data.units.itertuples(index=False)):
        split = "train" if train[i] else "test"
        for rank, j in enumerate(order[i], start=1):
            rows.append((unit.unit_id, unit.document, data.codes[j], round(float(scores[i, j]), 6), rank, split))
    predictions = pd.DataFrame(rows, columns=["unit_id", "document", "code", "score", "rank", "split"])
    return figures, predictions


def evaluate(
    codebook: str | Path,
    coded: str | Path,
    out: str | Path,
    train_fraction: float = 0.0,
    seed: int = 0,
    coder: str | None = None,
    methods: Sequence[str] = ("semisupervised",),
    learning_curve: Sequence[float] | None = None,
    model: str = DEFAULT_MODEL,
    progress: bool = False,
) -> dict:
    """Run the evaluation; writes predictions.csv and metrics.json (and a learning curve) to ``out``."""
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cb = load_codebook(codebook)
    leaves = cb.leaves
    data = load_coded_units(coded, [c.code for c in leaves], coder)
    embedder = Embedder(model, con=open_cache(out / "embeddings.sqlite"), progress=progress)
    X = embedder.encode(data.units.text.fillna("").astype(str).tolist())

    fractions = list(learning_curve) if learning_curve else [train_fraction]
    if train_fraction not in fractions:
        fractions.insert(0, train_fraction)
    results = []
    primary_predictions = None
    for method in methods:
        for fraction in fractions:
            figures, predictions = _evaluate_one(data, leaves, X, embedder.encode, method, fraction, seed)
            results.append(figures)
            if fraction == train_fraction:
                name = "predictions.csv" if method == methods[0] else f"predictions_{method}.csv"
                _write_predictions(predictions, out / name)
                if method == methods[0]:
                    primary_predictions = figures
    metrics = {
        **primary_predictions,
        "seed": seed,
        "coder": data.coder,
        "model": embedder.model_id,
        "n_units": len(data.units),
        "n_codes": len(data.codes),
        "codes_not_in_codebook": data.dropped_codes,
        "seconds": round(time.perf_counter() - started, 3),
    }
    if len(methods) > 1:
        metrics["methods"] = [r for r in results if r["train_fraction"] == train_fraction]
    if learning_curve:
        metrics["learning_curve"] = [r for r in results]
        curve = pd.DataFrame([{k: v for k, v in r.items() if k != "human_ceiling"} for r in results])
        curve.to_csv(out / "learning_curve.csv", index=False)
        plot_learning_curve(results, out / "learning_curve.png")
    (out / "metrics.json").write_text(json.dumps(_clean(metrics), indent=2))
    return metrics


def _write_predictions(predictions: pd.DataFrame, path: Path) -> None:
    unique = predictions.groupby("unit_id").document.nunique().le(1).all()
    cols = ["unit_id", "code", "score", "rank", "split"]
    if not unique:  # ids numbered per document need the document to be unambiguous
        cols.insert(1, "document")
    predictions[cols].to_csv(path, index=False)


def _clean(obj):
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, np.floating | np.integer):
        return obj.item()
    return obj


def plot_learning_curve(results: list[dict], path: Path) -> None:
    """Agreement against the number of hand-coded units, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    frame = pd.DataFrame(results)
    for method, group in frame.groupby("method", sort=False):
        group = group.sort_values("n_train")
        axes[0].plot(group.n_train, group.mean_kappa, marker="o", label=method)
        axes[1].plot(group.n_train, group.micro_f1, marker="o", label=method)
    ceilings = [
        (c["human"]["mean_kappa"], c["human"]["micro_f1"])
        for r in results
        for name, c in (r.get("human_ceiling") or {}).items()
        if name == POOLED or POOLED not in (r.get("human_ceiling") or {})
    ]
    if ceilings:
        kappa, f1 = np.nanmean([c[0] for c in ceilings]), np.nanmean([c[1] for c in ceilings])
        axes[0].axhline(kappa, color="grey", linestyle="--", label="human-human")
        axes[1].axhline(f1, color="grey", linestyle="--", label="human-human")
    axes[0].set_ylabel("mean per-code Cohen's kappa")
    axes[1].set_ylabel("micro F1")
    for ax in axes:
        ax.set_xlabel("hand-coded units (train)")
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    axes[0].legend()
    fig.suptitle("Machine-human agreement on held-out units")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
