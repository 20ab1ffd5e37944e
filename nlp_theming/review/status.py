"""Review progress as figures: how much of the latest run people have decided, per coder and theme."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import pandas as pd

from ..store.decisions import ACCEPTED, REJECTED, coding, decisions_frame, effective, reviewed
from ..store.documents import current_document_ids, document_count, document_versions
from ..store.queue import run_figures, suggestion_scores
from ..store.runs import OPERATING_THRESHOLD as THRESHOLD
from ..store.runs import require_run
from .queue import run_codebook


@dataclass
class ReviewStatus:
    run_id: int
    documents: int
    segments: int  # segments with at least one suggestion in the run
    suggestions: int
    likely: int  # suggestions scoring at or above the operating threshold
    pending: int  # suggestions no coder has decided, whatever their score
    pending_likely: int  # of those, the ones scoring at or above the threshold (what summaries flag)
    by_coder: pd.DataFrame  # coder, decided, accepted, rejected, pending, progress, changed, added
    themes: pd.DataFrame  # theme, meta_theme, suggested, likely, pending (any score)
    by_theme_coder: pd.DataFrame  # theme, coder, accepted, rejected, pending, applied
    blind_for: str | None = None  # set when the figures are one coder's blind view
    superseded: pd.DataFrame | None = None  # document, version, n_decisions: see superseded_decisions()
    # How right the suggestions have been on this project: of the decided suggestions scoring at
    # or above the threshold, how many were accepted (and the same below it, what a stricter
    # threshold would have missed). None until something on that side is decided.
    decided_likely: int = 0
    precision_likely: float | None = None
    decided_unlikely: int = 0
    accepted_unlikely: float | None = None

    @property
    def precision_line(self) -> str | None:
        """The suggestions' measured precision at the operating threshold, in words; None before any decision."""
        if self.precision_likely is None and self.accepted_unlikely is None:
            return None
        parts = []
        if self.precision_likely is not None:
            parts.append(f"of {self.decided_likely} decided suggestions scoring >= {THRESHOLD}, "
                         f"{self.precision_likely:.0%} were accepted")
        if self.accepted_unlikely is not None and parts:
            parts.append(f"of {self.decided_unlikely} scoring below it, {self.accepted_unlikely:.0%}")
        elif self.accepted_unlikely is not None:
            parts.append(f"of {self.decided_unlikely} decided suggestions scoring below {THRESHOLD}, "
                         f"{self.accepted_unlikely:.0%} were accepted")
        return "; ".join(parts) + " (measured on this project's own decisions)"

    @property
    def superseded_line(self) -> str | None:
        """One line on decisions left behind on replaced document versions; None when there are none."""
        if self.superseded is None or self.superseded.empty:
            return None
        n, listed = superseded_listing(self.superseded)
        return (f"{n} decision(s) sit on superseded document versions and no "
                f"longer count: {listed}; review the current versions")

    def lines(self) -> list[str]:
        """The figures as plain text lines (what ``nlp-theming status`` prints)."""
        who = f"for {self.blind_for}" if self.blind_for else "for everyone"
        out = [
            f"run {self.run_id}: {self.documents} documents, {self.segments} segments with suggestions, "
            f"{self.suggestions} suggestions ({self.likely} scoring >= {THRESHOLD}), {self.pending} pending {who} "
            f"at any score ({self.pending_likely} scoring >= {THRESHOLD} not yet reviewed)",
        ]
        if self.precision_line:
            out.append(self.precision_line)
        if self.superseded_line:
            out.append("warning: " + self.superseded_line)
        if self.by_coder.empty:
            out.append("no decisions yet")
        else:
            out.append("")
            width = max(5, *(len(c) for c in self.by_coder.coder))
            out.append(f"  {'coder':<{width}}  decided  accepted  rejected  pending  progress  changed  added")
            for r in self.by_coder.itertuples(index=False):
                out.append(
                    f"  {r.coder:<{width}}  {r.decided:>7}  {r.accepted:>8}  {r.rejected:>8}  {r.pending:>7}"
                    f"  {r.progress:>7.0%}  {r.changed:>7}  {r.added:>5}"
                )
        out.append("")
        coders = list(self.by_coder.coder)
        width = max(5, *(len(t) for t in self.themes.theme)) if not self.themes.empty else 5
        head = f"  {'theme':<{width}}  suggested  likely  pending" + "".join(f"  {c} (acc/rej/applied)" for c in coders)
        out.append(head)
        cells = self.by_theme_coder.set_index(["theme", "coder"]) if not self.by_theme_coder.empty else None
        for r in self.themes.itertuples(index=False):
            line = f"  {r.theme:<{width}}  {r.suggested:>9}  {r.likely:>6}  {r.pending:>7}"
            for c in coders:
                label_width = len(f"{c} (acc/rej/applied)")
                if cells is not None and (r.theme, c) in cells.index:
                    x = cells.loc[(r.theme, c)]
                    cell = f"{x.accepted}/{x.rejected}/{x.applied}"
                else:
                    cell = "0/0/0"
                line += f"  {cell:>{label_width}}"
            out.append(line)
        return out


def review_status(
    con: sqlite3.Connection,
    coder: str | None = None,
    blind: bool = False,
    run_id: int | None = None,
    cache: dict | None = None,
) -> ReviewStatus:
    """Progress of the review of a run (default: the latest). ``coder`` limits the per-coder
    figures to one coder; so does ``blind`` (which then requires ``coder``).
    """
    if blind and coder is None:
        raise ValueError("blind status needs the coder whose figures to show")
    cache = {} if cache is None else cache  # the run's codebook, read once per run
    run_id = require_run(con, run_id)
    if cache.get("status_run") != run_id:
        cache.update(status_run=run_id, status_book=run_codebook(con, run_id)[1])
    book = cache["status_book"]
    n_segments, per_code = run_figures(con, run_id)
    documents = document_count(con)
    log = effective(decisions_frame(con))
    coders = sorted(set(log.coder)) if not log.empty else []
    if coder is not None:
        coders = [coder]

    position = {c.code: i for i, c in enumerate(book.codes)}
    themes = pd.DataFrame(per_code, columns=["theme", "suggested", "likely"])
    themes.insert(1, "meta_theme", [book.top_level(c) if c in book else c for c in themes.theme])
    themes = themes.sort_values("theme", key=lambda t: t.map(position).fillna(len(position)), kind="stable")
    themes = themes.reset_index(drop=True)

    # every coder's decisions in force, read once, kept to the run's suggestions on current documents
    decided = reviewed(con)[["coder", "segment_id", "code", "applies"]]
    scores = pd.DataFrame(suggestion_scores(con, run_id, set(zip(decided.segment_id, decided.code, strict=True))),
                          columns=["segment_id", "code", "score"])
    decided = decided.astype({"segment_id": "int64"}).merge(scores, on=["segment_id", "code"])
    decided["status"] = decided.applies.map({True: ACCEPTED, False: REJECTED})

    def decided_of(who: str | None) -> pd.DataFrame:
        """The run's decided suggestions with their status for ``who`` (None: accepted when anyone
        applies the code, rejected when everyone who decided does not)."""
        if who is not None:
            return decided[decided.coder == who]
        anyone = decided.groupby(["segment_id", "code"], as_index=False).agg(applies=("applies", "any"),
                                                                              score=("score", "first"))
        return anyone.assign(status=anyone.applies.map({True: ACCEPTED, False: REJECTED}))

    view = decided_of(coder if blind else None)  # whose "pending" the headline figures count
    themes["pending"] = themes.suggested - themes.theme.map(view.groupby("code").size()).fillna(0).astype(int)

    per_coder, per_theme = [], []
    applied_all = coding(con)
    total = int(themes.suggested.sum())
    for name in coders:
        mine_decided = decided_of(name)
        counts = mine_decided.status.value_counts()
        mine = log[log.coder == name]
        applied = applied_all[applied_all.coder == name].drop_duplicates(["segment_id", "code"])
        accepted, rejected = int(counts.get(ACCEPTED, 0)), int(counts.get(REJECTED, 0))
        per_coder.append({
            "coder": name,
            "decided": accepted + rejected,
            "accepted": accepted,
            "rejected": rejected,
            "pending": total - accepted - rejected,
            "progress": (accepted + rejected) / total if total else 0.0,
            "changed": int((mine.action == "change").sum()),
            "added": int((mine.action == "add").sum()),
        })
        by_code = mine_decided.groupby("code").status.value_counts().unstack(fill_value=0)
        suggested = dict(zip(themes.theme, themes.suggested, strict=True))
        n_applied = applied.groupby("code").size()
        for theme in sorted(set(suggested) | set(n_applied.index)):
            row = by_code.loc[theme] if theme in by_code.index else {}
            acc, rej = int(row.get(ACCEPTED, 0)), int(row.get(REJECTED, 0))
            per_theme.append({
                "theme": theme,
                "coder": name,
                "accepted": acc,
                "rejected": rej,
                "pending": int(suggested.get(theme, 0)) - acc - rej,
                "applied": int(n_applied.get(theme, 0)),
            })
    by_coder = pd.DataFrame(per_coder, columns=["coder", "decided", "accepted", "rejected", "pending", "progress",
                                                "changed", "added"])
    by_theme_coder = pd.DataFrame(per_theme, columns=["theme", "coder", "accepted", "rejected", "pending", "applied"])
    high = (view.score >= THRESHOLD).to_numpy(dtype=bool)
    likely, unlikely = view[high], view[~high]
    n_likely, n_unlikely = len(likely), len(unlikely)
    return ReviewStatus(
        decided_likely=n_likely,
        precision_likely=float((likely.status == ACCEPTED).mean()) if n_likely else None,
        decided_unlikely=n_unlikely,
        accepted_unlikely=float((unlikely.status == ACCEPTED).mean()) if n_unlikely else None,
        run_id=int(run_id),
        documents=int(documents),
        segments=int(n_segments),
        suggestions=total,
        likely=int(themes.likely.sum()),
        pending=int(themes.pending.sum()),
        pending_likely=int(themes.likely.sum()) - n_likely,
        by_coder=by_coder,
        themes=themes[["theme", "meta_theme", "suggested", "likely", "pending"]],
        by_theme_coder=by_theme_coder,
        blind_for=coder if blind else None,
        superseded=superseded_decisions(con, coder if blind else None),
    )


def superseded_listing(superseded: pd.DataFrame) -> tuple[int, str]:
    """How many decisions a :func:`superseded_decisions` frame holds, and its documents as text."""
    rows = superseded.itertuples(index=False)
    listed = ", ".join(f"{r.document} (version {r.version}: {r.n_decisions})" for r in rows)
    return int(superseded.n_decisions.sum()), listed


def superseded_decisions(con: sqlite3.Connection, coder: str | None = None, upto: int | None = None) -> pd.DataFrame:
    """Decisions in force on document versions a re-ingest has replaced, per document version.

    A changed transcript gets a new version with new segments; the log is never rewritten, so
    decisions on the old version stay there but no longer count in the coding of the current
    text. Columns: document, version, n_decisions (empty when there are none).
    """
    cols = ["document", "version", "n_decisions"]
    log = effective(decisions_frame(con, coder, upto))
    log = log[log.document_id.notna()] if not log.empty else log
    if log.empty:
        return pd.DataFrame(columns=cols)
    current = set(current_document_ids(con))
    old = log[~log.document_id.astype(int).isin(current)]
    if old.empty:
        return pd.DataFrame(columns=cols)
    counts = old.document_id.astype(int).value_counts()
    names = document_versions(con)
    rows = sorted((names[d][0], int(names[d][1]), int(n)) for d, n in counts.items())
    return pd.DataFrame(rows, columns=cols)
