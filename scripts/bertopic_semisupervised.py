"""Semi-supervised BERTopic with the confirmed labels, measured against the semi-supervised matcher
with the evaluate harness (issue: suggestions people can trust, item 4).

BERTopic takes one label per document (``y``; -1 for a unit nobody coded), uses it to steer UMAP,
and gives each unit one topic. A topic is read as the code most of its hand-coded members carry;
a unit in the outlier topic or in a topic without hand-coded members gets no code. The matcher is
scored on the same split in the same run, as one code per unit (its top suggestion) and as
`evaluate` scores it (every code at or above the threshold). A unit coded with several codes gives
BERTopic its first.

Usage: python scripts/bertopic_semisupervised.py CODEBOOK UNITS [--train-fraction 0.3] [--split unit]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

import numpy as np

from nlp_theming.embed import DEFAULT_MODEL, Embedder
from nlp_theming.evaluate import _evaluate_one, agreement_figures, load_codebook_and_units, make_split
from nlp_theming.match.context import ContextFeatures
from nlp_theming.store.embeddings import open_cache


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("codebook")
    ap.add_argument("units")
    ap.add_argument("--train-fraction", type=float, default=0.3)
    ap.add_argument("--split", default="unit", choices=["unit", "document"])
    ap.add_argument("--min-topic-size", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=None, help="an embedding cache (sqlite) to reuse")
    args = ap.parse_args(argv)

    from bertopic import BERTopic
    from hdbscan import HDBSCAN
    from umap import UMAP

    cb, data = load_codebook_and_units(args.codebook, args.units)
    targets = [cb[c] for c in data.codes]
    texts = data.units.text.fillna("").astype(str).tolist()
    embed = Embedder(DEFAULT_MODEL, con=open_cache(args.cache) if args.cache else None).encode
    X = embed(texts)
    train = make_split(data, args.train_fraction, args.seed, args.split)
    test = np.flatnonzero(~train)
    keys = data.units.key.tolist()
    gold = [{data.codes[j] for j in np.flatnonzero(row)} for row in data.Y]

    y = np.full(len(texts), -1)
    for i in np.flatnonzero(train):
        coded = np.flatnonzero(data.Y[i])
        if len(coded):
            y[i] = coded[0]
    model = BERTopic(
        umap_model=UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=args.seed),
        hdbscan_model=HDBSCAN(min_cluster_size=args.min_topic_size, metric="euclidean",
                              cluster_selection_method="eom", prediction_data=True),
        calculate_probabilities=False,
    )
    topics, _ = model.fit_transform(texts, embeddings=X, y=y)
    topics = np.asarray(topics)
    code_of = {}
    for topic in set(topics) - {-1}:
        members = [y[i] for i in np.flatnonzero(topics == topic) if y[i] >= 0]
        if members:
            code_of[topic] = Counter(members).most_common(1)[0][0]
    predicted = [{data.codes[code_of[t]]} if t in code_of else set() for t in topics]
    hit = np.mean([bool(predicted[i] & gold[i]) for i in test if gold[i]])
    figures = agreement_figures([keys[i] for i in test], [gold[i] for i in test], [predicted[i] for i in test],
                                data.codes)
    print(f"BERTopic semi-supervised: {len(code_of)} topics read as codes; top-1 {hit:.3f},"
          f" micro F1 {figures['micro_f1']:.3f}, kappa {figures['mean_kappa']:.3f}", flush=True)

    context = ContextFeatures()
    F = context.transform(X, data.units, embed)
    mine, predictions = _evaluate_one(data, targets, F, embed, "semisupervised", args.train_fraction, args.seed,
                                      args.split, "full", context)
    first = predictions[predictions["rank"] == 1].set_index(["document", "unit_id"]).code
    top = [{first[(u.document, u.unit_id)]} for u in data.units.itertuples()]
    one = agreement_figures([keys[i] for i in test], [gold[i] for i in test], [top[i] for i in test], data.codes)
    print(f"semisupervised matcher with context: top-1 {mine['top1_hit_rate']:.3f}; one code per unit: micro F1"
          f" {one['micro_f1']:.3f}, kappa {one['mean_kappa']:.3f}; every code above the threshold: micro F1"
          f" {mine['micro_f1']:.3f}, kappa {mine['mean_kappa']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
