"""Evaluate the matcher on data people already coded: how good are suggestions, and how much
must be hand-coded before the machine agrees with people as well as people agree with each other?

A random fraction of the units counts as confirmed by a person; the machine suggests codes for
the rest with the same matchers as ``suggest``. Everything is seeded: the same command gives the
same figures.
"""

from __future__ import annotations

import itertools
import json
import math
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .agreement import cohen_kappa, precision_recall_f1
from .codebook import Codebook, load_codebook
from .embed import DEFAULT_MODEL, Embedder
from .exchange.coded import UNIT_CONTEXT_COLUMNS, read_coded_units_csv
from .match import make_matcher, resolve_methods
from .match.active import most_informative
from .match.context import ContextFeatures, context_name, parse_context
from .store.embeddings import open_cache
from .tables import json_safe, write_csv

TOP_N = 10


@dataclass
class CodedUnits:
    """The reference coding of units as a binary matrix, plus other coders' for the human ceiling."""

    units: pd.DataFrame  # key, unit_id, document, text, codes (list), coder: the reference row per unit
    Y: np.ndarray  # units x codes, 0/1
    codes: list[str]
    coder: str  # a label for the reference: a name, or how it was chosen per unit
    others: dict[str, pd.Series]  # other coder -> key -> set of codes, on units where they are not the reference
    dropped_codes: dict[str, int]  # code not in the codebook -> rows of the file that carry it
    reference_coders: dict[str, int] = field(default_factory=dict)  # coder -> units they are the reference of
    left_out: dict = field(default_factory=dict)  # units whose every code is unknown: n_units, codes
    matched: dict[str, str] = field(default_factory=dict)  # spelling in the file -> codebook code
    non_leaf: list[str] = field(default_factory=list)  # codebook groups coders applied: kept as codes
    notes: list[str] = field(default_factory=list)  # what was repaired while reading
    n_units_in_file: int = 0


POOLED = "any other coder"
MISSING_COLUMN_DEFAULTS = {"document": "(all units)", "coder": "(the coder)"}
FIRST_CODER = "first coder of each unit"


def _norm(code: str) -> str:
    return " ".join(unicodedata.normalize("NFC", str(code)).split())


def code_resolver(names: Sequence[str]) -> Callable[[str], str | None]:
    """Map a code as written in a coded file to a codebook code, or None when it is not one.

    Exact after NFC normalisation and whitespace stripping (runs of spaces count as one); failing
    that, case-insensitive, but only when no two codebook codes differ in case alone.
    """
    exact = {_norm(n): n for n in names}
    folded: dict[str, list[str]] = {}
    for n in names:
        folded.setdefault(_norm(n).casefold(), []).append(n)

    def resolve(raw: str) -> str | None:
        key = _norm(raw)
        if key in exact:
            return exact[key]
        candidates = folded.get(key.casefold(), [])
        return candidates[0] if len(candidates) == 1 else None

    return resolve


def load_coded_units(
    path: str | Path,
    codes: Sequence[str],
    coder: str | None = None,
    *,
    groups: Sequence[str] = (),
    only_coder: bool = False,
) -> CodedUnits:
    """Read long-format coded units and pick each unit's reference coding.

    ``codes`` are the codes to evaluate (the codebook's leaves); ``groups`` the codebook's other
    codes, which join them when coders applied them. Where a unit has several coders, ``coder`` is
    its reference when they coded it, otherwise the unit's first coder in the file, so units coded
    by one person are kept; with ``only_coder`` only units ``coder`` coded are kept. A unit whose
    reference codes are all unknown to the codebook is left out (counted in ``left_out``), not
    read as "no code applies".
    """
    if only_coder and coder is None:
        raise ValueError("--only-coder needs --coder NAME: whose units to keep")
    notes: list[str] = []
    # A one-coder file, or one without documents, is still a coding worth evaluating.
    frame = read_coded_units_csv(path, notes=notes, defaults=MISSING_COLUMN_DEFAULTS)
    if frame.empty:
        raise ValueError(f"{path}: no coded units")
    coders = list(dict.fromkeys(frame.coder))
    if coder is not None and coder not in coders:
        raise ValueError(f"{path}: no coder {coder!r} (coders: {', '.join(coders)})")
    frame = frame.assign(key=frame.document.astype(str) + "\x1f" + frame.unit_id.astype(str))
    n_in_file = frame.key.nunique()

    resolve = code_resolver([*codes, *groups])
    dropped: dict[str, int] = {}
    matched: dict[str, str] = {}
    known_lists = []
    for code_list in frame.codes:
        known = []
        for raw in code_list:
            name = resolve(raw)
            if name is None:
                dropped[raw] = dropped.get(raw, 0) + 1
            else:
                if name != raw:
                    matched[raw] = name
                known.append(name)
        known_lists.append(list(dict.fromkeys(known)))
    # Rows that had codes, none of them in the codebook, say nothing about the codebook's codes.
    unknown_only = [bool(raw) and not known for raw, known in zip(frame.codes, known_lists, strict=True)]
    frame = frame.assign(known=known_lists, unknown_only=unknown_only)
    applied = {c for k in frame.known for c in k}
    non_leaf = [g for g in groups if g in applied and g not in set(codes)]
    targets = list(codes) + non_leaf
    index = {c: j for j, c in enumerate(targets)}

    if only_coder:
        frame = frame[frame.key.isin(set(frame.key[frame.coder == coder]))]
    preferred = frame.coder == coder if coder is not None else pd.Series(False, index=frame.index)
    # the reference row of each unit: the preferred coder's, else the first in file order
    order = frame.assign(_rank=np.where(preferred, 0, 1), _pos=np.arange(len(frame)))
    reference = order.sort_values(["_rank", "_pos"]).drop_duplicates("key").sort_values("_pos")
    gone = reference[reference.unknown_only]
    left_out_codes: dict[str, int] = {}
    for code_list in gone.codes:
        for c in code_list:
            left_out_codes[c] = left_out_codes.get(c, 0) + 1
    reference = reference[~reference.unknown_only]
    mine = reference.drop(columns=["_rank", "_pos", "known", "unknown_only"]).reset_index(drop=True)
    mine["codes"] = reference.known.tolist()
    Y = np.zeros((len(mine), len(targets)), dtype=np.float32)
    for i, code_list in enumerate(mine.codes):
        for c in code_list:
            Y[i, index[c]] = 1.0
    rest = frame.drop(index=reference.index.union(gone.index))
    rest = rest[~rest.unknown_only]
    known = rest.assign(codes=rest.known.map(set))
    others = {other: group.set_index("key").codes for other, group in known.groupby("coder", sort=False)}
    if len(others) > 1:
        others[POOLED] = known.drop_duplicates("key").set_index("key").codes
    counts = Counter(mine.coder)
    reference_coders = {str(c): counts[c] for c in dict.fromkeys(mine.coder)}
    if len(reference_coders) == 1:
        label = next(iter(reference_coders))
    elif coder is not None:
        label = f"{coder} where they coded the unit, otherwise the unit's first coder"
    else:
        label = FIRST_CODER
    left_out = {"n_units": len(gone), "codes": left_out_codes}
    return CodedUnits(mine, Y, targets, label, others, dropped, reference_coders, left_out, matched, non_leaf,
                      notes, n_in_file)


def load_codebook_and_units(
    codebook: str | Path, coded: str | Path, coder: str | None = None, only_coder: bool = False
) -> tuple[Codebook, CodedUnits]:
    """A codebook and the coded units scored against it: its leaves are the codes, and the
    codebook's groups join them where coders applied them (see :func:`load_coded_units`)."""
    cb = load_codebook(codebook)
    leaves = [c.code for c in cb.leaves]
    groups = [c.code for c in cb.codes if c.code not in set(leaves)]
    return cb, load_coded_units(coded, leaves, coder, groups=groups, only_coder=only_coder)


def split_units(n: int, train_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of training units: a seeded random fraction (at least one unit is held out)."""
    if not 0 <= train_fraction < 1:
        raise ValueError("train fraction must be in [0, 1)")
    n_train = round(train_fraction * n)
    if n_train >= n:
        raise ValueError(
            f"a train fraction of {train_fraction} of {n} units leaves no held-out unit to score;"
            " use a smaller fraction or more units"
        )
    order = np.random.default_rng(seed).permutation(n)
    mask = np.zeros(n, dtype=bool)
    mask[order[:n_train]] = True
    return mask


SPLITS = ("unit", "document")  # what is held out: random units, or whole documents
# What the machine learns from the hand-coded units: every code of each unit (a coder coded it
# whole), or only a simulated reviewer's decisions on the first REVIEWED suggestions (accept the
# right ones, reject the others, add nothing) as partial labels, or those same decisions with
# every undecided code counted as absent (how `suggest` learned before decisions were partial).
TRAIN_LABELS = ("full", "decisions", "decisions-as-full")
REVIEWED = 5


def split_documents(documents: Sequence[str], train_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of training units that holds out whole documents: documents are taken in a
    seeded random order until their units reach ``train_fraction`` (people code transcript by
    transcript, and units of one transcript resemble each other, so a unit split flatters)."""
    if not 0 <= train_fraction < 1:
        raise ValueError("train fraction must be in [0, 1)")
    docs = np.asarray([str(d) for d in documents])
    names, sizes = np.unique(docs, return_counts=True)
    if train_fraction > 0 and len(names) < 2:
        raise ValueError("a document split needs at least two documents (the file has one); use --split unit")
    order = np.random.default_rng(seed).permutation(len(names))
    target, taken, chosen = train_fraction * len(docs), 0, []
    for i in order:
        if taken >= target or (taken and abs(taken + sizes[i] - target) > abs(taken - target)):
            break
        chosen.append(names[i])
        taken += sizes[i]
    if len(chosen) == len(names):
        chosen.pop()  # keep at least one document to score
    return np.isin(docs, chosen)


def make_split(data: CodedUnits, train_fraction: float, seed: int, split: str = "unit") -> np.ndarray:
    """Training mask for ``split``: ``unit`` (random units) or ``document`` (whole documents)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if split == "document":
        return split_documents(data.units.document.astype(str).tolist(), train_fraction, seed)
    return split_units(len(data.units), train_fraction, seed)


def calibration(scores: np.ndarray, Y: np.ndarray, bins: int = 10) -> dict:
    """How far scores are from the share of (unit, code) pairs that really have the code.

    Expected calibration error over equal-width score bins: sum over bins of (pairs in bin /
    all pairs) x |share coded - mean score|. A score of 0.8 on a calibrated matcher is right
    about 80% of the time. Also the Brier score, and the bins themselves for a reliability plot.
    """
    p, y = np.asarray(scores, dtype=float).ravel(), np.asarray(Y, dtype=float).ravel()
    if not len(p):
        return {"ece": math.nan, "brier": math.nan, "bins": []}
    which = np.minimum((p * bins).astype(int), bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        if not n:
            continue
        share, mean = float(y[inside].mean()), float(p[inside].mean())
        ece += n / len(p) * abs(share - mean)
        table.append({"low": b / bins, "high": (b + 1) / bins, "n": n, "mean_score": mean, "share_coded": share})
    return {"ece": float(ece), "brier": float(np.mean((p - y) ** 2)), "bins": table}


#: held-out units with a code before its own calibration is reported ("per code where data allows")
MIN_CODE_POSITIVES = 30


def per_code_calibration(scores: np.ndarray, Y: np.ndarray, codes: Sequence[str],
                         min_positives: int = MIN_CODE_POSITIVES) -> dict[str, dict]:
    """ECE and Brier per code, for codes with at least ``min_positives`` held-out units."""
    out = {}
    for j, code in enumerate(codes):
        if Y[:, j].sum() >= min_positives:
            figures = calibration(scores[:, j], Y[:, j])
            out[code] = {"n_positive": int(Y[:, j].sum()), "ece": figures["ece"], "brier": figures["brier"]}
    return out


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


def simulated_decisions(scores: np.ndarray, Y: np.ndarray, k: int = REVIEWED, as_full: bool = False) -> np.ndarray:
    """Labels from a simulated reviewer who decides each unit's ``k`` best suggestions (by
    ``scores``) against the reference ``Y``: 1 accepted, 0 rejected, NaN not decided (or 0
    with ``as_full``)."""
    out = np.full(Y.shape, 0.0 if as_full else np.nan, dtype=np.float32)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    rows = np.arange(len(Y))[:, None]
    out[rows, top] = Y[rows, top]
    return out


def _evaluate_one(
    data: CodedUnits, codebook_codes, X: np.ndarray, embed, method: str, fraction: float, seed: int,
    split: str = "unit", train_labels: str = "full", context: ContextFeatures | None = None,
) -> tuple[dict, pd.DataFrame]:
    started = time.perf_counter()
    train = make_split(data, fraction, seed, split)
    test = ~train
    Y_train = data.Y[train]
    if train_labels != "full" and train.any():
        # the reviewer sees the codebook-only suggestions, as on a project's first run
        zero_shot = make_matcher("zeroshot", random_state=seed).fit(codebook_codes, embed, None, None, X)
        Y_train = simulated_decisions(zero_shot.predict_proba(X[train]), Y_train,
                                      as_full=train_labels == "decisions-as-full")
    matcher = make_matcher(method, random_state=seed)
    matcher.fit(codebook_codes, embed, X[train] if train.any() else None, Y_train if train.any() else None, X)
    scores = matcher.predict_proba(X)
    if context is not None:
        known = np.full(data.Y.shape, np.nan, dtype=np.float32)
        known[train] = Y_train
        scores = context.smooth(scores, data.units, known)
    keys = data.units.key.tolist()
    gold = [{data.codes[j] for j in np.flatnonzero(row)} for row in data.Y]
    predicted = [{data.codes[j] for j in np.flatnonzero(row >= matcher.threshold)} for row in scores]
    test_idx = np.flatnonzero(test)
    figures = {
        "method": method,
        "context": context_name(context) if context is not None else "none",
        "split": split,
        "train_labels": train_labels,
        "train_fraction": fraction,
        "n_train": int(train.sum()),
        "n_test": int(test.sum()),
        "threshold": matcher.threshold,
        **ranking_figures(scores[test], data.Y[test]),
        "calibration": calibration(scores[test], data.Y[test]),
        "calibration_per_code": per_code_calibration(scores[test], data.Y[test], data.codes),
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


STRATEGIES = ("random", "active")  # how a simulated reviewer picks the next units to code
STRATEGY_POOL = 0.6  # share of units the reviewer may pick from; the rest are held out for scoring
STRATEGY_STEPS = 6  # rounds of coding up to the budget


def strategy_curve(
    data: CodedUnits, codebook_codes, X: np.ndarray, embed, method: str, budget: float, seed: int,
    split: str = "unit", strategies: Sequence[str] = STRATEGIES, steps: int = STRATEGY_STEPS,
    progress: Callable[[str], None] | None = None, dim: int | None = None, context: ContextFeatures | None = None,
) -> dict:
    """Simulate a reviewer who codes ``budget`` of the units in ``steps`` rounds, choosing each
    round's units at random or by :func:`~nlp_theming.match.active.most_informative` (the matcher
    refitted on what is coded so far), and score the held-out units after every round.

    Returns the curve per strategy and, for ``active``, how many coded units it needed to reach
    the agreement (mean kappa) random reached with the whole budget."""
    for name in strategies:
        if name not in STRATEGIES:
            raise ValueError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    pool_mask = make_split(data, max(STRATEGY_POOL, budget), seed, split)
    pool, test = np.flatnonzero(pool_mask), np.flatnonzero(~pool_mask)
    total = min(len(pool), max(steps, round(budget * len(data.units))))
    sizes = [round(total * (k + 1) / steps) for k in range(steps)]
    keys = data.units.key.tolist()
    gold = [{data.codes[j] for j in np.flatnonzero(row)} for row in data.Y]
    dim = dim or X.shape[1]  # the text embedding's width, before any context columns
    curves: dict[str, list[dict]] = {}
    for name in strategies:
        rng = np.random.default_rng(seed)
        order = list(rng.permutation(pool)) if name == "random" else []
        coded: list[int] = []
        matcher = make_matcher(method, random_state=seed).fit(codebook_codes, embed, None, None, X)
        raw = matcher.predict_proba(X) if name != "random" else None  # what the next pick reads
        points = []
        for size in sizes:
            want = size - len(coded)
            if name == "random":
                coded += [int(i) for i in order[len(coded):size]]
            else:
                left = np.setdiff1d(pool, coded)
                pick = most_informative(raw[left], X[left], want, dim, seed, matcher.threshold)
                coded += [int(i) for i in left[pick]]
            rows = np.asarray(coded)
            matcher = make_matcher(method, random_state=seed).fit(codebook_codes, embed, X[rows], data.Y[rows], X)
            scores = raw = matcher.predict_proba(X)
            if context is not None:
                known = np.full(data.Y.shape, np.nan, dtype=np.float32)
                known[rows] = data.Y[rows]
                scores = context.smooth(scores, data.units, known)
            scores = scores[test]
            predicted = [{data.codes[j] for j in np.flatnonzero(row >= matcher.threshold)} for row in scores]
            figures = agreement_figures([keys[i] for i in test], [gold[i] for i in test], predicted, data.codes)
            points.append({"strategy": name, "n_coded": len(coded), **figures,
                           **ranking_figures(scores, data.Y[test])})
            if progress:
                progress(f"{name}: {len(coded)} coded, kappa {figures['mean_kappa']:.3f}")
        curves[name] = points
    out: dict = {"method": method, "split": split, "budget": budget, "n_pool": len(pool), "n_test": len(test),
                 "curves": [p for c in curves.values() for p in c]}
    if "random" in curves and "active" in curves:
        goal = curves["random"][-1]["mean_kappa"]
        reached = [p["n_coded"] for p in curves["active"] if p["mean_kappa"] >= goal]
        out["random_kappa_at_budget"] = goal
        out["active_units_to_match"] = reached[0] if reached else None
        out["active_share_of_random"] = reached[0] / curves["random"][-1]["n_coded"] if reached else None
    return out


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
    only_coder: bool = False,
    splits: Sequence[str] = ("unit",),
    train_labels: Sequence[str] = ("full",),
    contexts: Sequence[str | ContextFeatures] = ("all",),
    strategies: Sequence[str] = (),
    encoder: str = "auto",
) -> dict:
    """Run the evaluation; writes predictions.csv, metrics.json and reliability.png (and a
    learning curve) to ``out``.

    ``coder`` is the reference on units several people coded (see :func:`load_coded_units`);
    ``only_coder`` keeps only the units that coder coded, for a single reference throughout;
    ``splits``: ``unit`` (random units held out), ``document`` (whole documents), or both;
    ``train_labels``: what is learnt from the hand-coded units (:data:`TRAIN_LABELS`);
    ``contexts``: what the matcher sees of each unit's place in its interview
    (:func:`nlp_theming.match.context.parse_context`: ``all``, ``none``, or parts such as
    ``neighbours,role``); several are compared side by side, the first is the primary figure;
    ``strategies``: simulate a reviewer choosing units at random and/or actively
    (:func:`strategy_curve`, with ``train_fraction`` as the budget; writes strategies.csv/.png);
    ``encoder``: ``torch``, ``onnx`` or ``auto`` (see :class:`~nlp_theming.embed.Embedder`).
    """
    started = time.perf_counter()
    methods = resolve_methods(methods)
    cb, data = load_codebook_and_units(codebook, coded, coder, only_coder)
    _check_data(data, coded, cb)
    fractions = list(learning_curve) if learning_curve else [train_fraction]
    if train_fraction not in fractions:
        fractions.insert(0, train_fraction)
    splits = list(dict.fromkeys(splits)) or ["unit"]
    train_labels = list(dict.fromkeys(train_labels)) or ["full"]
    for labels in train_labels:
        if labels not in TRAIN_LABELS:
            raise ValueError(f"unknown train labels {labels!r}; choose from {', '.join(TRAIN_LABELS)}")
    for split in splits:  # fail before the slow part, not halfway through a learning curve
        for fraction in fractions:
            make_split(data, fraction, seed, split)
    targets = [cb[c] for c in data.codes]
    features = {}
    for spec in contexts or ["all"]:
        parsed = parse_context(spec)
        features.setdefault(context_name(parsed), parsed)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    embedder = Embedder(model, con=open_cache(out / "embeddings.sqlite"), progress=progress, encoder=encoder)
    text_vectors = embedder.encode(data.units.text.fillna("").astype(str).tolist())
    matrices = {name: c.transform(text_vectors, data.units, embedder.encode) for name, c in features.items()}
    first_context = next(iter(matrices))

    results = []
    primary_predictions = None
    for context, labels, split, method, fraction in itertools.product(
        matrices, train_labels, splits, methods, fractions
    ):
        figures, predictions = _evaluate_one(data, targets, matrices[context], embedder.encode, method, fraction,
                                             seed, split, labels, features[context])
        results.append(figures)
        if fraction == train_fraction and split == splits[0] and labels == train_labels[0] and context == first_context:
            name = "predictions.csv" if method == methods[0] else f"predictions_{method}.csv"
            _write_predictions(predictions, out / name)
            if method == methods[0]:
                primary_predictions = figures
                plot_reliability(figures, out / "reliability.png")
    metrics = {
        **primary_predictions,
        "seed": seed,
        "coder": data.coder,
        "reference_coders": data.reference_coders,
        "only_coder": only_coder,
        "model": embedder.model_id,
        "encoder": embedder.mode,
        "n_units": len(data.units),
        "n_units_in_file": data.n_units_in_file,
        "n_codes": len(data.codes),
        "codes_not_in_codebook": data.dropped_codes,
        "units_left_out": data.left_out,
        "codes_matched_loosely": data.matched,
        "non_leaf_codes_kept": data.non_leaf,
        "notes": data.notes,
        "context_columns": [c for c in UNIT_CONTEXT_COLUMNS if c in data.units],
        "seconds": round(time.perf_counter() - started, 3),
    }
    if len(methods) > 1 or len(splits) > 1 or len(train_labels) > 1 or len(matrices) > 1:
        metrics["methods"] = [r for r in results if r["train_fraction"] == train_fraction]
    if strategies:
        curve = strategy_curve(data, targets, matrices[first_context], embedder.encode, methods[0],
                               train_fraction or 0.3, seed, splits[0], list(dict.fromkeys(strategies)),
                               progress=print if progress else None, dim=text_vectors.shape[1],
                               context=features[first_context])
        metrics["strategies"] = curve
        write_csv(pd.DataFrame(curve["curves"]), out / "strategies.csv")
        plot_strategies(curve, out / "strategies.png")
    if learning_curve:
        metrics["learning_curve"] = [r for r in results]
        curve = pd.DataFrame([{**{k: v for k, v in r.items() if k not in ("human_ceiling", "calibration")},
                               "ece": r["calibration"]["ece"], "brier": r["calibration"]["brier"]}
                              for r in results])
        write_csv(curve, out / "learning_curve.csv")
        plot_learning_curve(results, out / "learning_curve.png")
    (out / "metrics.json").write_text(json.dumps(json_safe(metrics), indent=2))
    return metrics


def _check_data(data: CodedUnits, coded: str | Path, cb: Codebook) -> None:
    """Clear errors for data that cannot give a figure, before the model is loaded."""
    left = data.left_out.get("n_units", 0)
    why = f" ({left} left out because none of their codes is in the codebook)" if left else ""
    if len(data.units) < 2:
        raise ValueError(f"{coded}: {len(data.units)} unit(s) to evaluate{why}; at least 2 are needed")
    if not data.Y.any():
        unknown = sorted(data.dropped_codes, key=lambda c: -data.dropped_codes[c])[:5]
        hint = (
            f"; codes in the file such as {', '.join(map(repr, unknown))} are not in the codebook"
            f" (it has {', '.join(repr(c.code) for c in cb.leaves[:5])}{', ...' if len(cb.leaves) > 5 else ''})"
            if unknown
            else ""
        )
        raise ValueError(f"{coded}: no unit has a code from the codebook{hint}")


def _write_predictions(predictions: pd.DataFrame, path: Path) -> None:
    unique = predictions.groupby("unit_id").document.nunique().le(1).all()
    cols = ["unit_id", "code", "score", "rank", "split"]
    if not unique:  # ids numbered per document need the document to be unambiguous
        cols.insert(1, "document")
    write_csv(predictions[cols], path)


def plot_learning_curve(results: list[dict], path: Path) -> None:
    """Agreement against the number of hand-coded units, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    frame = pd.DataFrame(results)
    keys = [k for k in ("method", "context", "train_labels", "split") if k in frame]
    varying = [k for k in keys if frame[k].nunique() > 1] or ["method"]
    for values, group in frame.groupby(keys, sort=False):
        named = dict(zip(keys, values if isinstance(values, tuple) else (values,), strict=True))
        group = group.sort_values("n_train")
        label = ", ".join(str(named[k]) for k in varying)
        style = "--" if named.get("split") == "document" or named.get("train_labels", "full") != "full" else "-"
        axes[0].plot(group.n_train, group.mean_kappa, marker="o", linestyle=style, label=label)
        axes[1].plot(group.n_train, group.micro_f1, marker="o", linestyle=style, label=label)
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


def plot_strategies(curve: dict, path: Path) -> None:
    """Agreement on held-out units against units coded, one line per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    frame = pd.DataFrame(curve["curves"])
    for name, group in frame.groupby("strategy", sort=False):
        ax.plot(group.n_coded, group.mean_kappa, marker="o", label=name)
    if curve.get("random_kappa_at_budget") is not None:
        ax.axhline(curve["random_kappa_at_budget"], color="grey", linestyle="--", linewidth=1,
                   label="random at the full budget")
    ax.set_xlabel("units coded")
    ax.set_ylabel("mean per-code Cohen's kappa (held out)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"Which units to code next ({curve['method']}, {curve['split']} split)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_reliability(figures: dict, path: Path) -> None:
    """Reliability diagram: per score bin, the share of (unit, code) pairs that have the code
    against the mean score, with how many pairs each bin holds; the diagonal is perfect calibration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = figures["calibration"]["bins"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="calibrated")
    if bins:
        top.plot([b["mean_score"] for b in bins], [b["share_coded"] for b in bins], marker="o",
                 label=f"{figures['method']} (ECE {figures['calibration']['ece']:.3f})")
        bottom.bar([(b["low"] + b["high"]) / 2 for b in bins], [b["n"] for b in bins], width=0.09, color="#7fa7cc")
    bottom.set_yscale("log")
    top.set_ylabel("share of pairs with the code")
    bottom.set_ylabel("pairs")
    bottom.set_xlabel("score")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.grid(alpha=0.3)
    top.legend(loc="upper left")
    top.set_title(f"Calibration on held-out units\n({figures['n_test']} units, {figures['split']} split,"
                  f" {figures['train_fraction']:.0%} hand-coded)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
