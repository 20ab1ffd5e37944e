"""Agreement statistics for multi-label qualitative coding.

Data model
----------
``codings`` is a tidy DataFrame with columns ``unit``, ``coder``, ``code``: one row per code a coder
applied to a unit.  A row whose ``code`` is missing (None/NaN) says the coder coded that unit and
applied no code, so we know which units each coder *saw*.  An optional ``weight`` column gives a
per-unit weight (default 1); :func:`character_units` uses it so that character-level agreement is
computed exactly from a few elementary intervals instead of one row per character.  Weights act as
frequency weights: a unit of weight 7 counts exactly like 7 identical units.

Per-code binary view: for code ``c`` every coder rates every unit they saw 1 (applied ``c``) or 0 (did
not); units a coder did not see are missing.  All statistics below are defined on that view (or, for
single-label data, on a coders x units matrix of nominal labels with NaN for missing).

Degenerate cases (documented per function) return NaN rather than raising: no unit rated by two
coders, or no variation at all where the coefficient's chance term needs some (e.g. kappa when both
coders used a single category).  Gwet's AC1 stays defined when only one of a known set of
categories is used (its chance term is then 0 and AC1 equals percent agreement), as in Gwet (2008).

Bootstrap confidence intervals resample units with replacement (percentile method, Efron &
Tibshirani 1993, ch. 13).  :func:`compare` draws the same resamples as :func:`bootstrap_ci` for the
same seed and units, but evaluates all statistics at once from per-unit sums (one matrix product
per code per chunk of draws) instead of re-running Python code per draw.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

__all__ = [
    "AgreementReport",
    "ConfidenceInterval",
    "PrecisionRecallF1",
    "binary_matrix",
    "bootstrap_ci",
    "character_units",
    "cohen_kappa",
    "compare",
    "fleiss_kappa",
    "gwet_ac1",
    "krippendorff_alpha_nominal",
    "percent_agreement",
    "precision_recall_f1",
    "reliability_matrix",
    "spans_to_codings",
]

UNIT, CODER, CODE, WEIGHT = "unit", "coder", "code", "weight"

# Relative tolerance for "no variation" tests on weighted float sums (bootstrap sums are exact for
# integer weights; this only matters for fractional weights).
_TOL = 1e-9
# Draws are generated in fixed-size chunks so the sequence of resamples depends only on
# (seed, number of units), not on how many draws are requested or how they are processed.
_BOOT_CHUNK = 64


# ----------------------------------------------------------------------------------------------
# Input handling
# ----------------------------------------------------------------------------------------------


def _factorize(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and uniques, sorted when the values are mutually comparable."""
    try:
        codes, uniques = pd.factorize(pd.Series(values, dtype=object), sort=True)
    except TypeError:  # mixed types that cannot be ordered (e.g. 1 and "a")
        codes, uniques = pd.factorize(pd.Series(values, dtype=object), sort=False)
    return np.asarray(codes), np.asarray(uniques, dtype=object)


def _is_tidy(data: Any) -> bool:
    return isinstance(data, pd.DataFrame) and all(c in data.columns for c in (UNIT, CODER, CODE))


def _check_codings(codings: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(codings, pd.DataFrame):
        raise TypeError("codings must be a pandas DataFrame with columns unit, coder, code")
    missing = [c for c in (UNIT, CODER, CODE) if c not in codings.columns]
    if missing:
        raise ValueError(f"codings is missing column(s): {', '.join(missing)}")
    if codings[UNIT].isna().any():
        raise ValueError("codings has rows with a missing unit")
    if codings[CODER].isna().any():
        raise ValueError("codings has rows with a missing coder")
    if WEIGHT in codings.columns:
        w = pd.to_numeric(codings[WEIGHT], errors="coerce")
        if w.isna().any() or not np.isfinite(w.to_numpy(float)).all() or (w < 0).any():
            raise ValueError("codings.weight must be finite and non-negative")
    return codings


@dataclass
class _Design:
    """Dense boolean view of tidy codings: who saw which unit, who applied which code."""

    units: np.ndarray  # (U,) unit labels
    coders: list[Hashable]
    codes: list[Hashable]
    seen: np.ndarray  # (K, U) bool
    applied: np.ndarray  # (C, K, U) bool
    weight: np.ndarray  # (U,) float


def _design(
    codings: pd.DataFrame,
    coders: Sequence[Hashable] | None = None,
    codes: Sequence[Hashable] | None = None,
) -> _Design:
    df = _check_codings(codings)
    if coders is not None:
        coders = list(coders)
        if len(set(coders)) != len(coders):
            raise ValueError("coders must not repeat")
        unknown = [c for c in coders if c not in set(df[CODER])]
        if unknown:
            raise ValueError(f"coder(s) not in codings: {unknown}")
        df = df[df[CODER].isin(coders)]
    else:
        coders = list(_factorize(df[CODER])[1])
    unit_idx, units = _factorize(df[UNIT])
    coder_idx = pd.Index(coders).get_indexer(df[CODER])
    has_code = df[CODE].notna().to_numpy()
    if codes is None:
        codes = list(_factorize(df.loc[has_code, CODE])[1])
    else:
        codes = list(codes)  # rows with other codes count as "seen", not as applications
    n_units, n_coders, n_codes = len(units), len(coders), len(codes)
    seen = np.zeros((n_coders, n_units), dtype=bool)
    seen[coder_idx, unit_idx] = True
    applied = np.zeros((n_codes, n_coders, n_units), dtype=bool)
    if n_codes:
        code_idx = pd.Index(codes).get_indexer(df.loc[has_code, CODE])
        ok = code_idx >= 0
        applied[code_idx[ok], coder_idx[has_code][ok], unit_idx[has_code][ok]] = True
    weight = np.ones(n_units)
    if WEIGHT in df.columns:
        w = pd.to_numeric(df[WEIGHT]).to_numpy(float)
        weight[unit_idx] = w
        if not np.allclose(weight[unit_idx], w):
            raise ValueError("codings.weight must be the same on every row of a unit")
    return _Design(units, coders, codes, seen, applied, weight)


def binary_matrix(codings: pd.DataFrame, code: Hashable, coders: Sequence[Hashable] | None = None) -> pd.DataFrame:
    """Per-code binary view: coders x units, 1.0 applied, 0.0 seen but not applied, NaN not seen."""
    d = _design(codings, coders)
    out = np.where(d.seen, 0.0, np.nan)
    if code in d.codes:
        out[d.applied[d.codes.index(code)]] = 1.0
    return pd.DataFrame(out, index=pd.Index(d.coders, name=CODER), columns=pd.Index(d.units, name=UNIT))


def reliability_matrix(
    labels: pd.DataFrame, unit: str = UNIT, coder: str = CODER, value: str = "label"
) -> pd.DataFrame:
    """Coders x units matrix of single nominal labels from a tidy (unit, coder, label) frame.

    Rows with a missing label are dropped (missing = not rated).  A coder giving two different
    labels to one unit is an error: single-label data has one value per coder and unit.
    """
    for col in (unit, coder, value):
        if col not in labels.columns:
            raise ValueError(f"labels is missing column {col!r}")
    df = labels.loc[labels[value].notna(), [unit, coder, value]].drop_duplicates()
    dup = df.duplicated([unit, coder], keep=False)
    if dup.any():
        u, c = df.loc[dup, [unit, coder]].iloc[0]
        raise ValueError(f"coder {c!r} gave more than one label to unit {u!r}")
    mat = df.pivot(index=coder, columns=unit, values=value)
    values = np.array(mat.to_numpy(dtype=object), dtype=object)  # writable copy
    values[np.asarray(pd.isna(values), dtype=bool)] = np.nan
    # Rebuilt from one object array: a single block, so column resampling stays cheap.
    return pd.DataFrame(values, index=mat.index, columns=mat.columns, dtype=object)


def _counts_from_matrix(
    data: Any, weights: Any = None, categories: Sequence[Hashable] | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """(units x categories) value counts, unit weights and number of categories of a ratings matrix."""
    raw = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)
    if raw.ndim != 2:
        raise ValueError("ratings must be a 2-D coders x units matrix")
    if raw.dtype.kind in "US":
        # np.asarray turns NaN into the string "nan" in string arrays; the krippendorff package
        # treats that as missing, and so do we.
        missing = raw == "nan"
    else:
        missing = np.asarray(pd.isna(raw), dtype=bool)
    n_units = raw.shape[1]
    unit_pos = np.broadcast_to(np.arange(n_units), raw.shape)[~missing]
    values = raw[~missing]
    if categories is None:
        cat_idx, cats = _factorize(values)
        n_cat = len(cats)
    else:
        cat_idx = pd.Index(list(categories)).get_indexer(pd.Series(values, dtype=object))
        if (cat_idx < 0).any():
            bad = values[cat_idx < 0][0]
            raise ValueError(f"value {bad!r} is not among the categories")
        n_cat = len(categories)
    counts = np.bincount(unit_pos * n_cat + cat_idx, minlength=n_units * n_cat).reshape(n_units, n_cat)
    w = _unit_weights(weights, n_units)
    return counts.astype(float), w, n_cat


def _unit_weights(weights: Any, n_units: int) -> np.ndarray:
    if weights is None:
        return np.ones(n_units)
    w = np.asarray(weights, dtype=float)
    if w.shape != (n_units,):
        raise ValueError(f"weights must have one value per unit ({n_units}), got shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be finite and non-negative")
    return w


def _counts(
    data: Any, code: Hashable | None, weights: Any, categories: Sequence[Hashable] | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Dispatch: tidy codings (per-code or pooled binary view) or a ratings matrix."""
    if _is_tidy(data):
        if weights is not None:
            raise ValueError("with tidy codings, give weights as a 'weight' column")
        d = _design(data)
        m = d.seen.sum(0).astype(float)
        if code is not None:
            a = d.applied[d.codes.index(code)].sum(0) if code in d.codes else np.zeros(len(d.units))
            return np.column_stack([m - a, a]), d.weight, 2
        # Pooled design: every (unit, code) pair is a binary pseudo-unit.
        a = d.applied.sum(1).astype(float)  # (C, U)
        counts = np.stack([m[None, :] - a, a], axis=-1).reshape(-1, 2)
        return counts, np.tile(d.weight, len(d.codes)), 2
    if code is not None:
        raise ValueError("code= applies to tidy codings (columns unit, coder, code) only")
    return _counts_from_matrix(data, weights, categories)


# ----------------------------------------------------------------------------------------------
# Statistics from value counts (units x categories)
# ----------------------------------------------------------------------------------------------


def _pa_from_counts(counts: np.ndarray, w: np.ndarray) -> float:
    m = counts.sum(1)
    pair = (m >= 2) & (w > 0)
    if not pair.any():
        return math.nan
    c, mm, ww = counts[pair], m[pair], w[pair]
    per_unit = (c * (c - 1)).sum(1) / (mm * (mm - 1))
    return float((ww * per_unit).sum() / ww.sum())


def _pi_from_counts(counts: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Gwet's (2014) category shares: mean over rated units of the share of ratings in each category."""
    m = counts.sum(1)
    rated = (m >= 1) & (w > 0)
    if not rated.any():
        return np.full(counts.shape[1], np.nan)
    share = counts[rated] / m[rated, None]
    return (w[rated, None] * share).sum(0) / w[rated].sum()


def _alpha_from_counts(counts: np.ndarray, w: np.ndarray) -> float:
    m = counts.sum(1)
    pair = (m >= 2) & (w > 0)
    c, mm, ww = counts[pair], m[pair], w[pair]
    n_c = (ww[:, None] * c).sum(0)  # pairable values per category
    n = n_c.sum()
    expected_disagree = n * n - (n_c * n_c).sum()
    if n <= 0 or expected_disagree <= _TOL * n * n:
        return math.nan
    o_diag = (ww[:, None] * c * (c - 1) / (mm[:, None] - 1)).sum()
    return float(1.0 - (n - 1.0) * (n - o_diag) / expected_disagree)


def percent_agreement(data: Any, *, code: Hashable | None = None, weights: Any = None) -> float:
    """Observed agreement: share of agreeing coder pairs, averaged over units rated by >= 2 coders.

    For unit ``u`` rated by ``m_u`` coders with ``n_uk`` of them choosing category ``k``, the unit's
    agreement is ``sum_k n_uk (n_uk - 1) / (m_u (m_u - 1))`` (Fleiss 1971, eq. 2; Gwet 2014 for
    varying ``m_u``); for two coders this is the plain proportion of units they agree on.

    ``data`` is tidy codings (with ``code=``: that code's binary view; without: the pooled
    units x codes binary design) or a coders x units matrix of labels (NaN = missing) with optional
    per-unit ``weights``.  Returns NaN when no unit was rated by two coders.
    """
    counts, w, _ = _counts(data, code, weights)
    return _pa_from_counts(counts, w)


def fleiss_kappa(data: Any, *, code: Hashable | None = None, weights: Any = None) -> float:
    """Fleiss' kappa, ``(P_a - P_e) / (1 - P_e)`` with ``P_e = sum_k pi_k^2`` (Fleiss 1971).

    With missing ratings it uses the generalisation in Gwet (2014, Handbook of Inter-Rater
    Reliability, 4th ed., ch. 2): ``P_a`` as in :func:`percent_agreement` over units rated by >= 2
    coders, and ``pi_k`` the mean over rated units of the share of their ratings in category ``k``.
    For complete data this is exactly Fleiss (1971).  Input as for :func:`percent_agreement`.
    NaN when no unit is pairable or when all ratings fall in one category (``P_e = 1``).
    """
    counts, w, _ = _counts(data, code, weights)
    pa = _pa_from_counts(counts, w)
    pe = float((_pi_from_counts(counts, w) ** 2).sum())
    if math.isnan(pa) or math.isnan(pe) or 1.0 - pe <= _TOL:
        return math.nan
    return (pa - pe) / (1.0 - pe)


def gwet_ac1(
    data: Any,
    *,
    code: Hashable | None = None,
    weights: Any = None,
    categories: Sequence[Hashable] | None = None,
) -> float:
    """Gwet's AC1 for any number of coders with missing ratings (Gwet 2008, BJMSP 61:29-48).

    ``AC1 = (P_a - P_e) / (1 - P_e)`` with ``P_a`` as in :func:`percent_agreement` and
    ``P_e = sum_k pi_k (1 - pi_k) / (q - 1)``, ``pi_k`` as in :func:`fleiss_kappa` (Gwet 2014, ch. 4).
    ``q`` is the number of categories: 2 in the per-code binary view; for a matrix, the distinct
    values observed unless ``categories`` lists the possible ones.  NaN when no unit is pairable or
    ``q < 2``.
    """
    counts, w, q = _counts(data, code, weights, categories)
    if q < 2:
        return math.nan
    pa = _pa_from_counts(counts, w)
    pi = _pi_from_counts(counts, w)
    pe = float((pi * (1 - pi)).sum() / (q - 1))
    if math.isnan(pa) or math.isnan(pe):
        return math.nan
    return (pa - pe) / (1.0 - pe)


def krippendorff_alpha_nominal(data: Any, *, code: Hashable | None = None, weights: Any = None) -> float:
    """Krippendorff's alpha for nominal data, any number of coders, missing values allowed.

    ``alpha = 1 - D_o / D_e`` computed from the coincidence matrix (Krippendorff 2011, "Computing
    Krippendorff's alpha-reliability", sec. C): with ``n_c`` the pairable values in category ``c``
    and ``n = sum_c n_c``, ``alpha = 1 - (n - 1) * (n - sum_c o_cc) / (n^2 - sum_c n_c^2)`` where
    ``o_cc = sum_u n_uc (n_uc - 1) / (m_u - 1)``.  Units with fewer than two values are not pairable.

    ``data``: a coders x units matrix of labels (object or numeric, NaN missing; like the
    ``krippendorff`` package's ``reliability_data``, whose nominal alpha this matches), or tidy
    codings (``code=`` for one code's binary view; no ``code`` for the pooled units x codes binary
    design).  NaN when there are no pairable values or they all fall in one category.
    """
    counts, w, _ = _counts(data, code, weights)
    return _alpha_from_counts(counts, w)


def cohen_kappa(a: Any, b: Any, *, weights: Any = None) -> float:
    """Cohen's kappa between two coders' labels, ``(p_o - p_e) / (1 - p_e)`` (Cohen 1960).

    ``p_e = sum_k p_a(k) p_b(k)`` uses each coder's own marginals, so the result equals
    ``sklearn.metrics.cohen_kappa_score(a, b, sample_weight=weights)``.  Positions where either
    label is missing are dropped (two aligned pandas Series are aligned on their index first).
    NaN when nothing is left or both coders used one and the same category (``p_e = 1``).
    """
    if isinstance(a, pd.Series) and isinstance(b, pd.Series) and weights is None:
        a, b = a.align(b, join="outer")
    a_arr = np.asarray(a, dtype=object)
    b_arr = np.asarray(b, dtype=object)
    if a_arr.ndim != 1 or a_arr.shape != b_arr.shape:
        raise ValueError("a and b must be 1-D and of equal length")
    w = _unit_weights(weights, len(a_arr))
    keep = ~np.asarray(pd.isna(a_arr), dtype=bool) & ~np.asarray(pd.isna(b_arr), dtype=bool) & (w > 0)
    idx, cats = _factorize(np.concatenate([a_arr[keep], b_arr[keep]]))
    q = len(cats)
    if q < 2:  # nothing rated, or one shared category: chance agreement is 1
        return math.nan
    ia, ib = idx[: keep.sum()], idx[keep.sum() :]
    cm = np.bincount(ia * q + ib, weights=w[keep], minlength=q * q).reshape(q, q)
    n = cm.sum()
    po = np.trace(cm) / n
    pe = float(cm.sum(1) @ cm.sum(0)) / (n * n)
    return float((po - pe) / (1.0 - pe))


# ----------------------------------------------------------------------------------------------
# Precision / recall / F1 of one coder against a reference coder
# ----------------------------------------------------------------------------------------------


@dataclass
class PrecisionRecallF1:
    """Per-code and averaged precision/recall/F1 of a predicted coder against a reference coder."""

    per_code: pd.DataFrame  # code, tp, fp, fn, support, precision, recall, f1
    micro: dict[str, float]
    macro: dict[str, float]


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.broadcast_arrays(np.asarray(num, float), np.asarray(den, float))
    out = np.full(num.shape, np.nan)
    ok = den > 0
    out[ok] = num[ok] / den[ok]
    return out


def precision_recall_f1(
    codings: pd.DataFrame,
    predicted: Hashable,
    reference: Hashable,
    *,
    codes: Sequence[Hashable] | None = None,
) -> PrecisionRecallF1:
    """Precision, recall and F1 per code of ``predicted`` against ``reference``, on units both saw.

    ``precision = TP / (TP + FP)``, ``recall = TP / (TP + FN)``, ``F1 = 2TP / (2TP + FP + FN)``
    (van Rijsbergen 1979), weighted by unit weight.  Micro averages pool TP/FP/FN over codes; macro
    averages are the unweighted mean over the codes where the metric is defined (a code neither
    coder applied has no precision, recall or F1: NaN, left out of the macro mean).
    """
    d = _design(codings, [predicted, reference], codes)
    joint = (d.seen[0] & d.seen[1]) * d.weight
    xp, xr = d.applied[:, 0, :], d.applied[:, 1, :]
    tp = (xp & xr) @ joint
    pp = xp @ joint
    rp = xr @ joint
    fp, fn = pp - tp, rp - tp
    per = pd.DataFrame(
        {
            CODE: d.codes,
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "support": rp,
            "precision": _safe_div(tp, pp),
            "recall": _safe_div(tp, rp),
            "f1": _safe_div(2 * tp, pp + rp),
        }
    )
    ttp, tpp, trp = tp.sum(), pp.sum(), rp.sum()
    micro = {
        "precision": float(_safe_div(ttp, tpp)),
        "recall": float(_safe_div(ttp, trp)),
        "f1": float(_safe_div(2 * ttp, tpp + trp)),
    }
    macro = {k: _nanmean_scalar(per[k].to_numpy()) for k in ("precision", "recall", "f1")}
    return PrecisionRecallF1(per, micro, macro)


def _nanmean_scalar(x: np.ndarray) -> float:
    x = np.asarray(x, float)
    return float(x[~np.isnan(x)].mean()) if (~np.isnan(x)).any() else math.nan


def _nanmean(x: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices -> NaN is what we want
        return np.nanmean(x, axis=axis)


# ----------------------------------------------------------------------------------------------
# Bootstrap
# ----------------------------------------------------------------------------------------------


class ConfidenceInterval(NamedTuple):
    estimate: float
    low: float
    high: float


def _resample_indices(n_units: int, n_boot: int, seed: int | None) -> Iterator[np.ndarray]:
    """Chunks of bootstrap draws, each row a resample of unit positions (with replacement)."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < n_boot:
        b = min(_BOOT_CHUNK, n_boot - done)
        yield rng.integers(0, n_units, size=(b, n_units))
        done += b


def _multiplicities(idx: np.ndarray) -> np.ndarray:
    """How often each unit occurs in each resample: (draws, units) counts."""
    b, n = idx.shape
    flat = (idx + (np.arange(b) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n)


def _interval(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0, ignoring draws where the statistic is undefined (NaN).

    Same as ``np.nanpercentile(draws, [tail, 100 - tail], axis=0)`` (linear interpolation), but
    vectorised: nanpercentile falls back to a Python loop per column when NaNs are present.
    """
    tail = (1 - level) / 2
    x = np.sort(np.asarray(draws, dtype=float), axis=0)  # NaNs sort last
    n_valid = (~np.isnan(x)).sum(0)
    out = []
    for q in (tail, 1 - tail):
        pos = q * np.maximum(n_valid - 1, 0)
        below = np.floor(pos).astype(np.int64)
        above = np.minimum(below + 1, np.maximum(n_valid - 1, 0))
        v_below = np.take_along_axis(x, below[None, ...], axis=0)[0]
        v_above = np.take_along_axis(x, above[None, ...], axis=0)[0]
        frac = pos - below
        value = v_below + (v_above - v_below) * frac
        out.append(np.where(n_valid > 0, value, np.nan))
    return out[0], out[1]


def bootstrap_ci(
    statistic: Callable[[Any], float],
    data: Any,
    *,
    n_boot: int = 1000,
    seed: int | None = 0,
    level: float = 0.95,
) -> ConfidenceInterval:
    """Percentile bootstrap interval for ``statistic(data)``, resampling units with replacement.

    Percentile method of Efron & Tibshirani (1993, An Introduction to the Bootstrap, ch. 13): the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the statistic over ``n_boot`` resamples.

    ``data`` is tidy codings (all rows of a drawn unit are copied; repeated draws of a unit become
    distinct units, relabelled 0..U-1) or a coders x units matrix / DataFrame (columns resampled).
    ``statistic`` receives data of the same kind.  Deterministic for a given ``seed`` (numpy
    ``default_rng``).  Draws where the statistic is NaN are ignored; the interval is NaN if all are.
    This generic version calls ``statistic`` once per draw; :func:`compare` computes the same
    intervals for its statistics without the per-draw Python calls.
    """
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    estimate = float(statistic(data))
    if _is_tidy(data):
        codes, _ = _factorize(data[UNIT])
        n_units = int(codes.max()) + 1 if len(codes) else 0
        order = np.argsort(codes, kind="stable")
        sizes = np.bincount(codes, minlength=n_units)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])

        def resample(draw: np.ndarray) -> Any:
            lens = sizes[draw]
            total = int(lens.sum())
            # Row positions of the drawn units, concatenated, without a Python loop over units.
            offsets = np.repeat(starts[draw] - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
            rows = order[offsets + np.arange(total)]
            out = data.iloc[rows].copy()
            out[UNIT] = np.repeat(np.arange(len(draw)), lens)
            return out

    else:
        is_frame = isinstance(data, pd.DataFrame)
        matrix = data.to_numpy() if is_frame else np.asarray(data)
        if matrix.ndim != 2:
            raise ValueError("data must be tidy codings or a 2-D coders x units matrix")
        n_units = matrix.shape[1]

        def resample(draw: np.ndarray) -> Any:
            if is_frame:  # rebuilt from the array: much faster than .iloc on wide object frames
                return pd.DataFrame(
                    matrix[:, draw],
                    index=data.index,
                    columns=data.columns[draw],
                    dtype=object if matrix.dtype == object else None,  # no per-column dtype inference
                )
            return matrix[:, draw]

    if n_units == 0 or n_boot <= 0:
        return ConfidenceInterval(estimate, math.nan, math.nan)
    draws = np.array(
        [statistic(resample(draw)) for chunk in _resample_indices(n_units, n_boot, seed) for draw in chunk],
        dtype=float,
    )
    lo, hi = _interval(draws, level)
    return ConfidenceInterval(estimate, float(lo), float(hi))


# ----------------------------------------------------------------------------------------------
# compare(): all statistics for all codes, with bootstrap intervals, from per-unit sums
# ----------------------------------------------------------------------------------------------


@dataclass
class AgreementReport:
    """Result of :func:`compare`.  ``*_lo``/``*_hi`` columns/keys hold the bootstrap interval."""

    per_code: pd.DataFrame
    overall: dict[str, Any]
    pairwise: pd.DataFrame
    disagreements: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN -> None, numpy scalars -> Python numbers, frames -> records)."""
        return {
            "per_code": _jsonable(self.per_code),
            "overall": _jsonable(self.overall),
            "pairwise": _jsonable(self.pairwise),
            "disagreements": _jsonable(self.disagreements),
        }


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, pd.DataFrame):
        return [_jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if math.isnan(obj) else float(obj)
    if obj is None or (not isinstance(obj, str) and pd.isna(obj)):
        return None
    return obj if isinstance(obj, str) else str(obj)


class _Layout:
    """Column layout of the per-unit quantities whose (weighted, resampled) sums drive compare().

    Shared columns (code-independent): pairable, rated, m*pairable, then per coder pair p:
    N_p (both saw), E_p (both saw and code sets equal), J_p (both saw x Jaccard of code sets).
    Per-code columns: P_u (pair agreement), pi_u (share applied), dis_u (alpha disagreement),
    n1_u (pairable 1-values), then per pair p: A_p = x_i s_j, B_p = s_i x_j, C_p = x_i x_j.
    """

    def __init__(self, n_pairs: int) -> None:
        p = n_pairs
        self.N = slice(3, 3 + p)
        self.E = slice(3 + p, 3 + 2 * p)
        self.J = slice(3 + 2 * p, 3 + 3 * p)
        self.n_shared = 3 + 3 * p
        self.A = slice(4, 4 + p)
        self.B = slice(4 + p, 4 + 2 * p)
        self.C = slice(4 + 2 * p, 4 + 3 * p)
        self.n_code = 4 + 3 * p


def _shared_columns(d: _Design, pairs: list[tuple[int, int]]) -> np.ndarray:
    s = d.seen.astype(float)
    m = s.sum(0)
    pairable = (m >= 2).astype(float)
    cols = [pairable, (m >= 1).astype(float), m * pairable]
    n_codes_by = d.applied.sum(0).astype(float)  # (K, U) codes applied per coder and unit
    both, exact, jacc = [], [], []
    for i, j in pairs:
        joint = s[i] * s[j]
        inter = (d.applied[:, i, :] & d.applied[:, j, :]).sum(0).astype(float)
        union = n_codes_by[i] + n_codes_by[j] - inter
        both.append(joint)
        exact.append(joint * (union == inter))
        jacc.append(joint * np.where(union > 0, inter / np.maximum(union, 1), 1.0))
    return np.column_stack(cols + both + exact + jacc)


def _code_columns(d: _Design, c: int, pairs: list[tuple[int, int]], m: np.ndarray) -> np.ndarray:
    x = d.applied[c].astype(float)  # (K, U)
    s = d.seen.astype(float)
    a = x.sum(0)
    pairable = m >= 2
    mm = np.where(pairable, m, 2.0)  # avoid 0-division; masked below
    p_u = np.where(pairable, (a * (a - 1) + (m - a) * (m - a - 1)) / (mm * (mm - 1)), 0.0)
    pi_u = np.where(m >= 1, a / np.maximum(m, 1), 0.0)
    dis_u = np.where(pairable, a * (m - a) / (mm - 1), 0.0)
    n1_u = np.where(pairable, a, 0.0)
    if pairs:
        ii = np.array([p[0] for p in pairs])
        jj = np.array([p[1] for p in pairs])
        pair_cols = np.concatenate([x[ii] * s[jj], s[ii] * x[jj], x[ii] * x[jj]])
    else:
        pair_cols = np.empty((0, len(m)))
    return np.column_stack([p_u, pi_u, dis_u, n1_u, pair_cols.T])


def _boot_multiplicities(n_units: int, n_boot: int, seed: int | None) -> np.ndarray:
    """(draws, units) multiplicities of all resamples, stored compactly (uint16 unless one overflows)."""
    out = np.empty((n_boot, n_units), dtype=np.uint16)
    done = 0
    for idx in _resample_indices(n_units, n_boot, seed):
        mult = _multiplicities(idx)
        if mult.max() > np.iinfo(out.dtype).max:  # practically impossible; stay exact anyway
            out = out.astype(np.int64)
        out[done : done + len(idx)] = mult
        done += len(idx)
    return out


def _sums(
    d: _Design, pairs: list[tuple[int, int]], n_boot: int, seed: int | None, cluster: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Point and bootstrap sums: shared (1|B, S), per-code (1|B, C, T).

    ``cluster`` (an index per unit) resamples whole clusters: a unit occurs as often as its cluster.
    """
    lay = _Layout(len(pairs))
    m = d.seen.sum(0).astype(float)
    w = d.weight
    n_units, n_codes = len(w), len(d.codes)
    n_boot = max(n_boot, 0) if n_units else 0
    shared_q = _shared_columns(d, pairs)
    if cluster is None:
        mult = _boot_multiplicities(n_units, n_boot, seed)
    else:
        n_clusters = int(cluster.max()) + 1 if len(cluster) else 0
        mult = _boot_multiplicities(n_clusters, n_boot, seed)[:, cluster]
    # Rows of resampled weights per matrix product: bounds the float copy to ~16 MB.
    step = max(1, min(n_boot, 2_000_000 // max(n_units, 1)))

    point_sh = (w @ shared_q)[None, :]
    point_cs = np.zeros((1, n_codes, lay.n_code))
    boot_sh = np.full((n_boot, lay.n_shared), np.nan)
    boot_cs = np.full((n_boot, n_codes, lay.n_code), np.nan)
    for lo in range(0, n_boot, step):
        boot_sh[lo : lo + step] = (mult[lo : lo + step] * w) @ shared_q
    # Codes outer: each code's per-unit columns are built once and multiplied with all draws.
    for c in range(n_codes):
        q = _code_columns(d, c, pairs, m)
        point_cs[0, c] = w @ q
        for lo in range(0, n_boot, step):
            boot_cs[lo : lo + step, c] = (mult[lo : lo + step] * w) @ q
    return point_sh, point_cs, boot_sh, boot_cs


def _kappa_binary(n: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Cohen's kappa from sums: n both rated, a = coder i applied, b = coder j applied, c = both."""
    with np.errstate(divide="ignore", invalid="ignore"):
        po = (n - a - b + 2 * c) / n
        pe = (a * b + (n - a) * (n - b)) / (n * n)
        k = (po - pe) / (1 - pe)
    tol = _TOL * n
    degenerate = (n <= 0) | ((a <= tol) & (b <= tol)) | ((a >= n - tol) & (b >= n - tol))
    return np.where(degenerate, np.nan, k)


def _alpha_binary(dis: np.ndarray, n1: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Nominal alpha for binary values: 1 - (n - 1) o_01 / (n_0 n_1)."""
    n0 = n - n1
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1 - (n - 1) * dis / (n1 * n0)
    degenerate = (n <= 0) | (n1 <= _TOL * n) | (n0 <= _TOL * n)
    return np.where(degenerate, np.nan, alpha)


def _fleiss_ac1_binary(pa: np.ndarray, pi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        pe_f = pi * pi + (1 - pi) * (1 - pi)
        fleiss = np.where((pi <= _TOL) | (pi >= 1 - _TOL), np.nan, (pa - pe_f) / (1 - pe_f))
        pe_g = 2 * pi * (1 - pi)  # q = 2: sum_k pi_k (1 - pi_k) / (q - 1)
        ac1 = (pa - pe_g) / (1 - pe_g)
    return fleiss, ac1


def _statistics(
    sh: np.ndarray, cs: np.ndarray, lay: _Layout, ref_pairs: list[tuple[int, bool]]
) -> dict[str, np.ndarray]:
    """All statistics from sums; leading axis = draws.  ref_pairs: (pair index, predicted is i)."""
    n_codes = cs.shape[1]
    out: dict[str, np.ndarray] = {}
    pair_w, rated_w, nn = sh[:, 0:1], sh[:, 1:2], sh[:, 2:3]
    with np.errstate(divide="ignore", invalid="ignore"):
        pa = np.where(pair_w > 0, cs[..., 0] / pair_w, np.nan)
        pi = np.where(rated_w > 0, cs[..., 1] / rated_w, np.nan)
    out["percent_agreement"] = pa
    out["fleiss_kappa"], out["ac1"] = _fleiss_ac1_binary(pa, pi)
    out["alpha"] = _alpha_binary(cs[..., 2], cs[..., 3], nn)
    n_pair = sh[:, None, lay.N]  # (B, 1, P)
    a, b, c = cs[..., lay.A], cs[..., lay.B], cs[..., lay.C]  # (B, C, P)
    kappa_pairs = _kappa_binary(n_pair, a, b, c)
    out["kappa_pairs"] = kappa_pairs
    out["kappa"] = _nanmean(kappa_pairs, axis=-1)

    # Macro = mean over codes; micro = the pooled units x codes binary design.
    for name in ("percent_agreement", "fleiss_kappa", "ac1", "alpha", "kappa"):
        out[f"macro_{name}"] = _nanmean(out[name], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        micro_pa = np.where(pair_w[:, 0] > 0, cs[..., 0].sum(1) / (n_codes * pair_w[:, 0]), np.nan)
        micro_pi = np.where(rated_w[:, 0] > 0, cs[..., 1].sum(1) / (n_codes * rated_w[:, 0]), np.nan)
    out["micro_percent_agreement"] = micro_pa
    out["micro_fleiss_kappa"], out["micro_ac1"] = _fleiss_ac1_binary(micro_pa, micro_pi)
    out["micro_alpha"] = _alpha_binary(cs[..., 2].sum(1), cs[..., 3].sum(1), n_codes * nn[:, 0])
    sa, sb, sc = a.sum(1), b.sum(1), c.sum(1)  # (B, P)
    n_pooled = n_codes * sh[:, lay.N]
    pooled_kappa_pairs = _kappa_binary(n_pooled, sa, sb, sc)
    out["micro_kappa"] = _nanmean(pooled_kappa_pairs, axis=-1)

    # Per coder pair.
    dis = sa + sb - 2 * sc
    out["pair_mean_kappa"] = _nanmean(kappa_pairs, axis=1)
    out["pair_pooled_kappa"] = pooled_kappa_pairs
    out["pair_alpha"] = _alpha_binary(dis, sa + sb, 2 * n_pooled)
    out["pair_percent_agreement"] = np.where(n_pooled > 0, 1 - _safe_div(dis, n_pooled), np.nan)
    out["pair_exact_match"] = _safe_div(sh[:, lay.E], sh[:, lay.N])
    out["pair_mean_jaccard"] = _safe_div(sh[:, lay.J], sh[:, lay.N])
    out["exact_match"] = _safe_div(sh[:, lay.E].sum(1), sh[:, lay.N].sum(1))
    out["mean_jaccard"] = _safe_div(sh[:, lay.J].sum(1), sh[:, lay.N].sum(1))

    # Precision / recall / F1 of each other coder against the reference.
    for r, (p, pred_is_i) in enumerate(ref_pairs):
        tp = c[..., p]
        pp = a[..., p] if pred_is_i else b[..., p]
        rp = b[..., p] if pred_is_i else a[..., p]
        out[f"ref{r}_precision"] = _safe_div(tp, pp)
        out[f"ref{r}_recall"] = _safe_div(tp, rp)
        out[f"ref{r}_f1"] = _safe_div(2 * tp, pp + rp)
        ttp, tpp, trp = tp.sum(1), pp.sum(1), rp.sum(1)
        out[f"ref{r}_micro_precision"] = _safe_div(ttp, tpp)
        out[f"ref{r}_micro_recall"] = _safe_div(ttp, trp)
        out[f"ref{r}_micro_f1"] = _safe_div(2 * ttp, tpp + trp)
        for k in ("precision", "recall", "f1"):
            out[f"ref{r}_macro_{k}"] = _nanmean(out[f"ref{r}_{k}"], axis=1)
    return out


def compare(
    codings: pd.DataFrame,
    coders: Sequence[Hashable] | None = None,
    reference: Hashable | None = None,
    n_boot: int = 1000,
    seed: int | None = 0,
    *,
    codes: Sequence[Hashable] | None = None,
    level: float = 0.95,
    clusters: Mapping[Hashable, Hashable] | None = None,
) -> AgreementReport:
    """Agreement between coders on every code, with bootstrap intervals (units resampled).

    ``clusters`` maps each unit to a cluster (typically its interview); the bootstrap then draws
    whole clusters with replacement (a cluster bootstrap, Davison and Hinkley 1997, sec. 3.8),
    which is honest when units of one interview resemble each other. With every unit its own
    cluster it gives the same draws as the unit bootstrap.

    ``per_code``: code, n_units (units seen by >= 2 coders), n_applied (units with the code from
    any coder), prevalence_<coder> (share of the units a coder saw that got the code),
    percent_agreement, kappa (Cohen's for two coders; for more, the mean of pairwise Cohen's kappas,
    Light 1971), fleiss_kappa, alpha (Krippendorff nominal), ac1 (Gwet), and with ``reference``
    precision_<coder>/recall_<coder>/f1_<coder> of each other coder against it; every statistic
    with ``_lo``/``_hi`` bootstrap bounds.

    ``overall``: ``macro_<stat>`` (mean over codes) and ``micro_<stat>`` (the pooled units x codes
    binary design, where each unit-code pair is one binary item), with ``mean_kappa`` (=
    macro_kappa) and ``alpha_pooled`` (= micro_alpha) spelled out; ``precision_recall_f1`` per
    non-reference coder (micro/macro); ``multilabel``: exact_match (share of coder pairs x units
    with identical code sets), mean_jaccard (Jaccard of code sets, 1 when both are empty),
    codes_per_unit and share_units_coded per coder.

    ``pairwise``: per coder pair, units both saw, mean kappa over codes, pooled kappa, pooled
    alpha, pooled percent agreement, exact match and Jaccard.  ``disagreements``: every (unit, code)
    where some coders who saw the unit applied the code and others did not.

    ``codes`` fixes the code list (codes nobody applied get NaN chance-corrected statistics);
    ``n_boot=0`` skips the bootstrap (intervals NaN).
    """
    d = _design(codings, coders, codes)
    k = len(d.coders)
    if k < 2:
        raise ValueError("compare needs at least two coders")
    if reference is not None and reference not in d.coders:
        raise ValueError(f"reference coder {reference!r} is not among the coders {d.coders}")
    pairs = list(combinations(range(k), 2))
    lay = _Layout(len(pairs))
    ref_pairs: list[tuple[int, bool]] = []
    others: list[Hashable] = []
    if reference is not None:
        r = d.coders.index(reference)
        for o in range(k):
            if o != r:
                ref_pairs.append((pairs.index((min(o, r), max(o, r))), o < r))
                others.append(d.coders[o])

    cluster, n_clusters = None, None
    if clusters is not None:
        missing = [u for u in d.units if u not in clusters]
        if missing:
            raise ValueError(f"clusters name no cluster for {len(missing)} unit(s), e.g. {missing[0]!r}")
        cluster, names = _factorize(pd.Series([clusters[u] for u in d.units], dtype=object))
        n_clusters = len(names)
    point_sh, point_cs, boot_sh, boot_cs = _sums(d, pairs, n_boot, seed, cluster)
    est = {key: v[0] for key, v in _statistics(point_sh, point_cs, lay, ref_pairs).items()}
    if n_boot > 0 and len(d.units):
        boot = _statistics(boot_sh, boot_cs, lay, ref_pairs)
        bounds = {key: _interval(v, level) for key, v in boot.items() if key != "kappa_pairs"}
    else:
        bounds = {key: (np.full_like(v, np.nan, dtype=float),) * 2 for key, v in est.items()}

    def with_ci(target: dict[str, Any], name: str, key: str) -> None:
        target[name] = _py(est[key])
        target[f"{name}_lo"] = _py(bounds[key][0])
        target[f"{name}_hi"] = _py(bounds[key][1])

    w = d.weight
    m = d.seen.sum(0)
    cols: dict[str, Any] = {
        CODE: d.codes,
        "n_units": int((m >= 2).sum()),
        "n_applied": d.applied.any(1).sum(1),
    }
    seen_w = d.seen @ w
    for i, coder in enumerate(d.coders):
        cols[f"prevalence_{coder}"] = _safe_div(d.applied[:, i, :] @ w, np.full(len(d.codes), seen_w[i]))
    for name in ("percent_agreement", "kappa", "fleiss_kappa", "alpha", "ac1"):
        with_ci(cols, name, name)
    for r, coder in enumerate(others):
        for metric in ("precision", "recall", "f1"):
            with_ci(cols, f"{metric}_{coder}", f"ref{r}_{metric}")
    per_code = pd.DataFrame(cols)

    overall: dict[str, Any] = {
        "n_units": len(d.units),
        "n_pairable_units": int((m >= 2).sum()),
        "n_codes": len(d.codes),
        "coders": list(d.coders),
        "reference": reference,
        "kappa_method": "cohen" if k == 2 else "mean pairwise cohen (Light 1971)",
        "n_boot": n_boot,
        "n_clusters": n_clusters,
        "seed": seed,
        "level": level,
    }
    for name in ("percent_agreement", "kappa", "fleiss_kappa", "alpha", "ac1"):
        with_ci(overall, f"macro_{name}", f"macro_{name}")
        with_ci(overall, f"micro_{name}", f"micro_{name}")
    with_ci(overall, "mean_kappa", "macro_kappa")
    with_ci(overall, "alpha_pooled", "micro_alpha")
    if reference is not None:
        prf: dict[str, Any] = {}
        for r, coder in enumerate(others):
            entry: dict[str, Any] = {}
            for avg in ("micro", "macro"):
                for metric in ("precision", "recall", "f1"):
                    with_ci(entry, f"{avg}_{metric}", f"ref{r}_{avg}_{metric}")
            prf[str(coder)] = entry
        overall["precision_recall_f1"] = prf
    n_codes_by = d.applied.sum(0)  # (K, U)
    multilabel: dict[str, Any] = {}
    with_ci(multilabel, "exact_match", "exact_match")
    with_ci(multilabel, "mean_jaccard", "mean_jaccard")
    multilabel["codes_per_unit"] = {
        str(c): float(_safe_div((n_codes_by[i] * d.seen[i]) @ w, seen_w[i])) for i, c in enumerate(d.coders)
    }
    multilabel["share_units_coded"] = {
        str(c): float(_safe_div(((n_codes_by[i] > 0) & d.seen[i]) @ w, seen_w[i])) for i, c in enumerate(d.coders)
    }
    overall["multilabel"] = multilabel

    pw: dict[str, Any] = {
        "coder_a": [d.coders[i] for i, _ in pairs],
        "coder_b": [d.coders[j] for _, j in pairs],
        "n_units": [int((d.seen[i] & d.seen[j]).sum()) for i, j in pairs],
    }
    for name, key in (
        ("mean_kappa", "pair_mean_kappa"),
        ("pooled_kappa", "pair_pooled_kappa"),
        ("alpha", "pair_alpha"),
        ("percent_agreement", "pair_percent_agreement"),
        ("exact_match", "pair_exact_match"),
        ("mean_jaccard", "pair_mean_jaccard"),
    ):
        with_ci(pw, name, key)
    pairwise = pd.DataFrame(pw)

    return AgreementReport(per_code, overall, pairwise, _disagreements(d))


def _py(v: Any) -> Any:
    """0-d results as Python floats (for the overall dict), arrays unchanged (frame columns)."""
    arr = np.asarray(v, dtype=float)
    return float(arr) if arr.ndim == 0 else arr


def _disagreements(d: _Design) -> pd.DataFrame:
    m = d.seen.sum(0)
    a = d.applied.sum(1)  # (C, U)
    ci, ui = np.nonzero((a > 0) & (a < m[None, :]))
    order = np.lexsort((ci, ui))  # by unit, then code
    ci, ui = ci[order], ui[order]
    coders = np.array(d.coders, dtype=object)
    applied_by = [list(coders[d.applied[c, :, u]]) for c, u in zip(ci, ui, strict=True)]
    not_applied_by = [list(coders[d.seen[:, u] & ~d.applied[c, :, u]]) for c, u in zip(ci, ui, strict=True)]
    return pd.DataFrame(
        {
            UNIT: d.units[ui] if len(ui) else np.array([], dtype=object),
            CODE: np.array(d.codes, dtype=object)[ci] if len(ci) else np.array([], dtype=object),
            "applied_by": applied_by,
            "not_applied_by": not_applied_by,
            "n_applied": a[ci, ui],
            "n_seen": m[ui],
            WEIGHT: d.weight[ui],
        }
    )


# ----------------------------------------------------------------------------------------------
# Units from character spans
# ----------------------------------------------------------------------------------------------

_SPAN_COLS = ("document", "start", "end", CODE, CODER)


def _check_spans(spans: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _SPAN_COLS if c not in spans.columns]
    if missing:
        raise ValueError(f"spans is missing column(s): {', '.join(missing)}")
    if spans[CODER].isna().any() or spans["document"].isna().any():
        raise ValueError("spans has rows with a missing coder or document")
    coded = spans[CODE].notna()
    s = pd.to_numeric(spans.loc[coded, "start"], errors="coerce")
    e = pd.to_numeric(spans.loc[coded, "end"], errors="coerce")
    bad = s.isna() | e.isna() | (s < 0) | (s >= e) | (s % 1 != 0) | (e % 1 != 0)
    if bad.any():
        row = spans.loc[coded].loc[bad].iloc[0]
        raise ValueError(f"span with bad offsets: start={row['start']!r}, end={row['end']!r} (need 0 <= start < end)")
    return spans


def spans_to_codings(spans: pd.DataFrame, units: pd.DataFrame, min_overlap: int = 1) -> pd.DataFrame:
    """Tidy codings from character spans and units (both with character offsets, end exclusive).

    ``spans``: document, start, end, code, coder.  A row with a missing ``code`` only records that
    the coder coded that document (offsets ignored).  ``units``: unit, document, start, end and
    optionally weight.  A unit gets code ``c`` from a coder when one of the coder's ``c`` spans
    overlaps it by at least ``min_overlap`` characters.  Every coder gets a no-code row for each
    unit it gave no code to, in every document it coded; units of documents a coder did not code
    stay missing for that coder.  Returns unit, coder, code, document (and weight), in unit order.
    """
    if min_overlap < 1:
        raise ValueError("min_overlap must be >= 1")
    spans = _check_spans(spans)
    for col in (UNIT, "document", "start", "end"):
        if col not in units.columns:
            raise ValueError(f"units is missing column {col!r}")
    if units[UNIT].duplicated().any():
        raise ValueError(f"units has duplicate unit ids, e.g. {units.loc[units[UNIT].duplicated(), UNIT].iloc[0]!r}")
    units = units.reset_index(drop=True)
    u_start = units["start"].to_numpy(np.int64)
    u_end = units["end"].to_numpy(np.int64)
    coded = spans[spans[CODE].notna()].reset_index(drop=True)
    s_start = coded["start"].to_numpy(np.int64)
    s_end = coded["end"].to_numpy(np.int64)
    unit_rows: list[np.ndarray] = []
    span_rows: list[np.ndarray] = []
    units_by_doc = units.groupby("document", sort=False).indices
    for doc, s_idx in coded.groupby("document", sort=False).indices.items():
        u_idx = units_by_doc.get(doc)
        if u_idx is None:
            continue
        # Units x spans overlap lengths, in blocks to bound memory on long documents.
        step = max(1, 2_000_000 // max(len(s_idx), 1))
        for lo in range(0, len(u_idx), step):
            ub = u_idx[lo : lo + step]
            overlap = np.minimum(u_end[ub, None], s_end[None, s_idx]) - np.maximum(
                u_start[ub, None], s_start[None, s_idx]
            )
            ui, si = np.nonzero(overlap >= min_overlap)
            unit_rows.append(ub[ui])
            span_rows.append(s_idx[si])
    uu = np.concatenate(unit_rows) if unit_rows else np.array([], dtype=np.int64)
    ss = np.concatenate(span_rows) if span_rows else np.array([], dtype=np.int64)
    hits = pd.DataFrame(
        {"_pos": uu, CODER: coded[CODER].to_numpy(object)[ss], CODE: coded[CODE].to_numpy(object)[ss]}
    ).drop_duplicates()
    seen_docs = spans[[CODER, "document"]].drop_duplicates()
    base = seen_docs.merge(
        pd.DataFrame({"_pos": np.arange(len(units)), "document": units["document"].to_numpy()}), on="document"
    )[["_pos", CODER]]
    with_code = hits[["_pos", CODER]].drop_duplicates()
    empty = base.merge(with_code, on=["_pos", CODER], how="left", indicator=True)
    empty = empty.loc[empty["_merge"] == "left_only", ["_pos", CODER]]
    empty[CODE] = None
    out = pd.concat([hits, empty], ignore_index=True)
    out = out.sort_values(["_pos", CODER, CODE], na_position="first", kind="stable", key=_sort_key)
    pos = out["_pos"].to_numpy(np.int64)
    codes = np.array(out[CODE].to_numpy(object), dtype=object)
    codes[np.asarray(pd.isna(codes), dtype=bool)] = None  # "no code" is None, as in hand-made codings
    # Explicit object dtype: pandas 3 would otherwise infer a string dtype and turn None into NaN.
    result = pd.DataFrame(
        {
            UNIT: pd.Series(units[UNIT].to_numpy(object)[pos], dtype=object),
            CODER: pd.Series(out[CODER].to_numpy(object), dtype=object),
            CODE: pd.Series(codes, dtype=object),
            "document": pd.Series(units["document"].to_numpy(object)[pos], dtype=object),
        }
    )
    if WEIGHT in units.columns:
        result[WEIGHT] = units[WEIGHT].to_numpy()[pos]
    return result


def _sort_key(col: pd.Series) -> pd.Series:
    # Codes/coders may mix types; sort on their string form so sorting never raises.
    return col if col.name == "_pos" else col.map(lambda v: None if v is None else str(v))


def _document_lengths(documents: Any) -> dict[Hashable, int]:
    if documents is None:
        return {}
    if isinstance(documents, pd.DataFrame):
        if "document" not in documents.columns:
            raise ValueError("documents needs a 'document' column and a 'length' or 'text' column")
        if "length" in documents.columns:
            return {k: int(v) for k, v in zip(documents["document"], documents["length"], strict=True)}
        if "text" in documents.columns:
            return {k: len(v) for k, v in zip(documents["document"], documents["text"], strict=True)}
        raise ValueError("documents needs a 'length' or 'text' column")
    if isinstance(documents, Mapping):
        return {k: (len(v) if isinstance(v, str) else int(v)) for k, v in documents.items()}
    raise TypeError("documents must be a DataFrame (document, length|text) or a mapping document -> length|text")


def character_units(spans: pd.DataFrame, documents: Any = None) -> pd.DataFrame:
    """Elementary intervals of each document cut at every span boundary, with ``weight`` = length.

    Within one interval every coder's coding is constant, so agreement over these weighted units
    equals agreement over single characters, exactly.  Gaps no span covers are units too (coders
    agree there that nothing applies).  ``documents`` (DataFrame with document and length or text,
    or a mapping document -> length or text) gives each document's length, so text before the first
    and after the last span and documents without spans are included; without it a document runs
    from 0 to its last span end.  Returns unit ("<document>:<start>-<end>"), document, start, end,
    weight.
    """
    spans = _check_spans(spans)
    lengths = _document_lengths(documents)
    coded = spans[spans[CODE].notna()]
    bounds: dict[Hashable, list[np.ndarray]] = {doc: [np.array([0, n])] for doc, n in lengths.items()}
    for doc, grp in coded.groupby("document", sort=False):
        b = [np.array([0]), grp["start"].to_numpy(np.int64), grp["end"].to_numpy(np.int64)]
        if doc in lengths and b[2].max() > lengths[doc]:
            raise ValueError(f"span ends at {b[2].max()} beyond the end of document {doc!r} ({lengths[doc]} chars)")
        bounds.setdefault(doc, []).extend(b)
    frames = []
    for doc, parts in bounds.items():
        cuts = np.unique(np.concatenate(parts))
        if len(cuts) < 2:
            continue
        start, end = cuts[:-1], cuts[1:]
        frames.append(
            pd.DataFrame(
                {
                    UNIT: [f"{doc}:{s}-{e}" for s, e in zip(start, end, strict=True)],
                    "document": doc,
                    "start": start,
                    "end": end,
                    WEIGHT: end - start,
                }
            )
        )
    if not frames:
        return pd.DataFrame({UNIT: [], "document": [], "start": [], "end": [], WEIGHT: []})
    return pd.concat(frames, ignore_index=True)
