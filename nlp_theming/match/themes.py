"""Candidate new themes with BERTopic: clusters of the segments that fit no code.

By default (``strategy="unmatched"``) BERTopic clusters only the segments the matcher gave no
code at its operating threshold (UMAP + HDBSCAN, a minimum cluster size relative to how many
there are), and each cluster becomes a *proposal* named by its c-TF-IDF keywords, with words
frequent in every cluster played down. ``strategy="zeroshot"`` is the earlier way: BERTopic is
fitted on every segment with the codebook's codes as zero-shot topics (their vectors are our code
prototypes, handed to BERTopic through an embedding backend: passing precomputed embeddings
without an ``embedding_model`` makes BERTopic skip zero-shot silently), confirmed codes passed as
``y`` so that UMAP is semi-supervised, and the segments close to no code are clustered.
``nlp-theming evaluate-discovery`` measured both on two real data sets (docs/evaluation.md).
A proposal is never a code: a person decides whether it becomes one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MIN_DOCUMENTS = 40  # UMAP and HDBSCAN need a few dozen points to say anything
#: the most unmatched segments discovery clusters; a project with more clusters a seeded sample
#: of this many (UMAP and HDBSCAN grow faster than linearly; a theme of 1% of the segments
#: still has about 200 members in the sample)
DISCOVER_ROWS = 20_000
#: How the segments to cluster are chosen: ``zeroshot`` fits BERTopic on every segment with the
#: codes as zero-shot topics (it clusters those below a similarity cut-off); ``unmatched``
#: clusters only the segments the matcher gave no code.
STRATEGIES = ("zeroshot", "unmatched")
DEFAULT_STRATEGY = "unmatched"
#: How the unmatched segments are reduced before HDBSCAN: ``umap`` (5 components, BERTopic's
#: default: tens of seconds, much of it numba compiling in each new process) or ``pca`` (50
#: principal components: seconds, nothing to compile, but fewer held-out codes recovered on
#: SERDIF: F1 0.089 against UMAP's 0.130, chance 0.053-0.064; docs/evaluation.md).
REDUCTIONS = ("umap", "pca")
DEFAULT_REDUCTION = "umap"
#: components kept: HDBSCAN finds one giant cluster in 5 or 10 principal components of sentence
#: vectors; in 50 it finds topics of the sizes UMAP's 5 give
N_COMPONENTS = {"pca": 50, "umap": 5}


@dataclass
class Proposal:
    label: str
    keywords: list[tuple[str, float]]
    members: list[int]  # row indices into the fitted texts


@dataclass
class DiscoveryResult:
    proposals: list[Proposal] = field(default_factory=list)
    zeroshot_assigned: int = 0
    skipped: str | None = None


def _backend(prototypes: dict[str, np.ndarray], fallback):
    from bertopic.backend import BaseEmbedder

    class PrototypeBackend(BaseEmbedder):
        """Returns our prototype vector for a code name, the encoder's vector otherwise."""

        def embed(self, documents, verbose=False):
            out = []
            missing = [d for d in documents if d not in prototypes]
            encoded = dict(zip(missing, fallback(missing), strict=True)) if missing else {}
            for d in documents:
                out.append(prototypes[d] if d in prototypes else encoded[d])
            return np.vstack(out)

    return PrototypeBackend()


def _class_keywords(texts: list[str], topics: np.ndarray, n_keywords: int) -> dict[int, list[tuple[str, float]]]:
    """Each cluster's words by class-based TF-IDF (BERTopic's c-TF-IDF, Grootendorst 2022): a
    cluster's texts joined as one document, term frequencies normalised per cluster and square-rooted
    (words frequent in every cluster played down), weighted by log(1 + mean words per cluster /
    the word's frequency over all clusters). Unclustered texts (-1) count as one class too."""
    import re

    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.preprocessing import normalize

    ids = sorted(set(topics.tolist()))
    # letters, digits and spaces only, so "don't" is one word rather than "don" and "t"
    clean = [re.sub(r"[^A-Za-z0-9 ]+", "", t.replace("\n", " ").replace("\t", " ")) for t in texts]
    # the vocabulary: words used in at least two segments (BERTopic counts clusters instead, which
    # drops the words only one cluster uses: the ones that name it best)
    try:
        counts = CountVectorizer(stop_words="english", ngram_range=(1, 2), min_df=2).fit(clean)
    except ValueError:  # no word used twice
        return {}
    joined = [" ".join(c for c, k in zip(clean, topics, strict=True) if k == t) for t in ids]
    X = counts.transform(joined).astype(np.float64)
    words = counts.get_feature_names_out()
    frequency = np.asarray(X.sum(axis=0)).ravel()
    idf = np.log(int(np.asarray(X.sum(axis=1)).mean()) / frequency + 1)
    X = normalize(X, norm="l1", axis=1)
    X.data = np.sqrt(X.data)
    scores = X.multiply(idf).tocsr()
    out = {}
    for row, t in enumerate(ids):
        values = scores[row].toarray().ravel()
        order = np.argsort(-values, kind="stable")[:n_keywords]
        out[t] = [(str(words[j]), float(values[j])) for j in order if values[j] > 0]
    return out


def _reducer(reduction: str, random_state: int):
    if reduction == "umap":
        from umap import UMAP

        return UMAP(n_neighbors=15, n_components=N_COMPONENTS["umap"], min_dist=0.0, metric="cosine",
                    random_state=random_state)
    from sklearn.decomposition import PCA

    # the full SVD: exact, so the same vectors give the same components on any run
    return PCA(n_components=N_COMPONENTS["pca"], svd_solver="full", random_state=random_state)


def discover_themes(
    texts: list[str],
    embeddings: np.ndarray,
    code_names: list[str],
    prototypes: np.ndarray,
    matched_fraction: float,
    encode,
    labels: np.ndarray | None = None,
    unmatched: np.ndarray | None = None,
    random_state: int = 0,
    min_topic_size: int | None = None,
    n_keywords: int = 8,
    strategy: str = DEFAULT_STRATEGY,
    reduction: str = DEFAULT_REDUCTION,
) -> DiscoveryResult:
    """Fit BERTopic and return clusters of segments that fit no code.

    ``unmatched`` (a boolean mask) says which segments the matcher gave no code at its operating
    threshold; only those are clustered (``strategy="unmatched"``), or, with ``zeroshot``, a
    proposal keeps only those members. Either way a segment that already has a suggested code is
    never offered as evidence for a new theme. Without the mask, the segments least similar to
    every code (the share ``1 - matched_fraction``) stand in for it. ``labels`` (confirmed codes
    as indices, -1 for none) are used by ``zeroshot`` only. ``reduction`` (``unmatched`` only):
    see :data:`REDUCTIONS`. The same inputs and ``random_state`` give the same proposals.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown discovery strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; choose one of {', '.join(REDUCTIONS)}")
    n = len(texts)
    if strategy == "unmatched":
        return _discover_unmatched(texts, embeddings, prototypes, matched_fraction, unmatched, random_state,
                                   min_topic_size, n_keywords, reduction)
    if n < MIN_DOCUMENTS:
        return DiscoveryResult(skipped=f"only {n} segments; theme discovery needs at least {MIN_DOCUMENTS}")
    from bertopic import BERTopic
    from hdbscan import HDBSCAN
    from sklearn.feature_extraction.text import CountVectorizer
    from umap import UMAP

    # BERTopic's zero-shot step takes a segment when its best cosine similarity to a prototype
    # passes a cut-off; choose the cut-off so it takes about as many segments as the matcher did.
    best = (embeddings @ prototypes.T).max(axis=1)
    cutoff = float(np.quantile(best, min(max(1.0 - matched_fraction, 0.0), 1.0)))
    unassigned = int((best < cutoff).sum())
    size = min_topic_size or max(5, n // 100)
    if unassigned < 2 * size:
        return DiscoveryResult(zeroshot_assigned=n - unassigned, skipped="too few unmatched segments to cluster")
    model = BERTopic(
        embedding_model=_backend(dict(zip(code_names, prototypes, strict=True)), encode),
        zeroshot_topic_list=list(code_names),
        zeroshot_min_similarity=cutoff,
        umap_model=UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=random_state),
        hdbscan_model=HDBSCAN(min_cluster_size=size, metric="euclidean", cluster_selection_method="eom"),
        vectorizer_model=CountVectorizer(stop_words="english", ngram_range=(1, 2), min_df=2),
        calculate_probabilities=False,
        verbose=False,
    )
    y = None if labels is None else np.asarray(labels)
    topics, _ = model.fit_transform(texts, embeddings=embeddings, y=y)
    # a zero-shot topic is labelled with its code's name (BERTopic's public topic_labels_); the
    # others with "<id>_<keywords>", which never equals a code name
    codes = set(code_names)
    zeroshot_ids = {t for t, label in model.topic_labels_.items() if label in codes}
    topics = np.asarray(topics)
    result = DiscoveryResult(zeroshot_assigned=int(np.isin(topics, list(zeroshot_ids)).sum()))
    for topic_id in sorted(set(topics.tolist())):
        if topic_id == -1 or topic_id in zeroshot_ids:
            continue
        words = [(w, float(s)) for w, s in (model.get_topic(topic_id) or [])][:n_keywords]
        if not words:
            continue
        members = np.flatnonzero(topics == topic_id)
        if unmatched is not None:
            members = members[np.asarray(unmatched, dtype=bool)[members]]
        if len(members) < size:
            continue
        label = " / ".join(w for w, _ in words[:3])
        result.proposals.append(Proposal(label, words, members.tolist()))
    return result


def _discover_unmatched(
    texts: list[str],
    embeddings: np.ndarray,
    prototypes: np.ndarray,
    matched_fraction: float,
    unmatched: np.ndarray | None,
    random_state: int,
    min_topic_size: int | None,
    n_keywords: int,
    reduction: str = DEFAULT_REDUCTION,
) -> DiscoveryResult:
    """Cluster only the segments that fit no code (the matcher's own verdict), with a minimum
    cluster size relative to how many there are, and name clusters by c-TF-IDF keywords that
    play down words frequent in every cluster."""
    if unmatched is None:
        best = (embeddings @ prototypes.T).max(axis=1)
        unmatched = best < np.quantile(best, min(max(1.0 - matched_fraction, 0.0), 1.0))
    rows = np.flatnonzero(np.asarray(unmatched, dtype=bool))
    m = len(rows)
    assigned = len(texts) - m
    if m < MIN_DOCUMENTS:
        return DiscoveryResult(zeroshot_assigned=assigned,
                               skipped=f"only {m} unmatched segments; theme discovery needs at least {MIN_DOCUMENTS}")
    size = min_topic_size or max(5, m // 50)
    if m < 2 * size:
        return DiscoveryResult(zeroshot_assigned=assigned, skipped="too few unmatched segments to cluster")
    from hdbscan import HDBSCAN

    points = embeddings[rows]
    reducer = _reducer(reduction, random_state)
    if reduction == "pca" and min(points.shape) <= N_COMPONENTS["pca"]:
        reduced = points  # fewer segments than components: nothing to reduce
    else:
        reduced = reducer.fit_transform(points)
    clusterer = HDBSCAN(min_cluster_size=size, min_samples=max(2, size // 4), metric="euclidean",
                        cluster_selection_method="eom")
    topics = clusterer.fit_predict(np.asarray(reduced, dtype=np.float64))
    keywords = _class_keywords([texts[i] for i in rows], topics, n_keywords)
    result = DiscoveryResult(zeroshot_assigned=assigned)
    # largest first, as a reviewer would read them
    for topic_id in sorted(set(topics.tolist()) - {-1}, key=lambda t: (-int((topics == t).sum()), t)):
        words = keywords.get(topic_id, [])
        members = rows[topics == topic_id]
        if not words or len(members) < size:
            continue
        result.proposals.append(Proposal(" / ".join(w for w, _ in words[:3]), words, members.tolist()))
    return result
