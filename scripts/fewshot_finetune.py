"""Few-shot contrastive fine-tuning of the sentence encoder on hand-coded units (SetFit-style),
measured with the evaluate harness: does a encoder tuned on the confirmed units beat the base
encoder under the same matcher?

A seeded share of the units counts as hand-coded, exactly as `nlp-theming evaluate` splits them.
Pairs of hand-coded units that share a code are positives (in-batch negatives with
MultipleNegativesRankingLoss, as SetFit's contrastive stage does), trained with a plain torch loop
for at most ``--seconds``. Every unit and the codebook are then embedded with the tuned encoder
and scored by the semi-supervised matcher with the interview's context; the base encoder's figures
come from the same split in the same run. The tuned model lives in a temporary folder and is
never written over the base model.

Usage: python scripts/fewshot_finetune.py CODEBOOK UNITS [--train-fraction 0.3] [--seconds 300]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time

import numpy as np

from nlp_theming.codebook import load_codebook
from nlp_theming.embed import DEFAULT_MODEL, Embedder, load_model, resolve_model
from nlp_theming.evaluate import _evaluate_one, load_coded_units, make_split
from nlp_theming.match.context import ContextFeatures
from nlp_theming.store.embeddings import open_cache


def pairs_from(texts: list[str], Y: np.ndarray, n_pairs: int, seed: int) -> list[tuple[str, str]]:
    """(anchor, positive) pairs of units sharing a code, balanced over codes."""
    rng = random.Random(seed)
    by_code = [np.flatnonzero(Y[:, j]).tolist() for j in range(Y.shape[1])]
    by_code = [rows for rows in by_code if len(rows) >= 2]
    out = []
    while by_code and len(out) < n_pairs:
        rows = rng.choice(by_code)
        a, b = rng.sample(rows, 2)
        out.append((texts[a], texts[b]))
    return out


def fine_tune(model, pairs: list[tuple[str, str]], seconds: float, batch_size: int = 16, seed: int = 0):
    import torch
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    torch.manual_seed(seed)
    loss_fn = MultipleNegativesRankingLoss(model)
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-5)
    model.train()
    started, steps = time.perf_counter(), 0
    for start in range(0, len(pairs) - batch_size + 1, batch_size):
        batch = pairs[start : start + batch_size]
        features = [model.preprocess([p[0] for p in batch]), model.preprocess([p[1] for p in batch])]
        loss = loss_fn(features, None)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        steps += 1
        if time.perf_counter() - started > seconds:
            break
    model.eval()
    return steps, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("codebook")
    ap.add_argument("units")
    ap.add_argument("--train-fraction", type=float, default=0.3)
    ap.add_argument("--split", default="unit", choices=["unit", "document"])
    ap.add_argument("--seconds", type=float, default=300.0, help="time budget for training")
    ap.add_argument("--pairs", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=None, help="an embedding cache (sqlite) for the base model's vectors")
    args = ap.parse_args(argv)

    cb = load_codebook(args.codebook)
    leaves = [c.code for c in cb.leaves]
    data = load_coded_units(args.units, leaves, None, groups=[c.code for c in cb.codes if c.code not in set(leaves)])
    targets = [cb[c] for c in data.codes]
    texts = data.units.text.fillna("").astype(str).tolist()
    train = make_split(data, args.train_fraction, args.seed, args.split)
    context = ContextFeatures()
    results = {}
    for name in ("base", "fine-tuned"):
        note, model_name = "", DEFAULT_MODEL
        if name == "fine-tuned":
            from sentence_transformers import SentenceTransformer

            load_model(DEFAULT_MODEL)  # offline settings
            model = SentenceTransformer(resolve_model(DEFAULT_MODEL)[1], device="cpu")  # a copy of its own
            pairs = pairs_from([texts[i] for i in np.flatnonzero(train)], data.Y[train], args.pairs, args.seed)
            steps, took = fine_tune(model, pairs, args.seconds, seed=args.seed)
            note = f" ({steps} steps on {len(pairs)} pairs in {took:.0f}s)"
            model_name = tempfile.mkdtemp(prefix="fewshot-tuned-")
            model.save(model_name)  # the base model on disk is never touched
        cache = open_cache(args.cache) if args.cache and name == "base" else None
        embed = Embedder(model_name, con=cache).encode
        X = context.transform(embed(texts), data.units, embed)
        figures, _ = _evaluate_one(data, targets, X, embed, "semisupervised", args.train_fraction, args.seed,
                                   args.split, "full", context)
        results[name] = figures
        print(f"{name}{note}: top-1 {figures['top1_hit_rate']:.3f}, top-5 recall {figures['top5_recall']:.3f},"
              f" micro F1 {figures['micro_f1']:.3f}, kappa {figures['mean_kappa']:.3f},"
              f" ECE {figures['calibration']['ece']:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
