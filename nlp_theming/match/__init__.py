"""Match stage: score segments against codebook codes and propose new themes."""

from .matchers import (
    MATCHER_ALIASES,
    MATCHER_NAMES,
    MATCHERS,
    BaseMatcher,
    EmbeddingClassifier,
    SemiSupervisedMatcher,
    ZeroShotMatcher,
    make_matcher,
    matcher_name,
    resolve_methods,
    top_k,
)
from .themes import DiscoveryResult, Proposal, discover_themes

__all__ = [
    "MATCHERS",
    "MATCHER_ALIASES",
    "MATCHER_NAMES",
    "BaseMatcher",
    "DiscoveryResult",
    "EmbeddingClassifier",
    "Proposal",
    "SemiSupervisedMatcher",
    "ZeroShotMatcher",
    "discover_themes",
    "make_matcher",
    "matcher_name",
    "resolve_methods",
    "top_k",
]
