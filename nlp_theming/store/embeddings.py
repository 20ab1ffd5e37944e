"""The embedding cache: nothing is embedded twice by the same model.

Vectors are float32 blobs keyed by (model id, sha256 of the text). A project keeps its cache
in its own store; work outside a project (``evaluate``) opens a stand-alone cache file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .schema import SCHEMA, transaction


def open_cache(path: str | Path) -> sqlite3.Connection:
    """A stand-alone embedding cache: a SQLite file with only the ``embeddings`` table."""
    con = sqlite3.connect(path, isolation_level=None)
    start = SCHEMA.index("CREATE TABLE IF NOT EXISTS embeddings")
    con.executescript(SCHEMA[start : SCHEMA.index(";", start) + 1])
    return con


def cached_vectors(con: sqlite3.Connection, model_id: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
    """text hash -> vector, for the hashes the cache holds for ``model_id``."""
    out: dict[str, np.ndarray] = {}
    keys = list(hashes)
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        rows = con.execute(
            "SELECT text_hash, vector FROM embeddings WHERE model_id = ?"
            f" AND text_hash IN ({','.join('?' * len(chunk))})",
            [model_id, *chunk],
        )
        for h, blob in rows:
            out[h] = np.frombuffer(blob, dtype=np.float32)
    return out


def store_vectors(con: sqlite3.Connection, model_id: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
    """Add vectors to the cache in one small transaction (a run killed half-way keeps what it embedded)."""
    with transaction(con):
        con.executemany(
            "INSERT OR IGNORE INTO embeddings(model_id, text_hash, dim, vector) VALUES (?, ?, ?, ?)",
            [(model_id, h, v.shape[0], v.astype(np.float32).tobytes()) for h, v in zip(hashes, vectors, strict=True)],
        )


def cache_size(con: sqlite3.Connection, model_id: str | None = None) -> int:
    """How many vectors the cache holds (for ``model_id``, when given)."""
    if model_id is None:
        return int(con.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])
    return int(con.execute("SELECT COUNT(*) FROM embeddings WHERE model_id = ?", (model_id,)).fetchone()[0])
