"""Matchers are scikit-learn estimators, and every command knows them by the same names.

The vectors here are synthetic (seeded random unit vectors, clustered per code): what is tested
is the estimator contract and determinism, not the quality of any model.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.base import clone

from nlp_theming.cli import main
from nlp_theming.codebook import Code
from nlp_theming.match import (
    MATCHER_NAMES,
    MATCHERS,
    EmbeddingClassifier,
    SemiSupervisedMatcher,
    ZeroShotMatcher,
    make_matcher,
    matcher_name,
    resolve_methods,
)
from nlp_theming.store.runs import OPERATING_THRESHOLD
from nlp_theming.suggest import SuggestConfig

DIM = 16
CODES = [Code("Boards", description="Who sits on the board"), Code("Units", description="Clinical units"),
         Code("Money", description="Budgets and resources")]


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def embed(texts) -> np.ndarray:
    """Synthetic text vectors: a fixed random unit vector per text (stable across calls)."""
    return unit(np.stack([np.random.default_rng(zlib.crc32(t.encode())).normal(size=DIM) for t in texts]))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = unit(rng.normal(size=(len(CODES), DIM)))
    labels = rng.integers(0, len(CODES), size=240)
    X = unit(centres[labels] + 0.6 * rng.normal(size=(240, DIM)))
    Y = np.zeros((240, len(CODES)), dtype=np.float32)
    Y[np.arange(240), labels] = 1
    return X, Y, unit(rng.normal(size=(60, DIM)))


@pytest.mark.parametrize("cls", [ZeroShotMatcher, SemiSupervisedMatcher, EmbeddingClassifier])
def test_params_round_trip_and_clone(cls: type) -> None:
    matcher = cls(random_state=7)
    params = matcher.get_params()
    assert params["random_state"] == 7 and "codes_" not in params
    twin = clone(matcher)
    assert twin is not matcher and twin.get_params() == params
    twin.set_params(random_state=3)
    assert twin.random_state == 3 and matcher.random_state == 7
    assert cls(**params).get_params() == params


@pytest.mark.parametrize("cls", [ZeroShotMatcher, SemiSupervisedMatcher, EmbeddingClassifier])
def test_fit_returns_self_and_a_clone_of_a_fitted_matcher_refits_the_same(cls: type, data) -> None:
    X, Y, X_new = data
    fitted = cls(random_state=0)
    assert fitted.fit(CODES, embed, X, Y, X_new) is fitted
    scores = fitted.predict_proba(X_new)
    assert scores.shape == (len(X_new), len(CODES)) and ((scores >= 0) & (scores <= 1)).all()
    twin = clone(fitted)
    assert not any(k.endswith("_") and not k.startswith("_") for k in vars(twin))  # unfitted
    np.testing.assert_array_equal(twin.fit(CODES, embed, X, Y, X_new).predict_proba(X_new), scores)
    assert (fitted.predict(X_new) == (scores >= OPERATING_THRESHOLD)).all()


def test_semi_supervised_stacking_is_deterministic_and_learns(data) -> None:
    X, Y, X_new = data
    a = SemiSupervisedMatcher(random_state=0).fit(CODES, embed, X, Y, X_new)
    b = SemiSupervisedMatcher(random_state=0).fit(CODES, embed, X, Y, X_new)
    assert a.stacker_ is not None  # enough confirmations: the folds ran
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    top = a.predict_proba(X).argmax(axis=1)
    assert (top == Y.argmax(axis=1)).mean() > 0.8
    # with confirmations the scores move away from the codebook-only ones
    zero_shot = ZeroShotMatcher().fit(CODES, embed, X, None, X_new)
    assert not np.allclose(zero_shot.predict_proba(X), a.predict_proba(X))


def test_aliases_live_beside_the_registry() -> None:
    assert resolve_methods(["Zero-Shot", " semi_supervised", "LOGISTIC", "baseline", "zeroshot"]) == [
        "zeroshot", "semisupervised", "classifier"]
    assert isinstance(make_matcher("semi-supervised"), SemiSupervisedMatcher)
    assert matcher_name("Baseline") == "classifier"
    with pytest.raises(ValueError, match=r"unknown matcher 'bert'.*zeroshot"):
        make_matcher("bert")
    assert SuggestConfig(matcher="zero-shot").matcher == "zeroshot"
    assert set(MATCHERS) == {"zeroshot", "semisupervised", "classifier", "spreading"}


def test_suggest_and_evaluate_accept_the_same_names() -> None:
    runner = CliRunner()
    # click wraps help text (at spaces and hyphens): compare with the white space taken out
    suggest_help = "".join(runner.invoke(main, ["suggest", "--help"]).output.split())
    evaluate_help = "".join(runner.invoke(main, ["evaluate", "--help"]).output.split())
    for alias in ("zero-shot", "semi-supervised", "baseline", "logistic"):
        assert alias in suggest_help and alias in evaluate_help
    matcher_option = next(p for p in main.commands["suggest"].params if p.name == "matcher")
    assert set(matcher_option.type.choices) == set(MATCHER_NAMES)  # every name evaluate --method resolves
    assert {matcher_name(n) for n in matcher_option.type.choices} == set(MATCHERS)
    result = runner.invoke(main, ["suggest", "no-such-project", "--matcher", "Zero-Shot"])
    assert "Invalid value for '--matcher'" not in result.output and "not an nlp-theming project" in result.output


def test_decisions_are_partial_labels(data) -> None:
    """A rejection teaches "not this code" only: undecided codes (NaN) are not negatives."""
    X, Y, X_new = data
    partial = Y.copy()
    rng = np.random.default_rng(3)
    partial[rng.random(Y.shape) < 0.6] = np.nan  # most (unit, code) pairs undecided
    as_full = np.nan_to_num(partial, nan=0.0)  # the old reading: undecided counted as absent
    a = SemiSupervisedMatcher(random_state=0).fit(CODES, embed, X, partial, X_new)
    b = SemiSupervisedMatcher(random_state=0).fit(CODES, embed, X, as_full, X_new)
    assert np.isfinite(a.predict_proba(X_new)).all()
    assert not np.allclose(a.predict_proba(X), b.predict_proba(X))
    # read as partial labels the codes are found far more often than when undecided means absent
    truth = Y.astype(bool)
    recall = lambda m: (m.predict(X) & truth).sum() / truth.sum()  # noqa: E731
    assert recall(a) > recall(b)
    clf = EmbeddingClassifier().fit(CODES, embed, X, partial)
    assert all(m is not None for m in clf.models_)  # each code learnt from its own decided pairs


def test_partial_labels_from_the_decision_log() -> None:
    import pandas as pd

    from nlp_theming.suggest import partial_labels

    labels = pd.DataFrame(
        [("ana", 10, "Boards", True), ("ana", 11, "Units", False), ("bo", 10, "Units", False),
         ("bo", 12, "Boards", True), ("ana", 12, "Boards", False)],
        columns=["coder", "segment_id", "code", "applies"],
    )
    index = {10: 0, 11: 1, 12: 2, 13: 3}
    rows, Y = partial_labels(labels, imported={11}, index=index, code_index={"Boards": 0, "Units": 1, "Money": 2})
    assert rows == [0, 1, 2]
    np.testing.assert_array_equal(Y[0], [1, 0, np.nan])  # accepted Boards, rejected Units, Money undecided
    np.testing.assert_array_equal(Y[1], [0, 0, 0])  # imported coding: the coder coded the whole passage
    np.testing.assert_array_equal(Y[2], [1, np.nan, np.nan])  # one coder's accept outweighs another's rejection


def test_a_code_people_only_accepted_does_not_score_high_everywhere(data) -> None:
    """Accepts of one code and nothing rejected: undecided segments are not positives either."""
    X, Y, X_new = data
    partial = np.full(Y.shape, np.nan, dtype=np.float32)
    partial[Y[:, 0] == 1, 0] = 1.0  # code 0 accepted wherever it applies, nothing else decided
    for cls in (EmbeddingClassifier, SemiSupervisedMatcher):
        scores = cls(random_state=0).fit(CODES, embed, X, partial, X_new).predict_proba(X)[:, 0]
        others = scores[Y[:, 0] == 0]
        assert (others >= OPERATING_THRESHOLD).mean() < 0.5, cls.__name__  # no floor under the code
    semi = SemiSupervisedMatcher(random_state=0).fit(CODES, embed, X, partial, X_new).predict_proba(X)[:, 0]
    assert semi[Y[:, 0] == 1].mean() > semi[Y[:, 0] == 0].mean() + 0.2  # and it did learn the code
