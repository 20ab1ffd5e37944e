"""Theme discovery on its own: the same vectors and seed give the same candidate themes, clusters
are found without UMAP, and each is named by words of its own texts. The vectors and texts are
SYNTHETIC (made here: topics as directions on the unit sphere, each with its own vocabulary)."""

from __future__ import annotations

import numpy as np
import pytest

from nlp_theming.match import discover_themes
from nlp_theming.match.themes import REDUCTIONS

TOPICS = {
    "parking": ["car park", "parking permit", "parking fees", "ticket machine"],
    "rota": ["night shift", "rota gaps", "shift swap", "weekend rota"],
    "canteen": ["canteen food", "hot meals", "coffee queue", "salad bar"],
    "training": ["study leave", "exam fees", "teaching sessions", "course budget"],
}


def synthetic(seed: int = 0, per_topic: int = 60) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(TOPICS), 384))
    texts, vectors = [], []
    for (topic, phrases), centre in zip(TOPICS.items(), centres, strict=True):
        for _ in range(per_topic):
            a, b = rng.choice(len(phrases), 2, replace=False)
            texts.append(f"SYNTHETIC: the {phrases[a]} and the {phrases[b]} again, about {topic}")
            vectors.append(centre + rng.normal(scale=0.35, size=384))
    vectors = np.asarray(vectors, dtype=np.float32)
    return texts, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def run(texts: list[str], vectors: np.ndarray, seed: int = 0, reduction: str = "pca"):
    # PCA by default here: UMAP's compilation makes a test take a minute (the slow test below runs it)
    return discover_themes(texts, vectors, [], np.zeros((1, vectors.shape[1]), dtype=np.float32), 0.0, None,
                           unmatched=np.ones(len(texts), dtype=bool), random_state=seed, reduction=reduction)


def test_the_same_vectors_and_seed_give_the_same_candidate_themes() -> None:
    texts, vectors = synthetic()
    first, second = run(texts, vectors), run(texts, vectors)
    assert [(p.label, p.keywords, p.members) for p in first.proposals] == [
        (p.label, p.keywords, p.members) for p in second.proposals
    ]
    assert len(first.proposals) == len(TOPICS)


def test_each_topic_is_found_and_named_by_its_own_words() -> None:
    texts, vectors = synthetic(seed=1)
    result = run(texts, vectors)
    assert result.skipped is None
    for proposal in result.proposals:
        topics = {texts[m].rsplit("about ", 1)[1] for m in proposal.members}
        assert len(topics) == 1  # one topic per cluster
        topic = topics.pop()
        own = {word for phrase in TOPICS[topic] for word in phrase.split()} | {topic}
        assert set(proposal.label.split(" / ")[0].split()) <= own  # the first keyword is the topic's own
    # largest first
    sizes = [len(p.members) for p in result.proposals]
    assert sizes == sorted(sizes, reverse=True)


def test_an_unknown_reduction_is_one_clear_error() -> None:
    texts, vectors = synthetic()
    with pytest.raises(ValueError, match="unknown reduction 'tsne'; choose one of umap, pca"):
        run(texts, vectors, reduction="tsne")
    assert REDUCTIONS == ("umap", "pca")


@pytest.mark.slow
def test_umap_reduction_still_runs_and_is_deterministic() -> None:
    texts, vectors = synthetic(seed=2)
    first, second = run(texts, vectors, seed=5, reduction="umap"), run(texts, vectors, seed=5, reduction="umap")
    assert first.proposals and [p.members for p in first.proposals] == [p.members for p in second.proposals]
