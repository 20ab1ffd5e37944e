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
#: How the segments to cluster are chosen: ``zeroshot`` fits BERTopic on every segment with the
#: codes as zero-shot topics (it clusters those below a similarity cut-off); ``unmatched``
#: clusters only the segments the matcher gave no code.
STRATEGIES = ("zeroshot", "unmatched")
DEFAULT_STRATEGY = "unmatched"


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
) -> DiscoveryResult:
    """Fit BERTopic and return clusters of segments that fit no code.

    ``unmatched`` (a boolean mask) says which segments the matcher gave no code at its operating
    threshold; only those are clustered (``strategy="unmatched"``), or, with ``zeroshot``, a
    proposal keeps only those members. Either way a segment that already has a suggested code is
    never offered as evidence for a new theme. Without the mask, the segments least similar to
    every code (the share ``1 - matched_fraction``) stand in for it. ``labels`` (confirmed codes
    as indices, -1 for none) are used by ``zeroshot`` only.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown discovery strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    n = len(texts)
    if strategy == "unmatched":
        return _discover_unmatched(texts, embeddings, prototypes, matched_fraction, unmatched, random_state,
                                   min_topic_size, n_keywords)
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
    from bertopic import BERTopic
    from bertopic.vectorizers import ClassTfidfTransformer
    from hdbscan import HDBSCAN
    from sklearn.feature_extraction.text import CountVectorizer
    from umap import UMAP

    model = BERTopic(
        umap_model=UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=random_state),
        hdbscan_model=HDBSCAN(min_cluster_size=size, min_samples=max(2, size // 4), metric="euclidean",
                              cluster_selection_method="eom"),
        vectorizer_model=CountVectorizer(stop_words="english", ngram_range=(1, 2), min_df=2),
        ctfidf_model=ClassTfidfTransformer(reduce_frequent_words=True),
        calculate_probabilities=False,
        verbose=False,
    )
    topics, _ = model.fit_transform([texts[i] for i in rows], embeddings=embeddings[rows])
    topics = np.asarray(topics)
    result = DiscoveryResult(zeroshot_assigned=assigned)
    for topic_id in sorted(set(topics.tolist()) - {-1}):
        words = [(w, float(s)) for w, s in (model.get_topic(topic_id) or []) if w][:n_keywords]
        members = rows[topics == topic_id]
        if not words or len(members) < size:
            continue
        result.proposals.append(Proposal(" / ".join(w for w, _ in words[:3]), words, members.tolist()))
    return result
