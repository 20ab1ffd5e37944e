"""Segment stage: cut each transcript into coding units with exact character offsets.

Units never cross a speaker turn. ``unit="window"`` (the default) groups up to
``max_sentences`` consecutive sentences of one turn, capped at ``max_words`` words: in
interviews a single sentence is often too short to carry a theme ("Yes, absolutely.") and a
whole turn often carries several, while two or three sentences is about the size of the
passages qualitative coders highlight. ``sentence`` and ``turn`` are there when a study wants them.

Speech-recognition text often has no punctuation, so a "sentence" can run for minutes. Any
unit over ``max_words`` is cut at cue boundaries (the recogniser's pauses), at the longest
pause where cue times say which that is, and, failing those, at even word counts.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
import sqlite3
import sys
from dataclasses import dataclass
from functools import lru_cache

from .progress import bar
from .store.documents import (
    current_document_ids,
    document_versions,
    has_segments,
    load_transcript,
    record_scheme,
    recorded_scheme,
    store_segments,
)
from .store.schema import META_SCHEME, get_meta
from .transcript import Transcript, Turn

UNITS = ("window", "sentence", "turn")
_WORD = re.compile(r"\S+")


@dataclass
class Segment:
    start: int
    end: int
    turn_idx: int
    speaker: str | None
    is_interviewer: bool
    start_time: float | None = None
    end_time: float | None = None
    confidence: float | None = None


def _import_spacy(torch_free: bool):
    """spaCy, imported without PyTorch when ``torch_free`` and nothing has imported either yet.

    thinc (under spaCy) imports torch whenever it is installed, in case a pipeline needs it: about
    180 MB of RSS and two seconds that the rule-based sentencizer never uses, and that the onnx
    encoder mode otherwise never pays. A ``None`` in ``sys.modules`` makes ``import torch`` fail
    (Python's documented import-blocking), only while spaCy loads; torch imports normally after.
    A spaCy pipeline that runs on torch (a transformer one) then cannot load in the same process."""
    if not torch_free or "spacy" in sys.modules or "torch" in sys.modules:
        import spacy

        return spacy
    sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        import spacy
    finally:
        del sys.modules["torch"]
    return spacy


@lru_cache(maxsize=4)
def _nlp(spacy_model: str | None):
    # The default pipeline is rules only (no model weights): it needs no torch.
    spacy = _import_spacy(torch_free=spacy_model is None)

    if spacy_model:
        try:
            return spacy.load(spacy_model, exclude=["ner", "lemmatizer", "textcat"])
        except OSError as exc:
            raise ValueError(f"spaCy pipeline {spacy_model!r} is not installed") from exc
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


@dataclass(frozen=True)
class Segmenter:
    """Cut transcripts into coding units. Parameters are fixed at construction (sklearn style)."""

    unit: str = "window"
    max_sentences: int = 3
    max_words: int = 80
    spacy_model: str | None = None

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unknown segmentation unit {self.unit!r}; choose one of {', '.join(UNITS)}")
        if self.max_sentences < 1 or self.max_words < 5:
            raise ValueError("max_sentences must be >= 1 and max_words >= 5")

    @classmethod
    def from_scheme(cls, scheme: str) -> Segmenter:
        """The segmenter that :attr:`scheme` names (``window:3:80``, ``sentence:80:en_core_web_sm``)."""
        parts = scheme.split(":")
        try:
            if parts[0] == "window":
                model = ":".join(parts[3:]) or None
                return cls("window", int(parts[1]), int(parts[2]), model)
            if parts[0] in UNITS:
                return cls(parts[0], max_words=int(parts[1]), spacy_model=":".join(parts[2:]) or None)
        except (IndexError, ValueError):
            pass
        raise ValueError(f"not a segmentation scheme: {scheme!r}")

    @property
    def scheme(self) -> str:
        """A short name for this configuration; segments are stored under it."""
        model = f":{self.spacy_model}" if self.spacy_model else ""
        if self.unit == "window":
            return f"window:{self.max_sentences}:{self.max_words}{model}"
        return f"{self.unit}:{self.max_words}{model}"

    def segment(self, transcript: Transcript) -> list[Segment]:
        nlp = _nlp(self.spacy_model)
        cues = _CueIndex(transcript)
        out: list[Segment] = []
        turn_texts = [transcript.turn_text(t) for t in transcript.turns]
        # A turn goes to spaCy in chunks: one 1 MB turn (a caption file without speakers) must
        # neither hit spaCy's max_length nor take its memory.
        chunks = [(i, a, text[a:b]) for i, text in enumerate(turn_texts) for a, b in text_chunks(text)]
        found: list[list[tuple[int, int]]] = [[] for _ in turn_texts]
        for (i, offset, _), doc in zip(chunks, nlp.pipe(_tame(c[2]) for c in chunks), strict=True):
            base = transcript.turns[i].start + offset
            found[i].extend((base + s.start_char, base + s.end_char) for s in doc.sents if s.text.strip())
        for turn_idx, turn in enumerate(transcript.turns):
            sentences = found[turn_idx] or [(turn.start, turn.end)]
            if self.unit == "turn":
                sentences = [(turn.start, turn.end)]
            pieces: list[tuple[int, int]] = []
            for start, end in sentences:
                pieces.extend(self._cap(transcript, cues, start, end))
            if self.unit == "window":
                pieces = self._group(transcript.text, pieces)
            for start, end in pieces:
                start, end = _trim(transcript.text, start, end)
                if end > start:
                    out.append(self._make(cues, turn, turn_idx, start, end))
        return out

    def _cap(self, t: Transcript, cues: _CueIndex, start: int, end: int) -> list[tuple[int, int]]:
        """Split a span longer than max_words at cue boundaries, then at word counts.

        Walking the cues, a piece must be cut once the next cue would take it over max_words.
        Of the boundaries that keep both the piece and the rest up to that cue within
        max_words, the one after the longest pause wins (the latest on a tie, and always the
        latest without cue times: plain greedy packing).
        """
        words = list(_WORD.finditer(t.text, start, end))
        if len(words) <= self.max_words:
            return [(start, end)]
        word_starts = [w.start() for w in words]

        def count(a: int, b: int) -> int:
            return bisect.bisect_left(word_starts, b) - bisect.bisect_left(word_starts, a)

        cuts = cues.starts_inside(start, end)
        pieces: list[tuple[int, int]] = []
        if cuts:
            pauses = cues.pauses
            bounds = [start, *cuts, end]
            current = start
            for a, b in itertools.pairwise(bounds):
                if count(current, b) > self.max_words and current < a:
                    # the boundaries after the current piece's start, up to a: found by bisection,
                    # so a turn of thousands of cues is not scanned once per cut
                    between = bounds[bisect.bisect_right(bounds, current) : bisect.bisect_right(bounds, a)]
                    options = [
                        c for c in between if count(current, c) <= self.max_words and count(c, b) <= self.max_words
                    ]
                    cut = max(options, key=lambda c: (pauses.get(c, -math.inf), c), default=a)
                    pieces.append((current, cut))
                    current = cut
            pieces.append((current, end))
        else:
            pieces = [(start, end)]
        final: list[tuple[int, int]] = []
        for a, b in pieces:
            ws = list(_WORD.finditer(t.text, a, b))
            if len(ws) <= self.max_words:
                final.append((a, b))
                continue
            n_chunks = -(-len(ws) // self.max_words)
            size = -(-len(ws) // n_chunks)
            for i in range(0, len(ws), size):
                chunk = ws[i : i + size]
                final.append((chunk[0].start(), chunk[-1].end()))
        return final

    def _group(self, text: str, pieces: list[tuple[int, int]]) -> list[tuple[int, int]]:
        groups: list[tuple[int, int]] = []
        count = words = 0
        for start, end in pieces:
            n = len(_WORD.findall(text, start, end))
            if groups and count < self.max_sentences and words + n <= self.max_words:
                groups[-1] = (groups[-1][0], end)
                count += 1
                words += n
            else:
                groups.append((start, end))
                count, words = 1, n
        return groups

    def _make(self, index: _CueIndex, turn: Turn, turn_idx: int, start: int, end: int) -> Segment:
        cues = index.overlapping(start, end)
        start_time = min((c.start_time for c in cues if c.start_time is not None), default=turn.start_time)
        end_time = max((c.end_time for c in cues if c.end_time is not None), default=turn.end_time)
        confs = [c.confidence for c in cues if c.confidence is not None]
        confidence = sum(confs) / len(confs) if confs else turn.confidence
        return Segment(start, end, turn_idx, turn.speaker, turn.is_interviewer, start_time, end_time, confidence)


SPACY_CHUNK = 100_000  # characters given to spaCy at once: well under its max_length (1,000,000)
_SENTENCE_END = re.compile(r"[.!?…]['\")\]]*\s")


# spaCy's tokenizer peels prefixes and suffixes off a token one at a time, rescanning the rest:
# a run of thousands of brackets or quotes without a space takes minutes. No word is this long.
LONG_RUN = re.compile(r"\S{200,}")


def _tame(text: str) -> str:
    """``text`` with every run of 200 or more non-space characters masked, at the same length
    (offsets into it stay offsets into ``text``): one plain token for spaCy instead of thousands."""
    return LONG_RUN.sub(lambda m: "x" * len(m.group()), text)


def text_chunks(text: str, limit: int = SPACY_CHUNK) -> list[tuple[int, int]]:
    """(start, end) pieces of ``text`` of at most ``limit`` characters, cut at a line break,
    else after a sentence's end, else at a space, in the second half of each piece."""
    out: list[tuple[int, int]] = []
    start = 0
    while len(text) - start > limit:
        lo, hi = start + limit // 2, start + limit
        cut = text.rfind("\n", lo, hi) + 1
        if not cut:
            ends = [m.end() for m in _SENTENCE_END.finditer(text, lo, hi)]
            cut = ends[-1] if ends else text.rfind(" ", lo, hi) + 1
        cut = cut or hi
        out.append((start, cut))
        start = cut
    out.append((start, len(text)))
    return out


class _CueIndex:
    """A transcript's cues, searchable by offset in log time (cues come in text order)."""

    def __init__(self, t: Transcript) -> None:
        self.cues = sorted(t.cues, key=lambda c: c.start)
        self.starts = [c.start for c in self.cues]
        # the furthest end so far: monotone, so the first cue that may reach past an offset bisects
        self.reach = list(itertools.accumulate((c.end for c in self.cues), max))
        self.pauses = {
            cur.start: cur.start_time - prev.end_time
            for prev, cur in itertools.pairwise(self.cues)
            if cur.start_time is not None and prev.end_time is not None
        }

    def overlapping(self, start: int, end: int) -> list:
        lo = bisect.bisect_right(self.reach, start)
        hi = bisect.bisect_left(self.starts, end)
        return [c for c in self.cues[lo:hi] if c.end > start]

    def starts_inside(self, start: int, end: int) -> list[int]:
        return self.starts[bisect.bisect_right(self.starts, start) : bisect.bisect_left(self.starts, end)]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def project_segmenter(con: sqlite3.Connection) -> Segmenter:
    """The project's segmenter: the scheme recorded in the store (set by the first ingest, or by
    an ingest or suggest given segmentation options), else the default."""
    scheme = recorded_scheme(con)
    return Segmenter.from_scheme(scheme) if scheme else Segmenter()


def segment_documents(
    con: sqlite3.Connection, segmenter: Segmenter | None = None, document_ids: list[int] | None = None,
    progress: bool = False,
) -> list[tuple[int, str, str]]:
    """Segment current documents that have no segments under the scheme.

    ``segmenter``: None for the project's (:func:`project_segmenter`); one given becomes the
    project's scheme, so every later command reads the same units. Returns (id, name, problem) for
    each document that could not be segmented: it stays stored, unsegmented, and blocks no other.
    ``progress``: a bar per document (thousands of interviews take minutes to cut into units).
    """
    if segmenter is None:
        segmenter = project_segmenter(con)
    if get_meta(con, META_SCHEME) != segmenter.scheme:
        record_scheme(con, segmenter.scheme)
    if document_ids is None:
        document_ids = current_document_ids(con)
    names = document_versions(con)
    problems: list[tuple[int, str, str]] = []
    shown = bar(len(document_ids), "segment", "document", enabled=progress)
    for doc_id in document_ids:
        shown.update(1)
        if has_segments(con, doc_id, segmenter.scheme):
            continue
        try:
            segments = segmenter.segment(load_transcript(con, doc_id))
        except (ValueError, MemoryError, RecursionError) as exc:
            name = names.get(doc_id, (f"document {doc_id}", 0))[0]
            reason = (str(exc).splitlines() or [""])[0][:200]
            problems.append((doc_id, name, f"cannot be segmented ({type(exc).__name__}: {reason})"))
            continue
        store_segments(con, doc_id, segmenter.scheme, segments)
    shown.close()
    return problems
