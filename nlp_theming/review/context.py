"""What a reviewer needs beside a suggestion: the talk around it, and why the code was suggested.

Context is the segment's own turn and the turns around it (speaker, timestamp), cut to a
readable length on long think-aloud turns. "Why" is the code's definition from the codebook
and the nearest segments people have already confirmed with that code (cosine similarity of
the cached embeddings of the suggestion's run).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..embed import Embedder
from ..store.codebooks import code_row
from ..store.decisions import ACCEPTED, REJECTED, coding, reviewed, segments_naming_code
from ..store.documents import document_text, segment_text_frame, segment_with_document, turns_between
from ..store.runs import run_row

FOCUS_CHARS = 600  # shown on each side of the segment inside its own turn
NEIGHBOUR_CHARS = 400  # shown of each neighbouring turn


@dataclass
class Piece:
    """A run of transcript text with its offset in the document (for boundary adjustments)."""

    text: str
    offset: int
    focus: bool = False


@dataclass
class ContextTurn:
    idx: int
    speaker: str | None
    is_interviewer: bool
    start_time: float | None
    pieces: list[Piece]
    focus: bool = False
    cut_before: bool = False
    cut_after: bool = False


@dataclass
class Context:
    segment_id: int
    document_id: int
    document: str
    start: int
    end: int
    speaker: str | None
    start_time: float | None
    turns: list[ContextTurn] = field(default_factory=list)


def _cut_left(text: str, limit: int) -> tuple[int, bool]:
    """Start index keeping at most ``limit`` characters at the end of ``text``, on a word boundary."""
    if len(text) <= limit:
        return 0, False
    cut = len(text) - limit
    space = text.find(" ", cut)
    return (space + 1 if 0 <= space < cut + 40 else cut), True


def _cut_right(text: str, limit: int) -> tuple[int, bool]:
    if len(text) <= limit:
        return len(text), False
    space = text.rfind(" ", 0, limit)
    return (space if space > limit - 40 else limit), True


def segment_context(
    con: sqlite3.Connection,
    segment_id: int,
    turns_around: int = 1,
    focus_chars: int = FOCUS_CHARS,
    neighbour_chars: int = NEIGHBOUR_CHARS,
) -> Context:
    """The segment inside its turn, with ``turns_around`` turns before and after it; long turns
    are cut to ``focus_chars`` around the segment and ``neighbour_chars`` of each neighbour."""
    seg = segment_with_document(con, segment_id)
    if seg is None:
        raise ValueError(f"no segment {segment_id}")
    text = seg["doc_text"]
    ctx = Context(int(seg["id"]), int(seg["document_id"]), seg["document"], seg["start"], seg["end"], seg["speaker"],
                  seg["start_time"])
    turn_idx = seg["turn_idx"]
    rows = []
    if turn_idx is not None:
        rows = turns_between(con, seg["document_id"], turn_idx - turns_around, turn_idx + turns_around)
    if not rows:  # no turn structure: show the segment alone
        ctx.turns.append(ContextTurn(0, seg["speaker"], False, seg["start_time"],
                                     [Piece(text[seg["start"]:seg["end"]], seg["start"], True)], focus=True))
        return ctx
    for t in rows:
        start, end = t["start"], t["end"]
        if t["idx"] == turn_idx:
            s0, s1 = max(seg["start"], start), min(seg["end"], end)
            before, after = text[start:s0], text[s1:end]
            b, cut_b = _cut_left(before, focus_chars)
            a, cut_a = _cut_right(after, focus_chars)
            pieces = [Piece(before[b:], start + b), Piece(text[s0:s1], s0, True), Piece(after[:a], s1)]
            turn = ContextTurn(t["idx"], t["speaker"], bool(t["is_interviewer"]), t["start_time"],
                               [p for p in pieces if p.text], True, cut_b, cut_a)
        elif t["idx"] < turn_idx:
            body = text[start:end]
            b, cut = _cut_left(body, neighbour_chars)
            turn = ContextTurn(t["idx"], t["speaker"], bool(t["is_interviewer"]), t["start_time"],
                               [Piece(body[b:], start + b)], cut_before=cut)
        else:
            body = text[start:end]
            a, cut = _cut_right(body, neighbour_chars)
            turn = ContextTurn(t["idx"], t["speaker"], bool(t["is_interviewer"]), t["start_time"],
                               [Piece(body[:a], start)], cut_after=cut)
        ctx.turns.append(turn)
    return ctx


def code_definition(con: sqlite3.Connection, code: str, codebook_version: int | None = None) -> dict | None:
    """The code's codebook entry (description, inclusion, exclusion, examples, parent), or None."""
    return code_row(con, code, codebook_version)


#: up to this many segments naming a code, their coding is read alone (an SQL IN list); past it, the whole log's
NAMED_AT_ONCE = 5_000


def nearest_confirmed(
    con: sqlite3.Connection,
    segment_id: int,
    code: str,
    model_id: str,
    coders: list[str] | None = None,
    k: int = 3,
    pool: int = 300,
) -> pd.DataFrame:
    """The ``k`` segments most like this one that people confirmed with ``code``.

    ``coders`` limits whose confirmations count (blind mode: the viewer's own). Columns:
    segment_id, document, text, similarity, coders. Reads the embedding cache; only texts not
    cached (rare: suggestions cover the segments people review) load the model.
    """
    cols = ["segment_id", "document", "text", "similarity", "coders"]
    # the code can apply only where a decision names it: those segments' coding, not the whole log's
    named = segments_naming_code(con, code)
    applied = coding(con, segment_ids=named) if len(named) <= NAMED_AT_ONCE else coding(con)
    applied = applied[(applied.code == code) & applied.segment_id.notna() & (applied.segment_id != segment_id)]
    if coders is not None:
        applied = applied[applied.coder.isin(coders)]
    if applied.empty:
        return pd.DataFrame(columns=cols)
    who = applied.groupby("segment_id").coder.agg(lambda c: ", ".join(sorted(set(c))))
    recent = applied.sort_values("decision_id").segment_id.drop_duplicates(keep="last").tail(pool).astype(int).tolist()
    ids = [int(segment_id), *recent]
    texts = segment_text_frame(con, ids)
    if int(segment_id) not in texts.index:
        return pd.DataFrame(columns=cols)
    texts = texts.loc[[i for i in ids if i in texts.index]]
    vectors = Embedder(model_id, con=con).encode(texts.text.tolist())
    sims = vectors[1:] @ vectors[0]
    order = np.argsort(-sims)[:k]
    out = texts.iloc[1:].iloc[order].reset_index()
    out["similarity"] = sims[order].round(3)
    out["coders"] = out.segment_id.map(who)
    return out[cols]


def item_details(con: sqlite3.Connection, item: pd.Series, table: pd.DataFrame, coder: str | None,
                 blind: bool) -> dict:
    """What the review page shows around one queue item: the segment in context, the other
    suggestions for it (``siblings``), codes the coder added there, the coder's adjusted span,
    other coders' decisions on it (none when blind), the code's definition and the nearest
    examples people confirmed with the code (only the coder's own when blind)."""
    segment_id, code = int(item.segment_id), str(item.code)
    run = run_row(con, int(item.run_id))
    siblings = table[table.segment_id == segment_id].sort_values("rank")
    mine = coding(con, coder, segment_ids=[segment_id])
    mine = mine[mine.segment_id == segment_id]
    span = mine[mine.code == code]
    adjusted = None
    if not span.empty and (int(span.start.iloc[0]), int(span.end.iloc[0])) != (int(item.start), int(item.end)):
        start, end = int(span.start.iloc[0]), int(span.end.iloc[0])
        adjusted = {"start": start, "end": end, "text": document_text(con, int(item.document_id))[start:end]}
    others = []
    if not blind:
        seen = reviewed(con, segment_ids=[segment_id])
        seen = seen[(seen.segment_id == segment_id) & (seen.code == code) & (seen.coder != coder)]
        others = [(r.coder, ACCEPTED if r.applies else REJECTED) for r in seen.itertuples(index=False)]
    try:
        nearest = nearest_confirmed(con, segment_id, code, run["model_id"], coders=[coder] if blind else None)
    except Exception:  # a missing model must not stop the review: the definition still shows
        nearest = None
    return {
        "context": segment_context(con, segment_id),
        "siblings": siblings,
        "added": [c for c in mine.code if c not in set(siblings.code)],
        "definition": code_definition(con, code, run["codebook_version"]),
        "nearest": nearest,
        "others": others,
        "adjusted": adjusted,
    }
