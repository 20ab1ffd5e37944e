"""Documents in the store: versions, attributes, turns, cues, segments and their roles.

A document is stored once per version of its bytes; the current version of a name is the one
with the highest version (view ``current_documents``). Segments keep offsets only: their text
is always ``documents.text[start:end]`` (view ``segment_texts``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

import pandas as pd

from ..transcript import (
    Cue,
    Transcript,
    Turn,
    interviewer_labels,
    name_transcript_speakers,
    recognise_interviewer,
    speaker_names_applied,
)
from .schema import META_SCHEME, get_meta, now, set_meta, transaction


class SegmentLike(Protocol):
    start: int
    end: int
    turn_idx: int
    speaker: str | None
    is_interviewer: bool
    start_time: float | None
    end_time: float | None
    confidence: float | None


# ---------------------------------------------------------------------- documents


def store_transcript(
    con: sqlite3.Connection, name: str, path: Path, raw_hash: str, t: Transcript, attrs: dict[str, str]
) -> tuple[str, int]:
    """Store a transcript as document ``name``, in one transaction. Returns (status, id):
    ``added`` (new name), ``updated`` (new bytes: version + 1) or ``unchanged`` (same bytes; the
    attributes are still updated and the interviewer re-marked)."""
    with transaction(con):
        row = con.execute(
            "SELECT id, version, content_hash FROM documents WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)
        ).fetchone()
        old: dict[str, str] = {}
        if row is not None:
            # metadata carries over to a new version unless the manifest says otherwise
            old = document_attributes(con, row["id"])
        interviewer = attrs.get("interviewer", old.get("interviewer"))
        names = attrs.get("speaker_names", old.get("speaker_names"))
        if row is not None and row["content_hash"] == raw_hash:
            set_attributes(con, row["id"], attrs)
            # the manifest may name the speakers or a different interviewer for the same bytes
            rename_speakers(con, row["id"], names)
            remark_interviewer(con, row["id"], interviewer)
            return "unchanged", int(row["id"])
        # speakers named by a person carry over to a new version, as the interviewer does
        name_transcript_speakers(t, names)
        if interviewer:
            recognise_interviewer(t, interviewer)
        version = 1 if row is None else row["version"] + 1
        cur = con.execute(
            "INSERT INTO documents(name, version, path, source_format, content_hash, text, ingested_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (name, version, str(path), t.source_format, raw_hash, t.text, now()),
        )
        doc_id = int(cur.lastrowid)
        set_attributes(con, doc_id, {**old, **attrs})
        con.executemany(
            "INSERT INTO turns(document_id, idx, speaker, is_interviewer, start, end, start_time, end_time, confidence)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (doc_id, i, tr.speaker, int(tr.is_interviewer), tr.start, tr.end, tr.start_time, tr.end_time,
                 tr.confidence)
                for i, tr in enumerate(t.turns)
            ],
        )
        con.executemany(
            "INSERT INTO cues(document_id, idx, start, end, start_time, end_time, confidence)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(doc_id, i, c.start, c.end, c.start_time, c.end_time, c.confidence) for i, c in enumerate(t.cues)],
        )
    return ("added" if row is None else "updated"), doc_id


def document_attributes(con: sqlite3.Connection, doc_id: int) -> dict[str, str]:
    return dict(con.execute("SELECT key, value FROM document_attributes WHERE document_id = ?", (doc_id,)).fetchall())


def set_attributes(con: sqlite3.Connection, doc_id: int, attrs: dict[str, str]) -> None:
    """Set (insert or replace) a document's attributes; runs in the caller's transaction."""
    con.executemany(
        "INSERT INTO document_attributes(document_id, key, value) VALUES (?, ?, ?)"
        " ON CONFLICT(document_id, key) DO UPDATE SET value = excluded.value",
        [(doc_id, k, v) for k, v in attrs.items()],
    )


def update_attributes(con: sqlite3.Connection, doc_id: int, attrs: dict[str, str]) -> None:
    """Set a stored document's attributes in a transaction of their own (no new version)."""
    with transaction(con):
        set_attributes(con, doc_id, attrs)


def current_document_ids(con: sqlite3.Connection) -> list[int]:
    return [int(r[0]) for r in con.execute("SELECT id FROM current_documents ORDER BY name")]


def load_transcript(con: sqlite3.Connection, document_id: int) -> Transcript:
    """Rebuild a stored document's :class:`Transcript` (for re-segmenting)."""
    doc = con.execute("SELECT text, source_format FROM documents WHERE id = ?", (document_id,)).fetchone()
    if doc is None:
        raise KeyError(f"no document {document_id}")
    turns = [
        Turn(r["speaker"], r["start"], r["end"], r["start_time"], r["end_time"], r["confidence"],
             bool(r["is_interviewer"]))
        for r in con.execute("SELECT * FROM turns WHERE document_id = ? ORDER BY idx", (document_id,))
    ]
    cues = [
        Cue(r["start"], r["end"], r["start_time"], r["end_time"], r["confidence"])
        for r in con.execute("SELECT * FROM cues WHERE document_id = ? ORDER BY idx", (document_id,))
    ]
    return Transcript(doc["text"], doc["source_format"], turns, cues)


# ---------------------------------------------------------------------- the interviewer and roles


def remark_interviewer(con: sqlite3.Connection, doc_id: int, labels: str | None) -> None:
    """Bring a stored document's turns and segment roles in line with its interviewer label(s);
    runs in the caller's transaction."""
    if not labels:
        return
    wanted = interviewer_labels(labels)
    changes = [
        (int(marked), doc_id, r["idx"])
        for r in con.execute("SELECT idx, speaker, is_interviewer FROM turns WHERE document_id = ?", (doc_id,))
        if (marked := (r["speaker"] or "").strip().lower() in wanted) != bool(r["is_interviewer"])
    ]
    if changes:
        con.executemany("UPDATE turns SET is_interviewer = ? WHERE document_id = ? AND idx = ?", changes)
        update_roles(con, doc_id)


def rename_speakers(con: sqlite3.Connection, doc_id: int, spec: str | None) -> int:
    """Apply a ``speaker_names`` spec (``transcript.speaker_names_applied``) to a stored
    document's turns and segments, in place: no new version, segment ids kept. Runs in the
    caller's transaction; returns how many turns changed speaker."""
    if not spec:
        return 0
    rows = con.execute("SELECT idx, speaker FROM turns WHERE document_id = ? ORDER BY idx", (doc_id,)).fetchall()
    labels = speaker_names_applied([r["speaker"] for r in rows], spec)
    changes = [(label, doc_id, r["idx"]) for r, label in zip(rows, labels, strict=True) if label != r["speaker"]]
    if changes:
        con.executemany("UPDATE turns SET speaker = ? WHERE document_id = ? AND idx = ?", changes)
        con.executemany("UPDATE segments SET speaker = ? WHERE document_id = ? AND turn_idx = ?", changes)
        update_roles(con, doc_id)
    return len(changes)


def document_turns(con: sqlite3.Connection, doc_id: int) -> list[sqlite3.Row]:
    """A stored document's turns in order: idx, speaker, is_interviewer, offsets, times, confidence."""
    return con.execute("SELECT * FROM turns WHERE document_id = ? ORDER BY idx", (doc_id,)).fetchall()


def current_document_id(con: sqlite3.Connection, name: str) -> int | None:
    row = con.execute("SELECT id FROM current_documents WHERE name = ?", (name,)).fetchone()
    return int(row["id"]) if row is not None else None


def segment_role(is_interviewer: bool, speaker: str | None, turn_idx: int | None, labelled: bool) -> str:
    """A segment's role: ``interviewer``, ``participant``, or ``header`` for unlabelled text
    before the first label of a labelled transcript (a title, a date)."""
    if is_interviewer:
        return "interviewer"
    if labelled and speaker is None and turn_idx == 0:
        return "header"
    return "participant"


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
    for r in con.execute("SELECT id, turn_idx, speaker, role FROM segments WHERE document_id = ?", (document_id,)):
        role = segment_role(marked.get(r["turn_idx"], False), r["speaker"], r["turn_idx"], labelled)
        if role != r["role"]:
            changes.append((role, r["id"]))
    con.executemany("UPDATE segments SET role = ? WHERE id = ?", changes)
    return len(changes)


# ---------------------------------------------------------------------- segments


def recorded_scheme(con: sqlite3.Connection) -> str | None:
    """The project's segmentation scheme as recorded, else the one scheme its segments use
    (a project made before the scheme was recorded); None when neither says."""
    scheme = get_meta(con, META_SCHEME)
    if scheme:
        return scheme
    used = [r[0] for r in con.execute("SELECT DISTINCT scheme FROM segments")]
    return used[0] if len(used) == 1 else None


def record_scheme(con: sqlite3.Connection, scheme: str) -> None:
    """Make ``scheme`` the project's segmentation scheme (what every command then reads)."""
    set_meta(con, META_SCHEME, scheme)


def has_segments(con: sqlite3.Connection, document_id: int, scheme: str) -> bool:
    found = con.execute(
        "SELECT 1 FROM segments WHERE document_id = ? AND scheme = ? LIMIT 1", (document_id, scheme)
    ).fetchone()
    return found is not None


def store_segments(con: sqlite3.Connection, document_id: int, scheme: str, segments: Sequence[SegmentLike]) -> None:
    """Store a document's segments under ``scheme`` (one transaction), each with its role."""
    labelled = con.execute(
        "SELECT 1 FROM turns WHERE document_id = ? AND speaker IS NOT NULL LIMIT 1", (document_id,)
    ).fetchone() is not None
    with transaction(con):
        con.executemany(
            "INSERT INTO segments(document_id, scheme, idx, turn_idx, start, end, speaker, role,"
            " start_time, end_time, confidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (document_id, scheme, i, s.turn_idx, s.start, s.end, s.speaker,
                 segment_role(s.is_interviewer, s.speaker, s.turn_idx, labelled), s.start_time, s.end_time,
                 s.confidence)
                for i, s in enumerate(segments)
            ],
        )


def segment_exists(con: sqlite3.Connection, segment_id: int) -> bool:
    return con.execute("SELECT 1 FROM segments WHERE id = ?", (int(segment_id),)).fetchone() is not None


def segment_texts(con: sqlite3.Connection, segment_ids: Iterable[int]) -> dict[int, str]:
    """Segment id -> its text (from view ``segment_texts``)."""
    ids = sorted({int(s) for s in segment_ids})
    out: dict[int, str] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        out.update(con.execute(
            f"SELECT segment_id, text FROM segment_texts WHERE segment_id IN ({','.join('?' * len(chunk))})", chunk
        ).fetchall())
    return out


# ---------------------------------------------------------------------- tables


def document_table(con: sqlite3.Connection, all_versions: bool = False) -> pd.DataFrame:
    """Documents with their metadata as columns (site, participant, role, ...)."""
    view = "documents" if all_versions else "current_documents"
    docs = pd.read_sql_query(
        f"SELECT id AS document_id, name AS document, version, source_format, path, content_hash, ingested_at,"
        f" length(text) AS n_chars FROM {view} ORDER BY name, version",
        con,
    )
    attrs = pd.read_sql_query("SELECT document_id, key, value FROM document_attributes", con)
    if not attrs.empty:
        wide = attrs.pivot(index="document_id", columns="key", values="value").reset_index()
        wide.columns.name = None
        docs = docs.merge(wide, on="document_id", how="left")
    return docs


def segment_table(
    con: sqlite3.Connection, scheme: str | None = None, roles: Sequence[str] | None = None,
    document_ids: Sequence[int] | None = None, with_text: bool = True,
) -> pd.DataFrame:
    """Segments of current documents (of ``scheme``; of ``roles``; among ``document_ids``, to read a
    large project a block at a time) with document metadata, and their text unless ``with_text``
    is False (a million texts are gigabytes)."""
    text = ", t.text" if with_text else ""
    join = " JOIN segment_texts t ON t.segment_id = s.id" if with_text else ""
    sql = f"""
        SELECT s.id AS segment_id, s.document_id, s.scheme, s.idx AS segment_idx, s.turn_idx, s.start, s.end,
               s.speaker, s.role AS speaker_role, s.start_time, s.end_time, s.confidence{text}
        FROM segments s JOIN current_documents d ON d.id = s.document_id{join} WHERE 1=1
    """
    args: list = []
    if scheme:
        sql += " AND s.scheme = ?"
        args.append(scheme)
    if roles:
        sql += f" AND s.role IN ({','.join('?' * len(roles))})"
        args.extend(roles)
    if document_ids is not None:
        # one JSON array, not one variable per id: a block may hold more documents than SQLite's limit
        sql += " AND s.document_id IN (SELECT value FROM json_each(?))"
        args.append(json.dumps([int(d) for d in document_ids]))
    segs = pd.read_sql_query(sql + " ORDER BY s.document_id, s.idx", con, params=args)
    docs = document_table(con).drop(columns=["path", "content_hash", "ingested_at", "n_chars"])
    if document_ids is not None:
        docs = docs[docs.document_id.isin(set(segs.document_id))]
    return docs.merge(segs, on="document_id", how="inner")


def segment_order(con: sqlite3.Connection, scheme: str, roles: Sequence[str]) -> pd.DataFrame:
    """The ids of the segments of ``scheme`` and ``roles`` and of their documents, in reading
    order (document name, then position): a large project's segments without their text, to
    cut it into blocks of whole documents."""
    return pd.read_sql_query(
        "SELECT s.id AS segment_id, s.document_id FROM segments s JOIN current_documents d ON d.id = s.document_id"
        f" WHERE s.scheme = ? AND s.role IN ({','.join('?' * len(roles))}) ORDER BY d.name, s.idx",
        con, params=[scheme, *roles],
    )


def current_document_names(con: sqlite3.Connection, limit: int | None = None) -> list[str]:
    """The current documents' names, sorted; the first ``limit`` of them (None: all)."""
    rows = con.execute("SELECT name FROM current_documents ORDER BY name LIMIT ?", (-1 if limit is None else limit,))
    return [str(r[0]) for r in rows]


def attribute_values(con: sqlite3.Connection, key: str) -> list[str]:
    """The distinct non-empty values of a document attribute over current documents, sorted."""
    rows = con.execute(
        "SELECT DISTINCT a.value FROM document_attributes a JOIN current_documents d ON d.id = a.document_id"
        " WHERE a.key = ? AND a.value IS NOT NULL AND a.value != '' ORDER BY a.value",
        (key,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def documents_stamp(con: sqlite3.Connection) -> tuple[int, int | None]:
    """(number of stored document versions, newest id): changes whenever a document is stored."""
    n, newest = con.execute("SELECT COUNT(*), MAX(id) FROM documents").fetchone()
    return int(n), newest


def document_count(con: sqlite3.Connection) -> int:
    """How many documents there are (current versions)."""
    return int(con.execute("SELECT COUNT(*) FROM current_documents").fetchone()[0])


def document_speakers(con: sqlite3.Connection) -> dict[str, list[str]]:
    """Each current document's name -> its distinct speaker labels, in order of first turn."""
    out: dict[str, list[str]] = {str(r[0]): [] for r in con.execute("SELECT name FROM current_documents ORDER BY name")}
    rows = con.execute(
        "SELECT d.name, t.speaker, MIN(t.idx) AS first FROM current_documents d"
        " JOIN turns t ON t.document_id = d.id WHERE t.speaker IS NOT NULL"
        " GROUP BY d.name, t.speaker ORDER BY d.name, first"
    )
    for name, speaker, _ in rows:
        out[str(name)].append(str(speaker))
    return out


def document_versions(con: sqlite3.Connection) -> dict[int, tuple[str, int]]:
    """Document id -> (name, version), for every stored version."""
    return {int(r[0]): (str(r[1]), int(r[2])) for r in con.execute("SELECT id, name, version FROM documents")}


def current_texts(con: sqlite3.Connection, by: str = "name") -> dict:
    """The text of each document's current version, keyed by its ``name`` or its ``id``."""
    if by not in ("name", "id"):
        raise ValueError(f"by must be 'name' or 'id', not {by!r}")
    rows = con.execute(f"SELECT {by}, text FROM current_documents")  # by is one of two column names
    return {(str(k) if by == "name" else int(k)): str(t) for k, t in rows}


def current_lengths(con: sqlite3.Connection) -> dict[str, tuple[int, int]]:
    """Document name -> (id, length of the text) of its current version."""
    return {str(r[0]): (int(r[1]), int(r[2])) for r in con.execute(
        "SELECT name, id, length(text) FROM current_documents")}


def segment_spans(con: sqlite3.Connection, scheme: str) -> pd.DataFrame:
    """Every segment of ``scheme`` (all versions) as segment_id, document_id, start, end, role."""
    return pd.read_sql_query(
        "SELECT id AS segment_id, document_id, start, end, role FROM segments WHERE scheme = ?", con, params=[scheme]
    )


def segment_with_document(con: sqlite3.Connection, segment_id: int) -> sqlite3.Row | None:
    """A segment's row with its document's ``document`` (name) and ``doc_text``."""
    return con.execute(
        "SELECT s.*, d.name AS document, d.text AS doc_text FROM segments s JOIN documents d ON d.id = s.document_id"
        " WHERE s.id = ?",
        (int(segment_id),),
    ).fetchone()


def turns_between(con: sqlite3.Connection, document_id: int, first: int, last: int) -> list[sqlite3.Row]:
    """A document's turns with ``first <= idx <= last``, in order."""
    return con.execute(
        "SELECT * FROM turns WHERE document_id = ? AND idx BETWEEN ? AND ? ORDER BY idx", (document_id, first, last)
    ).fetchall()


def segment_text_frame(con: sqlite3.Connection, segment_ids: Sequence[int]) -> pd.DataFrame:
    """segment_id (index), document (name) and text of the given segments."""
    ids = [int(s) for s in segment_ids]
    frames = []
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        frames.append(pd.read_sql_query(
            "SELECT t.segment_id, d.name AS document, t.text FROM segment_texts t"
            " JOIN segments s ON s.id = t.segment_id JOIN documents d ON d.id = s.document_id"
            f" WHERE t.segment_id IN ({','.join('?' * len(chunk))})",
            con, params=chunk,
        ))
    if not frames:
        return pd.DataFrame(columns=["document", "text"], index=pd.Index([], name="segment_id"))
    return pd.concat(frames).set_index("segment_id")


def current_documents_frame(con: sqlite3.Connection) -> pd.DataFrame:
    """Current documents with their text: id, name, version, source_format, text, ingested_at."""
    return pd.read_sql_query(
        "SELECT id, name, version, source_format, text, ingested_at FROM current_documents ORDER BY name", con
    )


def current_attributes(con: sqlite3.Connection) -> pd.DataFrame:
    """Non-empty attributes of current documents, long: document_id, key, value."""
    return pd.read_sql_query(
        "SELECT a.document_id, a.key, a.value FROM document_attributes a"
        " JOIN current_documents d ON d.id = a.document_id WHERE a.value IS NOT NULL AND a.value != ''",
        con,
    )


def documents_fingerprint(con: sqlite3.Connection) -> tuple[int, str]:
    """(newest document id, a fingerprint of every stored version's id, name, version and hash):
    a new or re-ingested transcript changes it."""
    import hashlib

    digest = hashlib.sha256()
    for row in con.execute("SELECT id, name, version, content_hash FROM documents ORDER BY id"):
        digest.update("\x1f".join(str(v) for v in row).encode("utf-8") + b"\x1e")
    newest = int(con.execute("SELECT COALESCE(MAX(id), 0) FROM documents").fetchone()[0])
    return newest, digest.hexdigest()[:16]



def versions_after(con: sqlite3.Connection, mark: int) -> list[tuple[str, int]]:
    """(name, version) of every document version stored after document id ``mark``, in order."""
    return [(str(r[0]), int(r[1])) for r in con.execute(
        "SELECT name, version FROM documents WHERE id > ? ORDER BY id", (int(mark),))]


def segment_index(con: sqlite3.Connection) -> dict[int, tuple[str, str, bool]]:
    """Every stored segment: id -> (text, document name, whether its document version is current)."""
    return {
        int(r["id"]): (r["text"], r["name"], bool(r["current"]))
        for r in con.execute(
            "SELECT s.id, t.text, d.name, d.id IN (SELECT id FROM current_documents) AS current"
            " FROM segments s JOIN documents d ON d.id = s.document_id JOIN segment_texts t ON t.segment_id = s.id"
        )
    }


def current_document(con: sqlite3.Connection, name: str) -> sqlite3.Row | None:
    """The current version of the document called ``name`` (id, name, version, path, source_format, text), or None."""
    return con.execute("SELECT id, name, version, path, source_format, text FROM current_documents WHERE name = ?",
                       (name,)).fetchone()


def document_segments(con: sqlite3.Connection, document_id: int, scheme: str) -> list[sqlite3.Row]:
    """Every segment of ``scheme`` in one document version, in order (no text: slice the document's)."""
    return con.execute("SELECT * FROM segments WHERE document_id = ? AND scheme = ? ORDER BY idx",
                       (int(document_id), scheme)).fetchall()


def document_text(con: sqlite3.Connection, document_id: int) -> str:
    """The text of one stored document version."""
    row = con.execute("SELECT text FROM documents WHERE id = ?", (int(document_id),)).fetchone()
    if row is None:
        raise KeyError(f"no document {document_id}")
    return str(row[0])


def segment_schemes(con: sqlite3.Connection, segment_ids: Iterable[int]) -> dict[int, str]:
    """Segment id -> the scheme it belongs to."""
    ids = ",".join(str(int(i)) for i in set(segment_ids))  # integers: safe to inline
    if not ids:
        return {}
    return {int(k): str(v) for k, v in con.execute(f"SELECT id, scheme FROM segments WHERE id IN ({ids})").fetchall()}


def turn_segments(con: sqlite3.Connection, segment_id: int) -> pd.DataFrame:
    """The segments of ``segment_id``'s speaker turn (same document version and scheme), in order,
    as segment_id, start, end: where a free selection that starts or ends there may fall."""
    return pd.read_sql_query(
        "SELECT o.id AS segment_id, o.start, o.end FROM segments s JOIN segments o ON o.document_id = s.document_id"
        " AND o.scheme = s.scheme AND o.turn_idx IS s.turn_idx WHERE s.id = ? ORDER BY o.idx", con,
        params=[int(segment_id)])
