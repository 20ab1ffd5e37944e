"""Discovery, measured: remove codes from a real codebook and see whether the candidate new
themes find them again.

``suggest`` clusters the segments that fit no code into proposals (:func:`discover_themes`).
Whether those proposals are worth a reviewer's time can be measured on data people already
coded: hold some codes out of the codebook, run the matcher and the discovery step as
``suggest`` does with the codes that are left, and for each removed code take the proposal that
best matches the units people coded with it. Its precision (how much of the proposal is that
code), recall (how much of the code is in the proposal) and F1 are the figures; a chance
baseline gives random proposals of the same sizes drawn from the same unmatched units.

Everything is seeded; several held-out sets (``repeats``) give a fair mean: the codes with
enough units are shuffled and taken ``hold_out`` at a time, so each is held out about equally
often.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .codebook import Code
from .embed import DEFAULT_MODEL, Embedder
from .evaluate import load_codebook_and_units, split_units
from .match import discover_themes, make_matcher
from .match.themes import DEFAULT_REDUCTION, DEFAULT_STRATEGY, STRATEGIES, Proposal
from .store.embeddings import open_cache
from .tables import json_safe, write_csv

BASELINE_DRAWS = 20


@dataclass
class Recovery:
    """How well the best proposal recovers one removed code."""

    code: str
    n_units: int  # units people coded with it
    reachable: float  # share of them the matcher left unmatched (only those can join a proposal)
    proposal: int  # index of the best proposal, -1 when there is none
    keywords: str
    size: int
    precision: float
    recall: float
    f1: float
    baseline_f1: float  # mean best F1 of random proposals of the same sizes from the same unmatched units


def _prf(members: np.ndarray, gold: np.ndarray) -> tuple[float, float, float]:
    tp = float(gold[members].sum())
    precision = tp / len(members) if len(members) else 0.0
    recall = tp / gold.sum() if gold.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def best_proposal(proposals: Sequence[Proposal], gold: np.ndarray) -> tuple[int, float, float, float]:
    """(index, precision, recall, F1) of the proposal with the best F1 against ``gold`` (a boolean
    mask over units); ties go to the earlier proposal; (-1, 0, 0, 0) when there is none."""
    best = (-1, 0.0, 0.0, 0.0)
    for i, p in enumerate(proposals):
        prf = _prf(np.asarray(p.members, dtype=int), gold)
        if prf[2] > best[3]:
            best = (i, *prf)
    return best


def chance_f1(sizes: Sequence[int], pool: np.ndarray, gold: np.ndarray, rng: np.random.Generator,
              draws: int = BASELINE_DRAWS) -> float:
    """Mean best F1 of random, disjoint proposals of ``sizes`` drawn from the units ``pool``."""
    if not len(sizes) or sum(sizes) > len(pool):
        return 0.0
    bounds = np.cumsum([0, *sizes])
    total = 0.0
    for _ in range(draws):
        order = rng.permutation(pool)
        total += max(_prf(order[a:b], gold)[2] for a, b in itertools.pairwise(bounds))
    return total / draws


def held_out_sets(codes: Sequence[str], hold_out: int, repeats: int, seed: int) -> list[list[str]]:
    """``repeats`` sets of ``hold_out`` codes: shuffled, taken in turn, reshuffled when used up,
    so every code is held out about equally often (a set never repeats a code)."""
    if hold_out < 1 or hold_out > len(codes):
        raise ValueError(f"cannot hold out {hold_out} of {len(codes)} eligible codes")
    rng = np.random.default_rng(seed)
    queue: list[str] = []
    sets = []
    for _ in range(repeats):
        chosen: list[str] = []
        while len(chosen) < hold_out:
            if not queue:
                queue = [codes[i] for i in rng.permutation(len(codes))]
            code = queue.pop(0)
            if code not in chosen:
                chosen.append(code)
        sets.append(chosen)
    return sets


def discovery_run(
    texts: list[str],
    X: np.ndarray,
    Y: np.ndarray,
    codes: list[Code],
    held: Sequence[str],
    embed: Callable[[Sequence[str]], np.ndarray],
    *,
    seed: int = 0,
    train_fraction: float = 0.0,
    method: str = "semisupervised",
    strategy: str = DEFAULT_STRATEGY,
    min_topic_size: int | None = None,
    reduction: str = DEFAULT_REDUCTION,
) -> tuple[list[Recovery], dict]:
    """One held-out set: the matcher and discovery as ``suggest`` runs them with the codes that are
    left (people's coding of a seeded ``train_fraction`` of the units, restricted to those codes,
    counts as confirmed), then each removed code's best proposal."""
    names = [c.code for c in codes]
    keep = [j for j, c in enumerate(names) if c not in set(held)]
    kept_codes = [codes[j] for j in keep]
    train = split_units(len(texts), train_fraction, seed)
    Y_kept = Y[:, keep]
    matcher = make_matcher(method, random_state=seed)
    matcher.fit(kept_codes, embed, X[train] if train.any() else None, Y_kept[train] if train.any() else None, X)
    scores = matcher.predict_proba(X)
    is_matched = scores.max(axis=1) >= matcher.threshold
    # confirmed codes as BERTopic's semi-supervised labels, as suggest passes them
    y = np.full(len(texts), -1)
    for i in np.flatnonzero(train):
        on = np.flatnonzero(Y_kept[i])
        if len(on):
            y[i] = on[-1]
    result = discover_themes(texts, X, [c.code for c in kept_codes], matcher.prototypes_, float(is_matched.mean()),
                             embed, y, unmatched=~is_matched, random_state=seed, min_topic_size=min_topic_size,
                             strategy=strategy, reduction=reduction)
    rng = np.random.default_rng(seed)
    pool = np.flatnonzero(~is_matched)
    sizes = [len(p.members) for p in result.proposals]
    rows = []
    for code in held:
        gold = Y[:, names.index(code)] > 0
        i, precision, recall, f1 = best_proposal(result.proposals, gold)
        p = result.proposals[i] if i >= 0 else None
        rows.append(Recovery(
            code=code,
            n_units=int(gold.sum()),
            reachable=float((gold & ~is_matched).sum() / max(gold.sum(), 1)),
            proposal=i,
            keywords=", ".join(w for w, _ in p.keywords) if p else "",
            size=len(p.members) if p else 0,
            precision=precision,
            recall=recall,
            f1=f1,
            baseline_f1=chance_f1(sizes, pool, gold, rng),
        ))
    info = {
        "held_out": list(held),
        "n_unmatched": len(pool),
        "n_proposals": len(result.proposals),
        "units_in_proposals": int(sum(sizes)),
        "note": result.skipped,
        "proposals": [{"label": p.label, "size": len(p.members), "keywords": [w for w, _ in p.keywords],
                       "members": list(p.members)} for p in result.proposals],
    }
    return rows, info


def evaluate_discovery(
    codebook: str | Path,
    coded: str | Path,
    out: str | Path,
    hold_out: int = 3,
    repeats: int = 5,
    seed: int = 0,
    train_fraction: float = 0.0,
    method: str = "semisupervised",
    min_units: int = 20,
    strategy: str = DEFAULT_STRATEGY,
    min_topic_size: int | None = None,
    coder: str | None = None,
    model: str = DEFAULT_MODEL,
    progress: bool = False,
    reduction: str = DEFAULT_REDUCTION,
    encoder: str = "auto",
) -> dict:
    """Hold ``hold_out`` codes out of the codebook ``repeats`` times and measure how well the
    candidate new themes recover them; writes ``metrics.json``, ``recovery.csv`` (one row per
    held-out set and removed code: its best proposal's keywords, size, precision, recall, F1 and
    the chance F1), ``proposals.csv`` and ``proposal_members.csv`` (which units each proposal
    holds) to ``out``. Only codes with at least ``min_units`` coded units
    are held out. ``strategy``, ``min_topic_size`` and ``reduction`` are passed to
    :func:`discover_themes` (``min_topic_size`` None: relative to the data)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown discovery strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    started = time.perf_counter()
    cb, data = load_codebook_and_units(codebook, coded, coder)
    codes = cb.leaves
    if data.non_leaf:
        codes = codes + [cb[c] for c in data.non_leaf]
    counts = data.Y.sum(axis=0)
    eligible = [c for c, n in zip(data.codes, counts, strict=True) if n >= min_units]
    if hold_out >= len(data.codes):
        raise ValueError(f"holding out {hold_out} of {len(data.codes)} codes leaves no codebook")
    sets = held_out_sets(eligible, hold_out, repeats, seed)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    embedder = Embedder(model, con=open_cache(out / "embeddings.sqlite"), progress=progress, encoder=encoder)
    texts = data.units.text.fillna("").astype(str).tolist()
    X = embedder.encode(texts)

    rows, runs, proposals, members = [], [], [], []
    for r, held in enumerate(sets):
        run_started = time.perf_counter()
        recovered, info = discovery_run(texts, X, data.Y, codes, held, embedder.encode, seed=seed + r,
                                        train_fraction=train_fraction, method=method, strategy=strategy,
                                        min_topic_size=min_topic_size, reduction=reduction)
        info["repeat"] = r
        info["seconds"] = round(time.perf_counter() - run_started, 3)
        for i, p in enumerate(info.pop("proposals")):
            proposals.append({"repeat": r, "proposal": i, "label": p["label"], "size": p["size"],
                              "keywords": ", ".join(p["keywords"])})
            members.extend((r, i, data.units.document.iat[m], data.units.unit_id.iat[m]) for m in p["members"])
        runs.append(info)
        rows.extend({"repeat": r, **vars(x)} for x in recovered)
    table = pd.DataFrame(rows)
    write_csv(table, out / "recovery.csv")
    write_csv(pd.DataFrame(proposals, columns=["repeat", "proposal", "label", "size", "keywords"]),
              out / "proposals.csv")
    write_csv(pd.DataFrame(members, columns=["repeat", "proposal", "document", "unit_id"]),
              out / "proposal_members.csv")
    summary = {k: float(table[k].mean()) for k in ("precision", "recall", "f1", "baseline_f1", "reachable")}
    summary["share_f1_at_least_0.5"] = float((table.f1 >= 0.5).mean())
    summary["per_code"] = {c: {"held_out": len(g), "mean_f1": float(g.f1.mean()),
                               "mean_precision": float(g.precision.mean()), "mean_recall": float(g.recall.mean())}
                           for c, g in table.groupby("code", sort=True)}
    metrics = {
        "summary": summary,
        "hold_out": hold_out,
        "repeats": repeats,
        "seed": seed,
        "train_fraction": train_fraction,
        "method": method,
        "strategy": strategy,
        "min_topic_size": min_topic_size,
        "reduction": reduction,
        "min_units": min_units,
        "eligible_codes": eligible,
        "n_units": len(texts),
        "n_codes": len(data.codes),
        "model": embedder.model_id,
        "encoder": embedder.mode,
        "runs": runs,
        "seconds": round(time.perf_counter() - started, 3),
    }
    (out / "metrics.json").write_text(json.dumps(json_safe(metrics), indent=2))
    return metrics
