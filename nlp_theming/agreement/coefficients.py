"""Agreement coefficients for multi-label qualitative coding, and their bootstrap intervals.

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
Tibshirani 1993, ch. 13).  :func:`nlp_theming.agreement.report.agreement_report` draws the same
resamples as :func:`bootstrap_ci` for the same seed and units, but evaluates all statistics at once
from per-unit sums instead of re-running Python code per draw.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

UNIT, CODER, CODE, WEIGHT = "unit", "coder", "code", "weight"

# Relative tolerance for "no variation" tests on weighted float sums (bootstrap sums are exact for
# integer weights; this only matters for fractional weights).
TOL = 1e-9
# Draws are generated in fixed-size chunks so the sequence of resamples depends only on
# (seed, number of units), not on how many draws are requested or how they are processed.
_BOOT_CHUNK = 64


# ----------------------------------------------------------------------------------------------
# Input handling
# ----------------------------------------------------------------------------------------------


def factorize(values: Any) -> tuple[np.ndarray, np.ndarray]:
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
class Design:
    """Dense boolean view of tidy codings: who saw which unit, who applied which code."""

    units: np.ndarray  # (U,) unit labels
    coders: list[Hashable]
    codes: list[Hashable]
    seen: np.ndarray  # (K, U) bool
    applied: np.ndarray  # (C, K, U) bool
    weight: np.ndarray  # (U,) float


def design(
    codings: pd.DataFrame,
    coders: Sequence[Hashable] | None = None,
    codes: Sequence[Hashable] | None = None,
) -> Design:
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
        coders = list(factorize(df[CODER])[1])
    unit_idx, units = factorize(df[UNIT])
    coder_idx = pd.Index(coders).get_indexer(df[CODER])
    has_code = df[CODE].notna().to_numpy()
    if codes is None:
        codes = list(factorize(df.loc[has_code, CODE])[1])
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
    return Design(units, coders, codes, seen, applied, weight)


def binary_matrix(codings: pd.DataFrame, code: Hashable, coders: Sequence[Hashable] | None = None) -> pd.DataFrame:
    """Per-code binary view: coders x units, 1.0 applied, 0.0 seen but not applied, NaN not seen."""
    d = design(codings, coders)
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
        cat_idx, cats = factorize(values)
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
        d = design(data)
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
    if n <= 0 or expected_disagree <= TOL * n * n:
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
    if math.isnan(pa) or math.isnan(pe) or 1.0 - pe <= TOL:
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
    idx, cats = factorize(np.concatenate([a_arr[keep], b_arr[keep]]))
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


def safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
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
    d = design(codings, [predicted, reference], codes)
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
            "precision": safe_div(tp, pp),
            "recall": safe_div(tp, rp),
            "f1": safe_div(2 * tp, pp + rp),
        }
    )
    ttp, tpp, trp = tp.sum(), pp.sum(), rp.sum()
    micro = {
        "precision": float(safe_div(ttp, tpp)),
        "recall": float(safe_div(ttp, trp)),
        "f1": float(safe_div(2 * ttp, tpp + trp)),
    }
    macro = {k: _nanmean_scalar(per[k].to_numpy()) for k in ("precision", "recall", "f1")}
    return PrecisionRecallF1(per, micro, macro)


def _nanmean_scalar(x: np.ndarray) -> float:
    x = np.asarray(x, float)
    return float(x[~np.isnan(x)].mean()) if (~np.isnan(x)).any() else math.nan


def nanmean(x: np.ndarray, axis: int) -> np.ndarray:
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


def resample_indices(n_units: int, n_boot: int, seed: int | None) -> Iterator[np.ndarray]:
    """Chunks of bootstrap draws, each row a resample of unit positions (with replacement)."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < n_boot:
        b = min(_BOOT_CHUNK, n_boot - done)
        yield rng.integers(0, n_units, size=(b, n_units))
        done += b


def multiplicities(idx: np.ndarray) -> np.ndarray:
    """How often each unit occurs in each resample: (draws, units) counts."""
    b, n = idx.shape
    flat = (idx + (np.arange(b) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n)


def interval(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
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
        codes, _ = factorize(data[UNIT])
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
        [statistic(resample(draw)) for chunk in resample_indices(n_units, n_boot, seed) for draw in chunk],
        dtype=float,
    )
    lo, hi = interval(draws, level)
    return ConfidenceInterval(estimate, float(lo), float(hi))
