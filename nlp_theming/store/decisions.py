"""The decision log: every human decision, appended, never changed.

The current coding is derived from the log, never stored: for each (coder, segment, code)
the latest decision that has not been undone says whether the code applies. An ``undo``
cancels one earlier decision (undoing an undo restores it). A ``none`` decision ("no code
applies") speaks of a whole segment: every code the coder had there stops applying, and the
segment counts as coded with nothing; a later accept or add on the segment supersedes it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from .codebooks import all_code_names
from .schema import now

ACTIONS = ("accept", "reject", "change", "add", "adjust", "undo", "import", "none")
#: the action meaning "no code applies to this segment" (a coded unit with an empty code set)
NO_CODE = "none"
MACHINE_CODERS = {"machine", "nlp-theming"}
#: Review status of a suggestion, derived from this log: one word each, everywhere.
PENDING, ACCEPTED, REJECTED = "pending", "accepted", "rejected"
REVIEW_STATUSES = (PENDING, ACCEPTED, REJECTED)


class DecisionError(ValueError):
    """A decision that cannot be recorded (unknown code, segment or coder)."""


@dataclass
class Decision:
    coder: str
    action: str
    segment_id: int | None = None
    code: str | None = None
    new_code: str | None = None
    start: int | None = None
    end: int | None = None
    run_id: int | None = None
    undoes: int | None = None
    note: str | None = None
    document_id: int | None = None


def record(con: sqlite3.Connection, d: Decision) -> int:
    """Append one decision; durable on return (synchronous=FULL). Returns its id."""
    coder = (d.coder or "").strip()
    if not coder:
        raise DecisionError("a decision needs a coder name")
    if coder.lower() in MACHINE_CODERS:
        raise DecisionError(f"{coder!r} is reserved: the machine is never a coder of record")
    if d.action not in ACTIONS:
        raise DecisionError(f"unknown action {d.action!r}")
    if d.action == "undo":
        target = con.execute("SELECT coder FROM decisions WHERE id = ?", (d.undoes,)).fetchone()
        if target is None:
            raise DecisionError(f"no decision {d.undoes} to undo")
        if target["coder"] != coder:
            raise DecisionError("a coder can only undo their own decisions")
    elif d.action in ("accept", "reject", "change", "add", "import") and not d.code:
        raise DecisionError(f"{d.action} needs a code")
    if d.action == NO_CODE and (d.segment_id is None or d.code):
        raise DecisionError("'no code applies' names a segment and no code")
    if d.action == "change" and not d.new_code:
        raise DecisionError("change needs the new code")
    if d.action == "adjust" or (d.action == "add" and (d.start is not None or d.end is not None)):
        _check_span(con, d)
    document_id = d.document_id
    if d.segment_id is not None and document_id is None:
        row = con.execute("SELECT document_id FROM segments WHERE id = ?", (d.segment_id,)).fetchone()
        if row is None:
            raise DecisionError(f"no segment {d.segment_id}")
        document_id = row[0]
    sql = (
        "INSERT INTO decisions(at, coder, action, segment_id, document_id, code, new_code, start, end, run_id, undoes,"
        " note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    args = (now(), coder, d.action, d.segment_id, document_id, d.code, d.new_code, d.start, d.end, d.run_id, d.undoes,
            d.note)
    cur = con.execute(sql, args)
    return int(cur.lastrowid)


def _check_span(con: sqlite3.Connection, d: Decision) -> None:
    """An adjusted or freely coded span must overlap the segment and stay inside its own speaker
    turn (else inside the document): a coded span never takes in another speaker's words."""
    if d.segment_id is None or d.start is None or d.end is None:
        raise DecisionError(f"{d.action} of a span needs a segment and the span's start and end")
    row = con.execute(
        "SELECT s.start, s.end, length(d.text) AS n, t.start AS turn_start, t.end AS turn_end"
        " FROM segments s JOIN documents d ON d.id = s.document_id"
        " LEFT JOIN turns t ON t.document_id = s.document_id AND t.idx = s.turn_idx WHERE s.id = ?",
        (d.segment_id,),
    ).fetchone()
    if row is None:
        raise DecisionError(f"no segment {d.segment_id}")
    if not 0 <= d.start < d.end <= row["n"]:
        raise DecisionError(f"boundaries {d.start}-{d.end} are outside the document (0-{row['n']})")
    if d.end <= row["start"] or d.start >= row["end"]:
        raise DecisionError(f"boundaries {d.start}-{d.end} do not overlap segment {d.segment_id}")
    if row["turn_start"] is not None:
        # the turn, widened to the segment itself should a unit ever straddle a turn's edge
        lo, hi = min(row["turn_start"], row["start"]), max(row["turn_end"], row["end"])
        if not lo <= d.start < d.end <= hi:
            raise DecisionError(f"boundaries {d.start}-{d.end} run beyond the speaker's turn ({lo}-{hi}); "
                                f"select text inside the highlighted turn")


def decisions_frame(con: sqlite3.Connection, coder: str | None = None, upto: int | None = None,
                    document_id: int | None = None, segment_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """The log (of ``coder``, up to decision ``upto``, on ``document_id`` or on the segments
    ``segment_ids``: with every undo, which names no document, so that :func:`effective` still
    resolves them)."""
    sql = "SELECT * FROM decisions WHERE 1=1"
    args: list = []
    if document_id is not None:
        sql += " AND (document_id = ? OR action = 'undo')"
        args.append(int(document_id))
    if segment_ids is not None:
        ids = sorted({int(s) for s in segment_ids})
        sql += f" AND (segment_id IN ({','.join('?' * len(ids))}) OR action = 'undo')"
        args.extend(ids)
    if coder is not None:
        sql += " AND coder = ?"
        args.append(coder)
    if upto is not None:
        sql += " AND id <= ?"
        args.append(upto)
    return pd.read_sql_query(sql + " ORDER BY id", con, params=args)


def effective(decisions: pd.DataFrame) -> pd.DataFrame:
    """Decisions still in force: those not cancelled by an undo (undo chains resolved)."""
    if decisions.empty:
        return decisions
    undo = decisions[decisions.action == "undo"]
    cancelled: set[int] = set()
    # Walk undos newest first: an undo that is itself undone cancels nothing.
    for _, row in undo.sort_values("id", ascending=False).iterrows():
        if int(row["id"]) not in cancelled:
            cancelled.add(int(row["undoes"]))
    keep = decisions[(decisions.action != "undo") & ~decisions["id"].isin(cancelled)]
    return keep


def coding(con: sqlite3.Connection, coder: str | None = None, upto: int | None = None,
           document_id: int | None = None, segment_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """The current coding: one row per (coder, segment, code) that applies, and one per span
    where imported coding put several spans of one code in one segment.

    Columns: coder, segment_id, document_id, code, start, end, decision_id (the decision that
    made it so). ``start``/``end`` are the coded span: the imported or adjusted one, else the
    segment's. Count distinct (segment, code) pairs, not rows, when counting coded segments.
    ``segment_ids``: only these segments' coding (each segment's is derived from its own decisions).
    """
    log = effective(decisions_frame(con, coder, upto, document_id, segment_ids))
    cols = ["coder", "segment_id", "document_id", "code", "start", "end", "decision_id"]
    if log.empty:
        return pd.DataFrame(columns=cols)
    # (coder, segment, document, code) -> [applies, decision id, spans]
    state: dict[tuple, list] = {}

    def put(key: tuple, applies: bool, decision_id: int, spans: list | None = None) -> None:
        entry = state.setdefault(key, [applies, decision_id, []])
        entry[0], entry[1] = applies, decision_id
        if spans is not None:
            entry[2] = spans

    for row in log.itertuples(index=False):
        seg = None if pd.isna(row.segment_id) else int(row.segment_id)
        key_base = (row.coder, seg, int(row.document_id) if not pd.isna(row.document_id) else None)
        rid = int(row.id)
        if row.action == "import":
            put((*key_base, row.code), True, rid)
            if not pd.isna(row.start):
                span = (int(row.start), int(row.end))
                if span not in state[(*key_base, row.code)][2]:
                    state[(*key_base, row.code)][2].append(span)
        elif row.action == "add" and not pd.isna(row.start):
            # a freely coded selection: the span the coder selected, carried by each segment it covers
            put((*key_base, row.code), True, rid, [(int(row.start), int(row.end))])
        elif row.action in ("accept", "add"):
            put((*key_base, row.code), True, rid)
        elif row.action == "reject":
            put((*key_base, row.code), False, rid, [])
        elif row.action == "change":
            put((*key_base, row.code), False, rid, [])
            put((*key_base, row.new_code), True, rid)
        elif row.action == NO_CODE:
            for k in [k for k in state if k[:3] == key_base]:
                put(k, False, rid, [])
        elif row.action == "adjust" and not pd.isna(row.start):
            # an adjustment applies to the named code (even one decided later), or to all the
            # coder's codes on the segment so far
            if isinstance(row.code, str) and row.code:
                targets = [(*key_base, row.code)]
                state.setdefault(targets[0], [False, rid, []])
            else:
                targets = [k for k in state if k[:3] == key_base]
            for k in targets:
                state[k][2] = [(int(row.start), int(row.end))]
    rows = []
    for (coder_name, seg, doc, code), (applies, decision_id, spans) in state.items():
        if not applies:
            continue
        for start, end in spans or [(None, None)]:
            rows.append((coder_name, seg, doc, code, start, end, decision_id))
    out = pd.DataFrame(rows, columns=cols)
    if out.empty:
        return out
    missing = out["start"].isna() & out["segment_id"].notna()
    if missing.any():
        ids = sorted({int(s) for s in out.loc[missing, "segment_id"]})
        seg_spans = pd.concat([
            pd.read_sql_query(
                f"SELECT id AS segment_id, start AS s_start, end AS s_end FROM segments"
                f" WHERE id IN ({','.join('?' * len(chunk))})", con, params=chunk)
            for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500))
        ])
        out = out.merge(seg_spans, on="segment_id", how="left")
        out["start"] = out["start"].fillna(out.pop("s_start"))
        out["end"] = out["end"].fillna(out.pop("s_end"))
    out["start"] = out["start"].astype("Int64")
    out["end"] = out["end"].astype("Int64")
    return out.sort_values(["coder", "document_id", "start", "code"]).reset_index(drop=True)


def imports_in_force(con: sqlite3.Connection) -> set[tuple[str, int, str, int, int]]:
    """(coder, segment, code, start, end) of every imported coding still in force: what a second
    import of the same file would record again."""
    log = effective(decisions_frame(con))
    log = log[log.action == "import"]
    return {
        (str(r.coder), int(r.segment_id), str(r.code), int(r.start), int(r.end))
        for r in log.itertuples(index=False)
        if not pd.isna(r.segment_id) and not pd.isna(r.start) and not pd.isna(r.end)
    }


def reviewed(con: sqlite3.Connection, coder: str | None = None, document_id: int | None = None,
             segment_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """Every (coder, segment, code) with a decision in force, and whether it applies.

    ``imported``: the segment has imported coding in force (a coder coded the whole passage
    there, so a code they did not apply does not apply; a review decision speaks of one code).
    A "no code applies" decision is a row saying "does not apply" for every code in the
    project's codebooks (a later accept of one code outweighs it, being later).
    """
    log = effective(decisions_frame(con, coder, document_id=document_id, segment_ids=segment_ids))
    if log.empty:
        return pd.DataFrame(columns=["coder", "segment_id", "code", "applies", "decision_id", "imported"])
    log = log[log.segment_id.notna() & log.action.isin(["accept", "reject", "change", "add", "import", NO_CODE])]
    whole = {int(s) for s in log[log.action == "import"].segment_id}
    # "no code applies" decides every code: those of any codebook version the project has had
    every_code = all_code_names(con) if (log.action == NO_CODE).any() else []
    rows = []
    for row in log.itertuples(index=False):
        segment_id = int(row.segment_id)
        if row.action == NO_CODE:
            rows.extend((row.coder, segment_id, c, False, int(row.id), segment_id in whole) for c in every_code)
            continue
        applies = row.action in ("accept", "add", "import")
        rows.append((row.coder, segment_id, row.code, applies, int(row.id), segment_id in whole))
        if row.action == "change":
            rows.append((row.coder, segment_id, row.new_code, True, int(row.id), segment_id in whole))
    out = pd.DataFrame(rows, columns=["coder", "segment_id", "code", "applies", "decision_id", "imported"])
    return out.drop_duplicates(["coder", "segment_id", "code"], keep="last").reset_index(drop=True)


def nothing_applies(con: sqlite3.Connection, coder: str | None = None, document_id: int | None = None,
                    applied: pd.DataFrame | None = None) -> pd.DataFrame:
    """Segments coded with nothing: the coder said "no code applies" (in force) and has applied
    no code there since. Columns: coder, segment_id, document_id, decision_id. ``applied``: the
    :func:`coding` of the same coder and document when the caller has it already."""
    cols = ["coder", "segment_id", "document_id", "decision_id"]
    log = effective(decisions_frame(con, coder, document_id=document_id))
    if log.empty:
        return pd.DataFrame(columns=cols)
    nothing = log[log.action == NO_CODE]
    if nothing.empty:
        return pd.DataFrame(columns=cols)
    nothing = nothing.sort_values("id").drop_duplicates(["coder", "segment_id"], keep="last")
    applied = coding(con, coder, document_id=document_id) if applied is None else applied
    applied = applied[applied.segment_id.notna()]
    coded = {(c, int(s)) for c, s in zip(applied.coder, applied.segment_id, strict=True)}
    keep = [(c, int(s)) not in coded for c, s in zip(nothing.coder, nothing.segment_id, strict=True)]
    out = nothing[keep].rename(columns={"id": "decision_id"})
    out = out.astype({"segment_id": "int64", "document_id": "int64", "decision_id": "int64"})
    return out[cols].reset_index(drop=True)


def decided_segments(con: sqlite3.Connection, coder: str | None = None,
                     segment_ids: Iterable[int] | None = None) -> set[int]:
    """Segments with a decision in force (by ``coder``, or by anyone): reviewed by someone.
    ``segment_ids``: only among these."""
    log = effective(decisions_frame(con, coder, segment_ids=segment_ids))
    return {int(s) for s in log.segment_id.dropna()} if not log.empty else set()


def visible(decisions: pd.DataFrame, viewer: str | None, blind: bool) -> pd.DataFrame:
    """What a coder may see of a log: in blind mode only their own decisions."""
    if not blind:
        return decisions
    if viewer is None:
        return decisions.iloc[0:0]
    return decisions[decisions.coder == viewer]


def last_in_force(con: sqlite3.Connection, coder: str) -> pd.DataFrame:
    """The coder's most recent action still in force: what ``undo`` would cancel.

    One row, or several when that action was a batch (a bulk accept or a sheet import, which
    share a ``note`` starting with ``batch:``); empty when there is nothing left to undo.
    """
    log = effective(decisions_frame(con, coder))
    if log.empty:
        return log
    last = log.iloc[-1]
    note = last["note"]
    if isinstance(note, str) and note.startswith("batch:"):
        return log[log.note == note]
    return log.iloc[[-1]]


def status_of(con: sqlite3.Connection, coder: str | None = None,
              segment_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """Per (segment, code): the review status (accepted or rejected) and what decided it.

    With a coder, that coder's decisions only. Without one, across coders: accepted when any
    coder applies the code, rejected when coders decided and none does. Columns: segment_id,
    code, status, decision_id, action, new_code (for a change, the code it became).
    ``segment_ids``: only these segments' (a status depends on its segment's decisions alone).
    """
    cols = ["segment_id", "code", "status", "decision_id", "action", "new_code"]
    decided = reviewed(con, coder, segment_ids=segment_ids)
    if decided.empty:
        return pd.DataFrame(columns=cols)
    if coder is None:
        decided = decided.sort_values("decision_id")
        grouped = decided.groupby(["segment_id", "code"], as_index=False).agg(
            applies=("applies", "any"), decision_id=("decision_id", "last")
        )
        decided = grouped
    log = decisions_frame(con, coder)[["id", "action", "new_code"]].rename(columns={"id": "decision_id"})
    out = decided.merge(log, on="decision_id", how="left")
    out["status"] = out.pop("applies").map({True: ACCEPTED, False: REJECTED})
    return out[cols]


def human_coders(con: sqlite3.Connection) -> list[str]:
    """Everyone with a decision in the log, sorted (the machine is never a coder of record)."""
    coders = (r[0] for r in con.execute("SELECT DISTINCT coder FROM decisions"))
    return sorted(c for c in coders if c.lower() not in MACHINE_CODERS)


def decision_times(con: sqlite3.Connection) -> dict[int, str]:
    """Decision id -> when it was made (ISO 8601, UTC)."""
    return {int(r[0]): str(r[1]) for r in con.execute("SELECT id, at FROM decisions")}


def segments_decided_since(con: sqlite3.Connection, mark: int) -> set[int] | None:
    """The segments whose statuses the decisions after id ``mark`` may have changed: those they
    name, and those of the decisions their undos cancel (an undo names no segment). None when
    one of them names no segment otherwise (an imported span): then every status may have moved."""
    rows = con.execute("SELECT id, action, segment_id, undoes FROM decisions WHERE id > ?", (int(mark),)).fetchall()
    out: set[int] = set()
    undone = [int(r["undoes"]) for r in rows if r["action"] == "undo" and r["undoes"] is not None]
    for r in rows:
        if r["segment_id"] is not None:
            out.add(int(r["segment_id"]))
        elif r["action"] not in ("undo", "adjust"):
            return None
    seen: set[int] = set()
    while undone:  # an undo of an undo: follow the chain to the decision it restores
        batch = [u for u in undone if u not in seen]
        seen.update(batch)
        if not batch:
            break
        marks = ",".join("?" * len(batch))
        found = con.execute(f"SELECT action, segment_id, undoes FROM decisions WHERE id IN ({marks})", batch)
        undone = []
        for r in found.fetchall():
            if r["action"] == "undo" and r["undoes"] is not None:
                undone.append(int(r["undoes"]))
            elif r["segment_id"] is not None:
                out.add(int(r["segment_id"]))
            elif r["action"] != "adjust":
                return None
    return out


def segments_naming_code(con: sqlite3.Connection, code: str) -> list[int]:
    """The segments a decision names ``code`` on (as its code or the code a change made): the
    only segments the code can apply to."""
    rows = con.execute("SELECT DISTINCT segment_id FROM decisions WHERE (code = ? OR new_code = ?)"
                       " AND segment_id IS NOT NULL", (code, code))
    return [int(r[0]) for r in rows]


def latest_decision(con: sqlite3.Connection) -> tuple[int, str | None]:
    """(id, time) of the newest decision; (0, None) for an empty log."""
    row = con.execute("SELECT id, at FROM decisions ORDER BY id DESC LIMIT 1").fetchone()
    return (int(row["id"]), row["at"]) if row else (0, None)


def decision_count(con: sqlite3.Connection) -> int:
    return int(con.execute("SELECT COUNT(*) FROM decisions").fetchone()[0])


def all_coders(con: sqlite3.Connection) -> list[str]:
    """Every coder name in the log, sorted."""
    return [r[0] for r in con.execute("SELECT DISTINCT coder FROM decisions ORDER BY coder")]


def decisions_since(con: sqlite3.Connection, mark: int, coder: str | None = None) -> int:
    """How many decisions came after decision ``mark`` (by ``coder``, when given)."""
    sql, args = "SELECT COUNT(*) FROM decisions WHERE id > ?", [mark]
    if coder:
        sql, args = sql + " AND coder = ?", [mark, coder]
    return int(con.execute(sql, args).fetchone()[0])


def decisions_learned(con: sqlite3.Connection, mark: int, coders: list[str], documents: set[int]) -> int:
    """How many decisions up to ``mark`` (undos aside) ``coders`` made on ``documents``."""
    if not coders or not documents:
        return 0
    docs = ",".join(str(int(d)) for d in documents)  # integers from the store: safe to inline
    sql = (f"SELECT COUNT(*) FROM decisions WHERE id <= ? AND action != 'undo'"
           f" AND coder IN ({','.join('?' * len(coders))}) AND document_id IN ({docs})")
    return int(con.execute(sql, (mark, *coders)).fetchone()[0])


def decision_row(con: sqlite3.Connection, decision_id: int) -> sqlite3.Row | None:
    """One decision with its document's name (``document``), or None."""
    return con.execute(
        "SELECT x.*, d.name AS document FROM decisions x LEFT JOIN documents d ON d.id = x.document_id WHERE x.id = ?",
        (int(decision_id),)).fetchone()
