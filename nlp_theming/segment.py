"""Segment stage: cut each transcript into coding units with exact character offsets.

Units never cross a speaker turn. ``unit="window"`` (the default) groups up to
``max_sentences`` consecutive sentences of one turn, capped at ``max_words`` words: in
interviews a single sentence is often too short to carry a theme ("Yes, absolutely.") and a
whole turn often carries several, while two or three sentences is about the size of the
passages qualitative coders highlight. ``sentence`` and ``turn`` are there when a study wants them.

Speech-recognition text often has no punctuation, so a "sentence" can run for minutes. Any
unit over ``max_words`` is cut at cue boundaries (the recogniser's pauses) and, failing those,
at even word counts.
"""

from __future__ import annotations

import itertools
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
        """Split a span longer than max_words at cue boundaries, then at word counts."""
        words = list(_WORD.finditer(t.text, start, end))
        if len(words) <= self.max_words:
            return [(start, end)]
        cuts = [c.start for c in t.cues if start < c.start < end]
        pieces: list[tuple[int, int]] = []
        if cuts:
            bounds = [start, *cuts, end]
            current = start
            for a, b in itertools.pairwise(bounds):
                if len(_WORD.findall(t.text, current, b)) > self.max_words and current < a:
                    pieces.append((current, a))
                    current = a
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


def _role(segment: Segment, labelled: bool) -> str:
    if segment.is_interviewer:
        return "interviewer"
    # Unlabelled text before the first label in a labelled transcript: a title, a date.
    if labelled and segment.speaker is None and segment.turn_idx == 0:
        return "header"
    return "participant"
