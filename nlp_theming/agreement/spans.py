"""Units from character spans: span coding (document, start, end, code, coder) as coded units."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from .coefficients import CODE, CODER, UNIT, WEIGHT

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
