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
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nlp_theming.embed import DEFAULT_MODEL, Embedder, contrastive_pairs, fine_tune
from nlp_theming.evaluate import _evaluate_one, load_codebook_and_units, make_split
from nlp_theming.match.context import ContextFeatures
from nlp_theming.store.embeddings import open_cache


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

    cb, data = load_codebook_and_units(args.codebook, args.units)
    targets = [cb[c] for c in data.codes]
    texts = data.units.text.fillna("").astype(str).tolist()
    train = make_split(data, args.train_fraction, args.seed, args.split)
    context = ContextFeatures()
    results = {}
    for name in ("base", "fine-tuned"):
        note, model_name = "", DEFAULT_MODEL
        if name == "fine-tuned":
            # the same pairs and loop as `suggest --fine-tune`, from the hand-coded units
            by_code = {code: [texts[i] for i in np.flatnonzero(train & (data.Y[:, j] > 0))]
                       for j, code in enumerate(data.codes)}
            pairs = contrastive_pairs(by_code, args.pairs, args.seed)
            started = time.perf_counter()
            model_name = str(fine_tune(DEFAULT_MODEL, pairs, args.seconds,
                                       Path(tempfile.mkdtemp(prefix="fewshot-")) / "tuned", args.seed, progress=True))
            note = f" ({len(pairs)} pairs, {time.perf_counter() - started:.0f}s)"
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
