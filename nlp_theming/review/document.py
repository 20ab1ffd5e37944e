"""The transcript view: a whole document with its speakers, times, the machine's suggestions and
people's codes, read in a fixed handful of store queries however long the transcript is.

Speakers are shown as people: a diarisation label (``SPEAKER_01``) becomes the participant id
and role from the manifest when the document has one participant; the interviewer is shown as
such. Suggestions, the coder's own codes and other coders' codes are kept apart, so a page can
draw them differently (and leave other coders out in blind mode).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from itertools import pairwise

from ..segment import project_segmenter
from ..store.decisions import PENDING, coding, nothing_applies, reviewed
from ..store.documents import current_document, document_attributes, document_segments, document_turns
from ..store.runs import document_suggestions, latest_run, run_row
from ..transcript import LOW_CONFIDENCE
from .memos import memo_records, memo_table

#: manifest attribute naming a document's audio or video recording (a local file)
MEDIA_ATTRIBUTE = "media"


@dataclass
class Suggestion:
    n: int  # its number in the passage (1 = the best): the key that accepts it
    code: str
    score: float
    status: str  # the viewer's: pending, accepted or rejected


@dataclass
class Passage:
    """One segment (coding unit) of the document and what is known about it."""

    segment_id: int
    idx: int
    start: int
    end: int
    text: str
    start_time: float | None
    role: str
    suggestions: list[Suggestion] = field(default_factory=list)
    mine: list[str] = field(default_factory=list)  # codes the viewer applies (confirmed or added)
    others: list[tuple[str, str]] = field(default_factory=list)  # (coder, code) of other coders; none when blind
    nothing: bool = False  # the viewer said no code applies
    nothing_others: list[str] = field(default_factory=list)
    spans: list[tuple[int, int, str]] = field(default_factory=list)  # the viewer's coded spans narrower than it
    memos: list[dict] = field(default_factory=list)  # memos on the passage and on decisions about it
    last_decision: int | None = None  # the viewer's latest decision in force here (a memo may be written on it)
    confidence: float | None = None  # the speech recogniser's, for a recording's transcript

    @property
    def unsure(self) -> bool:
        """Recognised with low confidence: a person should check the words before coding them."""
        return self.confidence is not None and self.confidence < LOW_CONFIDENCE

    @property
    def pieces(self) -> list[tuple[int, str, list[str]]]:
        """The text cut where the viewer's coded spans begin and end: (offset, text, codes over it)."""
        cuts = {self.start, self.end}
        for a, b, _ in self.spans:
            cuts.update(x for x in (a, b) if self.start < x < self.end)
        bounds = sorted(cuts)
        out = []
        for a, b in pairwise(bounds):
            codes = sorted({c for s, e, c in self.spans if s < b and e > a})
            out.append((a, self.text[a - self.start:b - self.start], codes))
        return out

    @property
    def pending(self) -> bool:
        """The viewer still has a suggestion to decide here."""
        return not self.nothing and any(s.status == PENDING for s in self.suggestions)

    @property
    def decided(self) -> bool:
        return self.nothing or bool(self.mine) or any(s.status != PENDING for s in self.suggestions)


@dataclass
class TurnView:
    idx: int | None
    speaker: str | None  # the label in the transcript
    who: str  # the label as a person: "Interviewer", "P07 · nurse (SPEAKER_01)"
    is_interviewer: bool
    start_time: float | None
    passages: list[Passage] = field(default_factory=list)


@dataclass
class DocumentView:
    document_id: int
    name: str
    attributes: dict[str, str]
    run_id: int | None
    turns: list[TurnView]
    memos: list[dict] = field(default_factory=list)  # memos on the document itself

    @property
    def media(self) -> str | None:
        """The recording the manifest names for this document, if any."""
        return self.attributes.get(MEDIA_ATTRIBUTE) or None

    @property
    def passages(self) -> list[Passage]:
        return [p for t in self.turns for p in t.passages]

    def passage(self, segment_id: int) -> Passage | None:
        return next((p for p in self.passages if p.segment_id == segment_id), None)

    @property
    def counts(self) -> dict[str, int]:
        with_suggestions = [p for p in self.passages if p.suggestions]
        return {"passages": len(self.passages), "suggested": len(with_suggestions),
                "pending": sum(p.pending for p in with_suggestions), "decided": sum(p.decided for p in self.passages),
                "unsure": sum(p.unsure for p in self.passages)}

    @property
    def speakers(self) -> list[tuple[str, bool]]:
        """Each speaker label of the transcript, in order of first turn, and whether it is the
        interviewer's: what a person names in the view."""
        seen: dict[str, bool] = {}
        for t in self.turns:
            if t.speaker:
                seen[t.speaker] = seen.get(t.speaker, False) or t.is_interviewer
        return list(seen.items())


def speaker_names(turns: list[sqlite3.Row], attributes: dict[str, str]) -> dict[str | None, str]:
    """How to show each speaker label: the interviewer as "Interviewer", and the one participant
    of an interview as the manifest's participant id and role, with the label beside them when
    it is a diariser's (``SPEAKER_01``) rather than a name."""
    interviewer = {t["speaker"] for t in turns if t["is_interviewer"]}
    others = list(dict.fromkeys(t["speaker"] for t in turns if not t["is_interviewer"] and t["speaker"]))
    names: dict[str | None, str] = {}
    for label in interviewer:
        names[label] = "Interviewer" if not label or label.lower().startswith("int") else f"Interviewer ({label})"
    person = " · ".join(v for v in (attributes.get("participant"), attributes.get("role")) if v)
    for label in others:
        # a focus group's several speakers cannot be told apart from one manifest row
        names[label] = (person if label == person else f"{person} ({label})") if person and len(others) == 1 \
            else label
    names.setdefault(None, "")
    return names


def document_view(con: sqlite3.Connection, name: str, viewer: str | None, blind: bool = False) -> DocumentView:
    """The current version of document ``name`` as the transcript view shows it to ``viewer``.

    A fixed number of queries (document, attributes, turns, segments, the latest run's
    suggestions on it, and its decisions): no query per segment. KeyError for an unknown name.
    """
    doc = current_document(con, name)
    if doc is None:
        raise KeyError(name)
    doc_id, text = int(doc["id"]), str(doc["text"])
    attributes = {k: v for k, v in document_attributes(con, doc_id).items() if v}
    turns = document_turns(con, doc_id)
    run_id = latest_run(con)
    run = run_row(con, run_id) if run_id is not None else None
    scheme = run["scheme"] if run is not None else project_segmenter(con).scheme
    segments = document_segments(con, doc_id, scheme)
    suggestions: dict[int, list[tuple[str, float]]] = {}
    for r in document_suggestions(con, run_id, doc_id) if run_id is not None else []:
        suggestions.setdefault(int(r["segment_id"]), []).append((str(r["code"]), float(r["score"])))

    decided = reviewed(con, document_id=doc_id)
    applied = coding(con, document_id=doc_id)
    nothing = nothing_applies(con, document_id=doc_id, applied=applied)
    if blind:
        decided = decided[decided.coder == viewer]
        applied = applied[applied.coder == viewer]
        nothing = nothing[nothing.coder == viewer]
    status = {(int(r.segment_id), r.code): ("accepted" if r.applies else "rejected")
              for r in decided[decided.coder == viewer].itertuples(index=False)}
    mine: dict[int, list[str]] = {}
    others: dict[int, list[tuple[str, str]]] = {}
    for r in applied[applied.segment_id.notna()].drop_duplicates(["coder", "segment_id", "code"]).itertuples():
        target = mine.setdefault(int(r.segment_id), []) if r.coder == viewer else None
        if target is not None:
            target.append(r.code)
        else:
            others.setdefault(int(r.segment_id), []).append((r.coder, r.code))
    none_by: dict[int, list[str]] = {}
    for r in nothing.itertuples(index=False):
        none_by.setdefault(int(r.segment_id), []).append(r.coder)
    spans: dict[int, list[tuple[int, int, str]]] = {}
    for r in applied[(applied.coder == viewer) & applied.segment_id.notna() & applied.start.notna()].itertuples():
        spans.setdefault(int(r.segment_id), []).append((int(r.start), int(r.end), str(r.code)))
    last: dict[int, int] = {}
    for r in decided[decided.coder == viewer].itertuples(index=False):
        last[int(r.segment_id)] = max(last.get(int(r.segment_id), 0), int(r.decision_id))
    memos = memo_table(con, viewer, blind, document=str(doc["name"]))
    on_passage: dict[int, list[dict]] = {}
    for r in memo_records(memos[memos.segment_id.notna()]):
        on_passage.setdefault(int(r["segment_id"]), []).append(r)

    names = speaker_names(turns, attributes)
    views: dict[int | None, TurnView] = {
        int(t["idx"]): TurnView(int(t["idx"]), t["speaker"], names.get(t["speaker"], t["speaker"] or ""),
                                bool(t["is_interviewer"]), t["start_time"])
        for t in turns
    }
    for s in segments:
        sid = int(s["id"])
        passage = Passage(sid, int(s["idx"]), int(s["start"]), int(s["end"]), text[s["start"]:s["end"]],
                          s["start_time"], str(s["role"]),
                          [Suggestion(n, code, score, status.get((sid, code), PENDING))
                           for n, (code, score) in enumerate(suggestions.get(sid, []), start=1)],
                          sorted(mine.get(sid, [])), sorted(others.get(sid, [])),
                          viewer in none_by.get(sid, []), sorted(c for c in none_by.get(sid, []) if c != viewer),
                          [x for x in spans.get(sid, []) if (x[0], x[1]) != (int(s["start"]), int(s["end"]))],
                          on_passage.get(sid, []), last.get(sid), s["confidence"])
        turn_idx = None if s["turn_idx"] is None else int(s["turn_idx"])
        if turn_idx not in views:  # text before any speaker label, or a transcript without turns
            views[turn_idx] = TurnView(turn_idx, s["speaker"], s["speaker"] or "", False, s["start_time"])
        views[turn_idx].passages.append(passage)
    ordered = sorted(views.values(), key=lambda t: (t.passages[0].start if t.passages else 0, t.idx or -1))
    return DocumentView(doc_id, str(doc["name"]), attributes, run_id, [t for t in ordered if t.passages],
                        memo_records(memos[memos.target == "document"]))
