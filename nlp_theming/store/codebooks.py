"""Codebook versions and their codes, as rows: the codebook stage builds its model from them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from .schema import now, transaction


def latest_version(con: sqlite3.Connection) -> int | None:
    """The newest codebook version, or None when no codebook was loaded."""
    return con.execute("SELECT MAX(version) FROM codebooks").fetchone()[0]


def store_version(
    con: sqlite3.Connection, name: str, content_hash: str, source: str | None, codes: Sequence[dict]
) -> tuple[int, bool]:
    """Store a codebook's codes (dicts: code, parent, description, inclusion, exclusion,
    examples) unless the latest version has the same hash. Returns (version, created)."""
    with transaction(con):
        latest = con.execute("SELECT version, content_hash FROM codebooks ORDER BY version DESC LIMIT 1").fetchone()
        if latest is not None and latest["content_hash"] == content_hash:
            return int(latest["version"]), False
        version = (latest["version"] if latest else 0) + 1
        con.execute(
            "INSERT INTO codebooks(version, name, source_path, content_hash, loaded_at) VALUES (?, ?, ?, ?, ?)",
            (version, name, source, content_hash, now()),
        )
        con.executemany(
            "INSERT INTO codes(codebook_version, position, code, parent, description, inclusion, exclusion, examples)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (version, i, c["code"], c["parent"], c["description"], c["inclusion"], c["exclusion"],
                 json.dumps(list(c["examples"])))
                for i, c in enumerate(codes)
            ],
        )
    return version, True


def read_version(con: sqlite3.Connection, version: int) -> tuple[str, list[dict]] | None:
    """(name, codes in codebook order) of a stored version; None when there is no such version.
    Each code is a dict with code, parent, description, inclusion, exclusion, examples (a list)."""
    meta = con.execute("SELECT name FROM codebooks WHERE version = ?", (version,)).fetchone()
    if meta is None:
        return None
    codes = [
        {
            "code": r["code"],
            "parent": r["parent"],
            "description": r["description"],
            "inclusion": r["inclusion"],
            "exclusion": r["exclusion"],
            "examples": json.loads(r["examples"] or "[]"),
        }
        for r in con.execute("SELECT * FROM codes WHERE codebook_version = ? ORDER BY position", (version,))
    ]
    return str(meta["name"]), codes


def code_row(con: sqlite3.Connection, code: str, version: int | None = None) -> dict | None:
    """One code of a version (default: the latest) as a dict, examples as a list; None if absent."""
    version = latest_version(con) if version is None else version
    row = con.execute("SELECT * FROM codes WHERE codebook_version = ? AND code = ?", (version, code)).fetchone()
    if row is None:
        return None
    out = dict(row)
    out["examples"] = json.loads(out["examples"] or "[]")
    return out


def code_names(con: sqlite3.Connection, version: int | None = None) -> list[str]:
    """The codes of a version (default: the latest), in codebook order."""
    version = latest_version(con) if version is None else version
    return [r[0] for r in con.execute(
        "SELECT code FROM codes WHERE codebook_version = ? ORDER BY position", (version,))]


def all_code_names(con: sqlite3.Connection) -> list[str]:
    """Every code of every codebook version, each once (a decision may outlive a version)."""
    return [r[0] for r in con.execute("SELECT DISTINCT code FROM codes ORDER BY code")]
