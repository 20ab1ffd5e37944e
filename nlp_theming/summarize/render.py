"""Write a summary: self-contained HTML, Markdown, XLSX, and CSV/Parquet tables.

Transcript text is untrusted: HTML goes through Jinja2 autoescaping (and a Content-Security-
Policy that allows no scripts), Markdown escapes HTML and table pipes, XLSX cells are written
as text so a quote starting with "=" never becomes a formula, and CSV cells that a spreadsheet
would run as a formula get a leading apostrophe (both through :mod:`nlp_theming.tables`).
Parquet keeps the text as it is.
"""

from __future__ import annotations

import json
import re
from html import escape as html_escape
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from ..progress import bar
from ..tables import add_sheet, new_workbook, write_csv
from .contrast import CONSISTENT_RANGE, PATTERNS
from .data import TECHNICAL_COLUMNS, UNREVIEWED_LABEL, UNREVIEWED_SCORE, natural_key
from .heatmap import heatmap_svg

if TYPE_CHECKING:
    from .summary import Summary

TEMPLATES = Path(__file__).parent / "templates"
META_FILE = "summary.json"
# The tables a summary is reopened from (Parquet always; CSV when asked for).
TABLES = ("groups", "themes", "cells", "quotes", "divergence", "comparison", "attributes")
# In an attribute comparison, themes whose presence differs less than this are folded away.
ATTRIBUTE_FLOOR = 0.2
ATTRIBUTE_ROWS = 15


def slugify(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", str(text)).strip("-")[:60] or "x"
    slug, n = base, 1
    while slug.lower() in taken:  # case-insensitive file systems
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug.lower())
    return slug


def _pct(value: object) -> str:
    try:
        return f"{float(value) * 100:.0f}%"
    except (TypeError, ValueError):
        return ""


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: (None if _isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def _isna(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


class Layout:
    """File names and anchors of everything in the report, decided once so links agree."""

    def __init__(self, summary: Summary) -> None:
        taken: set[str] = set()
        self.group = {g: f"groups/{slugify(g, taken)}.html" for g in summary.group_names}
        taken = set()
        self.document: dict[int, str] = {}
        if summary.documents is not None:
            for row in summary.documents.itertuples(index=False):
                self.document[int(row.document_id)] = f"transcripts/{slugify(row.document, taken)}.html"
        taken = set()
        self.anchor: dict[str, str] = {}
        for row in summary.themes.itertuples(index=False):
            key = row.theme if row.level == "theme" else "meta:" + row.theme
            self.anchor[key] = ("m-" if row.level == "meta" else "t-") + slugify(row.theme, taken)

    def quote_href(self, document_id: int, segment_id: int) -> str:
        return f"{self.document.get(int(document_id), '')}#s{int(segment_id)}"


def write_all(summary: Summary, out: Path, formats: tuple[str, ...], progress: bool = False) -> list[Path]:
    unknown = set(formats) - {"html", "md", "xlsx", "csv", "parquet"}
    if unknown:
        raise ValueError(f"unknown summary format(s): {', '.join(sorted(unknown))}")
    out.mkdir(parents=True, exist_ok=True)
    if (out / META_FILE).exists():
        # pages of an earlier summary here (other groups, other documents) would otherwise linger
        for sub in ("groups", "transcripts"):
            for old in (out / sub).glob("*.html"):
                old.unlink()
    summary.meta = {**summary.meta, "formats": list(formats)}
    layout = Layout(summary)
    parts = bar(2 + len({"html", "md", "xlsx"} & set(formats)), "summarize: write", "part", progress)
    written: list[Path] = []
    tables = out / "tables"
    tables.mkdir(exist_ok=True)
    # The tables are always written: they are how a summary is reopened and checked later.
    for name in TABLES:
        frame = getattr(summary, name)
        frame.to_parquet(tables / f"{name}.parquet", index=False)
        written.append(tables / f"{name}.parquet")
        if "csv" in formats:
            write_csv(frame, tables / f"{name}.csv")
            written.append(tables / f"{name}.csv")
    summary.tidy.to_parquet(out / "tidy.parquet", index=False)
    written.append(out / "tidy.parquet")
    if "csv" in formats:
        write_csv(summary.tidy, out / "tidy.csv")
        written.append(out / "tidy.csv")
    parts.update(1)
    svg = heatmap_svg(summary.cells, summary.themes, summary.groups, layout.group, layout.anchor, summary.by,
                      summary.meta.get("compare_attributes"))
    (out / "heatmap.svg").write_text(svg, encoding="utf-8")
    written.append(out / "heatmap.svg")
    parts.update(1)
    if "html" in formats:
        written += write_html(summary, out, layout, svg)
        parts.update(1)
    if "md" in formats:
        written.append(write_markdown(summary, out / "summary.md", layout))
        parts.update(1)
    if "xlsx" in formats:
        written.append(write_xlsx(summary, out / "summary.xlsx"))
        parts.update(1)
    parts.close()
    meta = {**summary.meta, "files": sorted(str(p.relative_to(out)) for p in written)}
    (out / META_FILE).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    written.append(out / META_FILE)
    return written


# ----------------------------------------------------------------------------------- HTML


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = _pct
    return env


def _group_context(summary: Summary, layout: Layout) -> list[dict]:
    attrs = summary.meta.get("group_attributes", [])
    # headline attributes: the ones groups are compared by; the page lists the rest
    headline = summary.meta.get("compare_attributes", [])
    out = []
    for row in _records(summary.groups):
        row["href"] = layout.group[row["group"]]
        row["attrs"] = [(a, row.get(a)) for a in headline if row.get(a) is not None]
        row["all_attrs"] = [(a, row.get(a)) for a in attrs if row.get(a) is not None]
        out.append(row)
    return out


def _attribute_context(summary: Summary) -> list[dict]:
    out = []
    taken: set[str] = set()
    for attr in summary.meta.get("compare_attributes", []):
        sub = summary.attributes[summary.attributes.attribute == attr]
        values = sorted(sub.value.unique(), key=natural_key)
        groups = summary.groups
        counts = [{"value": v, "n": int((groups[attr].astype(str) == v).sum())} for v in values]
        rows = []
        for (level, meta, theme), part in sub.groupby(["level", "meta_theme", "theme"], sort=False):
            by_value = {r["value"]: r for r in _records(part)}
            rows.append({"level": level, "meta_theme": meta, "theme": theme,
                         "cells": [by_value[v] for v in values if v in by_value],
                         "difference": float(part.difference.iloc[0]),
                         "coverage_difference": float(part.coverage_difference.iloc[0])})
        # presence separates kinds of group most plainly; coverage shows emphasis where all have it
        rows.sort(key=lambda r: (-max(r["difference"], r["coverage_difference"]), -r["difference"]))
        shown = [r for r in rows if max(r["difference"], r["coverage_difference"]) >= ATTRIBUTE_FLOOR]
        shown = (shown or rows[:5])[:ATTRIBUTE_ROWS]
        out.append({"name": attr, "slug": slugify(attr, taken), "levels": counts, "rows": shown,
                    "hidden": len(rows) - len(shown), "floor": ATTRIBUTE_FLOOR})
    return out


def _quotes_by_cell(summary: Summary, layout: Layout) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for q in _records(summary.quotes):
        q["href"] = layout.quote_href(q["document_id"], q["segment_id"])
        out.setdefault((q["group"], q["level"], q["theme"]), []).append(q)
    return out


def _side(row: dict, prefix: str, layout: Layout) -> dict:
    side = {k[len(prefix):]: v for k, v in row.items() if k.startswith(prefix)}
    side["href"] = layout.quote_href(side["document_id"], side["segment_id"])
    return side


def write_html(summary: Summary, out: Path, layout: Layout, svg: str) -> list[Path]:
    if summary.texts is None or summary.documents is None:
        raise ValueError("this summary was reopened from files and has no transcripts; build it again to write HTML")
    env = _env()
    meta = summary.meta
    project_name = Path(meta["project"]).name if meta.get("project") else "nlp-theming project"
    base = {"meta": meta, "by": summary.by, "project_name": project_name, "out_name": out.name}
    counts = meta["counts"]
    figures = {**counts, "participants": int(summary.groups.n_participants.sum())}
    pattern_counts = [
        (p, label, int(((summary.comparison.pattern == p) & (summary.comparison.level == "theme")).sum()))
        for p, label in PATTERNS.items()
    ]
    downloads = [(label, href) for label, href, fmt in (
        ("Markdown report (summary.md)", "summary.md", "md"),
        ("Workbook: matrix, one sheet per group, tidy table (summary.xlsx)", "summary.xlsx", "xlsx"),
        ("Tidy long table, CSV (tidy.csv)", "tidy.csv", "csv"),
        ("Tidy long table, Parquet (tidy.parquet)", "tidy.parquet", "parquet"),
        ("Matrix cells, CSV (tables/cells.csv)", "tables/cells.csv", "csv"),
        ("Heatmap, SVG (heatmap.svg)", "heatmap.svg", "svg"),
    ) if fmt in (*meta.get("formats", ()), "svg")]
    written = []
    index = env.get_template("index.html").render(
        **base, heatmap=Markup(svg), groups=_group_context(summary, layout), figures=figures,
        unreviewed=counts["unreviewed"], notes=summary.notes, comparison=_records(summary.comparison),
        pattern_counts=pattern_counts, consistent_range=_pct(CONSISTENT_RANGE),
        attributes=_attribute_context(summary), downloads=downloads,
    )
    (out / "index.html").write_text(index, encoding="utf-8")
    written.append(out / "index.html")

    quotes = _quotes_by_cell(summary, layout)
    cells = summary.cells
    divergence = {(r["group"], r["theme"]): r for r in _records(summary.divergence)}
    tidy = summary.tidy
    docs = summary.documents
    (out / "groups").mkdir(exist_ok=True)
    n_themes = int((summary.themes.level == "theme").sum())
    for group in _group_context(summary, layout):
        g = group["group"]
        gcells = {(r["level"], r["theme"]): r for r in _records(cells[cells.group == g])}
        blocks = []
        current: dict | None = None
        for row in summary.themes.itertuples(index=False):
            if current is None or row.meta_theme != current["meta"]:
                current = {"meta": row.meta_theme, "themes": [], "absent": [],
                           "anchor": layout.anchor.get("meta:" + row.meta_theme, ""),
                           "cell": gcells.get(("meta", row.meta_theme))}
                blocks.append(current)
            if row.level == "meta":
                continue
            cell = dict(gcells[("theme", row.theme)])
            if not cell["present"]:
                current["absent"].append(cell)
                continue
            cell["anchor"] = layout.anchor[row.theme]
            cell["quotes"] = quotes.get((g, "theme", row.theme), [])
            div = divergence.get((g, row.theme))
            if div is not None:
                div = dict(div)
                if div.get("contrast"):
                    div["a"], div["b"] = _side(div, "a_", layout), _side(div, "b_", layout)
            cell["div"] = div
            current["themes"].append(cell)
        gdocs = docs[docs.group == g]
        gtidy = tidy[tidy.group == g]
        people = []
        for participant, part in gdocs.groupby("participant", sort=False):
            people.append({
                "participant": participant, "role": part.role.iloc[0],
                "documents": [{"name": d, "href": layout.document[int(i)]}
                              for d, i in zip(part.document, part.document_id, strict=True)],
                "n_themes": int(gtidy[gtidy.participant == participant].theme.nunique()),
            })
        people.sort(key=lambda p: natural_key(p["participant"]))
        page = env.get_template("group.html").render(**base, group=group, blocks=blocks, people=people,
                                                     n_themes=n_themes)
        path = out / layout.group[g]
        path.write_text(page, encoding="utf-8")
        written.append(path)
    written += _write_transcripts(summary, out, layout, env, base)
    return written


def _write_transcripts(summary: Summary, out: Path, layout: Layout, env: Environment, base: dict) -> list[Path]:
    (out / "transcripts").mkdir(exist_ok=True)
    codes_of: dict[int, list[str]] = {}
    for sid, theme in zip(summary.tidy.segment_id, summary.tidy.theme, strict=True):
        themes = codes_of.setdefault(int(sid), [])
        if theme not in themes:  # several coded spans of one theme in a segment: one label
            themes.append(theme)
    # one pass over the segments, not one filter of all of them per document (quadratic at 1M)
    segs = summary.segments.sort_values(["document_id", "start"], kind="stable")
    by_document = {int(d): frame for d, frame in segs.groupby("document_id", sort=False)}
    none = segs.iloc[:0]
    shown = [c for c in summary.documents.columns if c not in (*TECHNICAL_COLUMNS, "group")]
    written = []
    template = env.get_template("transcript.html")
    for doc in _records(summary.documents):
        doc_id = int(doc["document_id"])
        text = summary.texts.get(doc_id, "")
        pieces, pos = [], 0
        for s in by_document.get(doc_id, none).itertuples(index=False):
            if s.start < pos:  # overlapping segments cannot both be wrapped; keep the first
                continue
            if s.start > pos:
                pieces.append({"id": None, "text": text[pos : s.start]})
            pieces.append({"id": int(s.segment_id), "start": int(s.start), "end": int(s.end),
                           "text": text[s.start : s.end], "codes": codes_of.get(int(s.segment_id), [])})
            pos = s.end
        if pos < len(text):
            pieces.append({"id": None, "text": text[pos:]})
        attrs = [(k, doc[k]) for k in shown if doc.get(k) is not None]
        page = template.render(**base, doc=doc, attrs=attrs, pieces=pieces, group_href=layout.group[doc["group"]])
        path = out / layout.document[doc_id]
        path.write_text(page, encoding="utf-8")
        written.append(path)
    return written


# ------------------------------------------------------------------------------- Markdown


def md_text(value: object) -> str:
    """Untrusted text for Markdown: HTML escaped (renderers pass raw HTML through), pipes too."""
    return html_escape(" ".join(str(value).split()), quote=False).replace("|", "\\|").replace("*", "\\*") \
        .replace("_", "\\_").replace("`", "\\`").replace("[", "\\[")


def write_markdown(summary: Summary, path: Path, layout: Layout) -> Path:
    meta, by = summary.meta, summary.by
    lines = [f"# Framework matrix by {md_text(by)}", ""]
    lines.append(f"Built {meta['built_at']} from the decision log up to decision #{meta['decision_mark']}"
                 + (f" ({meta['decision_at']})" if meta.get("decision_at") else "") + ". "
                 + (f"Coder: {md_text(meta['coder'])}." if meta.get("coder")
                    else "All coders; a segment coded by several counts once."))
    lines.append("Only confirmed codes are counted. "
                 f"**{meta['counts']['unreviewed']} {UNREVIEWED_LABEL}** (shown as +n in the matrix).")
    lines.append("")
    for note in summary.notes:
        lines.append(f"> {md_text(note)}")
    lines += ["", "![Framework matrix](heatmap.svg)", "", f"## Matrix (coded segments; +n {UNREVIEWED_LABEL})", ""]
    groups = summary.group_names
    lines.append("| Theme | " + " | ".join(md_text(g) for g in groups) + " |")
    lines.append("|---|" + "---:|" * len(groups))
    cells = {(r.group, r.level, r.theme): r for r in summary.cells.itertuples(index=False)}
    for row in summary.themes.itertuples(index=False):
        label = f"**{md_text(row.theme)}**" if row.level == "meta" else md_text(row.theme)
        vals = []
        for g in groups:
            c = cells[(g, row.level, row.theme)]
            vals.append(f"{c.n_segments}" + (f" (+{c.n_unreviewed})" if c.n_unreviewed else ""))
        lines.append(f"| {label} | " + " | ".join(vals) + " |")
    lines += ["", f"## Across {md_text(by)} groups", "",
              "| Theme | Pattern | Groups | Not coded in | Coverage min–max |", "|---|---|---:|---|---:|"]
    for r in summary.comparison.itertuples(index=False):
        if r.level != "theme":
            continue
        lines.append(f"| {md_text(r.theme)} | {r.pattern} | {r.n_groups_present}/{r.n_groups} | "
                     f"{md_text(r.groups_absent)} | {_pct(r.coverage_min)}–{_pct(r.coverage_max)} |")
    for a in _attribute_context(summary):
        lines += ["", f"## By {md_text(a['name'])}", "",
                  "| Theme | " + " | ".join(md_text(v["value"]) for v in a["levels"]) + " | Difference |",
                  "|---|" + "---:|" * (len(a["levels"]) + 1)]
        for r in a["rows"]:
            vals = " | ".join(f"{c['n_present']}/{c['n_groups']} ({_pct(c['coverage_mean'])})" for c in r["cells"])
            lines.append(f"| {md_text(r['theme'])} | {vals} | {_pct(r['difference'])} |")
    quotes = _quotes_by_cell(summary, layout)
    divergence = {(r["group"], r["theme"]): r for r in _records(summary.divergence)}
    for group in _records(summary.groups):
        g = group["group"]
        lines += ["", f"## {md_text(by)} {md_text(g)}", "",
                  f"{group['n_participants']} interviewee(s): {md_text(group['roles'])}. "
                  f"{group['n_themes_present']} themes coded in {group['n_coded_segments']} segments."
                  + (f" **{group['n_unreviewed']} {UNREVIEWED_LABEL}.**" if group["n_unreviewed"] else "")]
        if group.get("keywords"):
            lines.append(f"Distinctive: {md_text(group['keywords'])}.")
        for c in _records(summary.cells[(summary.cells.group == g) & (summary.cells.level == "theme")
                                         & (summary.cells.present == 1)]):
            keywords = f" Keywords: {md_text(c['keywords'])}." if c["keywords"] else ""
            lines += ["", f"### {md_text(c['theme'])}", "",
                      f"{c['n_segments']} segment(s), {c['n_participants']}/{c['group_participants']} interviewees; "
                      f"raised by {md_text(c['roles'])}.{keywords}", ""]
            for q in quotes.get((g, "theme", c["theme"]), []):
                lines.append(f"> “{md_text(q['text'])}” — [{md_text(q['participant'])}, {md_text(q['role'])}]"
                             f"({q['href']})")
                lines.append("")
            d = divergence.get((g, c["theme"]))
            if d and d.get("silent_people"):
                lines.append(f"Not raised by: {md_text(d['silent_people'])}.")
            if d and d.get("contrast"):
                lines.append(f"Most different views ({md_text(d['contrast_a'])} vs {md_text(d['contrast_b'])}, "
                             f"similarity {d['similarity']:.2f}): “{md_text(d['a_text'])}” / “{md_text(d['b_text'])}”")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------- XLSX


def _sheet(wb, title: str, frame: pd.DataFrame, widths: dict[str, int] | None = None) -> None:
    add_sheet(wb, title, frame, widths)  # the one guarded writer: no cell becomes a formula


def _sheet_title(name: str, taken: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "_", name)[:31].strip("'") or "sheet"
    title, n = base, 1
    while title.lower() in taken:
        n += 1
        suffix = f" ({n})"
        title = base[: 31 - len(suffix)] + suffix
    taken.add(title.lower())
    return title


def quotes_per_cell(summary: Summary) -> int:
    """How many quotes the summary was asked for per cell (a reopened older one: the most it has)."""
    n = summary.meta.get("quotes_per_cell")
    if n is None:
        n = int(summary.quotes["rank"].max()) if not summary.quotes.empty else 0
    return int(n)


def write_xlsx(summary: Summary, path: Path) -> Path:
    wb = new_workbook()
    meta = summary.meta
    about = [(k, json.dumps(v) if isinstance(v, list | dict) else v) for k, v in meta.items() if k != "notes"]
    about += [("note", n) for n in summary.notes]
    taken: set[str] = set()
    _sheet(wb, _sheet_title("About", taken), pd.DataFrame(about, columns=["key", "value"]), {"value": 90})
    _sheet(wb, _sheet_title("Matrix", taken), summary.matrix("n_segments"))
    _sheet(wb, _sheet_title("Participants", taken), summary.matrix("n_participants"))
    # the count is labelled where it is shown: suggestions at or above the threshold nobody decided
    label = {"n_unreviewed": UNREVIEWED_LABEL}
    _sheet(wb, _sheet_title(f"Unreviewed (score ≥ {UNREVIEWED_SCORE})", taken), summary.matrix("n_unreviewed"))
    _sheet(wb, _sheet_title("Cells", taken), summary.cells.rename(columns=label), {"participants": 40, "keywords": 50})
    _sheet(wb, _sheet_title("Comparison", taken), summary.comparison)
    if not summary.attributes.empty:
        _sheet(wb, _sheet_title("By attribute", taken), summary.attributes)
    quotes = summary.quotes[summary.quotes.level == "theme"]
    n_quotes = quotes_per_cell(summary)
    quote_cols = [f"quote {rank}" for rank in range(1, n_quotes + 1)]
    for g in summary.group_names:
        cells = summary.cells[(summary.cells.group == g) & (summary.cells.level == "theme")].copy()
        div = summary.divergence[summary.divergence.group == g].set_index("theme")
        qs = quotes[quotes.group == g]
        for rank, col in enumerate(quote_cols, start=1):
            by_theme = {r.theme: f"{r.text} — {r.participant}, {r.role} ({r.document})"
                        for r in qs[qs["rank"] == rank].itertuples(index=False)}
            cells[col] = cells.theme.map(by_theme)
        cells["not raised by"] = cells.theme.map(div["silent_people"]) if not div.empty else None
        frame = cells[["meta_theme", "theme", "n_segments", "n_participants", "roles", "n_unreviewed", "keywords",
                       *quote_cols, "not raised by"]].rename(columns=label)
        _sheet(wb, _sheet_title(f"{summary.by} {g}", taken), frame,
               {**dict.fromkeys(quote_cols, 60), "keywords": 40, "not raised by": 40})
    _sheet(wb, _sheet_title("Tidy", taken), summary.tidy.drop(columns=["segment_text"]), {"text": 80})
    wb.save(path)
    return path
