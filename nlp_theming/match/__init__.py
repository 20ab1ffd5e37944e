"""Match stage: score segments against codebook codes and propose new themes."""

from .matchers import (
    MATCHERS,
    BaseMatcher,
    EmbeddingClassifier,
    SemiSupervisedMatcher,
    ZeroShotMatcher,
    make_matcher,
    top_k,
)
from .themes import DiscoveryResult, Proposal, discover_themes

__all__ = [
    "MATCHERS",
    "BaseMatcher",
    "DiscoveryResult",
    "EmbeddingClassifier",
    "Proposal",
    "SemiSupervisedMatcher",
    "ZeroShotMatcher",
    "discover_themes",
    "make_matcher",
    "top_k",
]
