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
from dataclasses import dataclass
from functools import lru_cache

from .ingest.model import Transcript, Turn
from .store import transaction

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


@lru_cache(maxsize=4)
def _nlp(spacy_model: str | None):
    import spacy

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

    @property
    def scheme(self) -> str:
        """A short name for this configuration; segments are stored under it."""
        model = f":{self.spacy_model}" if self.spacy_model else ""
        if self.unit == "window":
            return f"window:{self.max_sentences}:{self.max_words}{model}"
        return f"{self.unit}:{self.max_words}{model}"

    def segment(self, transcript: Transcript) -> list[Segment]:
        nlp = _nlp(self.spacy_model)
        out: list[Segment] = []
        turn_texts = [transcript.turn_text(t) for t in transcript.turns]
        for turn_idx, (turn, doc) in enumerate(zip(transcript.turns, nlp.pipe(turn_texts), strict=True)):
            sentences = [(turn.start + s.start_char, turn.start + s.end_char) for s in doc.sents if s.text.strip()] or [
                (turn.start, turn.end)
            ]
            if self.unit == "turn":
                sentences = [(turn.start, turn.end)]
            pieces: list[tuple[int, int]] = []
            for start, end in sentences:
                pieces.extend(self._cap(transcript, start, end))
            if self.unit == "window":
                pieces = self._group(transcript.text, pieces)
            for start, end in pieces:
                start, end = _trim(transcript.text, start, end)
                if end > start:
                    out.append(self._make(transcript, turn, turn_idx, start, end))
        return out

    def _cap(self, t: Transcript, start: int, end: int) -> list[tuple[int, int]]:
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

        cuts = [c.start for c in t.cues if start < c.start < end]
        pieces: list[tuple[int, int]] = []
        if cuts:
            pauses = _pauses(t)
            bounds = [start, *cuts, end]
            current = start
            for a, b in itertools.pairwise(bounds):
                if count(current, b) > self.max_words and current < a:
                    options = [
                        c
                        for c in bounds
                        if current < c <= a and count(current, c) <= self.max_words and count(c, b) <= self.max_words
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

    def _make(self, t: Transcript, turn: Turn, turn_idx: int, start: int, end: int) -> Segment:
        cues = [c for c in t.cues if c.start < end and c.end > start]
        start_time = min((c.start_time for c in cues if c.start_time is not None), default=turn.start_time)
        end_time = max((c.end_time for c in cues if c.end_time is not None), default=turn.end_time)
        confs = [c.confidence for c in cues if c.confidence is not None]
        confidence = sum(confs) / len(confs) if confs else turn.confidence
        return Segment(start, end, turn_idx, turn.speaker, turn.is_interviewer, start_time, end_time, confidence)


def _pauses(t: Transcript) -> dict[int, float]:
    """Seconds of silence before each cue (by its start offset), where both times are known."""
    return {
        cur.start: cur.start_time - prev.end_time
        for prev, cur in itertools.pairwise(t.cues)
        if cur.start_time is not None and prev.end_time is not None
    }


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def segment_documents(con: sqlite3.Connection, segmenter: Segmenter, document_ids: list[int] | None = None) -> int:
    """Segment current documents that have no segments under this scheme. Returns how many."""
    from .ingest import load_transcript

    if document_ids is None:
        document_ids = [r[0] for r in con.execute("SELECT id FROM current_documents")]
    done = 0
    for doc_id in document_ids:
        exists = con.execute(
            "SELECT 1 FROM segments WHERE document_id = ? AND scheme = ? LIMIT 1", (doc_id, segmenter.scheme)
        ).fetchone()
        if exists:
            continue
        transcript = load_transcript(con, doc_id)
        labelled = any(t.speaker for t in transcript.turns)
        segments = segmenter.segment(transcript)
        with transaction(con):
            con.executemany(
                "INSERT INTO segments(document_id, scheme, idx, turn_idx, start, end, speaker, role,"
                " start_time, end_time, confidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        doc_id,
                        segmenter.scheme,
                        i,
                        s.turn_idx,
                        s.start,
                        s.end,
                        s.speaker,
                        _role(s, labelled),
                        s.start_time,
                        s.end_time,
                        s.confidence,
                    )
                    for i, s in enumerate(segments)
                ],
            )
        done += 1
    return done


def update_roles(con: sqlite3.Connection, document_id: int) -> int:
    """Re-derive the role of a document's stored segments (every scheme) from its turns, after
    its interviewer was re-marked. Segments keep their ids, so what refers to them stays valid.
    Runs in the caller's transaction; returns how many segments changed role."""
    turns = con.execute(
        "SELECT idx, speaker, is_interviewer FROM turns WHERE document_id = ?", (document_id,)
    ).fetchall()
    marked = {r["idx"]: bool(r["is_interviewer"]) for r in turns}
    labelled = any(r["speaker"] for r in turns)
    changes = []
    segments = con.execute(
        "SELECT id, start, end, turn_idx, speaker, role FROM segments WHERE document_id = ?", (document_id,)
    )
    for r in segments:
        stored = Segment(r["start"], r["end"], r["turn_idx"], r["speaker"], marked.get(r["turn_idx"], False))
        role = _role(stored, labelled)
        if role != r["role"]:
            changes.append((role, r["id"]))
    con.executemany("UPDATE segments SET role = ? WHERE id = ?", changes)
    return len(changes)


def _role(segment: Segment, labelled: bool) -> str:
    if segment.is_interviewer:
        return "interviewer"
    # Unlabelled text before the first label in a labelled transcript: a title, a date.
    if labelled and segment.speaker is None and segment.turn_idx == 0:
        return "header"
    return "participant"
