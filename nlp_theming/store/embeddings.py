"""The embedding cache: nothing is embedded twice by the same model.

Vectors are float16 blobs keyed by (model id, sha256 of the text): half the bytes of float32
(a million vectors in about 770 MB, not 1.5 GB) at a cosine change of at most 3e-7
(docs/scale.md). A blob's dtype follows from its length and ``dim``, so a cache written as
float32 before still reads. A project keeps its cache in its own store; work outside a project
(``evaluate``) opens a stand-alone cache file.
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
            "SELECT text_hash, dim, vector FROM embeddings WHERE model_id = ?"
            f" AND text_hash IN ({','.join('?' * len(chunk))})",
            [model_id, *chunk],
        )
        for h, dim, blob in rows:
            out[h] = blob_vector(blob, dim)
    return out


#: the dtype vectors are stored in
STORED_DTYPE = np.float16


def as_stored(vectors: np.ndarray) -> np.ndarray:
    """Vectors rounded through the stored dtype and L2-normalised again in float32 (rounding moves
    a norm by up to 3e-5): what the cache gives back for them, so a vector is the same whether
    it was just embedded or read from the cache, and a dot product stays a cosine."""
    out = np.asarray(vectors).astype(STORED_DTYPE).astype(np.float32)
    norms = np.linalg.norm(out, axis=-1, keepdims=True)
    return out / np.maximum(norms, np.float32(1e-12))


def blob_vector(blob: bytes, dim: int) -> np.ndarray:
    """A stored vector as float32: float16 blobs (2 bytes a value), and older float32 ones (4)
    rounded as a float16 blob would be, so the cache's age never changes a result."""
    dtype = np.float32 if len(blob) == 4 * int(dim) else STORED_DTYPE
    return as_stored(np.frombuffer(blob, dtype=dtype))


def store_vectors(con: sqlite3.Connection, model_id: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
    """Add vectors to the cache in one small transaction (a run killed half-way keeps what it embedded)."""
    with transaction(con):
        con.executemany(
            "INSERT OR IGNORE INTO embeddings(model_id, text_hash, dim, vector) VALUES (?, ?, ?, ?)",
            [(model_id, h, v.shape[0], v.astype(STORED_DTYPE).tobytes()) for h, v in zip(hashes, vectors, strict=True)],
        )


def cache_size(con: sqlite3.Connection, model_id: str | None = None) -> int:
    """How many vectors the cache holds (for ``model_id``, when given)."""
    if model_id is None:
        return int(con.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])
    return int(con.execute("SELECT COUNT(*) FROM embeddings WHERE model_id = ?", (model_id,)).fetchone()[0])
