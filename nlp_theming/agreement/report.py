"""The statistics report: every coefficient for every code, with bootstrap intervals.

:func:`agreement_report` computes percent agreement, Cohen's/Fleiss' kappa, Krippendorff's alpha,
Gwet's AC1 and (against a reference coder) precision, recall and F1 for each code and overall,
from per-unit sums, with the same resamples as :func:`~.coefficients.bootstrap_ci`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from ..tables import json_safe
from .coefficients import (
    CODE,
    TOL,
    UNIT,
    WEIGHT,
    Design,
    design,
    factorize,
    interval,
    multiplicities,
    nanmean,
    resample_indices,
    safe_div,
)

# ----------------------------------------------------------------------------------------------
# agreement_report(): all statistics for all codes, with bootstrap intervals, from per-unit sums
# ----------------------------------------------------------------------------------------------


@dataclass
class AgreementReport:
    """Result of :func:`agreement_report`.  ``*_lo``/``*_hi`` columns/keys hold the bootstrap interval."""

    per_code: pd.DataFrame
    overall: dict[str, Any]
    pairwise: pd.DataFrame
    disagreements: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN -> None, numpy scalars -> Python numbers, frames -> records)."""
        return {
            "per_code": json_safe(self.per_code),
            "overall": json_safe(self.overall),
            "pairwise": json_safe(self.pairwise),
            "disagreements": json_safe(self.disagreements),
        }


class _Layout:
    """Column layout of the per-unit quantities whose (weighted, resampled) sums drive agreement_report().

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


def _shared_columns(d: Design, pairs: list[tuple[int, int]]) -> np.ndarray:
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


def _code_columns(d: Design, c: int, pairs: list[tuple[int, int]], m: np.ndarray) -> np.ndarray:
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
    for idx in resample_indices(n_units, n_boot, seed):
        mult = multiplicities(idx)
        if mult.max() > np.iinfo(out.dtype).max:  # practically impossible; stay exact anyway
            out = out.astype(np.int64)
        out[done : done + len(idx)] = mult
        done += len(idx)
    return out


def _sums(
    d: Design, pairs: list[tuple[int, int]], n_boot: int, seed: int | None, cluster: np.ndarray | None = None
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
    tol = TOL * n
    degenerate = (n <= 0) | ((a <= tol) & (b <= tol)) | ((a >= n - tol) & (b >= n - tol))
    return np.where(degenerate, np.nan, k)


def _alpha_binary(dis: np.ndarray, n1: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Nominal alpha for binary values: 1 - (n - 1) o_01 / (n_0 n_1)."""
    n0 = n - n1
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1 - (n - 1) * dis / (n1 * n0)
    degenerate = (n <= 0) | (n1 <= TOL * n) | (n0 <= TOL * n)
    return np.where(degenerate, np.nan, alpha)


def _fleiss_ac1_binary(pa: np.ndarray, pi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        pe_f = pi * pi + (1 - pi) * (1 - pi)
        fleiss = np.where((pi <= TOL) | (pi >= 1 - TOL), np.nan, (pa - pe_f) / (1 - pe_f))
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
    out["kappa"] = nanmean(kappa_pairs, axis=-1)

    # Macro = mean over codes; micro = the pooled units x codes binary design.
    for name in ("percent_agreement", "fleiss_kappa", "ac1", "alpha", "kappa"):
        out[f"macro_{name}"] = nanmean(out[name], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        micro_pa = np.where(pair_w[:, 0] > 0, cs[..., 0].sum(1) / (n_codes * pair_w[:, 0]), np.nan)
        micro_pi = np.where(rated_w[:, 0] > 0, cs[..., 1].sum(1) / (n_codes * rated_w[:, 0]), np.nan)
    out["micro_percent_agreement"] = micro_pa
    out["micro_fleiss_kappa"], out["micro_ac1"] = _fleiss_ac1_binary(micro_pa, micro_pi)
    out["micro_alpha"] = _alpha_binary(cs[..., 2].sum(1), cs[..., 3].sum(1), n_codes * nn[:, 0])
    sa, sb, sc = a.sum(1), b.sum(1), c.sum(1)  # (B, P)
    n_pooled = n_codes * sh[:, lay.N]
    pooled_kappa_pairs = _kappa_binary(n_pooled, sa, sb, sc)
    out["micro_kappa"] = nanmean(pooled_kappa_pairs, axis=-1)

    # Per coder pair.
    dis = sa + sb - 2 * sc
    out["pair_mean_kappa"] = nanmean(kappa_pairs, axis=1)
    out["pair_pooled_kappa"] = pooled_kappa_pairs
    out["pair_alpha"] = _alpha_binary(dis, sa + sb, 2 * n_pooled)
    out["pair_percent_agreement"] = np.where(n_pooled > 0, 1 - safe_div(dis, n_pooled), np.nan)
    out["pair_exact_match"] = safe_div(sh[:, lay.E], sh[:, lay.N])
    out["pair_mean_jaccard"] = safe_div(sh[:, lay.J], sh[:, lay.N])
    out["exact_match"] = safe_div(sh[:, lay.E].sum(1), sh[:, lay.N].sum(1))
    out["mean_jaccard"] = safe_div(sh[:, lay.J].sum(1), sh[:, lay.N].sum(1))

    # Precision / recall / F1 of each other coder against the reference.
    for r, (p, pred_is_i) in enumerate(ref_pairs):
        tp = c[..., p]
        pp = a[..., p] if pred_is_i else b[..., p]
        rp = b[..., p] if pred_is_i else a[..., p]
        out[f"ref{r}_precision"] = safe_div(tp, pp)
        out[f"ref{r}_recall"] = safe_div(tp, rp)
        out[f"ref{r}_f1"] = safe_div(2 * tp, pp + rp)
        ttp, tpp, trp = tp.sum(1), pp.sum(1), rp.sum(1)
        out[f"ref{r}_micro_precision"] = safe_div(ttp, tpp)
        out[f"ref{r}_micro_recall"] = safe_div(ttp, trp)
        out[f"ref{r}_micro_f1"] = safe_div(2 * ttp, tpp + trp)
        for k in ("precision", "recall", "f1"):
            out[f"ref{r}_macro_{k}"] = nanmean(out[f"ref{r}_{k}"], axis=1)
    return out


def agreement_report(
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
    d = design(codings, coders, codes)
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
        cluster, names = factorize(pd.Series([clusters[u] for u in d.units], dtype=object))
        n_clusters = len(names)
    point_sh, point_cs, boot_sh, boot_cs = _sums(d, pairs, n_boot, seed, cluster)
    est = {key: v[0] for key, v in _statistics(point_sh, point_cs, lay, ref_pairs).items()}
    if n_boot > 0 and len(d.units):
        boot = _statistics(boot_sh, boot_cs, lay, ref_pairs)
        bounds = {key: interval(v, level) for key, v in boot.items() if key != "kappa_pairs"}
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
        cols[f"prevalence_{coder}"] = safe_div(d.applied[:, i, :] @ w, np.full(len(d.codes), seen_w[i]))
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
        str(c): float(safe_div((n_codes_by[i] * d.seen[i]) @ w, seen_w[i])) for i, c in enumerate(d.coders)
    }
    multilabel["share_units_coded"] = {
        str(c): float(safe_div(((n_codes_by[i] > 0) & d.seen[i]) @ w, seen_w[i])) for i, c in enumerate(d.coders)
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


def _disagreements(d: Design) -> pd.DataFrame:
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
