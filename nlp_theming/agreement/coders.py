"""Agreement between the coders of a project, with the disagreements in their words.

The coders are the people in the decision log (their current coding, derived by
:func:`nlp_theming.review.coding`) and, on request, the machine: the latest complete suggestion
run's codes with a score at or above the operating threshold (0.5). The machine is compared as a
coder here only to measure it; it never becomes a coder of record.

Three units of analysis:

* ``segment``: the project's coding units (``Segmenter().scheme``), participant speech only;
* ``sentence``: sentences of the participants' turns (``Segmenter(unit="sentence")`` applied to the
  stored transcripts); a sentence has a coder's code when one of the coder's spans overlaps it;
* ``character``: every character of participant speech (exactly, through weighted elementary
  intervals, :func:`nlp_theming.agreement.character_units`); the bootstrap resamples those
  intervals, stretches of text every coder treats alike, rather than single characters.

Only documents that at least two of the compared coders coded count: a document only one coder has
looked at says nothing about agreement. Where a coder did not code a kept document (three coders on
partly overlapping documents), their coding there is missing, not "no code": Krippendorff's alpha,
Fleiss' kappa and AC1 use the coders who did code each unit, and each pair's Cohen's kappa (and
precision/recall/F1 against the reference) is on the units both coded. A human coder "coded" a
document when they have a decision in force on it (an import, an accept, a reject...); the machine
coded the documents its run suggested codes for. A coder who reviewed only part of a document is
read as having applied no code to the rest.
"""

from __future__ import annotations

import base64
import io
import json
import math
import sqlite3
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from ..review.imports import span_segments
from ..segment import Segmenter, project_segmenter
from ..store.codebooks import code_names
from ..store.decisions import MACHINE_CODERS, coding, decisions_frame, decisions_learned, effective
from ..store.documents import current_documents_frame, load_transcript, segment_role, segment_schemes, segment_table
from ..store.runs import OPERATING_THRESHOLD, latest_run, likely_codes, run_row, suggested_documents
from ..tables import write_csv
from .report import AgreementReport, agreement_report
from .spans import character_units, spans_to_codings

__all__ = ["MACHINE", "OPERATING_THRESHOLD", "UNITS", "Comparison", "compare_coders"]

MACHINE = "machine"
UNITS = ("segment", "sentence", "character")
BOOTSTRAP_BY = ("unit", "document")  # what the bootstrap draws with replacement
HTML_ROW_LIMIT = 5000  # the HTML page stays usable; disagreements.csv has every row

_SPAN_COLS = ["coder", "document_id", "segment_id", "code", "start", "end"]


@dataclass
class Comparison:
    """What :func:`compare_coders` found: the statistics, the units and the disagreements with text."""

    report: AgreementReport
    # document, unit, start, end, code, applied_by, not_applied_by, n_applied, n_seen, weight, text
    disagreements: pd.DataFrame
    units: pd.DataFrame  # unit, document, start, end (and weight for characters)
    codings: pd.DataFrame  # tidy unit, coder, code (None: coded, no code), document
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """metrics.json: the report plus the settings that produced it."""
        return {**self.report.to_dict(), "settings": self.settings}

    def write(self, out: str | Path) -> dict[str, Path]:
        """Write metrics.json, per_code.csv, pairwise.csv, disagreements.csv and report.html into ``out``."""
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {name: folder / name for name in
                 ("metrics.json", "per_code.csv", "pairwise.csv", "disagreements.csv", "report.html")}
        paths["metrics.json"].write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")
        write_csv(self.report.per_code, paths["per_code.csv"])
        write_csv(self.report.pairwise, paths["pairwise.csv"])
        write_csv(_flat(self.disagreements), paths["disagreements.csv"])
        paths["report.html"].write_text(render_html(self), encoding="utf-8")
        return paths

    def summary_lines(self) -> list[str]:
        """A few lines for the terminal: what was compared and the headline figures with intervals."""
        s, o = self.settings, self.report.overall
        lines = [
            f"{', '.join(s['coders'])} on {s['n_units']} {s['unit']} units in {len(s['documents'])} documents"
            + (" coded by every one of them" if not s["documents_missing"] else " coded by at least two of them")
            + (f" ({s['n_characters']} characters)" if s["unit"] == "character" else "")
        ]
        if s["documents_excluded"]:
            lines.append(f"left out, coded by one coder only: {_left_out(s['documents_excluded'])}")
        if s["documents_missing"]:
            lines.append(f"missing (not 'no code'), each pair compared where both coded: {_missing(s)}")
        lines.append(
            f"percent agreement {_ci(o, 'micro_percent_agreement')} (unit x code)  mean kappa {_ci(o, 'mean_kappa')}"
        )
        lines.append(f"alpha {_ci(o, 'alpha_pooled')}  AC1 {_ci(o, 'micro_ac1')}")
        for other, prf in (o.get("precision_recall_f1") or {}).items():
            lines.append(f"{other} vs reference {s['reference']}: micro F1 {_ci(prf, 'micro_f1')}"
                         f"  macro F1 {_ci(prf, 'macro_f1')}")
        lines.append(f"{len(self.disagreements)} disagreements (unit x code); {o['level']:.0%} bootstrap intervals,"
                     f" {o['n_boot']} resamples of {_resampled(s)}")
        if s["machine"] and s["machine"]["learned_from"]:
            lines.append(f"note: {_learned_note(s['machine'])}")
        return lines


def _resampled(settings: dict[str, Any]) -> str:
    return "whole documents" if settings.get("bootstrap_by") == "document" else "units"


def compare_coders(
    con: sqlite3.Connection,
    coders: Sequence[str] | None = None,
    machine: bool = False,
    reference: str | None = None,
    unit: str = "segment",
    n_boot: int = 1000,
    seed: int | None = 0,
    *,
    threshold: float = OPERATING_THRESHOLD,
    run_id: int | None = None,
    scheme: str | None = None,
    level: float = 0.95,
    bootstrap_by: str = "unit",
) -> Comparison:
    """Agreement between coders of a project on one unit of analysis (see the module docstring).

    ``coders``: human coders (default: everyone in the decision log); a name such as ``machine``
    in the list counts as ``machine=True``. ``reference``: the coder the others are scored against
    (precision, recall, F1). ``run_id``: the machine's run (default: the latest complete one).
    ``scheme``: the segment scheme of the project (default: ``Segmenter().scheme``).
    ``bootstrap_by``: ``unit`` resamples units; ``document`` resamples whole documents (units of
    one interview are not independent, so its intervals are the honest, wider ones).
    """
    if unit not in UNITS:
        raise ValueError(f"unknown unit of analysis {unit!r}; choose one of {', '.join(UNITS)}")
    if bootstrap_by not in BOOTSTRAP_BY:
        raise ValueError(f"unknown bootstrap resampling {bootstrap_by!r}; choose one of {', '.join(BOOTSTRAP_BY)}")
    scheme = scheme or project_segmenter(con).scheme
    docs = current_documents_frame(con).rename(columns={"id": "document_id", "name": "document"})
    doc_name = dict(zip(docs.document_id, docs.document, strict=True))
    texts = dict(zip(docs.document, docs.text, strict=True))

    humans = None if coders is None else [c for c in coders if c.strip().lower() not in MACHINE_CODERS]
    machine = machine or any(c.strip().lower() in MACHINE_CODERS for c in (coders or []))
    spans, seen = _human_coding(con, humans)
    humans = sorted(seen) if humans is None else humans
    order = list(humans) + ([MACHINE] if machine else [])
    run_info: dict[str, Any] | None = None
    if machine:
        m_spans, m_seen, run_info = _machine_coding(con, run_id, threshold)
        spans = pd.concat([spans, m_spans], ignore_index=True) if len(spans) else m_spans
        seen[MACHINE] = m_seen
    if len(order) < 2:
        raise ValueError(f"comparing needs at least two coders; the project has {', '.join(order) or 'none'}"
                         + ("" if machine else " (add --machine to compare with the suggestions)"))
    if reference is not None and reference not in order:
        raise ValueError(f"reference coder {reference!r} is not among the compared coders ({', '.join(order)})")

    # Documents at least two coders coded; the others are named, with who coded them, and so are
    # the kept documents each coder lacks (missing there, not "no code").
    current = set(doc_name)
    coded_by = {d: [c for c in order if d in seen[c]] for d in current}
    common = {d for d, who in coded_by.items() if len(who) >= 2}
    excluded = {doc_name[d]: coded_by[d] for d in sorted(current - common, key=doc_name.get) if coded_by[d]}
    if not common:
        raise ValueError("no document was coded by at least two of the compared coders: "
                         + "; ".join(f"{c}: {len(seen[c] & current)} documents" for c in order))
    # A coder who coded none of the shared documents has nothing to agree on: left out, and named
    # with the documents only they coded.
    order = [c for c in order if seen[c] & common]
    if reference is not None and reference not in order:
        raise ValueError(f"reference coder {reference!r} coded none of the documents another coder coded")
    lacking = {c: sorted(doc_name[d] for d in common if d not in seen[c]) for c in order}
    lacking = {c: docs for c, docs in lacking.items() if docs}
    spans = spans[spans.document_id.isin(common)].copy()
    if run_info is not None:
        run_info["learned_from"] = _learned_from(con, run_info["decision_mark"], humans, common)

    segs = segment_table(con, scheme, roles=["participant"]).sort_values(["document_id", "segment_idx"])
    segs = segs[["segment_id", "document_id", "start", "end"]].reset_index(drop=True)
    segs = segs[segs.document_id.isin(common)]
    if segs.empty:
        raise ValueError(f"the compared documents have no participant segments under scheme {scheme!r}")

    if unit == "segment":
        units = _segment_units(segs, doc_name)
        spans = _onto_segments(con, spans, segs, scheme)
    elif unit == "sentence":
        units = _sentence_units(con, sorted(common), doc_name)
    else:
        units = _character_units(spans, segs, doc_name, texts)
    spans = spans.assign(document=spans.document_id.map(doc_name))[["document", "start", "end", "code", "coder"]]
    # One "no code" row per coder and document they coded: spans_to_codings reads it as "coded this
    # document", and leaves the units of the others missing for that coder.
    seen_rows = pd.DataFrame(
        [(doc_name[d], None, None, None, c) for c in order for d in sorted(common) if d in seen[c]],
        columns=["document", "start", "end", "code", "coder"],
    )
    spans = pd.concat([seen_rows, spans.drop_duplicates()], ignore_index=True)
    codings = spans_to_codings(spans, units)
    clusters = dict(zip(units.unit, units.document, strict=True)) if bootstrap_by == "document" else None
    report = agreement_report(codings, coders=order, reference=reference, n_boot=n_boot, seed=seed,
                     codes=_code_order(con, codings), level=level, clusters=clusters)

    disagreements = report.disagreements.merge(units.drop(columns=["weight"], errors="ignore"), on="unit", how="left")
    disagreements["text"] = [texts[d][s:e] for d, s, e in
                             zip(disagreements.document, disagreements.start, disagreements.end, strict=True)]
    first = ["document", "unit", "start", "end", "code", "applied_by", "not_applied_by", "n_applied", "n_seen",
             "weight", "text"]
    disagreements = disagreements[first].sort_values(["document", "start", "code"], kind="stable")

    settings: dict[str, Any] = {
        "unit": unit,
        "scheme": scheme if unit != "sentence" else Segmenter(unit="sentence").scheme,
        "coders": order,
        "machine": run_info,
        "reference": reference,
        "n_boot": n_boot,
        "bootstrap_by": bootstrap_by,
        "seed": seed,
        "level": level,
        "documents": sorted(doc_name[d] for d in common),
        "documents_excluded": excluded,
        "documents_missing": lacking,
        "n_units": len(units),
        "scope": "participant speech only; documents coded by at least two compared coders, a coder's"
                 " coding missing on the documents they did not code",
    }
    if unit == "character":
        settings["n_characters"] = int(units.weight.sum())
    return Comparison(report, disagreements.reset_index(drop=True), units, codings, settings)


# ----------------------------------------------------------------------------------------------
# Who coded what
# ----------------------------------------------------------------------------------------------


def _human_coding(con: sqlite3.Connection, coders: Sequence[str] | None) -> tuple[pd.DataFrame, dict[str, set[int]]]:
    """People's current coding as spans, and the documents each of them coded."""
    log = effective(decisions_frame(con))
    log = log[log.document_id.notna()]
    seen = {str(c): {int(d) for d in g.document_id} for c, g in log.groupby("coder")}
    if coders is not None:
        missing = [c for c in coders if c not in seen]
        if missing:
            raise ValueError(f"no decisions by {', '.join(map(repr, missing))} (coders: {', '.join(sorted(seen))})")
        seen = {c: seen[c] for c in coders}
    current = coding(con)
    current = current[current.coder.isin(list(seen))]
    spans = current[current.start.notna()][_SPAN_COLS].copy()
    return _typed(spans), seen


def _machine_coding(
    con: sqlite3.Connection, run_id: int | None, threshold: float
) -> tuple[pd.DataFrame, set[int], dict[str, Any]]:
    """The machine as a coder: a run's codes at or above the threshold, on participant segments."""
    run_id = run_id if run_id is not None else latest_run(con)
    if run_id is None:
        raise ValueError("the project has no complete suggestion run to compare; run `nlp-theming suggest PROJECT`")
    run = run_row(con, run_id)
    if run is None or run["status"] != "complete":
        raise ValueError(f"run {run_id} is not a complete suggestion run")
    spans = likely_codes(con, run_id, threshold).assign(coder=MACHINE)
    seen = suggested_documents(con, run_id)
    info = {"run_id": int(run_id), "model": run["model_id"], "matcher": run["matcher"], "scheme": run["scheme"],
            "threshold": threshold, "decision_mark": int(run["decision_mark"])}
    return _typed(spans[_SPAN_COLS]), seen, info


def _learned_from(con: sqlite3.Connection, mark: int, coders: Sequence[str], documents: set[int]) -> int:
    """How many of the compared people's decisions on the compared documents the run learned from.

    suggest fits on everything confirmed before the run, so agreement with decisions it saw is
    in-sample and flatters the machine; the count lets the report say so.
    """
    return decisions_learned(con, mark, list(coders), documents)


def _typed(spans: pd.DataFrame) -> pd.DataFrame:
    spans = spans.assign(segment_id=spans.segment_id.fillna(-1))  # a span on no segment: placed by its offsets
    spans = spans.astype({"document_id": "int64", "segment_id": "int64", "start": "int64", "end": "int64"})
    return spans.astype({"coder": object, "code": object}).reset_index(drop=True)


def _code_order(con: sqlite3.Connection, codings: pd.DataFrame) -> list[Hashable]:
    """The applied codes in codebook order (then any others), so tables read like the codebook."""
    applied = set(codings.code.dropna())
    known = code_names(con)
    return [c for c in known if c in applied] + sorted(applied - set(known), key=str)


# ----------------------------------------------------------------------------------------------
# Units of analysis
# ----------------------------------------------------------------------------------------------


def _unit_ids(documents: Sequence[str], starts: Sequence[int], ends: Sequence[int]) -> list[str]:
    # The same id form as agreement.character_units, so every unit kind reads alike in the outputs.
    return [f"{d}:{s}-{e}" for d, s, e in zip(documents, starts, ends, strict=True)]


def _segment_units(segs: pd.DataFrame, doc_name: dict[int, str]) -> pd.DataFrame:
    names = segs.document_id.map(doc_name).tolist()
    return pd.DataFrame({"unit": _unit_ids(names, segs.start.tolist(), segs.end.tolist()), "document": names,
                         "start": segs.start.to_numpy(), "end": segs.end.to_numpy()})


def _onto_segments(con: sqlite3.Connection, spans: pd.DataFrame, segs: pd.DataFrame, scheme: str) -> pd.DataFrame:
    """Each coded row as the extent of the target segment(s) it belongs to.

    A decision on a segment of the target scheme keeps that segment (even when its span was
    adjusted); one on another scheme's segment (a run with --unit sentence, say) goes to the target
    segments it covers by the import rule. Spans equal to whole, disjoint segments then map back one
    to one in spans_to_codings.
    """
    if spans.empty:
        return spans
    schemes = segment_schemes(con, spans.segment_id)
    extent = segs.set_index("segment_id")[["start", "end"]]
    by_doc = {d: g for d, g in segs.groupby("document_id")}
    rows = []
    for r in spans.itertuples(index=False):
        if schemes.get(r.segment_id) == scheme:
            targets = [r.segment_id] if r.segment_id in extent.index else []  # an interviewer segment: not a unit
        else:
            targets = span_segments(by_doc.get(r.document_id, segs.iloc[0:0]), int(r.start), int(r.end))
        for t in targets:
            rows.append((r.coder, r.document_id, t, r.code, int(extent.at[t, "start"]), int(extent.at[t, "end"])))
    return pd.DataFrame(rows, columns=_SPAN_COLS).astype({"coder": object, "code": object})


def _sentence_units(con: sqlite3.Connection, document_ids: Sequence[int], doc_name: dict[int, str]) -> pd.DataFrame:
    """Participant sentences of the stored transcripts, segmented now (nothing is stored)."""
    segmenter = Segmenter(unit="sentence")
    rows = []
    for doc_id in document_ids:
        transcript = load_transcript(con, doc_id)
        labelled = any(t.speaker for t in transcript.turns)
        for s in segmenter.segment(transcript):
            # the same role rule as the stored segments, so "participant" means the same thing
            if segment_role(s.is_interviewer, s.speaker, s.turn_idx, labelled) == "participant":
                rows.append((doc_name[doc_id], s.start, s.end))
    frame = pd.DataFrame(rows, columns=["document", "start", "end"])
    frame.insert(0, "unit", _unit_ids(frame.document, frame.start, frame.end))
    return frame


def _character_units(
    spans: pd.DataFrame, segs: pd.DataFrame, doc_name: dict[int, str], texts: dict[str, str]
) -> pd.DataFrame:
    """Weighted elementary intervals of participant speech, cut at every coder's span boundaries."""
    bounds = segs.assign(code="\x00segment", coder="\x00segment")  # pseudo-spans: they only add cut points
    cuts = pd.concat([spans, bounds[_SPAN_COLS]], ignore_index=True)
    cuts = cuts.assign(document=cuts.document_id.map(doc_name))
    names = sorted(doc_name[d] for d in set(segs.document_id))
    units = character_units(cuts[["document", "start", "end", "code", "coder"]], {d: texts[d] for d in names})
    keep = np.zeros(len(units), dtype=bool)
    for doc, g in segs.groupby("document_id"):
        # segment bounds are cut points, so an interval is wholly inside one segment or outside all
        idx = np.flatnonzero(units.document.to_numpy() == doc_name[doc])
        starts, ends = g.start.to_numpy(), g.end.to_numpy()
        pos = np.searchsorted(starts, units.start.to_numpy()[idx], side="right") - 1
        inside = (pos >= 0) & (units.end.to_numpy()[idx] <= ends[np.clip(pos, 0, None)])
        keep[idx[inside]] = True
    return units[keep].reset_index(drop=True)


# ----------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------


def _flat(disagreements: pd.DataFrame) -> pd.DataFrame:
    """Coder lists as text (' | ', like codes in coded-units files) for CSV and HTML."""
    out = disagreements.copy()
    for col in ("applied_by", "not_applied_by"):
        out[col] = out[col].map(lambda cs: " | ".join(map(str, cs)))
    return out


def _learned_note(machine: dict[str, Any]) -> str:
    return (f"run {machine['run_id']} learned from {machine['learned_from']} of the compared coders' decisions on"
            " these documents, so its agreement with them is optimistic; `nlp-theming evaluate` gives held-out"
            " figures")


def _left_out(excluded: dict[str, list[str]]) -> str:
    """Left-out documents grouped by who did code them: one clause per group, not one per document."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for doc, coders in excluded.items():
        groups.setdefault(tuple(coders), []).append(doc)
    return "; ".join(f"{len(docs)} coded only by {', '.join(who)}: {', '.join(docs)}" for who, docs in groups.items())


def _missing(settings: dict[str, Any]) -> str:
    """Which kept documents each coder did not code."""
    return "; ".join(f"{c} lacked {', '.join(docs)}" for c, docs in settings["documents_missing"].items())


def _num(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float | np.floating) and math.isnan(v)):
        return "–"
    if isinstance(v, int | np.integer):
        return str(int(v))
    return f"{float(v):.{digits}f}"


def _ci(d: Any, key: str) -> str:
    lo, hi = d.get(f"{key}_lo"), d.get(f"{key}_hi")
    if lo is None or hi is None or (isinstance(lo, float) and math.isnan(lo)):
        return _num(d.get(key))
    return f"{_num(d.get(key))} [{_num(lo)}, {_num(hi)}]"


def forest_plot_png(per_code: pd.DataFrame) -> bytes:
    """Per-code kappa and alpha with their bootstrap intervals, one row per code."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    codes = [str(c) for c in per_code.code]
    y = np.arange(len(codes))[::-1]
    fig, axes = plt.subplots(1, 2, figsize=(10, 1.2 + 0.32 * max(len(codes), 1)), sharey=True)
    for ax, stat, title in ((axes[0], "kappa", "Cohen's kappa (mean pairwise)"), (axes[1], "alpha",
                                                                                  "Krippendorff's alpha")):
        est = per_code[stat].to_numpy(float)
        lo = per_code[f"{stat}_lo"].to_numpy(float)
        hi = per_code[f"{stat}_hi"].to_numpy(float)
        ok = ~np.isnan(est)
        err = np.vstack([np.nan_to_num(est - lo), np.nan_to_num(hi - est)])[:, ok]
        ax.errorbar(est[ok], y[ok], xerr=err, fmt="o", color="#1f5f99", ecolor="#7fa7cc", capsize=3)
        ax.axvline(0, color="grey", linewidth=0.8)
        ax.set_title(title, fontsize=10)
        ax.set_xlim(min(-0.1, np.nanmin(lo, initial=0) - 0.05), 1.05)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, [c if len(c) <= 45 else c[:44] + "…" for c in codes], fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _table(frame: pd.DataFrame, columns: Sequence[tuple[str, str]], ci: Sequence[str] = ()) -> dict:
    """A table for the template: header labels and formatted cells (the template escapes them)."""
    rows = [
        [_ci(rec, col) if col in ci else (rec[col] if isinstance(rec[col], str) else _num(rec[col]))
         for col, _ in columns]
        for rec in frame.to_dict(orient="records")
    ]
    return {"head": [label for _, label in columns], "rows": rows}


_TEMPLATES = Environment(
    loader=PackageLoader("nlp_theming.agreement", "templates"), autoescape=select_autoescape(["html"]),
    trim_blocks=True, lstrip_blocks=True,
)


def render_html(comparison: Comparison) -> str:
    """A self-contained page (no scripts, no network): settings, tables, forest plot, disagreements."""
    s, rep = comparison.settings, comparison.report
    o = rep.overall
    facts = [
        ("unit of analysis", f"{s['unit']} ({s['scheme']})"),
        ("units", f"{s['n_units']}" + (f" ({s['n_characters']} characters)" if s["unit"] == "character" else "")),
        ("documents (coded by at least two compared coders)", ", ".join(s["documents"])),
        ("left out (coded by one coder only)", _left_out(s["documents_excluded"]) or "none"),
        ("missing coding (not 'no code'; pairs compared where both coded)", _missing(s) or "none"),
        ("reference", s["reference"] or "none (no precision/recall/F1)"),
        ("bootstrap", f"{o['n_boot']} resamples of {_resampled(s)}, seed {s['seed']},"
                      f" {s['level']:.0%} percentile intervals"),
    ]
    if s["machine"]:
        m = s["machine"]
        facts.append(("machine", f"run {m['run_id']} ({m['matcher']}, {m['model']}): codes with score >= "
                                 f"{m['threshold']} on participant segments"
                      + (f". Note: {_learned_note(m)}" if m["learned_from"] else "")))
    overall = [("percent agreement (unit x code)", _ci(o, "micro_percent_agreement")),
               ("mean kappa over codes", _ci(o, "mean_kappa")),
               ("Krippendorff's alpha (pooled)", _ci(o, "alpha_pooled")),
               ("Gwet's AC1 (pooled)", _ci(o, "micro_ac1")),
               ("Fleiss' kappa (pooled)", _ci(o, "micro_fleiss_kappa")),
               ("exact match of code sets", _ci(o["multilabel"], "exact_match")),
               ("mean Jaccard of code sets", _ci(o["multilabel"], "mean_jaccard"))]
    for other, prf in (o.get("precision_recall_f1") or {}).items():
        for avg in ("micro", "macro"):
            overall.append((f"{other} vs {s['reference']}: {avg} precision / recall / F1",
                            " / ".join(_ci(prf, f"{avg}_{m}") for m in ("precision", "recall", "f1"))))
    pc = rep.per_code
    cols = [("code", "code"), ("n_applied", "units with the code")]
    cols += [(c, c.replace("prevalence_", "share: ")) for c in pc.columns if c.startswith("prevalence_")]
    stats = ["percent_agreement", "kappa", "alpha", "ac1"]
    stats += [c for c in pc.columns
              if c.startswith(("precision_", "recall_", "f1_")) and not c.endswith(("_lo", "_hi"))]
    cols += [(c, c.replace("_", " ")) for c in stats]
    pw_stats = ["mean_kappa", "pooled_kappa", "alpha", "percent_agreement", "exact_match", "mean_jaccard"]
    pairwise = _table(rep.pairwise, [("coder_a", "coder"), ("coder_b", "coder"), ("n_units", "units")]
                      + [(c, c.replace("_", " ")) for c in pw_stats], ci=pw_stats)
    dis = _flat(comparison.disagreements)
    return _TEMPLATES.get_template("report.html").render(
        coders=", ".join(s["coders"]), facts=facts, overall=overall, per_code=_table(pc, cols, ci=stats),
        forest_png=base64.b64encode(forest_plot_png(pc)).decode("ascii") if len(pc) else None,
        level=f"{s['level']:.0%}", pairwise=pairwise, n_disagreements=len(dis), row_limit=HTML_ROW_LIMIT,
        disagreements=[r._asdict() for r in dis.head(HTML_ROW_LIMIT).itertuples(index=False)],
    )
