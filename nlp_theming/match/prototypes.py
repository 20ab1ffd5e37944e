"""Code prototypes: one vector per code, built from what the codebook says about it.

A code's prototype is the normalised, weighted mean of the embeddings of its facets: its name
with its description, its inclusion criteria, and each example quote. Confirmed segments
reshape it: each confirmed example pulls the prototype towards how people in *this* study
actually talk about the theme, with the codebook acting as a prior worth ``prior_strength``
examples.
"""

from __future__ import annotations

import re

import numpy as np

from ..codebook import Code

FACET_WEIGHTS = {"definition": 1.0, "inclusion": 0.5, "examples": 1.0}


def _sentences(text: str) -> list[str]:
    """Criteria as separate statements; fragments under three words say too little to embed."""
    return [s for s in re.split(r"(?<=[.;])\s+", text or "") if len(s.split()) >= 3]


def code_facets(code: Code, parent: str | None = None) -> dict[str, list[str]]:
    """The texts that describe a code, grouped by facet."""
    name = code.code
    definition = f"{name}. {code.description}".strip() if code.description else name
    return {"definition": [definition], "inclusion": _sentences(code.inclusion), "examples": list(code.examples)}


def exclusion_texts(code: Code) -> list[str]:
    """What a code is not, one statement each: segments close to these count against it."""
    return _sentences(code.exclusion)


def prototype_texts(codes: list[Code]) -> list[str]:
    """Every facet text (and exclusion statement) of every code, for embedding in one batch."""
    texts: list[str] = []
    for code in codes:
        for facet_texts in code_facets(code).values():
            texts.extend(facet_texts)
        texts.extend(exclusion_texts(code))
    return texts


def facet_vectors(codes: list[Code], embed: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                            np.ndarray]:
    """Each example and inclusion statement as a vector of its own, and each exclusion statement:
    (vectors, owning code index) for both, so that a segment can be compared with the nearest
    example of a code rather than only with the code's average."""
    positives, owners, negatives, negative_owners = [], [], [], []
    for j, code in enumerate(codes):
        facets = code_facets(code)
        for text in facets["examples"] + facets["inclusion"]:
            positives.append(embed[text])
            owners.append(j)
        for text in exclusion_texts(code):
            negatives.append(embed[text])
            negative_owners.append(j)
    dim = next(iter(embed.values())).shape[-1] if embed else 0
    stack = lambda rows: np.vstack(rows) if rows else np.zeros((0, dim), dtype=np.float32)  # noqa: E731
    return stack(positives), np.asarray(owners, dtype=int), stack(negatives), np.asarray(negative_owners, dtype=int)


def nearest_per_code(sims: np.ndarray, owners: np.ndarray, n_codes: int) -> np.ndarray:
    """(segments x vectors) similarities -> (segments x codes): the highest per owning code;
    NaN for codes with no vector."""
    out = np.full((sims.shape[0], n_codes), np.nan, dtype=np.float32)
    for j in np.unique(owners):
        out[:, j] = sims[:, owners == j].max(axis=1)
    return out


def build_prototypes(codes: list[Code], embed: dict[str, np.ndarray]) -> np.ndarray:
    """Codebook prototypes (n_codes x dim) from a text -> vector lookup of the facet texts."""
    rows = []
    for code in codes:
        total = None
        for facet, texts in code_facets(code).items():
            if not texts:
                continue
            vec = np.mean([embed[t] for t in texts], axis=0) * FACET_WEIGHTS[facet]
            total = vec if total is None else total + vec
        rows.append(_normalise(total))
    return np.vstack(rows)


def reshape_prototypes(prototypes: np.ndarray, X: np.ndarray, Y: np.ndarray, prior_strength: float = 3.0) -> np.ndarray:
    """Blend codebook prototypes with the mean of confirmed examples (Y: n x codes, 1 applies,
    0 does not, NaN not decided)."""
    positive = np.nan_to_num(Y, nan=0.0) > 0
    counts = positive.sum(axis=0)
    out = prototypes.copy()
    for j in np.flatnonzero(counts):
        centroid = _normalise(X[positive[:, j]].mean(axis=0))
        weight = counts[j] / (counts[j] + prior_strength)
        out[j] = _normalise((1 - weight) * prototypes[j] + weight * centroid)
    return out


def _normalise(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(norm == 0, 1, norm)
