"""Checked review actions: what the web page, the terminal and the sheet import all call.

Each action is one transaction: it is in the log, on disk, the moment the call returns. Codes
are checked against the codebook; the machine's suggestions are never changed, only decided on.
"""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from collections.abc import Iterable

import pandas as pd

from ..codebook import Codebook, load_stored_codebook
from ..store import transaction
from ..store.decisions import NO_CODE, Decision, DecisionError, coding, last_in_force, record, status_of
from ..store.documents import segment_exists, segment_with_document, turn_segments
from ..store.runs import latest_run, segment_suggestions, was_suggested
from .imports import span_segments
from .queue import review_queue


def latest_codebook(con: sqlite3.Connection) -> Codebook:
    return load_stored_codebook(con)[1]


def applicable_codes(book: Codebook) -> list[str]:
    """Codes a person can apply: the codebook's leaves (meta-themes group them)."""
    return [c.code for c in book.leaves]


def check_code(con: sqlite3.Connection, code: str, book: Codebook | None = None) -> str:
    """The code as given when the codebook has it (a leaf); else a DecisionError naming it."""
    book = book or latest_codebook(con)
    code = (code or "").strip()
    if code not in book:
        raise DecisionError(f"unknown code {code!r}")
    if code not in applicable_codes(book):
        raise DecisionError(f"{code!r} is a meta-theme; choose one of the themes under it")
    return code


def _check_segment(con: sqlite3.Connection, segment_id: int) -> None:
    if not segment_exists(con, segment_id):
        raise DecisionError(f"no segment {segment_id}")


def decide(
    con: sqlite3.Connection,
    coder: str,
    action: str,
    segment_id: int,
    code: str,
    new_code: str | None = None,
    run_id: int | None = None,
    note: str | None = None,
) -> int:
    """Record one decision on a (segment, code): accept, reject, change (to ``new_code``) or add.

    An accept of a code the machine did not suggest for the segment (in ``run_id`` when given)
    is recorded as an ``add``. Returns the decision's id; committed when this returns.
    """
    with transaction(con):
        return record_decision(con, coder, action, segment_id, code, new_code, run_id, note)


def record_decision(
    con: sqlite3.Connection,
    coder: str,
    action: str,
    segment_id: int,
    code: str,
    new_code: str | None = None,
    run_id: int | None = None,
    note: str | None = None,
    book: Codebook | None = None,
) -> int:
    """:func:`decide` inside the caller's transaction (a batch: a sheet import, say); ``book``
    saves reading the codebook once per row."""
    segment_id, run_id = int(segment_id), None if run_id is None else int(run_id)  # numpy ints from DataFrames
    code = str(code)
    _check_segment(con, segment_id)
    if action in ("accept", "reject"):
        if not was_suggested(con, segment_id, code, run_id):
            code = check_code(con, code, book)  # not suggested: it must be a code a person can apply
            if action == "accept":
                # the log must never claim the acceptance of a suggestion that did not exist
                action = "add"
    elif action == "change":
        new_code = check_code(con, new_code or "", book)
        if new_code == code:
            raise DecisionError(f"the code is already {code!r}")
    elif action == "add":
        code = check_code(con, code, book)
    else:
        raise DecisionError(f"unknown review action {action!r} (accept, reject, change, add)")
    return record(
        con,
        Decision(coder=coder, action=action, segment_id=int(segment_id), code=code, new_code=new_code,
                 run_id=run_id, note=note),
    )


def accept(con: sqlite3.Connection, coder: str, segment_id: int, code: str, run_id: int | None = None) -> int:
    return decide(con, coder, "accept", segment_id, code, run_id=run_id)


def reject(con: sqlite3.Connection, coder: str, segment_id: int, code: str, run_id: int | None = None) -> int:
    return decide(con, coder, "reject", segment_id, code, run_id=run_id)


def change(
    con: sqlite3.Connection, coder: str, segment_id: int, code: str, new_code: str, run_id: int | None = None
) -> int:
    """The suggested ``code`` does not apply; ``new_code`` does."""
    return decide(con, coder, "change", segment_id, code, new_code=new_code, run_id=run_id)


def add(con: sqlite3.Connection, coder: str, segment_id: int, code: str, run_id: int | None = None) -> int:
    """Apply a code the machine did not suggest."""
    return decide(con, coder, "add", segment_id, code, run_id=run_id)


def adjust(
    con: sqlite3.Connection, coder: str, segment_id: int, start: int, end: int, code: str | None = None
) -> int:
    """Move the coded span's boundaries (character offsets into the document's text)."""
    with transaction(con):
        _check_segment(con, segment_id)
        return record(con, Decision(coder=coder, action="adjust", segment_id=int(segment_id), code=code,
                                    start=int(start), end=int(end)))


def _span_targets(con: sqlite3.Connection, segment_id: int, start: int, end: int) -> list[int]:
    """The segments of ``segment_id``'s turn that a selection [start, end) covers, by the rule
    imports use (:func:`~nlp_theming.review.imports.span_segments`), so that ``compare`` and the
    coded units read a freely coded passage as they read an imported one."""
    _check_segment(con, segment_id)
    if not 0 <= start < end:
        raise DecisionError(f"select some text first (got {start}-{end})")
    targets = span_segments(turn_segments(con, segment_id), start, end)
    if not targets:
        raise DecisionError(f"the selection {start}-{end} is not in the speaker's turn of this passage; "
                            "select text inside one speaker turn")
    return targets


def code_span(con: sqlite3.Connection, coder: str, segment_id: int, start: int, end: int, code: str) -> list[int]:
    """Apply ``code`` to a free selection [start, end) of the text (character offsets into the
    document), inside the speaker turn of ``segment_id``: one ``add`` per segment the selection
    covers, each carrying the selection, as one batch (``undo`` takes it back whole). Any code of
    the codebook, suggested or not. Returns the decision ids."""
    code = check_code(con, code)
    segment_id, start, end = int(segment_id), int(start), int(end)
    batch = f"batch:span-{uuid.uuid4().hex[:12]}"
    with transaction(con):
        targets = _span_targets(con, segment_id, start, end)
        return [record(con, Decision(coder=coder, action="add", segment_id=s, code=code, start=start, end=end,
                                     note=batch if len(targets) > 1 else None)) for s in targets]


def _same_span(con: sqlite3.Connection, coder: str, segment_id: int, code: str) -> tuple[list[int], tuple | None]:
    """The segments where the coder's ``code`` has the same span as on ``segment_id`` (a selection
    over several passages is one coded span), and that span; ([], None) when the code does not
    apply there."""
    row = segment_with_document(con, segment_id)
    if row is None:
        raise DecisionError(f"no segment {segment_id}")
    mine = coding(con, coder, document_id=int(row["document_id"]))
    mine = mine[mine.code == code]
    here = mine[mine.segment_id == segment_id]
    if here.empty:
        return [], None
    span = (int(here.start.iloc[0]), int(here.end.iloc[0]))
    same = mine[(mine.start == span[0]) & (mine.end == span[1])]
    return sorted({int(s) for s in same.segment_id}), span


def adjust_span(con: sqlite3.Connection, coder: str, segment_id: int, code: str, start: int, end: int) -> list[int]:
    """Move the span of the coder's ``code`` on ``segment_id`` to [start, end) (inside its turn):
    an ``adjust`` on each segment that keeps the code, an ``add`` on each the new span reaches
    newly, a ``reject`` of the code on each it no longer covers; one batch. Returns the ids."""
    segment_id, start, end = int(segment_id), int(start), int(end)
    batch = f"batch:adjust-{uuid.uuid4().hex[:12]}"
    with transaction(con):
        old, span = _same_span(con, coder, segment_id, code)
        if span is None:
            raise DecisionError(f"you have not applied {code!r} to this passage: nothing to adjust")
        new = _span_targets(con, segment_id, start, end)
        ids = []
        for s in sorted(set(old) | set(new)):
            action = "adjust" if s in old and s in new else ("add" if s in new else "reject")
            where = (start, end) if action != "reject" else (None, None)
            ids.append(record(con, Decision(coder=coder, action=action, segment_id=s, code=code, start=where[0],
                                            end=where[1], note=batch)))
        return ids


def remove_code(con: sqlite3.Connection, coder: str, segment_id: int, code: str) -> list[int]:
    """Take the coder's ``code`` off the passage: a ``reject`` on it, and on every other passage the
    same coded span covers (one batch). Returns the ids; a DecisionError when it does not apply."""
    batch = f"batch:remove-{uuid.uuid4().hex[:12]}"
    with transaction(con):
        segments, _ = _same_span(con, coder, int(segment_id), code)
        if not segments:
            raise DecisionError(f"you have not applied {code!r} to this passage")
        return [record(con, Decision(coder=coder, action="reject", segment_id=s, code=code,
                                     note=batch if len(segments) > 1 else None)) for s in segments]


def no_code(con: sqlite3.Connection, coder: str, segment_id: int) -> int:
    """Record that no code applies to the segment: a decision on the whole passage (every code
    the coder had there stops applying; a later accept or add supersedes it)."""
    with transaction(con):
        return record_no_code(con, coder, segment_id)


def record_no_code(con: sqlite3.Connection, coder: str, segment_id: int, note: str | None = None) -> int:
    """:func:`no_code` inside the caller's transaction (a sheet import)."""
    _check_segment(con, int(segment_id))
    return record(con, Decision(coder=coder, action=NO_CODE, segment_id=int(segment_id), note=note))


def reject_rest(con: sqlite3.Connection, coder: str, segment_id: int, run_id: int | None = None) -> list[int]:
    """Reject every suggestion for the segment (of ``run_id``, default the latest run) that the
    coder has not decided yet, as one batch (``undo`` cancels them together). Returns the ids;
    a DecisionError when nothing is left to reject."""
    segment_id = int(segment_id)
    _check_segment(con, segment_id)
    suggested = segment_suggestions(con, segment_id, run_id)
    batch = f"batch:rest-{uuid.uuid4().hex[:12]}"
    ids: list[int] = []
    with transaction(con):
        decided = status_of(con, coder)
        done = set(decided.loc[decided.segment_id == segment_id, "code"])
        for code, rid in suggested:
            if code not in done:
                ids.append(record(con, Decision(coder=coder, action="reject", segment_id=segment_id, code=code,
                                                run_id=rid, note=batch)))
    if not ids:
        raise DecisionError("every suggestion for this passage is decided already")
    return ids


def undo(con: sqlite3.Connection, coder: str) -> pd.DataFrame:
    """Cancel the coder's latest action still in force (a whole batch, for a bulk accept).

    Returns the decisions it cancelled (empty when there was nothing to undo). Repeating it
    walks back through the coder's history.
    """
    with transaction(con):
        targets = last_in_force(con, coder)
        for target in targets.id:
            record(con, Decision(coder=coder, action="undo", undoes=int(target)))
    return targets


def bulk_digest(keys: Iterable[str]) -> str:
    """A short fingerprint of a set of queue items: what a bulk-accept preview showed."""
    return hashlib.sha256("\n".join(sorted(keys)).encode("utf-8")).hexdigest()[:16]


#: what a bulk decision may do, and the score bound it takes: accept at or above, reject at or below
BULK_ACTIONS = ("accept", "reject")


def bulk_todo(con: sqlite3.Connection, coder: str, theme: str, score: float, action: str = "accept",
              run_id: int | None = None, **filters: object) -> pd.DataFrame:
    """The coder's pending suggestions a bulk decision would take: of ``theme`` scoring at least
    ``score`` (accept) or at most ``score`` (reject), in queue order (highest score first)."""
    if action not in BULK_ACTIONS:
        raise DecisionError(f"bulk decisions accept or reject, not {action!r}")
    bound = {"min_score": score} if action == "accept" else {"max_score": score}
    order = "score"
    return review_queue(con, coder, order=order, theme=theme, status="pending", run_id=run_id, per="suggestion",
                        **bound, **filters)  # type: ignore[arg-type]


def bulk_accept(
    con: sqlite3.Connection,
    coder: str,
    theme: str,
    min_score: float,
    run_id: int | None = None,
    expected: str | None = None,
    **filters: object,
) -> list[int]:
    """Accept every suggestion of ``theme`` (a code or meta-theme) scoring at least ``min_score``
    that the coder has not decided yet, in one transaction. ``undo`` cancels the whole batch.

    ``expected``: the :func:`bulk_digest` of the items a preview showed; when the items to accept
    are no longer exactly those, or a newer run finished since the preview (of ``run_id``),
    nothing is recorded and a DecisionError says so.
    """
    return bulk_decide(con, coder, "accept", theme, min_score, run_id, expected, **filters)


def bulk_reject(
    con: sqlite3.Connection,
    coder: str,
    theme: str,
    max_score: float,
    run_id: int | None = None,
    expected: str | None = None,
    **filters: object,
) -> list[int]:
    """Reject every pending suggestion of ``theme`` scoring at most ``max_score``: :func:`bulk_accept`'s twin."""
    return bulk_decide(con, coder, "reject", theme, max_score, run_id, expected, **filters)


def bulk_decide(
    con: sqlite3.Connection,
    coder: str,
    action: str,
    theme: str,
    score: float,
    run_id: int | None = None,
    expected: str | None = None,
    **filters: object,
) -> list[int]:
    """:func:`bulk_accept` or :func:`bulk_reject` (``action``), one batch in one transaction."""
    past = "accepted" if action == "accept" else "rejected"
    if expected is not None and run_id is not None and int(run_id) != latest_run(con):
        raise DecisionError(f"a newer suggestion run finished since the preview; nothing was {past}: "
                            "look at the preview again")
    batch = f"batch:bulk-{uuid.uuid4().hex[:12]}"
    # The queue (suggestions, text, metadata) is read before the write lock, so other coders'
    # decisions are not held up meanwhile; only the statuses are read again under the lock.
    todo = bulk_todo(con, coder, theme, score, action, run_id, **filters)
    ids: list[int] = []
    with transaction(con):
        decided = status_of(con, coder)
        done = set(zip(decided.segment_id.astype(int), decided.code, strict=True)) if not decided.empty else set()
        todo = todo[[(int(s), c) not in done for s, c in zip(todo.segment_id, todo.code, strict=True)]]
        if expected is not None and bulk_digest(todo.key) != expected:
            raise DecisionError(f"the suggestions to {action} changed since the preview ({len(todo)} now); nothing "
                                f"was {past}: look at the preview again")
        for row in todo.itertuples(index=False):
            ids.append(record(con, Decision(coder=coder, action=action, segment_id=int(row.segment_id),
                                            code=row.code, run_id=int(row.run_id), note=batch)))
    return ids
