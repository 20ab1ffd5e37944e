"""Build a :class:`Summary` from the confirmed coding, and tell whether a written one is stale."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..progress import bar
from ..store import now
from ..store.decisions import decisions_since, latest_decision
from ..store.documents import versions_after
from ..store.runs import latest_run
from ..store.schema import get_meta
from .contrast import attribute_keywords, by_attribute, cross_group, group_table
from .data import UNREVIEWED_SCORE, file_hash, gather, natural_key, project_state
from .matrix import CellBuilder, coded_text, ctfidf_keywords, row_spec, segment_vectors, tidy_table
from .render import META_FILE, TABLES, write_all

FORMAT = "nlp-theming-summary"
FORMAT_VERSION = 1
# Tables saved next to the report, so a summary can be reopened (and checked) without the project.


@dataclass
class Freshness:
    """Whether a written summary still describes the project's decision log."""

    up_to_date: bool
    built_mark: int
    current_mark: int
    new_decisions: int
    built_at: str | None
    reasons: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        if self.up_to_date:
            return f"up to date: built from decisions up to #{self.built_mark} ({self.built_at}); no newer decisions"
        return "out of date: " + "; ".join(self.reasons)


@dataclass
class Summary:
    """Site-level (or any grouping) summary of the confirmed coding.

    Tables (pandas DataFrames): ``cells`` (the framework matrix, long: one row per group and
    theme or meta-theme roll-up), ``quotes``, ``divergence`` (within-group), ``comparison``
    (across groups), ``attributes`` (across values of group attributes), ``groups``,
    ``themes`` and ``tidy`` (one row per confirmed coded segment and theme).
    """

    meta: dict
    groups: pd.DataFrame
    themes: pd.DataFrame
    cells: pd.DataFrame
    quotes: pd.DataFrame
    divergence: pd.DataFrame
    comparison: pd.DataFrame
    attributes: pd.DataFrame
    tidy: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    documents: pd.DataFrame | None = None  # for transcript pages; absent in a reloaded summary
    segments: pd.DataFrame | None = None
    texts: dict[int, str] | None = None
    freshness: Freshness | None = None

    @property
    def by(self) -> str:
        return self.meta["by"]

    @property
    def group_names(self) -> list[str]:
        return self.groups.group.tolist()

    def matrix(self, metric: str = "n_segments", meta: bool = True) -> pd.DataFrame:
        """Wide framework matrix: one row per theme (roll-ups first in their block), one column per group.

        ``metric``: n_segments, n_participants, n_documents, n_roles, present, coverage or n_unreviewed.
        """
        if metric not in self.cells.columns:
            raise ValueError(f"unknown metric {metric!r}")
        cells = self.cells if meta else self.cells[self.cells.level == "theme"]
        wide = cells.pivot_table(index=["level", "meta_theme", "theme"], columns="group", values=metric,
                                 aggfunc="first", sort=False)
        wide = wide.reindex(columns=self.group_names)
        order = [r for r in self.themes[["level", "meta_theme", "theme"]].itertuples(index=False, name=None)
                 if meta or r[0] == "theme"]
        wide = wide.reindex(pd.MultiIndex.from_tuples(order, names=["level", "meta_theme", "theme"]))
        wide.columns.name = None
        return wide.reset_index()

    def write(self, out: str | Path, formats: tuple[str, ...] = ("html", "md", "xlsx", "csv", "parquet"),
              progress: bool = False) -> list[Path]:
        """Write the report and tables into folder ``out``; returns the files written."""

        return write_all(self, Path(out), formats, progress)

    def check(self, con: sqlite3.Connection) -> Freshness:
        """Compare this summary's decision mark with the project's log now."""
        self.freshness = freshness(con, self.meta)
        return self.freshness

    @classmethod
    def load(cls, out: str | Path, con: sqlite3.Connection | None = None) -> Summary:
        """Reopen a written summary (its tables); with ``con``, also check whether it is stale."""
        meta = read_meta(out)
        folder = Path(out) / "tables"
        frames = {name: pd.read_parquet(folder / f"{name}.parquet") for name in TABLES}
        tidy = pd.read_parquet(Path(out) / "tidy.parquet")
        summary = cls(meta=meta, tidy=tidy, notes=list(meta.get("notes", [])), **frames)
        if con is not None:
            summary.check(con)
        return summary


def summarize(
    con: sqlite3.Connection,
    by: str = "site",
    coder: str | None = None,
    sites: str | Path | pd.DataFrame | None = None,
    quotes: int = 3,
    keywords: int = 8,
    model: str | None = None,
    scheme: str | None = None,
    compare: list[str] | None = None,
    progress: bool = False,
) -> Summary:
    """Summarise the confirmed coding by a document attribute (default: site).

    Only human decisions count (``review.coding``); with ``coder`` only that coder's, otherwise
    the union of all coders (a segment once per cell). Suggestions appear only as the count
    of those with score >= 0.5 that nobody (with ``coder``: that coder) has reviewed yet.

    ``sites``: a CSV (or DataFrame) with a ``site`` column and site attributes, joined onto the
    documents; ``compare``: the group attributes to compare groups by (default: the categorical
    ones); ``quotes``/``keywords``: how many per cell; ``progress``: a bar over these steps.
    """
    steps = bar(5, "summarize", "step", progress)
    inp = gather(con, by=by, coder=coder, sites=sites, scheme=scheme)
    tidy = tidy_table(inp)
    seg_ids = tidy.drop_duplicates("segment_id")
    steps.update(1)
    matrix, method = segment_vectors(con, model or inp.model, seg_ids.segment_text.tolist())
    vectors = dict(zip(seg_ids.segment_id.astype(int), matrix, strict=True)) if len(seg_ids) else {}
    steps.update(1)

    cells, quote_df, divergence = CellBuilder(inp, tidy, vectors, n_quotes=quotes).build()
    steps.update(1)
    cells["keywords"] = ""
    for level in ("theme", "meta"):
        mask = (cells.level == level) & (cells.present == 1)
        words = ctfidf_keywords(cells.loc[mask, "text"].tolist(), keywords)
        cells.loc[mask, "keywords"] = [", ".join(w) for w in words]
    cells = cells.drop(columns="text")

    groups, shown, compare = group_table(inp.documents, by, inp.site_columns, compare)
    group_text = [coded_text(tidy, g, "theme", None) for g in groups.group]
    groups["n_coded_segments"] = [int(tidy[tidy.group == g].segment_id.nunique()) for g in groups.group]
    theme_cells = cells[cells.level == "theme"]
    groups["n_themes_present"] = [int(theme_cells[theme_cells.group == g].present.sum()) for g in groups.group]
    unrev = inp.unreviewed.merge(inp.segments[["segment_id", "document_id"]], on="segment_id").merge(
        inp.documents[["document_id", "group"]], on="document_id")
    groups["n_unreviewed"] = [int((unrev.group == g).sum()) for g in groups.group]
    groups["keywords"] = [", ".join(w) for w in ctfidf_keywords(group_text, keywords)]

    steps.update(1)
    themes = pd.DataFrame(row_spec(inp.themes), columns=["level", "meta_theme", "theme"])
    comparison = cross_group(cells, len(groups))
    attributes = by_attribute(cells, groups, compare)
    attribute_keywords(attributes, tidy, groups, top_n=5)
    steps.update(1)
    steps.close()

    present = cells[(cells.level == "theme") & (cells.present == 1)]
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "built_at": now(),
        "by": by,
        "coder": coder,
        "coders": sorted({c for cs in tidy.coders for c in str(cs).split("; ") if c}),
        "scheme": inp.scheme,
        "run_id": inp.run_id,
        "codebook_version": inp.codebook_version,
        "documents_mark": inp.state.get("documents_mark"),
        "documents_fingerprint": inp.state.get("documents_fingerprint"),
        "model": model or inp.model,
        "quote_method": method,
        "decision_mark": inp.mark,
        "decision_at": inp.mark_at,
        "n_decisions": inp.n_decisions,
        "project_created": inp.project_created,
        "project": None,
        # where the --sites table was and what it said, so an edit to it makes the summary stale
        "sites_file": str(Path(sites).resolve()) if isinstance(sites, str | Path) else None,
        "sites_hash": file_hash(sites) if isinstance(sites, str | Path) else None,
        "quotes_per_cell": quotes,
        "group_attributes": shown,
        "compare_attributes": compare,
        "unreviewed_min_score": UNREVIEWED_SCORE,
        "counts": {
            "groups": len(groups),
            "themes": int((themes.level == "theme").sum()),
            "meta_themes": int((themes.level == "meta").sum()),
            "cells": int((cells.level == "theme").sum()),
            "cells_present": len(present),
            "themes_present": int(present.theme.nunique()),
            "coded_segments": int(tidy.segment_id.nunique()),
            "codings": len(tidy),
            "unreviewed": len(inp.unreviewed),
            "superseded_decisions": int(inp.superseded.n_decisions.sum()) if inp.superseded is not None else 0,
        },
        "superseded_documents": [] if inp.superseded is None else sorted(set(inp.superseded.document)),
        "notes": inp.notes,
    }
    documents = inp.documents.copy()
    documents["_g"] = documents.group.map(natural_key)
    documents = documents.sort_values(["_g", "document"]).drop(columns="_g").reset_index(drop=True)
    return Summary(
        meta=meta, groups=groups, themes=themes, cells=cells, quotes=quote_df, divergence=divergence,
        comparison=comparison, attributes=attributes, tidy=tidy, notes=inp.notes, documents=documents,
        segments=inp.segments, texts=inp.texts,
    )


def read_meta(out: str | Path) -> dict:
    path = Path(out) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{out}: no summary here (no {META_FILE}); write one with `nlp-theming summarize`")
    meta = json.loads(path.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not an nlp-theming summary")
    return meta


def freshness(con: sqlite3.Connection, meta: dict) -> Freshness:
    """Is the summary described by ``meta`` still what the decision log says?"""
    mark = int(meta.get("decision_mark") or 0)
    current, last = latest_decision(con)
    # a single coder's summary only changes with that coder's decisions
    new = decisions_since(con, mark, meta.get("coder"))
    reasons = []
    created = get_meta(con, "created_at")
    if meta.get("project_created") and created and created != meta["project_created"]:
        reasons.append("it was built from a different project")
    elif current < mark:
        reasons.append(f"the project's log ends at decision #{current}, before the summary's #{mark}")
    if new:
        reasons.append(f"{new} new decision(s) since it was built (up to #{mark}); the latest at {last}")
    run_id = latest_run(con)
    if run_id != meta.get("run_id"):
        reasons.append(f"a newer suggestion run ({run_id}) changes the unreviewed counts")
    reasons += _inputs_changed(con, meta)
    return Freshness(not reasons, mark, int(current), int(new), meta.get("built_at"), reasons)


def _inputs_changed(con: sqlite3.Connection, meta: dict) -> list[str]:
    """Reasons beyond the log and the run: transcripts, codebook and --sites table since the build.

    A summary written before these were recorded has no such keys; those checks are skipped.
    """
    reasons = []
    state = project_state(con)
    if "documents_fingerprint" in meta and state["documents_fingerprint"] != meta["documents_fingerprint"]:
        newer = versions_after(con, int(meta.get("documents_mark") or 0))
        if newer:
            listed = ", ".join(f"{name} (version {version})" for name, version in newer[:5])
            more = f" and {len(newer) - 5} more" if len(newer) > 5 else ""
            reasons.append(f"{len(newer)} transcript version(s) ingested since it was built: {listed}{more}")
        else:
            reasons.append("the project's transcripts differ from those it was built from")
    if "documents_fingerprint" in meta and state["codebook_version"] != meta.get("codebook_version"):
        reasons.append(f"the codebook changed (version {meta.get('codebook_version')} then, "
                       f"{state['codebook_version']} now)")
    sites, digest = meta.get("sites_file"), meta.get("sites_hash")
    if sites and digest:
        if not Path(sites).is_file():
            reasons.append(f"its sites file {sites} is no longer there")
        elif file_hash(sites) != digest:
            reasons.append(f"its sites file {sites} was edited since")
    return reasons


def check_summary(con: sqlite3.Connection, out: str | Path) -> Freshness:
    """Whether the summary written in folder ``out`` is out of date for this project."""
    return freshness(con, read_meta(out))
