"""The project store's schema and connections: one SQLite database per project folder.

Everything a project knows lives in ``PROJECT/project.db``. The schema is documented in
``docs/schema.md`` and in the ``SCHEMA`` text below. Tables only grow: a newer version adds
tables (``CREATE ... IF NOT EXISTS`` on every open) and :func:`migrate` records the version
reached in ``meta.schema_version`` (1: the first schema; 2: ``memos``; 3: ``coder_keys``;
4: the review queue's indexes, ``queue_teach`` and ``queue_figures``).
Human decisions and memos are append-only: triggers refuse UPDATE and DELETE on both.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

SCHEMA_VERSION = 4
DB_NAME = "project.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row per version of a source file. A changed file gets a new row with version+1;
-- the current version of a document is the one with the highest version for its name.
CREATE TABLE IF NOT EXISTS documents (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,          -- stable key: the file stem unless a manifest says otherwise
    version       INTEGER NOT NULL,
    path          TEXT NOT NULL,          -- where it was read from (absolute)
    source_format TEXT NOT NULL,          -- txt, docx, odt, vtt, srt, whisper_json, csv_turns, ...
    content_hash  TEXT NOT NULL,          -- sha256 of the raw bytes
    text          TEXT NOT NULL,          -- normalised text; every offset in the store points into it
    ingested_at   TEXT NOT NULL,
    UNIQUE (name, version)
);

-- Metadata from the manifest (site, participant, role, level, any other column).
CREATE TABLE IF NOT EXISTS document_attributes (
    document_id INTEGER NOT NULL REFERENCES documents(id),
    key         TEXT NOT NULL,
    value       TEXT,
    PRIMARY KEY (document_id, key)
);

-- Speaker turns: [start, end) is the spoken text after any "Speaker:" label.
CREATE TABLE IF NOT EXISTS turns (
    document_id    INTEGER NOT NULL REFERENCES documents(id),
    idx            INTEGER NOT NULL,
    speaker        TEXT,
    is_interviewer INTEGER NOT NULL DEFAULT 0,
    start          INTEGER NOT NULL,
    end            INTEGER NOT NULL,
    start_time     REAL,
    end_time       REAL,
    confidence     REAL,
    PRIMARY KEY (document_id, idx)
);

-- Timed cues of audio-derived formats (VTT, SRT, Whisper segments): boundaries for
-- segmenting unpunctuated speech-recognition text.
CREATE TABLE IF NOT EXISTS cues (
    document_id INTEGER NOT NULL REFERENCES documents(id),
    idx         INTEGER NOT NULL,
    start       INTEGER NOT NULL,
    end         INTEGER NOT NULL,
    start_time  REAL,
    end_time    REAL,
    confidence  REAL,
    PRIMARY KEY (document_id, idx)
);

-- Coding units. Text is not stored: it is documents.text[start:end] (view segment_texts).
CREATE TABLE IF NOT EXISTS segments (
    id          INTEGER PRIMARY KEY,
    document_id INTEGER NOT NULL REFERENCES documents(id),
    scheme      TEXT NOT NULL,            -- segmenter configuration, e.g. window:3:80
    idx         INTEGER NOT NULL,
    turn_idx    INTEGER,
    start       INTEGER NOT NULL,
    end         INTEGER NOT NULL,
    speaker     TEXT,
    role        TEXT NOT NULL,            -- participant | interviewer | header (text before any label)
    start_time  REAL,
    end_time    REAL,
    confidence  REAL,
    UNIQUE (document_id, scheme, idx)
);

CREATE TABLE IF NOT EXISTS codebooks (
    version      INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    source_path  TEXT,
    content_hash TEXT NOT NULL,
    loaded_at    TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS codes (
    codebook_version INTEGER NOT NULL REFERENCES codebooks(version),
    position    INTEGER NOT NULL,
    code        TEXT NOT NULL,
    parent      TEXT,
    description TEXT NOT NULL DEFAULT '',
    inclusion   TEXT NOT NULL DEFAULT '',
    exclusion   TEXT NOT NULL DEFAULT '',
    examples    TEXT NOT NULL DEFAULT '[]',   -- JSON list of strings
    PRIMARY KEY (codebook_version, code)
);

-- A suggestion run. status: running -> complete. A run killed half-way stays 'running'
-- with no suggestions; the next run with the same configuration takes it over.
CREATE TABLE IF NOT EXISTS runs (
    id               INTEGER PRIMARY KEY,
    started_at       TEXT NOT NULL,
    finished_at      TEXT,
    status           TEXT NOT NULL,
    model_id         TEXT NOT NULL,
    codebook_version INTEGER NOT NULL REFERENCES codebooks(version),
    matcher          TEXT NOT NULL,
    scheme           TEXT NOT NULL,
    params           TEXT NOT NULL,       -- JSON, canonical (sorted keys)
    config_hash      TEXT NOT NULL,
    seed             INTEGER NOT NULL,
    decision_mark    INTEGER NOT NULL DEFAULT 0,  -- last decisions.id the run learned from
    n_segments       INTEGER
);

CREATE TABLE IF NOT EXISTS suggestions (
    run_id     INTEGER NOT NULL REFERENCES runs(id),
    segment_id INTEGER NOT NULL REFERENCES segments(id),
    code       TEXT NOT NULL,
    score      REAL NOT NULL CHECK (score >= 0 AND score <= 1),
    rank       INTEGER NOT NULL,
    method     TEXT NOT NULL,
    PRIMARY KEY (run_id, segment_id, code)
);

-- Candidate new themes: clusters of segments that matched no code. Proposals, never codes.
CREATE TABLE IF NOT EXISTS theme_proposals (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    proposal    INTEGER NOT NULL,
    label       TEXT NOT NULL,
    keywords    TEXT NOT NULL,            -- JSON list of [word, weight]
    size        INTEGER NOT NULL,
    PRIMARY KEY (run_id, proposal)
);

CREATE TABLE IF NOT EXISTS proposal_members (
    run_id     INTEGER NOT NULL,
    proposal   INTEGER NOT NULL,
    segment_id INTEGER NOT NULL REFERENCES segments(id),
    PRIMARY KEY (run_id, segment_id)
);

-- Append-only log of human decisions; the current coding is derived from it.
-- action: accept | reject | change | add | adjust | undo | import
CREATE TABLE IF NOT EXISTS decisions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    coder       TEXT NOT NULL,
    action      TEXT NOT NULL,
    segment_id  INTEGER REFERENCES segments(id),
    document_id INTEGER REFERENCES documents(id),
    code        TEXT,
    new_code    TEXT,
    start       INTEGER,
    end         INTEGER,
    run_id      INTEGER REFERENCES runs(id),
    undoes      INTEGER REFERENCES decisions(id),
    note        TEXT
);

CREATE TRIGGER IF NOT EXISTS decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS decisions_no_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;

-- Memos (schema version 2): a coder's note on the project, a document, a segment, a code or a
-- decision. Editing appends a version of the same memo; an empty text withdraws it. Append-only.
CREATE TABLE IF NOT EXISTS memos (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    memo        TEXT NOT NULL,            -- the memo's key, the same in every version
    version     INTEGER NOT NULL,
    at          TEXT NOT NULL,
    coder       TEXT NOT NULL,
    target      TEXT NOT NULL,            -- project | document | segment | code | decision
    document    TEXT,                     -- the document's name (document, segment and decision memos)
    segment_id  INTEGER REFERENCES segments(id),
    code        TEXT,
    decision_id INTEGER REFERENCES decisions(id),
    text        TEXT NOT NULL,            -- '' : withdrawn
    UNIQUE (memo, version)
);

CREATE TRIGGER IF NOT EXISTS memos_no_update BEFORE UPDATE ON memos
BEGIN SELECT RAISE(ABORT, 'memos are append-only: write a new version'); END;
CREATE TRIGGER IF NOT EXISTS memos_no_delete BEFORE DELETE ON memos
BEGIN SELECT RAISE(ABORT, 'memos are append-only: write a new version'); END;

-- Sign-in keys of coders, for a review server reachable from other machines: a salted scrypt
-- hash per key, never the key itself. Revoking a key marks it; it is never reused.
CREATE TABLE IF NOT EXISTS coder_keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    coder      TEXT NOT NULL,
    salt       BLOB NOT NULL,
    hash       BLOB NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

-- Embedding cache: nothing is embedded twice by the same model.
CREATE TABLE IF NOT EXISTS embeddings (
    model_id  TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    dim       INTEGER NOT NULL,
    vector    BLOB NOT NULL,              -- float16 (float32 before), L2-normalised
    PRIMARY KEY (model_id, text_hash)
);

CREATE VIEW IF NOT EXISTS current_documents AS
SELECT d.* FROM documents d
WHERE d.version = (SELECT MAX(version) FROM documents d2 WHERE d2.name = d.name);

CREATE VIEW IF NOT EXISTS segment_texts AS
SELECT s.id AS segment_id, substr(d.text, s.start + 1, s.end - s.start) AS text
FROM segments s JOIN documents d ON d.id = s.document_id;

CREATE INDEX IF NOT EXISTS segments_by_document ON segments(document_id, scheme);
CREATE INDEX IF NOT EXISTS suggestions_by_segment ON suggestions(segment_id);
CREATE INDEX IF NOT EXISTS decisions_by_segment ON decisions(segment_id);
CREATE INDEX IF NOT EXISTS memos_by_key ON memos(memo, version);

-- The review queue's orders, each read through an index (store/queue.py). 0.5 is
-- store.runs.OPERATING_THRESHOLD: the queue's ORDER BY must read the same expression.
CREATE INDEX IF NOT EXISTS suggestions_by_distance ON suggestions(run_id, abs(score - 0.5), score DESC);
CREATE INDEX IF NOT EXISTS suggestions_by_score ON suggestions(run_id, score DESC);
CREATE INDEX IF NOT EXISTS suggestions_by_code ON suggestions(run_id, code, abs(score - 0.5));
CREATE INDEX IF NOT EXISTS attributes_by_key ON document_attributes(key, value);

-- Derived, rebuildable: the "teach" order's place of each segment of a complete run (its turn
-- in its document, its summed entropy); written the first time the order is asked for.
CREATE TABLE IF NOT EXISTS queue_teach (
    run_id     INTEGER NOT NULL REFERENCES runs(id),
    segment_id INTEGER NOT NULL,
    turn       INTEGER NOT NULL,
    unsure     REAL NOT NULL,
    PRIMARY KEY (run_id, segment_id)
);
CREATE INDEX IF NOT EXISTS queue_teach_order ON queue_teach(run_id, turn, unsure DESC);

-- Derived, rebuildable: a complete run's figures per code over all its rows (the status page's
-- counts), written the first time they are asked for; the row of code '' counts the run's
-- segments in `suggested`. Rows on superseded document versions are taken off when read.
CREATE TABLE IF NOT EXISTS queue_figures (
    run_id    INTEGER NOT NULL REFERENCES runs(id),
    code      TEXT NOT NULL,
    suggested INTEGER NOT NULL,
    likely    INTEGER NOT NULL,
    PRIMARY KEY (run_id, code)
);
"""


META_SCHEME = "segment_scheme"  # meta key: the project's segmentation scheme


class ProjectError(Exception):
    """A problem with a project folder or its store, worded for the person running the tool."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def db_path(project: str | Path) -> Path:
    return Path(project) / DB_NAME


def init_project(project: str | Path) -> Path:
    """Create the project folder and its database (idempotent). Returns the database path."""
    folder = Path(project)
    if folder.exists() and not folder.is_dir():
        raise ProjectError(f"{folder}: exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    path = db_path(folder)
    with connect(path) as con:
        con.executescript(SCHEMA)
        con.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        con.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('created_at', ?)", (now(),))
        migrate(con)
    return path


def migrate(con: sqlite3.Connection) -> int:
    """Bring an older project's store up to :data:`SCHEMA_VERSION` (``SCHEMA`` has already added
    the new tables; nothing stored changes); returns the version it was at. A store written by a
    newer nlp-theming is refused rather than half-understood."""
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    try:
        was = int(row[0]) if row is not None else SCHEMA_VERSION
    except ValueError:
        was = SCHEMA_VERSION
    if was > SCHEMA_VERSION:
        raise ProjectError(f"this project was written by a newer nlp-theming (schema version {was}; this one "
                           f"knows up to {SCHEMA_VERSION}): upgrade nlp-theming to open it")
    if was < SCHEMA_VERSION:
        # version 2 added the memos table, version 3 coder_keys, version 4 the queue's indexes,
        # queue_teach and queue_figures: SCHEMA created them already
        con.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?) ON CONFLICT(key) DO UPDATE"
                    " SET value = excluded.value", (str(SCHEMA_VERSION),))
    return was


def connect(path: Path, shared: bool = False) -> sqlite3.Connection:
    """A connection with the store's settings, to a database whose schema is known to exist.
    ``shared``: usable from any thread (the caller serialises its use, e.g. with a lock)."""
    con = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=not shared)
    con.row_factory = sqlite3.Row
    # WAL lets a review server read while a suggest run writes; FULL sync makes each
    # committed decision durable the moment it is made.
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA foreign_keys=ON")
    return con


def open_project(project: str | Path) -> sqlite3.Connection:
    """Open an existing project's database; a clear error when it is not a project."""
    path = db_path(project)
    if not path.exists():
        raise ProjectError(f"{project}: not an nlp-theming project (no {DB_NAME}); run `nlp-theming init {project}`")
    con = connect(path)
    con.executescript(SCHEMA)  # tables added by newer versions appear in older projects
    try:
        migrate(con)
    except ProjectError:
        con.close()
        raise
    return con


def project_folder(con: sqlite3.Connection) -> Path | None:
    """The folder of the project whose database ``con`` is open on (None for an in-memory one)."""
    for row in con.execute("PRAGMA database_list"):
        if row[1] == "main" and row[2]:
            return Path(row[2]).parent
    return None


@contextmanager
def transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """All-or-nothing block: either every statement lands or none does."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    else:
        con.execute("COMMIT")


def get_meta(con: sqlite3.Connection, key: str) -> str | None:
    row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_meta(con: sqlite3.Connection, key: str, value: str) -> None:
    con.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value)
    )


@contextmanager
def snapshot(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A read transaction (a WAL snapshot: what others append meanwhile is not half-seen);
    inside a transaction already, that one."""
    own = not con.in_transaction
    if own:
        con.execute("BEGIN")
    try:
        yield con
    finally:
        if own:
            con.execute("COMMIT")


def meta_default(con: sqlite3.Connection, key: str, value: str) -> str:
    """The meta value of ``key``, set to ``value`` first if it has none (first writer wins)."""
    con.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, value))
    return str(get_meta(con, key))
