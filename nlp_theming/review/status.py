"""Review progress as figures: how much of the latest run people have decided, per coder and theme."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import pandas as pd

from .log import coding, decisions_frame, effective
from .queue import THRESHOLD, full_queue


@dataclass
class ReviewStatus:
    run_id: int
    documents: int
    segments: int  # segments with at least one suggestion in the run
    suggestions: int
    likely: int  # suggestions scoring at or above the operating threshold
    pending: int  # suggestions no coder has decided
    by_coder: pd.DataFrame  # coder, decided, accepted, rejected, pending, progress, changed, added
    themes: pd.DataFrame  # theme, meta_theme, suggested, likely, pending
    by_theme_coder: pd.DataFrame  # theme, coder, accepted, rejected, pending, applied
    blind_for: str | None = None  # set when the figures are one coder's blind view

    def lines(self) -> list[str]:
        """The figures as plain text lines (what ``nlp-theming status`` prints)."""
        out = [
            f"run {self.run_id}: {self.documents} documents, {self.segments} segments with suggestions, "
            f"{self.suggestions} suggestions ({self.likely} scoring >= {THRESHOLD}), {self.pending} pending "
            + (f"for {self.blind_for}" if self.blind_for else "for everyone"),
        ]
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
    cache = {} if cache is None else cache  # the suggestions are read once for all coders

    def queue_of(who: str | None) -> pd.DataFrame:
        return full_queue(con, who, run_id, cache=cache)[0]

    queue = queue_of(None)
    run_id = int(queue.run_id.iloc[0]) if not queue.empty else run_id
    documents = con.execute("SELECT COUNT(*) FROM current_documents").fetchone()[0]
    log = effective(decisions_frame(con))
    coders = sorted(set(log.coder)) if not log.empty else []
    if coder is not None:
        coders = [coder]

    themes = (
        queue.assign(likely=queue.score >= THRESHOLD, undecided=queue.status == "pending")
        .groupby(["code", "meta_theme"], sort=False)
        .agg(suggested=("key", "size"), likely=("likely", "sum"), pending=("undecided", "sum"))
        .reset_index()
        .rename(columns={"code": "theme"})
    )
    position = {c.code: i for i, c in enumerate(cache["book"].codes)} if "book" in cache else {}
    themes = themes.sort_values("theme", key=lambda t: t.map(position).fillna(len(position)), kind="stable")
    themes = themes.reset_index(drop=True)
    if blind:
        # another coder's decisions must not show through "pending for everyone"
        mine = queue_of(coder)
        themes["pending"] = themes.theme.map(mine[mine.status == "pending"].groupby("code").size()).fillna(0)
    themes[["likely", "pending"]] = themes[["likely", "pending"]].astype(int)

    per_coder, per_theme = [], []
    applied_all = coding(con)
    for name in coders:
        q = queue_of(name)
        counts = q.status.value_counts()
        mine = log[log.coder == name]
        applied = applied_all[applied_all.coder == name].drop_duplicates(["segment_id", "code"])
        decided = int(counts.get("accepted", 0) + counts.get("rejected", 0))
        per_coder.append({
            "coder": name,
            "decided": decided,
            "accepted": int(counts.get("accepted", 0)),
            "rejected": int(counts.get("rejected", 0)),
            "pending": int(counts.get("pending", 0)),
            "progress": decided / len(q) if len(q) else 0.0,
            "changed": int((mine.action == "change").sum()),
            "added": int((mine.action == "add").sum()),
        })
        by_code = q.groupby("code").status.value_counts().unstack(fill_value=0)
        n_applied = applied.groupby("code").size()
        for theme in sorted(set(by_code.index) | set(n_applied.index)):
            row = by_code.loc[theme] if theme in by_code.index else {}
            per_theme.append({
                "theme": theme,
                "coder": name,
                "accepted": int(row.get("accepted", 0)),
                "rejected": int(row.get("rejected", 0)),
                "pending": int(row.get("pending", 0)),
                "applied": int(n_applied.get(theme, 0)),
            })
    by_coder = pd.DataFrame(per_coder, columns=["coder", "decided", "accepted", "rejected", "pending", "progress",
                                                "changed", "added"])
    by_theme_coder = pd.DataFrame(per_theme, columns=["theme", "coder", "accepted", "rejected", "pending", "applied"])
    return ReviewStatus(
        run_id=int(run_id) if run_id is not None else 0,
        documents=int(documents),
        segments=int(queue.segment_id.nunique()),
        suggestions=len(queue),
        likely=int((queue.score >= THRESHOLD).sum()),
        pending=int(themes.pending.sum()) if blind else int((queue.status == "pending").sum()),
        by_coder=by_coder,
        themes=themes,
        by_theme_coder=by_theme_coder,
        blind_for=coder if blind else None,
    )
