"""Coders' sign-in keys for a review server reachable from other machines.

A key is made here, shown once, and kept only as a salted scrypt hash, so a copy of the
project's database does not let anyone sign in. On this machine alone (the default) nobody
signs in: the server answers only to localhost, and a coder is who they say they are.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3

from .schema import now, transaction

# scrypt's cost: about 50 ms and 16 MB per check on a laptop, so guessing keys is slow even
# for someone holding the database; a key is 128 random bits anyway.
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
KEY_BYTES = 16


def _hash(key: str, salt: bytes) -> bytes:
    return hashlib.scrypt(key.encode("utf-8"), salt=salt, **SCRYPT)


def add_key(con: sqlite3.Connection, coder: str) -> str:
    """A new sign-in key for ``coder`` (their earlier keys stay valid); returned once, stored hashed."""
    key = secrets.token_urlsafe(KEY_BYTES)
    salt = secrets.token_bytes(16)
    with transaction(con):
        con.execute("INSERT INTO coder_keys(coder, salt, hash, created_at) VALUES (?, ?, ?, ?)",
                    (coder, salt, _hash(key, salt), now()))
    return key


def revoke_keys(con: sqlite3.Connection, coder: str) -> int:
    """Revoke every key of ``coder``; returns how many were in force."""
    with transaction(con):
        cur = con.execute("UPDATE coder_keys SET revoked_at = ? WHERE coder = ? AND revoked_at IS NULL",
                          (now(), coder))
    return cur.rowcount


def key_coders(con: sqlite3.Connection) -> list[str]:
    """Coders holding a key in force."""
    return [r[0] for r in con.execute("SELECT DISTINCT coder FROM coder_keys WHERE revoked_at IS NULL ORDER BY coder")]


def check_key(con: sqlite3.Connection, coder: str, key: str) -> bool:
    """Whether ``key`` is one of ``coder``'s keys in force (compared in constant time)."""
    rows = con.execute("SELECT salt, hash FROM coder_keys WHERE coder = ? AND revoked_at IS NULL", (coder,)).fetchall()
    found = False
    for salt, stored in rows:
        found |= hmac.compare_digest(_hash(key, bytes(salt)), bytes(stored))
    return found
