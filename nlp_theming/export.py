"""Tidy tables out of the store: suggestions, segments, coding, as DataFrames and files.

One row per (segment, suggested code), with the segment's text, offsets, speaker, times and
its document's metadata as plain columns, so pandas and R read it as it is.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd

FORMATS = ("csv", "xlsx", "parquet")


def document_table(con: sqlite3.Connection, all_versions: bool = False) -> pd.DataFrame:
    """Documents with their metadata as columns (site, participant, role, ...)."""
    view = "documents" if all_versions else "current_documents"
    docs = pd.read_sql_query(
        f"SELECT id AS document_id, name AS document, version, source_format, path, content_hash, ingested_at,"
        f" length(text) AS n_chars FROM {view} ORDER BY name, version",
        con,
    )
    attrs = pd.read_sql_query("SELECT document_id, key, value FROM document_attributes", con)
    if not attrs.empty:
        wide = attrs.pivot(index="document_id", columns="key", values="value").reset_index()
        wide.columns.name = None
        docs = docs.merge(wide, on="document_id", how="left")
    return docs


def segment_table(con: sqlite3.Connection, scheme: str | None = None) -> pd.DataFrame:
    sql = """
        SELECT s.id AS segment_id, s.document_id, s.scheme, s.idx AS segment_idx, s.turn_idx, s.start, s.end,
               s.speaker, s.role AS speaker_role, s.start_time, s.end_time, s.confidence,
               substr(d.text, s.start + 1, s.end - s.start) AS text
        FROM segments s JOIN current_documents d ON d.id = s.document_id
    """
    args: list = []
    if scheme:
        sql += " WHERE s.scheme = ?"
        args.append(scheme)
    segs = pd.read_sql_query(sql + " ORDER BY s.document_id, s.idx", con, params=args)
    docs = document_table(con).drop(columns=["path", "content_hash", "ingested_at", "n_chars"])
    return docs.merge(segs, on="document_id", how="inner")


def suggestion_table(con: sqlite3.Connection, run_id: int | None = None) -> pd.DataFrame:
    """Suggestions of a run (default: the latest complete one) with text and metadata."""
    from .review import reviewed
    from .suggest import latest_run

    run_id = run_id if run_id is not None else latest_run(con)
    if run_id is None:
        raise ValueError("the project has no complete suggestion run yet; run `nlp-theming suggest PROJECT`")
    run = con.execute("SELECT scheme, model_id, codebook_version FROM runs WHERE id = ?", (run_id,)).fetchone()
    sugg = pd.read_sql_query(
        "SELECT run_id, segment_id, code, score, rank, method FROM suggestions WHERE run_id = ?", con, params=[run_id]
    )
    codes = pd.read_sql_query(
        "SELECT code, parent FROM codes WHERE codebook_version = ?", con, params=[run["codebook_version"]]
    )
    segs = segment_table(con, run["scheme"])
    out = sugg.merge(codes, on="code", how="left").merge(segs, on="segment_id", how="inner")
    # Review status, derived from the decision log: pending until somebody decides.
    decided = reviewed(con)
    if decided.empty:
        out["status"] = "pending"
    else:
        agg = decided.groupby(["segment_id", "code"]).applies.any().rename("applied").reset_index()
        out = out.merge(agg, on=["segment_id", "code"], how="left")
        # confirmed when any coder applies the code; rejected when coders decided and none does
        out["status"] = out.pop("applied").map({True: "confirmed", False: "rejected"}).fillna("pending")
    out["model_id"] = run["model_id"]
    first = [
        "run_id",
        "document",
        "segment_id",
        "segment_idx",
        "start",
        "end",
        "speaker",
        "start_time",
        "end_time",
        "text",
        "code",
        "parent",
        "score",
        "rank",
        "method",
        "status",
    ]
    rest = [c for c in out.columns if c not in first]
    return out[first + rest].sort_values(["document", "segment_idx", "rank"]).reset_index(drop=True)


def write_table(df: pd.DataFrame, out: str | Path, fmt: str | None = None) -> Path:
    out = Path(out)
    fmt = (fmt or out.suffix.lstrip(".") or "csv").lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        df.to_csv(out, index=False)
    elif fmt == "xlsx":
        with pd.ExcelWriter(out, engine="openpyxl") as writer:
            df.to_excel(writer, index=False, sheet_name="suggestions")
    else:
        df.to_parquet(out, index=False)
    return out


def coded_units_table(con: sqlite3.Connection, scheme: str, coders: list[str] | None = None) -> pd.DataFrame:
    """The human coding as long-format units (unit_id, document, coder, text, codes), the file
    ``evaluate`` reads: every participant segment of every document a coder coded."""
    from .review import coding

    current = coding(con)
    if coders:
        current = current[current.coder.isin(coders)]
    segs = segment_table(con, scheme)
    segs = segs[segs.speaker_role == "participant"]
    rows = []
    for coder, theirs in current.groupby("coder", sort=True):
        codes = theirs.groupby("segment_id").code.apply(lambda c: sorted(set(c)))
        for seg in segs[segs.document_id.isin(theirs.document_id)].itertuples(index=False):
            rows.append(
                (f"{seg.document}-{seg.segment_idx:04d}", seg.document, coder, seg.text, codes.get(seg.segment_id, []))
            )
    return pd.DataFrame(rows, columns=["unit_id", "document", "coder", "text", "codes"])
