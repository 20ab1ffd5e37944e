"""CSRF protection for the review server: every state-changing request carries a token.

A browser session gets a random id in a cookie; its token is an HMAC of that id under a
secret kept in the project store, so a page left open across a server restart still works,
and another site (which can make the browser send the cookie but cannot read it or the page)
cannot produce the token. Requests whose Origin names another site are refused as well.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from urllib.parse import urlsplit

from ..store.schema import meta_default

SESSION_COOKIE = "nlp_theming_session"
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
_META_KEY = "review_csrf_secret"


def project_secret(con: sqlite3.Connection) -> bytes:
    """The project's CSRF secret, created on first use."""
    return bytes.fromhex(meta_default(con, _META_KEY, secrets.token_hex(32)))


def new_session_id() -> str:
    return secrets.token_urlsafe(24)


def token_for(secret: bytes, session_id: str) -> str:
    return hmac.new(secret, session_id.encode(), hashlib.sha256).hexdigest()


def valid(secret: bytes, session_id: str | None, token: str | None) -> bool:
    if not session_id or not token:
        return False
    return hmac.compare_digest(token_for(secret, session_id), token)


def same_origin(origin: str | None, host: str | None) -> bool:
    """True when there is no Origin header (old browsers, curl) or it names this server."""
    if not origin:
        return True
    if origin == "null":
        return False
    return urlsplit(origin).netloc == (host or "")
