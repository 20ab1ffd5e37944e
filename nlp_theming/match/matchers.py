"""Matchers: score every (segment, code) pair in [0, 1].

They share one small surface, scikit-learn style: parameters in the constructor, ``fit``
learns (from the codebook and, when there are any, people's decisions) and returns ``self``,
learned state ends in ``_``, and ``predict_proba`` returns an (n_segments x n_codes) array.

Decisions are partial labels: ``Y`` is 1 where a code applies, 0 where a person said it does
not, and NaN where nobody decided (a rejection of one code says nothing of the others).

* ``ZeroShotMatcher``: similarity to codebook prototypes, standardised so that a score means
  "this code stands out for this segment and this segment stands out for this code".
* ``SemiSupervisedMatcher``: prototypes reshaped by confirmed examples, blended per code with
  a classifier trained on the confirmations as they accumulate. With no confirmations it is
  the zero-shot matcher.
* ``EmbeddingClassifier``: one-vs-rest logistic regression on embeddings; a baseline that
  knows nothing of the codebook's words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.base import BaseEstimator, clone

from ..codebook import Code
from ..store.runs import OPERATING_THRESHOLD
from .context import ROLES, role_index, text_part, with_neighbours
from .prototypes import build_prototypes, facet_vectors, nearest_per_code, prototype_texts, reshape_prototypes

EmbedFn = Callable[[Sequence[str]], np.ndarray]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _zscore(a: np.ndarray, axis: int, stats: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    mean, std = stats if stats is not None else (a.mean(axis=axis, keepdims=True), a.std(axis=axis, keepdims=True))
    return (a - mean) / np.where(std < 1e-6, 1.0, std)


class BaseMatcher(BaseEstimator):
    """A scikit-learn estimator: ``get_params``/``set_params``/``clone`` work, constructor
    arguments are stored unchanged, learned state ends in ``_``, ``fit`` returns ``self``."""

    name = "base"
    #: score at or above which a code counts as predicted (one definition: store.runs)
    threshold = OPERATING_THRESHOLD

    def __init__(self, random_state: int = 0) -> None:
        self.random_state = random_state

    def fit(
        self,
        codes: list[Code],
        embed: EmbedFn,
        X: np.ndarray | None = None,
        Y: np.ndarray | None = None,
        X_unlabeled: np.ndarray | None = None,
    ) -> BaseMatcher:
        raise NotImplementedError

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.predict_proba(X) >= self.threshold).astype(int)


class ZeroShotMatcher(BaseMatcher):
    """Codes as zero-shot topics: standardised cosine similarity to codebook prototypes.

    ``column_weight`` mixes two standardisations of the raw similarity: across segments (is
    this segment unusually close to the code?) and across codes (is this code the segment's
    best fit?). ``slope`` and ``offset`` map the mixed z-score to [0, 1]; ``offset`` is the
    z-score that scores 0.5.
    """

    name = "zeroshot"

    def __init__(
        self, column_weight: float = 0.5, slope: float = 2.0, offset: float = 1.6, example_weight: float = 0.5,
        exclusion_weight: float = 0.0, random_state: int = 0,
    ) -> None:
        super().__init__(random_state)
        self.column_weight = column_weight
        self.slope = slope
        self.offset = offset
        self.example_weight = example_weight
        self.exclusion_weight = exclusion_weight

    def fit(self, codes, embed, X=None, Y=None, X_unlabeled=None):
        texts = list(dict.fromkeys(prototype_texts(codes)))
        vectors = embed(texts)
        self.codes_ = [c.code for c in codes]
        lookup = dict(zip(texts, vectors, strict=True))
        self.prototypes_ = build_prototypes(codes, lookup)
        self.examples_, self.example_codes_, self.exclusions_, self.exclusion_codes_ = facet_vectors(codes, lookup)
        pool = [a for a in (X, X_unlabeled) if a is not None and len(a)]
        self.column_stats_ = self._column_stats(np.vstack(pool)) if pool else None
        return self

    def _column_stats(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sims = self.similarities(X)
        return sims.mean(axis=0, keepdims=True), sims.std(axis=0, keepdims=True)

    def similarities(self, X: np.ndarray) -> np.ndarray:
        """Cosine to each code's prototype, moved towards the code's nearest example or inclusion
        statement (``example_weight``) and down where an exclusion statement is nearer than the
        code itself (``exclusion_weight``)."""
        # columns past the encoder's width are context (match.context): the neighbours' text counts
        text = with_neighbours(X, self.prototypes_.shape[1])
        sims = text @ self.prototypes_.T
        n_codes = len(self.codes_)
        if self.example_weight and len(self.examples_):
            nearest = nearest_per_code(text @ self.examples_.T, self.example_codes_, n_codes)
            has = ~np.isnan(nearest)
            sims = np.where(has, (1 - self.example_weight) * sims + self.example_weight * np.nan_to_num(nearest), sims)
        if self.exclusion_weight and len(self.exclusions_):
            excluded = np.nan_to_num(nearest_per_code(text @ self.exclusions_.T, self.exclusion_codes_, n_codes),
                                     nan=-np.inf)
            sims = sims - self.exclusion_weight * np.maximum(excluded - sims, 0)
        return sims

    def standardised(self, X: np.ndarray) -> np.ndarray:
        sims = self.similarities(X)
        stats = self.column_stats_ if self.column_stats_ is not None else self._column_stats(X)
        z_col = _zscore(sims, 0, stats)
        z_row = _zscore(sims, 1)
        return self.column_weight * z_col + (1 - self.column_weight) * z_row

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros((0, len(self.codes_)))
        return _sigmoid(self.slope * (self.standardised(X) - self.offset))


class SemiSupervisedMatcher(ZeroShotMatcher):
    """Zero-shot prototypes, reshaped and then overtaken by confirmed examples.

    Each code's prototype is pulled towards the segments people confirmed for it, and a
    per-code classifier learns from the confirmations. How far to trust each is learnt from the
    confirmations themselves: out-of-fold, a small stacking model weighs the zero-shot score
    against the classifier (a codebook with rich definitions earns the prototypes more weight;
    a thin one earns the examples more), and the operating threshold is set where F1 on the
    held-out folds peaks, then mapped to a score of 0.5. With few confirmations it falls back to
    a fixed blend that trusts the classifier as a code's examples grow: ``n / (n + trust)``.
    """

    name = "semisupervised"

    def __init__(
        self,
        column_weight: float = 0.5,
        slope: float = 2.0,
        offset: float = 1.6,
        prior_strength: float = 3.0,
        trust: float = 10.0,
        C: float = 4.0,
        n_folds: int = 5,
        min_stack_units: int = 100,
        per_code_threshold: bool = False,
        min_code_positives: int = 10,
        role_prior: bool = True,
        example_weight: float = 0.5,
        exclusion_weight: float = 0.0,
        random_state: int = 0,
    ) -> None:
        super().__init__(column_weight, slope, offset, example_weight, exclusion_weight, random_state)
        self.role_prior = role_prior
        self.per_code_threshold = per_code_threshold
        self.min_code_positives = min_code_positives
        self.prior_strength = prior_strength
        self.trust = trust
        self.C = C
        self.n_folds = n_folds
        self.min_stack_units = min_stack_units

    def fit(self, codes, embed, X=None, Y=None, X_unlabeled=None):
        super().fit(codes, embed, X, Y, X_unlabeled)
        self.base_prototypes_ = self.prototypes_
        self.classifier_ = None
        self.stacker_ = None
        self.cut_ = 0.5
        self.cuts_ = np.full(len(self.codes_), 0.5)
        self.counts_ = np.zeros(len(self.codes_))
        self.rejected_ = np.zeros(len(self.codes_))
        if X is None or Y is None or len(X) == 0 or np.isnan(np.asarray(Y, dtype=np.float32)).all():
            return self  # nothing decided: the codebook alone
        X = np.asarray(X, dtype=np.float32)
        Y = np.asarray(Y, dtype=np.float32)
        pool = np.vstack([a for a in (X, X_unlabeled) if a is not None and len(a)])
        self._learn(codes, embed, X, Y, pool)
        if len(X) >= self.min_stack_units and np.nansum(Y) >= 10:
            self._fit_stacker(codes, embed, X, Y, pool)
        return self

    def _learn(self, codes, embed, X, Y, pool) -> None:
        dim = self.base_prototypes_.shape[1]
        self.role_rates_ = _role_rates(role_index(X, dim), Y)
        self.prototypes_ = reshape_prototypes(self.base_prototypes_, text_part(X, dim), Y, self.prior_strength)
        self.column_stats_ = self._column_stats(pool)
        positives, negatives = np.nansum(Y, axis=0), np.sum(Y == 0, axis=0)
        # A classifier needs both kinds of example. For a code people have only rejected, its
        # codebook prototype stands in as the positive, and in the blend the rejections count as
        # its evidence where confirmations would (the stacker reads confirmations only). A code
        # people have only accepted gets no classifier (undecided segments are not negatives):
        # its accepted examples reshape its prototype, and the zero-shot score does the rest.
        only_rejected = np.flatnonzero((positives == 0) & (negatives > 0))
        if len(only_rejected):
            stand_in = np.full((len(only_rejected), Y.shape[1]), np.nan, dtype=np.float32)
            stand_in[np.arange(len(only_rejected)), only_rejected] = 1.0
            stand_ins = np.zeros((len(only_rejected), X.shape[1]), dtype=X.dtype)
            stand_ins[:, :dim] = self.prototypes_[only_rejected]  # no context: the code's words alone
            X, Y = np.vstack([X, stand_ins]), np.vstack([Y, stand_in])
        self.classifier_ = EmbeddingClassifier(C=self.C, random_state=self.random_state).fit(codes, embed, X, Y)
        has_model = np.array([m is not None for m in self.classifier_.models_])
        self.counts_ = np.where(has_model, positives, 0)  # confirmations a classifier learnt from
        self.rejected_ = np.where(has_model & (positives == 0), negatives, 0)

    def _parts(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Zero-shot scores, classifier scores, and how often each code applied to talk of
        each unit's role in people's decisions (whose talk a code is for)."""
        rates = self.role_rates_[role_index(X, self.base_prototypes_.shape[1])]
        return super().predict_proba(X), self.classifier_.predict_proba(X), rates

    def _stack_features(self, parts: tuple[np.ndarray, np.ndarray, np.ndarray], counts: np.ndarray) -> np.ndarray:
        zero_shot, clf, rates = parts
        has = np.broadcast_to((counts > 0).astype(np.float32), zero_shot.shape)
        n = np.broadcast_to(np.log1p(counts).astype(np.float32), zero_shot.shape)
        eps = 1e-4
        logit = lambda p: np.log(np.clip(p, eps, 1 - eps) / np.clip(1 - p, eps, 1 - eps))  # noqa: E731
        columns = [logit(zero_shot), logit(clf) * has, has, n * has]
        if self.role_prior:
            columns.append(logit(rates))
        return np.stack(columns, axis=-1).reshape(-1, len(columns))

    def _fit_stacker(self, codes, embed, X, Y, pool) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import KFold

        folds = KFold(n_splits=self.n_folds, shuffle=True, random_state=self.random_state)
        features, targets, which = [], [], []
        for train, held in folds.split(X):
            if np.nansum(Y[train]) == 0:
                continue
            # each fold learns on a clone with the same parameters and the same zero-shot prototypes
            fold = clone(self)
            fold.codes_, fold.base_prototypes_ = self.codes_, self.base_prototypes_
            for codebook_part in ("examples_", "example_codes_", "exclusions_", "exclusion_codes_"):
                setattr(fold, codebook_part, getattr(self, codebook_part))
            fold._learn(codes, embed, X[train], Y[train], pool)
            feats, target = self._stack_features(fold._parts(X[held]), fold.counts_), Y[held].reshape(-1)
            known = ~np.isnan(target)  # only decided (unit, code) pairs teach the stacker
            features.append(feats[known])
            targets.append(target[known])
            which.append(np.tile(np.arange(len(self.codes_)), len(held))[known])
        if not features:
            return
        F, t, code_of = np.vstack(features), np.concatenate(targets), np.concatenate(which)
        if t.min() == t.max():
            return
        self.stacker_ = LogisticRegression(max_iter=1000, random_state=self.random_state).fit(F, t)
        p = self.stacker_.predict_proba(F)[:, 1]
        self.cut_ = _best_cut(p, t)
        # Each code its own operating point where its held-out F1 peaks, once it has enough
        # positives to say; otherwise the shared one (codes differ in how often they apply).
        self.cuts_ = np.full(len(self.codes_), self.cut_)
        for j in range(len(self.codes_)):
            mine = code_of == j
            if t[mine].sum() >= self.min_code_positives:
                self.cuts_[j] = _best_cut(p[mine], t[mine])

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if self.classifier_ is None or len(X) == 0:
            return super().predict_proba(X)
        parts = self._parts(X)
        zero_shot, clf, _ = parts
        if self.stacker_ is None:
            evidence = self.counts_ + self.rejected_
            weights = evidence / (evidence + self.trust)
            return (1 - weights) * zero_shot + weights * clf
        p = self.stacker_.predict_proba(self._stack_features(parts, self.counts_))[:, 1]
        # move each code's learnt operating point to 0.5, keeping the order of its scores
        cuts = self.cuts_ if self.per_code_threshold else np.full(len(self.codes_), self.cut_)
        shift = np.log(cuts / (1 - cuts))
        p = np.clip(p, 1e-6, 1 - 1e-6).reshape(len(X), -1)
        return _sigmoid(np.log(p / (1 - p)) - shift)


def _role_rates(roles: np.ndarray, Y: np.ndarray, prior: float = 2.0) -> np.ndarray:
    """(roles + unknown) x codes: the share of decided units of each role a code applied to,
    shrunk towards the code's share over all roles by ``prior`` units."""
    decided = ~np.isnan(Y)
    positive = np.nan_to_num(Y, nan=0.0)
    overall = (positive.sum(axis=0) + 1) / (decided.sum(axis=0) + 2)
    rates = np.tile(overall, (len(ROLES) + 1, 1))
    for k in range(len(ROLES)):
        mine = roles == k
        if mine.any():
            rates[k] = (positive[mine].sum(axis=0) + prior * overall) / (decided[mine].sum(axis=0) + prior)
    return rates


def _best_cut(p: np.ndarray, t: np.ndarray) -> float:
    """The score cut where F1 of ``p >= cut`` against ``t`` peaks, on a fixed grid."""
    grid = np.linspace(0.05, 0.9, 35)
    f1 = [2 * ((p >= g) & (t > 0)).sum() / max((p >= g).sum() + (t > 0).sum(), 1) for g in grid]
    return float(grid[int(np.argmax(f1))])


class EmbeddingClassifier(BaseMatcher):
    """Baseline: one-vs-rest logistic regression on embeddings. Needs confirmed examples."""

    name = "classifier"

    def __init__(self, C: float = 4.0, random_state: int = 0) -> None:
        super().__init__(random_state)
        self.C = C

    def fit(self, codes, embed, X=None, Y=None, X_unlabeled=None):
        from sklearn.linear_model import LogisticRegression

        self.codes_ = [c.code for c in codes]
        self.models_: list = []
        for j in range(len(self.codes_)):
            y = None if Y is None else Y[:, j]
            known = None if y is None else ~np.isnan(y)  # NaN: nobody decided this code here
            partial = known is not None and not known.all()
            if y is not None:
                y = y[known]
            if y is None or y.sum() == 0 or y.sum() == len(y):
                # every unit a coder coded whole has the code: it always applies; but decisions
                # that only ever accepted it say nothing of where it does not
                self.models_.append(None if y is None or y.sum() == 0 or partial else 1.0)
                continue
            model = LogisticRegression(C=self.C, max_iter=1000, class_weight="balanced", random_state=self.random_state)
            self.models_.append(model.fit(X[known], y))
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        out = np.zeros((len(X), len(self.codes_)))
        if len(X) == 0:
            return out
        # every code's linear model in one product, in X's own precision: a project of 100,000
        # segments with context columns is too large to copy once per code
        fitted = [j for j, m in enumerate(self.models_) if m is not None and not isinstance(m, float)]
        if fitted:
            weights = np.vstack([self.models_[j].coef_[0] for j in fitted]).astype(X.dtype)
            bias = np.array([self.models_[j].intercept_[0] for j in fitted])
            out[:, fitted] = _sigmoid(X @ weights.T + bias)
        for j, model in enumerate(self.models_):
            if isinstance(model, float):
                out[:, j] = model
        return out


class LabelSpreadingMatcher(ZeroShotMatcher):
    """Transductive: people's decisions spread over the neighbourhood graph of all the project's
    segments (scikit-learn's ``LabelSpreading``, one code at a time, k nearest neighbours on the
    segments' text), blended with the zero-shot score as a code's decisions grow:
    ``n / (n + trust)``. Kept for comparison (``evaluate --method spreading``)."""

    name = "spreading"

    def __init__(self, column_weight: float = 0.5, slope: float = 2.0, offset: float = 1.6,
                 example_weight: float = 0.5, exclusion_weight: float = 0.0, n_neighbors: int = 10,
                 alpha: float = 0.2, trust: float = 10.0, random_state: int = 0) -> None:
        super().__init__(column_weight, slope, offset, example_weight, exclusion_weight, random_state)
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.trust = trust

    def fit(self, codes, embed, X=None, Y=None, X_unlabeled=None):
        from sklearn.semi_supervised import LabelSpreading

        super().fit(codes, embed, X, Y, X_unlabeled)
        self.models_ = [None] * len(self.codes_)
        self.counts_ = np.zeros(len(self.codes_))
        if X is None or Y is None or not len(X):
            return self
        dim = self.prototypes_.shape[1]
        labelled = text_part(np.asarray(X, dtype=np.float32), dim)
        others = text_part(np.asarray(X_unlabeled, dtype=np.float32), dim) if X_unlabeled is not None else None
        pool = labelled if others is None else np.vstack([labelled, others])
        Y = np.asarray(Y, dtype=np.float32)
        for j in range(len(self.codes_)):
            y = np.full(len(pool), -1)
            known = ~np.isnan(Y[:, j])
            y[: len(labelled)][known] = Y[known, j].astype(int)
            if len(set(y[y >= 0])) < 2:
                continue
            model = LabelSpreading(kernel="knn", n_neighbors=min(self.n_neighbors, len(pool) - 1), alpha=self.alpha)
            self.models_[j] = model.fit(pool, y)
            self.counts_[j] = known.sum()
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        zero_shot = super().predict_proba(X)
        if not len(X):
            return zero_shot
        text = text_part(X, self.prototypes_.shape[1])
        spread = zero_shot.copy()
        for j, model in enumerate(self.models_):
            if model is not None:
                spread[:, j] = model.predict_proba(text)[:, list(model.classes_).index(1)]
        weights = self.counts_ / (self.counts_ + self.trust)
        return (1 - weights) * zero_shot + weights * spread


MATCHERS: dict[str, type[BaseMatcher]] = {
    ZeroShotMatcher.name: ZeroShotMatcher,
    SemiSupervisedMatcher.name: SemiSupervisedMatcher,
    EmbeddingClassifier.name: EmbeddingClassifier,
    LabelSpreadingMatcher.name: LabelSpreadingMatcher,
}

#: What people type for the matchers (the CLI and the docs have used several spellings); any case.
MATCHER_ALIASES = {
    "zero-shot": "zeroshot",
    "zero_shot": "zeroshot",
    "semi-supervised": "semisupervised",
    "semi_supervised": "semisupervised",
    "logistic": "classifier",
    "baseline": "classifier",
    "label-spreading": "spreading",
    "label_spreading": "spreading",
}
#: Every name a matcher answers to: the registry's own and the aliases.
MATCHER_NAMES = (*MATCHERS, *MATCHER_ALIASES)


def matcher_name(name: str) -> str:
    """The registry name for what a user typed (an alias, any case); a clear error otherwise."""
    key = str(name).strip().lower()
    key = MATCHER_ALIASES.get(key, key)
    if key not in MATCHERS:
        raise ValueError(f"unknown matcher {str(name).strip()!r}; choose one of {', '.join(MATCHERS)}"
                         f" (also: {', '.join(MATCHER_ALIASES)})")
    return key


def resolve_methods(names: Sequence[str]) -> list[str]:
    """Matcher names from what a user typed (aliases, any case), each once, in the order given."""
    out = []
    for name in names:
        if not str(name).strip():
            continue
        key = matcher_name(name)
        if key not in out:
            out.append(key)
    if not out:
        raise ValueError(f"no matcher given; choose from {', '.join(MATCHERS)}")
    return out


def make_matcher(name: str, **params: object) -> BaseMatcher:
    """A matcher by name or alias, with its constructor parameters."""
    return MATCHERS[matcher_name(name)](**params)


def top_k(scores: np.ndarray, k: int, min_score: float = 0.0) -> list[list[tuple[int, float]]]:
    """Per row, the k best (code index, score) pairs, best first; ties broken by code order."""
    # one stable sort of the whole matrix: ties keep code order, as a per-row lexsort would
    order = np.argsort(-np.asarray(scores), axis=1, kind="stable")[:, :k]
    best = np.take_along_axis(np.asarray(scores), order, axis=1)
    return [[(j, v) for j, v in zip(o, b, strict=True) if v >= min_score]
            for o, b in zip(order.tolist(), best.tolist(), strict=True)]
