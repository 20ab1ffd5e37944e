"""Find a passage someone coded in another tool in the text the project stores.

Other tools export the words of a coded passage, often with a position that is not a character
offset (a paragraph or line number) and with the text a little changed: typographic quotes
straightened, runs of spaces and line breaks joined, "…" for "...", a dash of another kind.
:func:`find_passage` finds such a passage in one document; every importer of human coding that
has words but no trustworthy offsets uses it (coded-unit CSVs, QDA coded-segment tables).

How a passage is looked for, in order, and where:

1. **Exact**, then **normalised** (case, whitespace, quotes, dashes and ellipses folded), in the
   preferred region first (the stated paragraphs, or after the last passage found), then in the
   whole document, taking the occurrence nearest the preferred region.
2. **Fuzzy**: failing both, the longest run of consecutive words the passage shares with the
   document (words compared normalised, punctuation around them ignored). The run must be at
   least :data:`FUZZY_MIN_RUN` words long; around it, the passage's words are aligned with the
   document's, and the match counts when at least :data:`FUZZY_THRESHOLD` of the passage's words
   are found in order. The span is the first to the last aligned word.

Paragraphs and lines (:func:`paragraph_spans`) are the non-empty lines of the stored text,
numbered from 1: blank lines between turns are not counted, and a turn written on one line is
one paragraph. Exported positions are taken as hints, widened by :data:`POSITION_SLACK` on each
side, because the other tool may have counted a title or blank paragraphs the stored text lacks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path

#: At least this share of a passage's words must be found, in order, for a fuzzy match.
FUZZY_THRESHOLD = 0.6
#: A fuzzy match needs a run of at least this many consecutive words in common.
FUZZY_MIN_RUN = 3
#: Paragraphs (or lines) added before and after a stated position before searching it.
POSITION_SLACK = 2

# One character for each that exports spell differently; "…" becomes "..." below.
_FOLD = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
})
_WORD = re.compile(r"\w+(?:['-]\w+)*")


@dataclass(frozen=True)
class Found:
    """Where a passage was found: ``text[start:end]``, how, and (fuzzy) the share of its words found."""

    start: int
    end: int
    how: str  # "exact", "normalised" or "fuzzy"
    score: float = 1.0
    in_region: bool = True  # inside the preferred region (False: found elsewhere in the document)


def normalise(text: str) -> tuple[str, list[int]]:
    """``text`` folded for comparison, and for each folded character the index it came from.

    Lower case; typographic quotes, primes and dashes as ASCII; "…" as "..."; every run of
    whitespace (line breaks and non-breaking spaces included) as one space; no leading or
    trailing space.
    """
    out: list[str] = []
    index: list[int] = []
    space = True  # drops leading whitespace, and joins runs
    for i, ch in enumerate(text):
        if ch.isspace():
            if not space:
                out.append(" ")
                index.append(i)
            space = True
            continue
        space = False
        folded = "..." if ch == "\u2026" else ch.translate(_FOLD).casefold()
        out.append(folded)
        index.extend([i] * len(folded))
    if out and out[-1] == " ":
        out.pop()
        index.pop()
    return "".join(out), index


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each paragraph or line of ``text``: its non-empty lines, in order."""
    return [(m.start(), m.end()) for m in re.finditer(r"[^\n]*\S[^\n]*", text)]


def paragraph_region(text: str, first: int, last: int | None = None, slack: int = POSITION_SLACK) -> tuple[int, int]:
    """Character region of paragraphs ``first``..``last`` (1-based, inclusive), widened by
    ``slack`` paragraphs each side and clamped to the text; the whole text when there are none."""
    spans = paragraph_spans(text)
    if not spans:
        return 0, len(text)
    last = first if last is None else max(first, last)
    lo = min(max(first - 1 - slack, 0), len(spans) - 1)
    hi = min(max(last - 1 + slack, lo), len(spans) - 1)
    return spans[lo][0], spans[hi][1]


def words(text: str) -> list[tuple[str, int, int]]:
    """The words of ``text`` as (normalised word, start, end) with offsets into ``text``."""
    folded, index = normalise(text)
    return [(m.group(), index[m.start()], index[m.end() - 1] + 1) for m in _WORD.finditer(folded)]


def find_passage(
    text: str, passage: str, prefer: tuple[int, int] | None = None, stated: tuple[int, int] | None = None
) -> Found | None:
    """Find ``passage`` in ``text`` (see the module's description), looking in the ``prefer``
    region (character offsets) first; ``None`` when it is not there. Of several occurrences in
    the region, the one inside the ``stated`` position (the region before widening), else the
    nearest to it, wins; without one, the first."""
    passage = passage.strip()
    if not passage:
        return None
    lo, hi = prefer if prefer is not None else (0, len(text))
    lo, hi = max(0, lo), min(len(text), hi)
    hits = _all(text, passage)
    if hits:
        return _nearest(hits, len(passage), lo, hi, "exact", stated)
    folded, index = _document_folded(text)
    needle, _ = normalise(passage)
    hits = _all(folded, needle)
    if hits:
        return _nearest([(index[h], index[h + len(needle) - 1] + 1) for h in hits], None, lo, hi, "normalised", stated)
    return _fuzzy(text, passage, lo, hi)


def matches_at(text: str, passage: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is ``passage`` once both are normalised."""
    return 0 <= start < end <= len(text) and normalise(text[start:end])[0] == normalise(passage)[0]


# A table passes many passages of one document in a row: fold each document once, not per passage.
_document_folded = lru_cache(maxsize=8)(normalise)
_document_words = lru_cache(maxsize=8)(words)


def _all(haystack: str, needle: str) -> list[int]:
    out, at = [], haystack.find(needle)
    while at >= 0:
        out.append(at)
        at = haystack.find(needle, at + 1)
    return out


def _nearest(hits: list, length: int | None, lo: int, hi: int, how: str,
             stated: tuple[int, int] | None = None) -> Found:
    """The hit inside [lo, hi) if any (the first, or the one nearest the stated position), else
    the one nearest to the region."""
    spans = [(h, h + length) if length is not None else h for h in hits]
    inside = [s for s in spans if s[0] >= lo and s[1] <= hi]
    if inside:
        if stated is not None:
            a, b = stated
            # inside the stated position first, then by distance from it
            return Found(*min(inside, key=lambda s: (not (a <= s[0] and s[1] <= b), max(a - s[0], s[0] - b, 0))),
                         how=how)
        return Found(*inside[0], how=how)
    start, end = min(spans, key=lambda s: min(abs(s[0] - lo), abs(s[0] - hi)))
    return Found(start, end, how=how, in_region=False)


def _fuzzy(text: str, passage: str, lo: int, hi: int) -> Found | None:
    needle = [w for w, _, _ in words(passage)]
    if len(needle) < FUZZY_MIN_RUN:
        return None
    doc = _document_words(text)
    region = [i for i, (_, s, e) in enumerate(doc) if s >= lo and e <= hi]
    tries = [(region[0], region[-1] + 1, True)] if region else []
    tries.append((0, len(doc), False))
    for first, last, in_region in tries:
        found = _align(doc, needle, first, last)
        if found is not None:
            start, end, score = found
            return Found(start, end, "fuzzy", score, in_region and (lo <= start and end <= hi))
    return None


def _align(doc: list[tuple[str, int, int]], needle: list[str], first: int, last: int) -> tuple[int, int, float] | None:
    """Align ``needle`` with ``doc[first:last]`` around their longest common run of words."""
    hay = [w for w, _, _ in doc[first:last]]
    matcher = SequenceMatcher(None, hay, needle, autojunk=False)
    run = matcher.find_longest_match(0, len(hay), 0, len(needle))
    if run.size < FUZZY_MIN_RUN:
        return None
    # the document's words around the run that could hold the rest of the passage
    lo = max(0, run.a - run.b - len(needle) // 2)
    hi = min(len(hay), run.a + (len(needle) - run.b) + len(needle) // 2)
    blocks = [b for b in SequenceMatcher(None, hay[lo:hi], needle, autojunk=False).get_matching_blocks() if b.size]
    score = sum(b.size for b in blocks) / len(needle)
    if score < FUZZY_THRESHOLD:
        return None
    start = doc[first + lo + blocks[0].a][1]
    end = doc[first + lo + blocks[-1].a + blocks[-1].size - 1][2]
    return start, end, score


def resolve_document(name: str, names: set[str] | list[str]) -> str | None:
    """The stored document a name from another tool refers to, or ``None``.

    Tries the name as written, then without a folder path (``Files\\Interviews\\A-01``, NVivo's
    ``Internals\\...``) and without a file extension (``Interview 1.docx``), then the same
    ignoring case and runs of whitespace.
    """
    name = str(name).strip()
    known = set(names)
    if name in known:
        return name
    base = re.split(r"[\\/]", name)[-1].strip()
    stem = Path(base).stem if re.fullmatch(r"\.[A-Za-z][A-Za-z0-9]{0,4}", Path(base).suffix) else base
    for candidate in (base, stem):
        if candidate in known:
            return candidate
    loose = {" ".join(n.split()).casefold(): n for n in known}
    for candidate in (name, base, stem):
        hit = loose.get(" ".join(candidate.split()).casefold())
        if hit is not None:
            return hit
    return None
