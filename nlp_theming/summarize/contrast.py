"""Cross-group comparison: which themes hold across groups, which vary, and by what attribute.

Coverage is the share of a group's interviewees who raised a theme. It, not the number of
coded segments, is what is compared across groups: segment counts grow with how long people
talked and how many were interviewed, coverage does not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .data import TECHNICAL_COLUMNS, natural_key
from .matrix import contrast_keywords

# A theme present in every group whose coverage ranges over no more than this is "consistent".
CONSISTENT_RANGE = 0.5
PATTERNS = {
    "consistent": "present in every group, with similar coverage",
    "uneven": "present in every group, but raised by far more of the interviewees in some",
    "varies": "present in some groups only",
    "absent": "not coded in any group",
}


def group_table(
    documents: pd.DataFrame, by: str, site_columns: list[str], compare: list[str] | None = None
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """One row per group with the attributes that are constant within each group.

    Returns (table, attributes shown, attributes to compare on). Unless ``compare`` names them,
    the attributes compared on are the categorical ones that split the groups into a few kinds
    (at most half as many values as groups): one with a different value in every group (a
    site's full name) splits nothing, and numbers (budget, head count) are measurements to
    read, not categories to compare.
    """
    docs = documents
    groups = sorted(docs.group.unique(), key=natural_key)
    skip = {*TECHNICAL_COLUMNS, "document", "participant", "group", by}
    candidates = [c for c in docs.columns if c not in skip]
    per_group = docs.groupby("group")
    constant = [
        c for c in candidates
        if docs[c].notna().any() and bool((per_group[c].nunique(dropna=True) <= 1).all())
    ]
    # role is a property of people, not of groups, unless the groups are made of one role
    attrs = [c for c in constant if c != "role" or by == "role"]
    rows = []
    for g in groups:
        sub = docs[docs.group == g]
        people = sub.drop_duplicates("participant")
        counts = people.role.value_counts()
        row = {
            "group": g,
            "n_documents": int(sub.document_id.nunique()),
            "n_participants": int(people.participant.nunique()),
            "roles": "; ".join(f"{r} {counts[r]}" for r in sorted(counts.index, key=natural_key)),
        }
        for c in attrs:
            values = sub[c].dropna()
            row[c] = str(values.iloc[0]) if len(values) else None
        rows.append(row)
    table = pd.DataFrame(rows)
    if compare is not None:
        unknown = [c for c in compare if c not in attrs]
        if unknown:
            raise ValueError(
                f"cannot compare {by} groups by {', '.join(unknown)}: not an attribute with one value per group "
                f"(group attributes: {', '.join(attrs) or 'none'})"
            )
        return table, attrs, list(compare)
    # a category holding about one group per value is a label, not a kind of group
    most = max(2, len(groups) // 2)
    chosen = [
        c for c in attrs
        if c != "role" and 2 <= table[c].nunique(dropna=True) <= most
        and pd.to_numeric(table[c].dropna(), errors="coerce").isna().any()
    ]
    # attributes from a sites table come first: someone chose them for comparing sites
    chosen.sort(key=lambda c: (c not in site_columns, attrs.index(c)))
    return table, attrs, chosen


def cross_group(cells: pd.DataFrame, n_groups: int) -> pd.DataFrame:
    """Per theme (and roll-up): in how many groups it was coded and how evenly."""
    rows = []
    keys = ["level", "meta_theme", "theme"]
    order = cells.drop_duplicates(keys)[keys]
    for level, meta, theme in order.itertuples(index=False):
        sub = cells[(cells.level == level) & (cells.theme == theme) & (cells.meta_theme == meta)]
        present = sub[sub.present == 1]
        cov = sub.coverage.to_numpy(dtype=float)
        n_present = len(present)
        spread = float(cov.max() - cov.min()) if len(cov) else 0.0
        if n_present == 0:
            pattern = "absent"
        elif n_present < n_groups:
            pattern = "varies"
        else:
            pattern = "consistent" if spread <= CONSISTENT_RANGE else "uneven"
        rows.append({
            "level": level, "meta_theme": meta, "theme": theme, "pattern": pattern,
            "n_groups_present": n_present, "n_groups": n_groups,
            "share_present": round(n_present / n_groups, 4) if n_groups else 0.0,
            "groups_present": "; ".join(present.group),
            "groups_absent": "; ".join(sub[sub.present == 0].group),
            "n_segments": int(sub.n_segments.sum()),
            "n_participants": int(sub.n_participants.sum()),
            "coverage_mean": round(float(cov.mean()), 4) if len(cov) else 0.0,
            "coverage_min": round(float(cov.min()), 4) if len(cov) else 0.0,
            "coverage_max": round(float(cov.max()), 4) if len(cov) else 0.0,
            "coverage_sd": round(float(cov.std(ddof=0)), 4) if len(cov) else 0.0,
            "n_unreviewed": int(sub.n_unreviewed.sum()),
        })
    return pd.DataFrame(rows)


def by_attribute(cells: pd.DataFrame, groups: pd.DataFrame, attributes: list[str]) -> pd.DataFrame:
    """For each group attribute and theme: presence and mean coverage per attribute value.

    ``difference`` is the largest gap in the share of groups where the theme is present between
    two values of the attribute (0: the same everywhere, 1: always in one kind, never in another).
    """
    cols = ["attribute", "value", "level", "meta_theme", "theme", "n_groups", "n_present", "share_present",
            "coverage_mean", "difference", "coverage_difference"]
    rows = []
    for attr in attributes:
        values = groups[["group", attr]].dropna()
        joined = cells.merge(values, on="group")
        for (level, meta, theme), sub in joined.groupby(["level", "meta_theme", "theme"], sort=False):
            stats = []
            for value, part in sub.groupby(attr, sort=False):
                stats.append({
                    "attribute": attr, "value": str(value), "level": level, "meta_theme": meta, "theme": theme,
                    "n_groups": len(part), "n_present": int(part.present.sum()),
                    "share_present": round(float(part.present.mean()), 4),
                    "coverage_mean": round(float(part.coverage.mean()), 4),
                })
            shares = np.array([s["share_present"] for s in stats])
            covs = np.array([s["coverage_mean"] for s in stats])
            for s in stats:
                s["difference"] = round(float(shares.max() - shares.min()), 4)
                s["coverage_difference"] = round(float(covs.max() - covs.min()), 4)
            rows.extend(stats)
    out = pd.DataFrame(rows, columns=cols)
    out["keywords"] = ""
    if not out.empty:
        out["_v"] = out.value.map(natural_key)
        out = out.sort_values(["attribute", "_v"], kind="stable").drop(columns="_v").reset_index(drop=True)
    return out


def attribute_keywords(attributes: pd.DataFrame, tidy: pd.DataFrame, groups: pd.DataFrame, top_n: int = 5) -> None:
    """Fill ``attributes.keywords``: the words each kind of group uses about a theme more than
    the other kinds do. A theme every kind of site raises can still be talked about
    differently; this is where that shows."""
    if attributes.empty or tidy.empty:
        return
    slim = tidy[["group", "theme", "meta_theme", "document_id", "start", "end", "text"]].astype(object)
    spans = {
        **{("theme", k): p.drop_duplicates(["document_id", "start", "end"]) for k, p in slim.groupby("theme")},
        **{("meta", k): p.drop_duplicates(["document_id", "start", "end"]) for k, p in slim.groupby("meta_theme")},
    }
    for (attr, level, theme), part in attributes.groupby(["attribute", "level", "theme"], sort=False):
        rows = spans.get((level, theme), slim.iloc[0:0])
        value_of = dict(zip(groups.group, groups[attr].astype("string"), strict=True))
        kinds = rows.group.map(value_of)
        texts = [" ".join(rows.text[kinds == v]) for v in part.value]
        for idx, words in zip(part.index, contrast_keywords(texts, top_n), strict=True):
            attributes.at[idx, "keywords"] = ", ".join(words)
