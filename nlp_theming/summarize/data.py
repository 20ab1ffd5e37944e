"""What a summary is built from, read from the store in one consistent snapshot.

Only human decisions become findings: the confirmed coding comes from ``review.coding``. The
latest complete suggestion run is read for one thing only, to count the suggestions nobody
has reviewed yet, so a half-reviewed matrix never passes for a finished one.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..codebook import CodebookError, load_stored_codebook
from ..embed import DEFAULT_MODEL
from ..review.status import superseded_decisions, superseded_listing
from ..segment import project_segmenter
from ..store.codebooks import latest_version
from ..store.decisions import all_coders, coding, decision_count, latest_decision, reviewed
from ..store.documents import current_texts, document_table, documents_fingerprint, segment_table
from ..store.runs import OPERATING_THRESHOLD, latest_run, likely_codes, run_row
from ..store.schema import get_meta, snapshot

# A suggestion at or above the matchers' operating threshold is one a reviewer is expected to
# look at; the review page and `nlp-theming status` use the same threshold.
UNREVIEWED_SCORE = OPERATING_THRESHOLD
# What every output calls the count, so a reader never takes it for all pending suggestions.
UNREVIEWED_LABEL = f"suggestion(s) scoring ≥ {UNREVIEWED_SCORE} not yet reviewed"
UNKNOWN = "(unknown)"
# Document table columns that describe the file, not the interview.
TECHNICAL_COLUMNS = ("document_id", "version", "source_format", "path", "content_hash", "ingested_at", "n_chars")


@dataclass
class Inputs:
    """Everything a summary needs, as plain tables."""

    by: str
    coder: str | None
    scheme: str
    run_id: int | None
    model: str
    codebook_version: int | None
    mark: int  # the last decisions.id the summary saw
    mark_at: str | None
    n_decisions: int
    project_created: str | None
    documents: pd.DataFrame  # current documents: document_id, document, participant, role, group, metadata
    segments: pd.DataFrame  # segments of the scheme in current documents (their text: texts[document_id][start:end])
    coded: pd.DataFrame  # one row per confirmed coded span of (segment, code), coders merged (union)
    unreviewed: pd.DataFrame  # segment_id, code, score: suggestions nobody has decided on
    themes: pd.DataFrame  # theme, meta_theme, position, in_codebook
    texts: dict[int, str]
    site_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    superseded: pd.DataFrame | None = None  # document, version, n_decisions: decisions on replaced versions
    state: dict = field(default_factory=dict)  # what else the summary depends on: see project_state()


def project_state(con: sqlite3.Connection) -> dict:
    """What a summary depends on besides the decision log and the run: the document versions
    (a new or re-ingested transcript changes them) and the codebook version."""
    newest, fingerprint = documents_fingerprint(con)
    return {"documents_mark": newest, "documents_fingerprint": fingerprint, "codebook_version": latest_version(con)}


def file_hash(path: str | Path) -> str:
    """A fingerprint of a file's bytes (the --sites table), to notice when it is edited."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def natural_key(value: object) -> tuple:
    """Sort "site 2" before "site 10"."""
    return tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", str(value)))


def read_sites(sites: str | Path | pd.DataFrame) -> pd.DataFrame:
    """A table of site attributes: a ``site`` column and any others (trust_type, ...)."""
    if isinstance(sites, pd.DataFrame):
        frame = sites.copy()
    else:
        path = Path(sites)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: sites file not found")
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.columns = [str(c).strip() for c in frame.columns]
    if "site" not in frame.columns:
        raise ValueError(f"the sites table needs a 'site' column (found: {', '.join(frame.columns) or 'none'})")
    frame = frame.astype(str).apply(lambda col: col.str.strip())
    dupes = frame.site[frame.site.duplicated()].unique().tolist()
    if dupes:
        raise ValueError(f"the sites table lists these sites more than once: {', '.join(dupes)}")
    return frame


def gather(
    con: sqlite3.Connection,
    by: str = "site",
    coder: str | None = None,
    sites: str | Path | pd.DataFrame | None = None,
    scheme: str | None = None,
) -> Inputs:
    """Read the inputs of a summary. All reads happen in one read transaction, so the coding,
    the review status and the decision mark describe the same moment of the log."""
    with snapshot(con):  # decisions appended meanwhile are not half-seen
        return _gather(con, by, coder, sites, scheme)


def _gather(
    con: sqlite3.Connection, by: str, coder: str | None, sites: str | Path | pd.DataFrame | None, scheme: str | None
) -> Inputs:
    notes: list[str] = []
    mark, mark_at = latest_decision(con)
    n_decisions = decision_count(con)
    created = get_meta(con, "created_at")
    if coder is not None:
        coders = all_coders(con)
        if coder not in coders:
            raise ValueError(f"no decisions by coder {coder!r} (coders: {', '.join(coders) or 'none yet'})")

    run_id = latest_run(con)
    run = run_row(con, run_id) if run_id is not None else None
    scheme = scheme or (run["scheme"] if run is not None else project_segmenter(con).scheme)
    model = DEFAULT_MODEL
    if run is not None:
        model = run["model_id"][5:] if run["model_id"].startswith("path:") else run["model_id"]

    documents, site_columns = _documents(con, by, sites, notes)
    texts = current_texts(con, by="id")
    columns = ["segment_id", "document_id", "segment_idx", "turn_idx", "start", "end", "speaker", "speaker_role",
               "start_time", "end_time"]
    # no text column: a segment's text is texts[document_id][start:end], and a million of them
    # as strings would be gigabytes for the few hundred quotes a summary shows
    segments = segment_table(con, scheme, with_text=False)[columns]
    segments = segments.sort_values(["document_id", "segment_idx"]).reset_index(drop=True)

    superseded = superseded_decisions(con, coder, upto=mark)
    if not superseded.empty:
        # the log is never rewritten: decisions on an older version stay there, but its segments
        # are not the current text's, so they cannot count here; say so, so nobody loses track
        n, listed = superseded_listing(superseded)
        notes.append(f"{n} decision(s) sit on superseded document versions and are "
                     f"not counted: {listed}. Review the current versions of these transcripts.")
    coded = _coded(con, coder, mark, segments, set(texts), notes)
    themes, codebook_version = _themes(con, coded, notes)
    unreviewed = _unreviewed(con, run_id, coder, segments)
    if run_id is None:
        notes.append("No complete suggestion run yet, so there are no unreviewed suggestions to count.")

    return Inputs(
        by=by, coder=coder, scheme=scheme, run_id=run_id, model=model, codebook_version=codebook_version,
        mark=mark, mark_at=mark_at, n_decisions=int(n_decisions), project_created=created,
        documents=documents, segments=segments, coded=coded, unreviewed=unreviewed, themes=themes, texts=texts,
        site_columns=site_columns, notes=notes, superseded=superseded, state=project_state(con),
    )


def _documents(
    con: sqlite3.Connection, by: str, sites: str | Path | pd.DataFrame | None, notes: list[str]
) -> tuple[pd.DataFrame, list[str]]:
    docs = document_table(con).drop(columns=["path", "content_hash", "ingested_at"])
    if docs.empty:
        raise ValueError("the project has no documents yet: ingest some transcripts first")
    # metadata arrives as text; blanks mean "not given"
    meta_cols = [c for c in docs.columns if c not in TECHNICAL_COLUMNS and c != "document"]
    for col in meta_cols:
        docs[col] = docs[col].astype("string").str.strip().replace("", pd.NA)
    site_columns: list[str] = []
    if sites is not None:
        table = read_sites(sites)
        if "site" not in docs.columns:
            raise ValueError("a sites table was given but the documents have no 'site' attribute to join it on")
        site_columns = [c for c in table.columns if c != "site"]
        lookup = table.set_index("site")
        for col in site_columns:
            # the sites table is the more deliberate source, so it wins where both say something
            mapped = docs["site"].map(lookup[col].replace("", pd.NA)).astype("string")
            docs[col] = mapped.fillna(docs[col]) if col in docs.columns else mapped
        unknown = sorted(set(docs["site"].dropna()) - set(table.site), key=natural_key)
        if unknown:
            notes.append(f"Sites missing from the sites table: {', '.join(unknown)}.")
    # every quote names who said it: the participant id (else the document) and their role
    docs["participant"] = docs["participant"].fillna(docs["document"]) if "participant" in docs else docs["document"]
    docs["role"] = docs["role"].fillna(UNKNOWN) if "role" in docs else UNKNOWN
    if by not in docs.columns:
        available = [c for c in docs.columns if c not in TECHNICAL_COLUMNS]
        raise ValueError(
            f"no document attribute {by!r} to group by (available: {', '.join(available)})"
            + ("" if sites is not None else "; site attributes can come from --sites FILE")
        )
    if "group" in docs.columns and by != "group":
        # "group" names the summary's grouping in every table; keep a manifest column of that name
        docs = docs.rename(columns={"group": "group_attribute"})
        notes.append("The documents' own 'group' attribute appears as 'group_attribute'.")
    missing = docs[by].isna()
    if missing.any():
        notes.append(f"{int(missing.sum())} document(s) have no {by!r}; they form the group '(no {by})'.")
    docs["group"] = docs[by].astype("string").fillna(f"(no {by})").astype(str)
    return docs.reset_index(drop=True), site_columns


def _coded(
    con: sqlite3.Connection, coder: str | None, mark: int, segments: pd.DataFrame, current: set[int], notes: list[str]
) -> pd.DataFrame:
    cols = ["segment_id", "code", "coders", "n_coders", "start", "end", "decision_ids"]
    rows = coding(con, coder=coder, upto=mark)
    if rows.empty:
        notes.append("No confirmed coding yet: every cell is empty until people confirm codes.")
        return pd.DataFrame(columns=cols)
    no_segment = rows.segment_id.isna()
    if no_segment.any():
        notes.append(
            f"{int(no_segment.sum())} confirmed coding(s) without a segment were left out (the matrix counts segments)."
        )
    rows = rows[~no_segment].copy()
    rows["segment_id"] = rows.segment_id.astype(int)
    elsewhere = ~rows.segment_id.isin(segments.segment_id)
    other_scheme = elsewhere & rows.document_id.isin(current)  # older versions are reported on their own
    if other_scheme.any():
        notes.append(f"{int(other_scheme.sum())} confirmed coding(s) on segments of another segmentation "
                     "were left out.")
    rows = rows[~elsewhere]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    # Union of coders: a segment counts once per code however many people coded it. Spans stay
    # apart (as review.coding keeps them): overlapping spans merge, disjoint ones do not, so a
    # quote is only text somebody coded, never the uncoded talk between two spans.
    spans: dict[tuple[int, str], list[tuple[int, int, str, int]]] = {}
    for r in rows.itertuples(index=False):
        spans.setdefault((int(r.segment_id), r.code), []).append((int(r.start), int(r.end), r.coder,
                                                                  int(r.decision_id)))
    out = []
    for (segment_id, code), items in sorted(spans.items()):
        for start, end, members in merge_spans(items):
            who = {m[2] for m in members}
            out.append((segment_id, code, "; ".join(sorted(who)), len(who),
                        start, end, ";".join(str(d) for d in sorted({m[3] for m in members}))))
    return pd.DataFrame(out, columns=cols)


def merge_spans(items: list[tuple]) -> list[tuple[int, int, list[tuple]]]:
    """Spans ``(start, end, ...)`` with overlapping ones merged: ``(start, end, the items merged)``."""
    merged: list[list] = []
    for item in sorted(items):
        if merged and item[0] < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], item[1])
            merged[-1][2].append(item)
        else:
            merged.append([item[0], item[1], [item]])
    return [(a, b, members) for a, b, members in merged]


def _themes(con: sqlite3.Connection, coded: pd.DataFrame, notes: list[str]) -> tuple[pd.DataFrame, int | None]:
    """Themes in codebook order with their meta-theme (top-level ancestor); codes people used
    that the codebook does not list come last, so no confirmed coding is silently dropped."""
    rows: list[dict] = []
    version: int | None = None
    try:
        version, book = load_stored_codebook(con)
    except CodebookError:
        book = None
    used = set(coded.code) if not coded.empty else set()
    if book is not None:
        leaves = {c.code for c in book.leaves}
        for c in book.codes:
            # a group code applied directly is a theme too; its roll-up includes it
            if c.code in leaves or c.code in used:
                chain = book.ancestors(c.code)
                meta = chain[-1] if chain else (c.code if c.code not in leaves else "")
                rows.append({"theme": c.code, "meta_theme": meta, "in_codebook": True})
    known = {r["theme"] for r in rows}
    extra = sorted(used - known, key=natural_key)
    if extra:
        notes.append(f"Codes not in the current codebook: {', '.join(extra)}.")
    rows += [{"theme": code, "meta_theme": "", "in_codebook": False} for code in extra]
    themes = pd.DataFrame(rows, columns=["theme", "meta_theme", "in_codebook"])
    themes["position"] = range(len(themes))
    return themes, version


def _unreviewed(con: sqlite3.Connection, run_id: int | None, coder: str | None, segments: pd.DataFrame) -> pd.DataFrame:
    cols = ["segment_id", "code", "score"]
    if run_id is None:
        return pd.DataFrame(columns=cols)
    sugg = likely_codes(con, run_id, UNREVIEWED_SCORE, role=None)[cols]
    sugg = sugg[sugg.segment_id.isin(segments.segment_id)]
    # Any decision in force on (segment, code) reviews it, a rejection as much as an acceptance.
    decided = reviewed(con, coder)
    if not decided.empty and not sugg.empty:
        keys = set(zip(decided.segment_id.astype(int), decided.code, strict=True))
        sugg = sugg[[(int(s), c) not in keys for s, c in zip(sugg.segment_id, sugg.code, strict=True)]]
    return sugg[cols].reset_index(drop=True)
