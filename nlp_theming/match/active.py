"""Active learning: which segments a person should decide next so that each decision teaches
the matcher most.

A segment is worth deciding when the matcher is unsure of it (several codes score near the
operating threshold) and when it is unlike the other segments chosen with it (ten near-copies of
one unsure passage teach what one of them teaches). So: rank by uncertainty, keep a few times as
many candidates as wanted, spread them over clusters of their embeddings, and take the most
uncertain of each cluster.
"""

from __future__ import annotations

import numpy as np

from ..store.runs import OPERATING_THRESHOLD
from .context import text_part

#: candidates kept per segment wanted, before spreading them over clusters
POOL_FACTOR = 4
#: share of each batch drawn at random: a matcher learns its operating threshold from the
#: decisions, and a sample of only the hardest segments would teach it a skewed one
EXPLORE = 0.5


def uncertainty(scores: np.ndarray, threshold: float = OPERATING_THRESHOLD) -> np.ndarray:
    """Per segment, how unsure the matcher is: the summed binary entropy of every code's score,
    each score first mapped so that the operating threshold sits at 0.5."""
    p = np.clip(np.asarray(scores, dtype=float), 1e-6, 1 - 1e-6)
    t = min(max(threshold, 1e-6), 1 - 1e-6)
    shifted = 1 / (1 + np.exp(-(np.log(p / (1 - p)) - np.log(t / (1 - t)))))
    entropy = -(shifted * np.log2(shifted) + (1 - shifted) * np.log2(1 - shifted))
    return entropy.sum(axis=1)


def most_informative(
    scores: np.ndarray, X: np.ndarray, n: int, dim: int | None = None, random_state: int = 0,
    threshold: float = OPERATING_THRESHOLD, explore: float = EXPLORE,
) -> np.ndarray:
    """Row indices of the ``n`` segments to decide next: a share ``explore`` at random, the rest
    uncertain and spread over the topics of the candidates (k-means on their text embeddings,
    the first ``dim`` columns of ``X``)."""
    n = min(n, len(scores))
    if n <= 0:
        return np.zeros(0, dtype=int)
    n_random = round(explore * n)
    rng = np.random.default_rng(random_state)
    drawn = rng.choice(len(scores), size=n_random, replace=False) if n_random else np.zeros(0, dtype=int)
    if n_random == n:
        return drawn
    rest = np.setdiff1d(np.arange(len(scores)), drawn)
    picked = _uncertain_spread(scores[rest], X[rest], n - n_random, dim, random_state, threshold)
    return np.concatenate([drawn, rest[picked]]).astype(int)


def _uncertain_spread(scores: np.ndarray, X: np.ndarray, n: int, dim: int | None, random_state: int,
                      threshold: float) -> np.ndarray:
    unsure = uncertainty(scores, threshold)
    candidates = np.argsort(-unsure, kind="stable")[: n * POOL_FACTOR]
    if len(candidates) <= n:
        return candidates
    from sklearn.cluster import KMeans

    vectors = text_part(X[candidates], dim or X.shape[1])
    labels = KMeans(n_clusters=n, n_init=1, random_state=random_state).fit_predict(vectors)
    chosen = []
    for cluster in range(n):
        members = candidates[labels == cluster]
        if len(members):
            chosen.append(members[np.argmax(unsure[members])])
    rest = [c for c in candidates if c not in set(chosen)]
    chosen += rest[: n - len(chosen)]  # an empty cluster leaves a place for the next most unsure
    return np.asarray(chosen[:n], dtype=int)
