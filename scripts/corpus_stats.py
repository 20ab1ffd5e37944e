"""Counts for the SYNTHETIC nhs-medical-leadership corpus, as Markdown tables.

Transcripts per site, role, level and format, words of speech, and coded spans per theme and
coder, computed from manifest.csv, source/*.yaml, gold_spans.csv and codebook.csv (run
build_corpus.py first). With --readme the tables replace the part of the README between the
``corpus-stats`` markers; otherwise they are printed.

Usage:
    python scripts/corpus_stats.py
    python scripts/corpus_stats.py --readme corpora/nhs-medical-leadership/README.md
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpora" / "nhs-medical-leadership"
BEGIN, END = "<!-- corpus-stats:begin -->", "<!-- corpus-stats:end -->"
ROLES = ("doctor", "manager", "nurse", "psychologist")
LEVELS = ("board", "unit")
FORMATS = ("txt", "docx", "vtt", "srt", "whisper_json")
_STAGE = re.compile(r"\[[^\]]*\]")  # [laughs], [pause]: not words of speech


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _words(text: str) -> int:
    return len(_STAGE.sub(" ", text).split())


def _table(header: list[str], rows: list[list[object]]) -> str:
    def right(cell: object) -> bool:
        return isinstance(cell, int | float)

    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---:" if rows and right(rows[0][i]) else "---" for i in range(len(header))) + "|")
    lines += ["| " + " | ".join(f"{c:,}" if isinstance(c, int) else str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def word_counts(corpus: Path) -> dict[str, tuple[int, int]]:
    """Document id -> (words of both speakers, words of the participant), from the sources."""
    out = {}
    for path in sorted((corpus / "source").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        turns = data.get("turns") or []
        total = sum(_words(str(t.get("text", ""))) for t in turns)
        participant = sum(_words(str(t.get("text", ""))) for t in turns if t.get("speaker") == "P")
        out[str(data.get("id", path.stem))] = (total, participant)
    return out


def stats(corpus: Path) -> str:
    manifest = _rows(corpus / "manifest.csv")
    gold = _rows(corpus / "gold_spans.csv") if (corpus / "gold_spans.csv").exists() else []
    words = word_counts(corpus)
    docs = {Path(r["file"]).stem: r for r in manifest}
    out: list[str] = []

    total_words = sum(words.get(d, (0, 0))[0] for d in docs)
    participant_words = sum(words.get(d, (0, 0))[1] for d in docs)
    per_doc = [words.get(d, (0, 0))[0] for d in docs] or [0]
    out.append(
        f"{len(docs)} transcripts from {len({r['site'] for r in manifest})} sites; "
        f"{total_words:,} words of speech ({participant_words:,} by participants), "
        f"{min(per_doc):,}-{max(per_doc):,} per interview (mean {total_words / max(len(docs), 1):,.0f}). "
        "Words are counted in the source text, before rendering."
    )

    rows = []
    for site in sorted({r["site"] for r in manifest}):
        mine = [r for r in manifest if r["site"] == site]
        ids = [Path(r["file"]).stem for r in mine]
        roles = Counter(r["role"] for r in mine)
        levels = Counter(r["level"] for r in mine)
        site_words = sum(words.get(i, (0, 0))[0] for i in ids)
        rows.append([site, len(mine), *(roles[x] for x in ROLES), *(levels[x] for x in LEVELS), site_words])
    out += ["### Transcripts per site", _table(["site", "transcripts", *ROLES, *LEVELS, "words"], rows)]

    for title, key, order in (("role", "role", ROLES), ("level", "level", LEVELS), ("format", "format", FORMATS)):
        counts = Counter(r[key] for r in manifest)
        keys = [k for k in order if counts[k]] + sorted(k for k in counts if k not in order)
        table_rows = [
            [k, counts[k], sum(words.get(Path(r["file"]).stem, (0, 0))[0] for r in manifest if r[key] == k)]
            for k in keys
        ]
        out += [f"### Transcripts per {title}", _table([title, "transcripts", "words"], table_rows)]

    coders = sorted({r["coder"] for r in gold})
    by_code = Counter((r["code"], r["coder"]) for r in gold)
    order: list[tuple[str, str]] = []
    if (corpus / "codebook.csv").exists():
        order = [(r["code"], r["parent"]) for r in _rows(corpus / "codebook.csv") if r.get("parent")]
    known = {code for code, _ in order}
    order += sorted({(r["code"], "?") for r in gold if r["code"] not in known})
    coded_docs = {c: len({r["document"] for r in gold if r["coder"] == c}) for c in coders}
    summary = "; ".join(
        f"{c}: {sum(1 for r in gold if r['coder'] == c):,} spans in {coded_docs[c]} transcripts" for c in coders
    )
    out += ["### Coded spans per theme and coder", f"{summary or 'No coded spans yet.'}"]
    if coders:
        table_rows = [[code, parent, *(by_code[(code, c)] for c in coders)] for code, parent in order]
        table_rows.append(["**all themes**", "", *(sum(by_code[(code, c)] for code, _ in order) for c in coders)])
        out.append(_table(["theme", "meta-theme", *coders], table_rows))
    return "\n\n".join(out) + "\n"


def replace_section(readme: Path, body: str) -> None:
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme}: no {BEGIN} ... {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{BEGIN}\n{body}{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--readme", type=Path, help="write the tables into this README between the markers")
    args = parser.parse_args(argv)
    body = stats(args.corpus)
    if args.readme:
        replace_section(args.readme, body)
        print(f"updated {args.readme}")
    else:
        sys.stdout.write(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
