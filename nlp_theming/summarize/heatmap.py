"""The framework matrix as an inline SVG heatmap: no scripts, no fonts or files to fetch.

Every label is escaped: group names and themes come from user files.
"""

from __future__ import annotations

from html import escape

import pandas as pd

from .data import UNREVIEWED_LABEL, UNREVIEWED_SCORE

# Light to dark blue, readable in print and for the common colour-vision deficiencies.
STOPS = ["#e8f1fb", "#b9d4f1", "#7fb0e3", "#4a88cf", "#2563b0", "#163f7a"]
EMPTY = "#f7f8fa"
FLAG = "#e8890c"  # unreviewed suggestions in the cell
CATEGORY_COLOURS = ["#7c5cbf", "#2f9e8f", "#d9644a", "#c9a227", "#5b8bd9", "#9c6b4e", "#d45d9a", "#6b7a8f"]
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


def _mix(a: str, b: str, t: float) -> str:
    ca = [int(a[i : i + 2], 16) for i in (1, 3, 5)]
    cb = [int(b[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb, strict=True))


def colour(t: float) -> str:
    """Colour of a cell filled to fraction t (0 < t <= 1) of its row block's maximum."""
    t = min(max(t, 0.0), 1.0) * (len(STOPS) - 1)
    i = min(int(t), len(STOPS) - 2)
    return _mix(STOPS[i], STOPS[i + 1], t - i)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def heatmap_svg(
    cells: pd.DataFrame,
    themes: pd.DataFrame,
    groups: pd.DataFrame,
    group_href: dict[str, str],
    theme_anchor: dict[str, str],
    by: str,
    attributes: list[str] | None = None,
    metric: str = "n_segments",
) -> str:
    """Rows: themes under their meta-theme roll-ups; columns: groups; colour and number: ``metric``."""
    names = groups.group.tolist()
    attributes = [a for a in (attributes or []) if a in groups.columns][:2]
    longest_group = max((len(str(g)) for g in names), default=1)
    col_w = max(46, min(120, 7 * longest_group + 18))
    label_w = int(min(460, 6.4 * max((len(t) for t in themes.theme), default=10) + 44))
    label_chars = max(20, int((label_w - 30) / 6.4))
    row_h, head_h, band_h = 22, 34, 12
    top = head_h + band_h * len(attributes) + 6
    legend_h = 44 + 18 * len(attributes)
    legend_w = max([660] + [130 + sum(32 + int(5.9 * len(str(v))) for v in groups[a].dropna().unique())
                            for a in attributes])
    width = max(label_w + col_w * len(names) + 12, legend_w)
    height = top + row_h * len(themes) + legend_h
    by_key = {(r.group, r.level, r.meta_theme, r.theme): r for r in cells.itertuples(index=False)}
    maxima = {lvl: max(1, int(cells[cells.level == lvl][metric].max() or 0)) if (cells.level == lvl).any() else 1
              for lvl in ("theme", "meta")}

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="heatmap" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{escape(FONT)}" font-size="12">',
        f"<title>Framework matrix: coded segments per {escape(by)} and theme</title>",
    ]
    # column headers, each a link to the group's page
    for j, g in enumerate(names):
        x = label_w + j * col_w + col_w / 2
        out.append(
            f'<a href="{escape(group_href[g])}" class="group-link"><text x="{x:.1f}" y="{head_h - 12}" '
            f'text-anchor="middle" font-weight="600" font-size="13" fill="#1f2937">{escape(_short(str(g), 16))}'
            f"<title>{escape(by)} {escape(str(g))}</title></text></a>"
        )
    # attribute bands under the headers (e.g. trust type), with their own legend below
    palettes: dict[str, dict[str, str]] = {}
    for k, attr in enumerate(attributes):
        values = sorted(groups[attr].dropna().astype(str).unique())
        palettes[attr] = {v: CATEGORY_COLOURS[(i + 3 * k) % len(CATEGORY_COLOURS)] for i, v in enumerate(values)}
        y = head_h + k * band_h
        out.append(f'<text x="{label_w - 8}" y="{y + 9}" text-anchor="end" font-size="10" fill="#6b7280">'
                   f"{escape(attr)}</text>")
        for j, g in enumerate(names):
            value = groups.loc[groups.group == g, attr].iloc[0]
            fill = palettes[attr].get(str(value), "#d1d5db") if pd.notna(value) else "#d1d5db"
            out.append(f'<rect x="{label_w + j * col_w + 2}" y="{y + 1}" width="{col_w - 4}" height="{band_h - 3}" '
                       f'rx="2" fill="{fill}"><title>{escape(attr)}: {escape(str(value))}</title></rect>')
    for i, row in enumerate(themes.itertuples(index=False)):
        y = top + i * row_h
        is_meta = row.level == "meta"
        if is_meta:
            out.append(f'<rect x="0" y="{y}" width="{label_w + col_w * len(names)}" height="{row_h}" fill="#eef2f7"/>')
        label = _short(row.theme, label_chars - (0 if is_meta else 2))
        out.append(
            f'<text x="{6 if is_meta else 18}" y="{y + 15}" font-weight="{700 if is_meta else 400}" '
            f'fill="{"#111827" if is_meta else "#374151"}">{escape(label)}<title>{escape(row.theme)}'
            f"{' (meta-theme: all its themes together)' if is_meta else ''}</title></text>"
        )
        for j, g in enumerate(names):
            cell = by_key.get((g, row.level, row.meta_theme, row.theme))
            if cell is None:
                continue
            value = int(getattr(cell, metric))
            x = label_w + j * col_w
            fill = colour(value / maxima[row.level]) if value > 0 else EMPTY
            dark = value > 0 and value / maxima[row.level] > 0.5
            tip = (
                f"{by} {g} · {row.theme}: {cell.n_segments} coded segment(s), {cell.n_participants} of "
                f"{cell.group_participants} interviewee(s)" + (f" ({cell.roles})" if cell.roles else "")
                + (f"; {cell.n_unreviewed} {UNREVIEWED_LABEL}" if cell.n_unreviewed else "")
            )
            anchor = theme_anchor.get(row.theme if row.level == "theme" else "meta:" + row.theme, "")
            out.append(f'<a href="{escape(group_href[g] + "#" + anchor)}" class="cell">')
            out.append(
                f'<rect x="{x + 1}" y="{y + 1}" width="{col_w - 2}" height="{row_h - 2}" rx="3" fill="{fill}" '
                f'stroke="{"#c7d2e0" if value == 0 else "none"}" stroke-width="0.6" data-group="{escape(str(g))}" '
                f'data-theme="{escape(row.theme)}" data-value="{value}"><title>{escape(tip)}</title></rect>'
            )
            text = str(value) if value else "·"
            ink = "#ffffff" if dark else ("#1f2937" if value else "#9ca3af")
            out.append(
                f'<text x="{x + col_w / 2:.1f}" y="{y + 15}" text-anchor="middle" pointer-events="none" '
                f'font-weight="{600 if is_meta else 500}" fill="{ink}">{text}</text>'
            )
            if cell.n_unreviewed:
                out.append(f'<path d="M{x + col_w - 11} {y + 1} h10 v10 z" fill="{FLAG}" pointer-events="none"/>')
            out.append("</a>")
    # legend
    y = top + row_h * len(themes) + 18
    key_x = 130  # where legend swatches start, after the longest legend label
    out.append(f'<text x="6" y="{y + 10}" fill="#4b5563" font-size="11">coded segments</text>')
    for k, t in enumerate((0.1, 0.3, 0.5, 0.7, 0.9)):
        out.append(f'<rect x="{key_x + k * 22}" y="{y}" width="20" height="13" rx="2" fill="{colour(t)}"/>')
    out.append(f'<text x="{key_x + 116}" y="{y + 10}" fill="#4b5563" font-size="11">more (per block of rows)</text>')
    out.append(f'<path d="M{key_x + 270} {y} h12 v12 z" fill="{FLAG}"/>')
    flag_label = f"suggestions scoring ≥ {UNREVIEWED_SCORE} still to review"
    out.append(f'<text x="{key_x + 288}" y="{y + 10}" fill="#4b5563" font-size="11">{flag_label}</text>')
    for k, attr in enumerate(attributes):
        yy = y + 22 + 18 * k
        out.append(f'<text x="6" y="{yy + 10}" fill="#4b5563" font-size="11">{escape(_short(attr, 20))}</text>')
        x = key_x
        for value, fill in palettes[attr].items():
            out.append(f'<rect x="{x}" y="{yy}" width="12" height="12" rx="2" fill="{fill}"/>')
            out.append(f'<text x="{x + 16}" y="{yy + 10}" fill="#4b5563" font-size="11">{escape(value)}</text>')
            x += 32 + int(5.9 * len(value))
    out.append("</svg>")
    return "\n".join(out)
