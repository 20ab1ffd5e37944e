"""Agreement statistics: published worked examples, reference implementations, invariants."""

from __future__ import annotations

import json
import math

import krippendorff
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score, precision_score, recall_score

from nlp_theming.agreement import (
    agreement_report,
    binary_matrix,
    bootstrap_ci,
    character_units,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha_nominal,
    percent_agreement,
    precision_recall_f1,
    reliability_matrix,
    spans_to_codings,
)

nan = np.nan

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", Annenberg School for
# Communication, section C (4 observers, 12 units, values 1-5, missing data): nominal alpha = 0.743.
# The same data is Gwet (2014), Handbook of Inter-Rater Reliability, 4th ed., p. 120 (irrCAC's
# cac.raw4raters), where percent agreement = 0.8181818, Gwet's AC1 = 0.77544 (p_e = 0.1903212) and
# Fleiss' generalized kappa = 0.76117 (p_e = 0.2387153).
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
)

# Fleiss (1971), "Measuring nominal scale agreement among many raters", Psychological Bulletin
# 76(5):378-382, Table 1: 30 patients, 6 psychiatrists each, 5 diagnoses (counts per patient).
# Published kappa = .430.
FLEISS_1971 = [
    [0, 0, 0, 6, 0], [0, 3, 0, 0, 3], [0, 1, 4, 0, 1], [0, 0, 0, 0, 6], [0, 3, 0, 3, 0],
    [2, 0, 4, 0, 0], [0, 0, 4, 0, 2], [2, 0, 3, 1, 0], [2, 0, 0, 4, 0], [0, 0, 0, 0, 6],
    [1, 0, 0, 5, 0], [1, 1, 0, 4, 0], [0, 3, 3, 0, 0], [1, 0, 0, 5, 0], [0, 2, 0, 3, 1],
    [0, 0, 5, 0, 1], [3, 0, 0, 1, 2], [5, 1, 0, 0, 0], [0, 2, 0, 4, 0], [1, 0, 2, 0, 3],
    [0, 0, 0, 0, 6], [0, 1, 0, 5, 0], [0, 2, 0, 1, 3], [2, 0, 0, 4, 0], [1, 0, 0, 4, 1],
    [0, 5, 0, 1, 0], [4, 0, 0, 0, 2], [0, 2, 0, 4, 0], [1, 0, 5, 0, 0], [0, 0, 0, 0, 6],
]  # fmt: skip

# Gwet (2014), Handbook, 4th ed., ch. 2 (irrCAC's cont3x3abstractors): 100 pregnant women classified
# by two abstractors.  Published: Cohen's kappa 0.7964094, Gwet's AC1 0.8493305, Krippendorff's
# alpha 0.7972585, percent agreement 0.89.
GWET_3X3 = np.array([[13, 0, 0], [0, 20, 7], [0, 4, 56]])


def _from_table(table: np.ndarray) -> tuple[list[int], list[int]]:
    a, b = [], []
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            a += [i] * int(table[i, j])
            b += [j] * int(table[i, j])
    return a, b


def _fleiss_ratings() -> np.ndarray:
    """Raters are exchangeable in Fleiss' design, so the count table becomes 6 'rater' rows."""
    return np.array([[k for k, n in enumerate(row) for _ in range(n)] for row in FLEISS_1971]).T


def simulate(n_units=120, n_codes=4, coders=("a", "b", "c"), p=0.25, flip=0.12, miss=0.15, seed=1, weights=False):
    """Noisy coders around a hidden truth; some units unseen by some coders."""
    rng = np.random.default_rng(seed)
    truth = rng.random((n_codes, n_units)) < p
    rows = []
    for coder in coders:
        seen = rng.random(n_units) >= miss
        x = truth ^ (rng.random(truth.shape) < flip)
        for u in np.flatnonzero(seen):
            codes = [f"K{k}" for k in range(n_codes) if x[k, u]]
            rows += [(f"u{u:03d}", coder, c) for c in codes] or [(f"u{u:03d}", coder, None)]
    df = pd.DataFrame(rows, columns=["unit", "coder", "code"])
    if weights:
        w = {f"u{u:03d}": int(rng.integers(1, 9)) for u in range(n_units)}
        df["weight"] = df["unit"].map(w)
    return df


def _package_alpha(matrix) -> float:
    return float(krippendorff.alpha(reliability_data=np.asarray(matrix, float), level_of_measurement="nominal"))


# ---------------------------------------------------------------------------------------------
# Published worked examples
# ---------------------------------------------------------------------------------------------


def test_krippendorff_canonical_example():
    assert round(krippendorff_alpha_nominal(KRIPPENDORFF_2011), 3) == 0.743
    assert krippendorff_alpha_nominal(KRIPPENDORFF_2011) == pytest.approx(_package_alpha(KRIPPENDORFF_2011), abs=1e-12)


def test_gwet_handbook_raw_ratings_example():
    assert percent_agreement(KRIPPENDORFF_2011) == pytest.approx(0.8181818, abs=1e-7)
    assert gwet_ac1(KRIPPENDORFF_2011) == pytest.approx(0.77544, abs=5e-6)
    assert fleiss_kappa(KRIPPENDORFF_2011) == pytest.approx(0.76117, abs=5e-6)
    assert krippendorff_alpha_nominal(KRIPPENDORFF_2011) == pytest.approx(0.74342, abs=5e-6)


def test_fleiss_1971_table():
    ratings = _fleiss_ratings()
    assert ratings.shape == (6, 30)
    assert round(fleiss_kappa(ratings), 3) == 0.430


def test_gwet_two_rater_contingency_example():
    a, b = _from_table(GWET_3X3)
    ratings = np.array([a, b])
    assert cohen_kappa(a, b) == pytest.approx(0.7964094, abs=1e-7)
    assert gwet_ac1(ratings) == pytest.approx(0.8493305, abs=1e-7)
    assert krippendorff_alpha_nominal(ratings) == pytest.approx(0.7972585, abs=1e-7)
    assert percent_agreement(ratings) == pytest.approx(0.89)


# ---------------------------------------------------------------------------------------------
# Reference implementations
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(25))
def test_cohen_kappa_matches_sklearn_random(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 80))
    k = int(rng.integers(2, 5))
    a = rng.integers(0, k, n)
    b = np.where(rng.random(n) < 0.6, a, rng.integers(0, k, n))
    w = rng.random(n) * 3
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    assert cohen_kappa(a, b, weights=w) == pytest.approx(cohen_kappa_score(a, b, sample_weight=w), abs=1e-12)
    labels = np.array(["neg", "neu", "pos", "mixed", "other"])
    assert cohen_kappa(labels[a], labels[b]) == pytest.approx(cohen_kappa_score(labels[a], labels[b]), abs=1e-12)


def test_cohen_kappa_drops_missing_pairs():
    a = [1, 0, 1, None, 1, 0, nan]
    b = [1, 0, 0, 1, nan, 0, 0]
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score([1, 0, 1, 0], [1, 0, 0, 0]))


@pytest.mark.parametrize("seed", range(20))
def test_alpha_matches_krippendorff_package_with_missing(seed):
    rng = np.random.default_rng(seed)
    n_coders, n_units = int(rng.integers(2, 8)), int(rng.integers(3, 60))
    truth = rng.integers(0, 4, n_units)
    data = np.where(rng.random((n_coders, n_units)) < 0.7, truth, rng.integers(0, 4, (n_coders, n_units))).astype(float)
    data[rng.random(data.shape) < 0.3] = nan
    if (np.sum(~np.isnan(data), axis=0) >= 2).sum() == 0 or len(np.unique(data[~np.isnan(data)])) < 2:
        pytest.skip("draw has nothing pairable")
    assert krippendorff_alpha_nominal(data) == pytest.approx(_package_alpha(data), abs=1e-12)


def test_alpha_string_labels_like_package():
    # np.asarray turns NaN into "nan" in a string array; both implementations treat it as missing.
    labels = np.array([["a", "b", "c", np.nan, "a"], ["a", "b", "b", "c", np.nan], ["a", np.nan, "b", "c", "a"]])
    assert labels.dtype.kind == "U"
    expected = krippendorff.alpha(reliability_data=labels, level_of_measurement="nominal")
    assert krippendorff_alpha_nominal(labels) == pytest.approx(expected, abs=1e-12)
    as_objects = pd.DataFrame([["a", "b", "c", None, "a"], ["a", "b", "b", "c", None], ["a", None, "b", "c", "a"]])
    assert krippendorff_alpha_nominal(as_objects) == pytest.approx(expected, abs=1e-12)


def test_per_code_statistics_match_references():
    df = simulate()
    for code in ("K0", "K2"):
        m = binary_matrix(df, code)
        assert krippendorff_alpha_nominal(df, code=code) == pytest.approx(_package_alpha(m), abs=1e-12)
        assert fleiss_kappa(df, code=code) == pytest.approx(fleiss_kappa(m), abs=1e-12)
        assert gwet_ac1(df, code=code) == pytest.approx(gwet_ac1(m, categories=[0.0, 1.0]), abs=1e-12)
    pooled = np.concatenate([binary_matrix(df, c).to_numpy() for c in ("K0", "K1", "K2", "K3")], axis=1)
    assert krippendorff_alpha_nominal(df) == pytest.approx(_package_alpha(pooled), abs=1e-12)


def test_reliability_matrix_from_tidy_labels():
    tidy = pd.DataFrame(
        [(u, c, KRIPPENDORFF_2011[c, u]) for c in range(4) for u in range(12) if not np.isnan(KRIPPENDORFF_2011[c, u])],
        columns=["unit", "coder", "label"],
    )
    m = reliability_matrix(tidy)
    assert m.shape == (4, 12)
    assert krippendorff_alpha_nominal(m) == pytest.approx(0.743421052631579, abs=1e-12)
    with pytest.raises(ValueError, match="more than one label"):
        reliability_matrix(pd.concat([tidy, pd.DataFrame([{"unit": 0, "coder": 0, "label": 9.0}])]))


# ---------------------------------------------------------------------------------------------
# Degenerate cases
# ---------------------------------------------------------------------------------------------


def test_degenerate_cases_return_nan():
    assert math.isnan(cohen_kappa([1, 1, 1], [1, 1, 1]))  # one shared category: p_e = 1
    assert cohen_kappa([1, 1, 1], [0, 0, 0]) == 0.0  # two categories, no agreement beyond chance
    assert math.isnan(cohen_kappa([], []))
    assert math.isnan(cohen_kappa([1, None], [None, 1]))
    no_pairs = np.array([[1, nan, 2], [nan, 1, nan]])
    assert math.isnan(krippendorff_alpha_nominal(no_pairs))
    assert math.isnan(percent_agreement(no_pairs))
    assert math.isnan(fleiss_kappa(no_pairs))
    assert math.isnan(gwet_ac1(no_pairs))
    constant = np.array([[2, 2, 2], [2, 2, 2]])
    assert math.isnan(krippendorff_alpha_nominal(constant))
    assert math.isnan(fleiss_kappa(constant))
    assert percent_agreement(constant) == 1.0
    assert math.isnan(gwet_ac1(constant))  # q = 1
    assert gwet_ac1(constant, categories=[1, 2]) == 1.0  # defined once the category set is known


def test_compare_with_a_code_nobody_applied():
    df = pd.DataFrame(
        [("u1", "a", "X"), ("u1", "b", "X"), ("u2", "a", None), ("u2", "b", "X"), ("u3", "a", None), ("u3", "b", None)],
        columns=["unit", "coder", "code"],
    )
    rep = agreement_report(df, codes=["X", "Never"], n_boot=50)
    row = rep.per_code.set_index("code").loc["Never"]
    assert math.isnan(row["kappa"]) and math.isnan(row["alpha"]) and math.isnan(row["fleiss_kappa"])
    assert row["percent_agreement"] == 1.0 and row["ac1"] == 1.0
    x = rep.per_code.set_index("code").loc["X"]
    assert x["kappa"] == pytest.approx(cohen_kappa_score([1, 0, 0], [1, 1, 0]))
    json.dumps(rep.to_dict(), allow_nan=False)  # NaN became null


def test_compare_needs_two_coders():
    df = pd.DataFrame([("u1", "a", "X")], columns=["unit", "coder", "code"])
    with pytest.raises(ValueError, match="two coders"):
        agreement_report(df)
    with pytest.raises(ValueError, match="missing column"):
        agreement_report(df.drop(columns="code"))
    two = pd.concat([df, pd.DataFrame([("u1", "b", "X")], columns=["unit", "coder", "code"])])
    with pytest.raises(ValueError, match="reference"):
        agreement_report(two, reference="zed")


# ---------------------------------------------------------------------------------------------
# agreement_report()
# ---------------------------------------------------------------------------------------------


def test_compare_two_coders_against_references():
    df = simulate(coders=("ref", "model"), n_units=150, n_codes=5)
    rep = agreement_report(df, reference="ref", n_boot=100)
    per = rep.per_code.set_index("code")
    y_ref, y_mod = [], []
    for code in per.index:
        m = binary_matrix(df, code, coders=["ref", "model"])
        both = m.notna().all(axis=0)
        r, p = m.loc["ref", both].to_numpy(), m.loc["model", both].to_numpy()
        y_ref.append(r)
        y_mod.append(p)
        assert per.loc[code, "kappa"] == pytest.approx(cohen_kappa_score(r, p), abs=1e-12)
        assert per.loc[code, "alpha"] == pytest.approx(_package_alpha(m), abs=1e-12)
        assert per.loc[code, "precision_model"] == pytest.approx(precision_score(r, p), abs=1e-12)
        assert per.loc[code, "recall_model"] == pytest.approx(recall_score(r, p), abs=1e-12)
        assert per.loc[code, "f1_model"] == pytest.approx(f1_score(r, p), abs=1e-12)
        assert per.loc[code, "percent_agreement"] == pytest.approx(np.mean(r == p), abs=1e-12)
    Y_ref, Y_mod = np.array(y_ref).T, np.array(y_mod).T
    prf = rep.overall["precision_recall_f1"]["model"]
    assert prf["micro_f1"] == pytest.approx(f1_score(Y_ref, Y_mod, average="micro"), abs=1e-12)
    assert prf["macro_f1"] == pytest.approx(f1_score(Y_ref, Y_mod, average="macro"), abs=1e-12)
    assert prf["micro_precision"] == pytest.approx(precision_score(Y_ref, Y_mod, average="micro"), abs=1e-12)
    assert rep.overall["mean_kappa"] == pytest.approx(per["kappa"].mean(), abs=1e-12)
    assert rep.overall["alpha_pooled"] == pytest.approx(krippendorff_alpha_nominal(df), abs=1e-12)
    assert rep.overall["kappa_method"] == "cohen"
    # The standalone function agrees with agreement_report().
    standalone = precision_recall_f1(df, "model", "ref")
    assert standalone.micro["f1"] == pytest.approx(prf["micro_f1"], abs=1e-12)
    assert standalone.per_code.set_index("code")["recall"].to_numpy() == pytest.approx(per["recall_model"].to_numpy())


def test_compare_many_coders_mean_pairwise_kappa_and_fleiss():
    df = simulate(coders=("a", "b", "c", "d"), n_units=100)
    rep = agreement_report(df, n_boot=50)
    per = rep.per_code.set_index("code")
    pairs = [("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d")]
    for code in per.index:
        m = binary_matrix(df, code)
        kappas = []
        for i, j in pairs:
            both = m.loc[[i, j]].notna().all(axis=0)
            kappas.append(cohen_kappa_score(m.loc[i, both], m.loc[j, both]))
        assert per.loc[code, "kappa"] == pytest.approx(np.mean(kappas), abs=1e-12)
        assert per.loc[code, "fleiss_kappa"] == pytest.approx(fleiss_kappa(m), abs=1e-12)
        assert per.loc[code, "ac1"] == pytest.approx(gwet_ac1(m, categories=[0.0, 1.0]), abs=1e-12)
        assert per.loc[code, "percent_agreement"] == pytest.approx(percent_agreement(m), abs=1e-12)
    assert len(rep.pairwise) == 6
    ab = rep.pairwise.set_index(["coder_a", "coder_b"]).loc[("a", "b")]
    sub = df[df.coder.isin(["a", "b"])]
    assert ab["alpha"] == pytest.approx(krippendorff_alpha_nominal(sub), abs=1e-12)


def test_multilabel_summary_and_disagreements_by_hand():
    df = pd.DataFrame(
        [
            ("u1", "a", "X"), ("u1", "a", "Y"), ("u1", "b", "X"),  # Jaccard 1/2, not exact
            ("u2", "a", None), ("u2", "b", None),  # both empty: exact, Jaccard 1
            ("u3", "a", "Y"), ("u3", "b", "Y"),  # exact
            ("u4", "a", "X"),  # b did not see u4: no comparison
        ],
        columns=["unit", "coder", "code"],
    )  # fmt: skip
    rep = agreement_report(df, n_boot=0)
    ml = rep.overall["multilabel"]
    assert ml["exact_match"] == pytest.approx(2 / 3)
    assert ml["mean_jaccard"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert math.isnan(ml["exact_match_lo"])  # no bootstrap requested
    assert ml["codes_per_unit"] == {"a": pytest.approx(4 / 4), "b": pytest.approx(2 / 3)}
    d = rep.disagreements
    assert d[["unit", "code"]].values.tolist() == [["u1", "Y"]]
    assert d.iloc[0]["applied_by"] == ["a"] and d.iloc[0]["not_applied_by"] == ["b"]
    assert rep.per_code.set_index("code").loc["X", "n_units"] == 3
    assert rep.per_code.set_index("code").loc["X", "prevalence_a"] == pytest.approx(2 / 4)


# ---------------------------------------------------------------------------------------------
# Weights, character units, spans
# ---------------------------------------------------------------------------------------------


def test_weights_are_frequency_weights():
    df = simulate(weights=True, n_units=60)
    expanded = []
    for unit, grp in df.groupby("unit"):
        for r in range(int(grp["weight"].iloc[0])):
            expanded.append(grp.drop(columns="weight").assign(unit=f"{unit}#{r}"))
    expanded = pd.concat(expanded, ignore_index=True)
    for fn in (krippendorff_alpha_nominal, fleiss_kappa, gwet_ac1, percent_agreement):
        assert fn(df, code="K1") == pytest.approx(fn(expanded, code="K1"), abs=1e-12)
    a = agreement_report(df, n_boot=0).per_code
    b = agreement_report(expanded, n_boot=0).per_code
    for col in ("kappa", "alpha", "fleiss_kappa", "ac1", "percent_agreement", "prevalence_a"):
        assert a[col].to_numpy() == pytest.approx(b[col].to_numpy(), abs=1e-12)


def test_character_level_alpha_is_exact():
    spans = pd.DataFrame(
        [
            ("d1", 0, 10, "X", "a"), ("d1", 5, 20, "Y", "a"), ("d1", 3, 12, "X", "b"), ("d1", 15, 30, "Y", "b"),
            ("d2", 2, 8, "X", "a"), ("d2", 4, 9, "X", "b"), ("d2", 20, 25, "Y", "b"),
        ],
        columns=["document", "start", "end", "code", "coder"],
    )  # fmt: skip
    lengths = {"d1": 40, "d2": 30}
    units = character_units(spans, lengths)
    assert units["weight"].sum() == 70  # every character exactly once
    assert (units["end"] > units["start"]).all()
    codings = spans_to_codings(spans, units)
    # Reference: one unit per character, coded directly from the spans.
    rows = []
    for doc, n in lengths.items():
        for ch in range(n):
            for coder in ("a", "b"):
                hit = spans[(spans.document == doc) & (spans.coder == coder) & (spans.start <= ch) & (spans.end > ch)]
                codes = sorted(set(hit.code))
                rows += [(f"{doc}@{ch}", coder, c) for c in codes] or [(f"{doc}@{ch}", coder, None)]
    per_char = pd.DataFrame(rows, columns=["unit", "coder", "code"])
    for code in ("X", "Y"):
        expected = _package_alpha(binary_matrix(per_char, code))
        assert krippendorff_alpha_nominal(codings, code=code) == pytest.approx(expected, abs=1e-12)
        assert fleiss_kappa(codings, code=code) == pytest.approx(fleiss_kappa(per_char, code=code), abs=1e-12)
    a = agreement_report(codings, n_boot=0).per_code.set_index("code")
    b = agreement_report(per_char, n_boot=0).per_code.set_index("code")
    assert a["kappa"].to_numpy() == pytest.approx(b["kappa"].to_numpy(), abs=1e-12)


def test_character_units_without_lengths_and_bad_spans():
    spans = pd.DataFrame(
        [("d", 4, 9, "X", "a"), ("d", 6, 12, "X", "b")], columns=["document", "start", "end", "code", "coder"]
    )
    units = character_units(spans)
    assert units[["start", "end"]].values.tolist() == [[0, 4], [4, 6], [6, 9], [9, 12]]
    assert units["unit"].tolist()[1] == "d:4-6"
    with pytest.raises(ValueError, match="beyond the end"):
        character_units(spans, {"d": 10})
    bad = spans.assign(start=[9, 6])
    with pytest.raises(ValueError, match="bad offsets"):
        character_units(bad)


def test_spans_to_codings_overlap_and_missing_documents():
    units = pd.DataFrame(
        {"unit": ["d1-s1", "d1-s2", "d1-s3", "d2-s1"], "document": ["d1", "d1", "d1", "d2"],
         "start": [0, 10, 20, 0], "end": [10, 20, 30, 10]}
    )  # fmt: skip
    spans = pd.DataFrame(
        [("d1", 8, 12, "X", "a"), ("d1", 25, 27, "Y", "a"), ("d1", 0, 5, "X", "b"), ("d2", 0, 3, "Y", "b")],
        columns=["document", "start", "end", "code", "coder"],
    )
    got = spans_to_codings(spans, units)
    as_set = {(r.unit, r.coder, r.code) for r in got.itertuples()}
    assert as_set == {
        ("d1-s1", "a", "X"), ("d1-s2", "a", "X"), ("d1-s3", "a", "Y"),
        ("d1-s1", "b", "X"), ("d1-s2", "b", None), ("d1-s3", "b", None),
        ("d2-s1", "b", "Y"),  # a never coded d2: no rows for a there
    }  # fmt: skip
    strict = spans_to_codings(spans, units, min_overlap=3)
    assert ("d1-s1", "a", "X") not in {(r.unit, r.coder, r.code) for r in strict.itertuples()}  # 2-char overlap
    assert ("d1-s1", "a", None) in {(r.unit, r.coder, r.code) for r in strict.itertuples()}
    # A span row without a code marks a document as coded (nothing found) by that coder.
    marker = pd.concat([spans, pd.DataFrame([("d2", None, None, None, "a")], columns=spans.columns)])
    got2 = spans_to_codings(marker, units)
    assert ("d2-s1", "a", None) in {(r.unit, r.coder, r.code) for r in got2.itertuples()}


# ---------------------------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow  # 4 x 150 bootstrap draws (~2-3 s)
def test_bootstrap_is_deterministic_and_matches_compare():
    df = simulate(n_units=80, coders=("a", "b", "c"))
    rep = agreement_report(df, reference="a", n_boot=150, seed=7)
    per = rep.per_code.set_index("code")
    for stat, fn in (
        ("alpha", lambda d: krippendorff_alpha_nominal(d, code="K1")),
        ("fleiss_kappa", lambda d: fleiss_kappa(d, code="K1")),
        ("ac1", lambda d: gwet_ac1(d, code="K1")),
    ):
        ci = bootstrap_ci(fn, df, n_boot=150, seed=7)
        assert ci.estimate == pytest.approx(per.loc["K1", stat], abs=1e-12)
        assert ci.low == pytest.approx(per.loc["K1", f"{stat}_lo"], abs=1e-12)
        assert ci.high == pytest.approx(per.loc["K1", f"{stat}_hi"], abs=1e-12)
        assert ci.low <= ci.estimate <= ci.high
    pooled = bootstrap_ci(krippendorff_alpha_nominal, df, n_boot=150, seed=7)
    assert (pooled.low, pooled.high) == pytest.approx((rep.overall["alpha_pooled_lo"], rep.overall["alpha_pooled_hi"]))

    def f1_b(d):
        return precision_recall_f1(d, "b", "a").micro["f1"]

    ci = bootstrap_ci(f1_b, df, n_boot=150, seed=7)
    entry = rep.overall["precision_recall_f1"]["b"]
    assert (ci.low, ci.high) == pytest.approx((entry["micro_f1_lo"], entry["micro_f1_hi"]), abs=1e-12)
    again = agreement_report(df, reference="a", n_boot=150, seed=7)
    pd.testing.assert_frame_equal(rep.per_code, again.per_code)
    other = agreement_report(df, reference="a", n_boot=150, seed=8)
    assert not np.allclose(rep.per_code["alpha_lo"], other.per_code["alpha_lo"])


def test_bootstrap_on_matrix_and_nan_draws():
    ci = bootstrap_ci(krippendorff_alpha_nominal, KRIPPENDORFF_2011, n_boot=300, seed=1)
    assert ci.estimate == pytest.approx(0.743421052631579)
    assert 0.2 < ci.low < ci.estimate < ci.high <= 1.0
    assert bootstrap_ci(krippendorff_alpha_nominal, KRIPPENDORFF_2011, n_boot=300, seed=1) == ci
    frame = pd.DataFrame(KRIPPENDORFF_2011)
    assert bootstrap_ci(krippendorff_alpha_nominal, frame, n_boot=300, seed=1) == ci
    constant = np.array([[1, 1, 1], [1, 1, 1]])
    nan_ci = bootstrap_ci(krippendorff_alpha_nominal, constant, n_boot=20)
    assert all(math.isnan(v) for v in nan_ci)


def test_compare_runs_fast_enough_on_a_realistic_size():
    df = simulate(n_units=2000, n_codes=12, coders=("a", "b", "c", "d"), p=0.1, flip=0.04, miss=0.05, seed=3)
    import time

    t0 = time.perf_counter()
    rep = agreement_report(df, reference="a", n_boot=300)
    assert time.perf_counter() - t0 < 10
    assert rep.per_code[["alpha_lo", "alpha_hi"]].notna().all().all()
    assert (rep.per_code["alpha_lo"] <= rep.per_code["alpha"]).all()
    assert (rep.per_code["alpha"] <= rep.per_code["alpha_hi"]).all()


def _clustered_codings() -> pd.DataFrame:
    """Ten interviews of 20 units: in five the coders always agree, in five they never do."""
    rows = []
    for doc in range(10):
        for i in range(20):
            unit = f"d{doc}-u{i}"
            a = i % 2 == 0
            b = a if doc < 5 else not a
            rows += [(unit, "A", "x" if a else None), (unit, "B", "x" if b else None)]
    return pd.DataFrame(rows, columns=["unit", "coder", "code"])


def test_cluster_bootstrap_resamples_whole_documents() -> None:
    codings = _clustered_codings()
    units = codings.unit.unique()
    by_unit = agreement_report(codings, n_boot=400, seed=3)
    # every unit its own cluster: exactly the unit bootstrap
    own = agreement_report(codings, n_boot=400, seed=3, clusters={u: u for u in units})
    pd.testing.assert_frame_equal(by_unit.per_code, own.per_code)
    # whole documents: the same estimate, a much wider interval, since agreement lives in documents
    by_doc = agreement_report(codings, n_boot=400, seed=3, clusters={u: u.split("-")[0] for u in units})
    unit_row, doc_row = by_unit.per_code.iloc[0], by_doc.per_code.iloc[0]
    assert doc_row.kappa == pytest.approx(unit_row.kappa)
    assert (doc_row.kappa_hi - doc_row.kappa_lo) > 2 * (unit_row.kappa_hi - unit_row.kappa_lo)
    assert by_doc.overall["n_clusters"] == 10 and by_unit.overall["n_clusters"] is None
    with pytest.raises(ValueError, match="no cluster"):
        agreement_report(codings, n_boot=10, clusters={units[0]: "d0"})
