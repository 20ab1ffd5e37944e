"""Read a Taguette project database (SQLite) into documents and coded highlights.

Only the database tables are read (projects, documents, tags, highlights, highlight_tags,
commands, project_members); no Taguette code is used.  Taguette keeps each document as HTML and
each highlight as UTF-8 *byte* offsets into the document's text with the markup removed, plus a
snippet of the highlighted HTML.  We return plain text (markup removed, entities decoded) and
*character* offsets into it.  Offsets can drift from the text (edited documents, older versions,
imports), so each highlight is checked against its snippet: when the offsets do not select the
snippet's text, the snippet is searched for in the document, the occurrence nearest the stored
offset winning (so a nearby match is preferred to one elsewhere), first verbatim and then ignoring
differences in whitespace.  Highlights that cannot be placed are reported in ``problems``, not raised.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd

from ..textio import InputError, clean_name

__all__ = ["TaguetteError", "TaguetteProject", "html_to_text", "read_taguette"]

_REQUIRED_TABLES = ("projects", "documents", "tags", "highlights", "highlight_tags")


class TaguetteError(InputError):
    """The file is not a readable Taguette project (names the file and the problem)."""


@dataclass
class TaguetteProject:
    """A Taguette project: plain-text documents and located highlights (one row per highlight x tag)."""

    name: str
    description: str
    documents: pd.DataFrame  # document (Taguette id), name, text
    highlights: pd.DataFrame  # document, start, end, code, coder, text, highlight_id, located
    tags: pd.DataFrame  # code, description
    problems: list[str] = field(default_factory=list)
    location_counts: dict[str, int] = field(default_factory=dict)  # highlights by "offset"/"search"/"missing"


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """The text content of an HTML fragment: markup dropped, entities decoded, whitespace kept.

    This is the text Taguette's offsets count in (its documents keep line breaks as text between
    block elements, so nothing needs inserting).
    """
    parser = _TextCollector()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def _char_byte_starts(text: str) -> np.ndarray:
    """UTF-8 byte offset of every character, plus the total length at the end."""
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    nbytes = 1 + (cps >= 0x80) + (cps >= 0x800) + (cps >= 0x10000)
    return np.concatenate([[0], np.cumsum(nbytes)]).astype(np.int64)


def _byte_to_char(starts: np.ndarray, offset: int) -> int | None:
    """Character index at a UTF-8 byte offset, or None if the offset is not on a character boundary."""
    if offset < 0 or offset > starts[-1]:
        return None
    i = int(np.searchsorted(starts, offset))
    return i if starts[i] == offset else None


def _nearest(positions: list[int], target: int) -> int | None:
    return min(positions, key=lambda p: (abs(p - target), p)) if positions else None


def _locate(text: str, starts: np.ndarray, start_b: int, end_b: int, snippet: str) -> tuple[int, int, str] | None:
    """(start, end, how) in characters, how = "offset" or "search"; None when not found."""
    s = _byte_to_char(starts, start_b)
    e = _byte_to_char(starts, end_b)
    if s is not None and e is not None and s < e and (text[s:e] == snippet or not snippet.strip()):
        return s, e, "offset"
    if not snippet.strip():
        return None
    # Where the highlight should be, in characters (offsets past the end clamp to the end).
    target = s if s is not None else int(np.searchsorted(starts, min(max(start_b, 0), int(starts[-1]))))
    found: list[int] = []
    i = text.find(snippet)
    while i >= 0:
        found.append(i)
        i = text.find(snippet, i + 1)
    best = _nearest(found, target)
    if best is not None:
        return best, best + len(snippet), "search"
    # Same words, different whitespace (e.g. a snippet saved with other line breaks).
    pattern = re.compile(r"\s+".join(re.escape(t) for t in snippet.split()))
    matches = {m.start(): m.end() for m in pattern.finditer(text)}
    best = _nearest(list(matches), target)
    if best is not None:
        return best, matches[best], "search"
    return None


def _connect(path: str | Path) -> sqlite3.Connection:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    # Read-only URI so that reading never modifies (or creates) the user's project file.
    con = sqlite3.connect(p.resolve().as_uri() + "?mode=ro", uri=True)
    # TEXT that is not UTF-8 comes back as bytes, to be refused by name rather than crash a cursor
    con.text_factory = lambda raw: _decoded(raw)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        con.close()
        raise TaguetteError(f"{path}: not an SQLite database ({exc})") from None
    missing = [t for t in _REQUIRED_TABLES if t not in tables]
    if missing:
        con.close()
        raise TaguetteError(f"{path}: not a Taguette project database (missing table(s): {', '.join(missing)})")
    return con


def _decoded(raw: bytes) -> str | bytes:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def _rows(con: sqlite3.Connection, path: str | Path, what: str, sql: str, args: tuple = ()) -> list[tuple]:
    """Rows of a query; a damaged database or a table without the expected columns is one line."""
    try:
        return con.execute(sql, args).fetchall()
    except sqlite3.Error as exc:
        raise TaguetteError(f"{path}: the {what} cannot be read ({exc}): damaged, or not a Taguette database"
                            ) from None


def _whole(value: object) -> int | None:
    """An id or offset as Taguette stores it (an integer); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**62:
        return int(value)
    return None


def _text(value: object) -> str | None:
    """A TEXT cell as text (numbers as written); None for NULL and for bytes that are not UTF-8."""
    if value is None or isinstance(value, bytes):
        return None
    return str(value)


def _coders(con: sqlite3.Connection, path: str | Path, project_id: object) -> tuple[dict[int, str], str]:
    """Who created each highlight (from the command log), and a fallback login."""
    tables = {r[0] for r in _rows(con, path, "table list", "SELECT name FROM sqlite_master WHERE type = 'table'")}
    by_highlight: dict[int, str] = {}
    if "commands" in tables:
        rows = _rows(con, path, "command log",
                     "SELECT user_login, payload FROM commands WHERE project_id = ? ORDER BY id", (project_id,))
        for login, payload in rows:
            login = clean_name(_text(login))
            try:
                data = json.loads(payload)
            except (TypeError, ValueError, RecursionError):
                continue
            if not (login and isinstance(data, dict) and data.get("type") == "highlight_add"):
                continue
            hid = _whole(data.get("highlight_id"))
            if hid is not None:
                # Later commands win: a highlight edited by someone else was last coded by them.
                by_highlight[hid] = login
    fallback = "taguette"
    if "project_members" in tables:
        members = [clean_name(_text(r[0])) for r in _rows(
            con, path, "project members", "SELECT user_login FROM project_members WHERE project_id = ?", (project_id,))]
        if len(members) == 1 and members[0]:
            fallback = members[0]
    return by_highlight, fallback


def _document_text(path: str | Path, doc_id: int, name: str, contents: object) -> str:
    """A document's plain text; a document whose contents cannot be text is refused by name."""
    if contents is None:
        return ""
    if isinstance(contents, bytes):
        raise TaguetteError(f"{path}: document {doc_id} ({name!r}): its contents are not UTF-8 text")
    try:
        return html_to_text(str(contents))
    except (ValueError, AssertionError, RecursionError) as exc:  # HTMLParser on markup it cannot take
        raise TaguetteError(f"{path}: document {doc_id} ({name!r}): its HTML cannot be read ({exc})") from None


def read_taguette(path: str | Path, project: int | str | None = None) -> TaguetteProject:
    """Read a Taguette SQLite project: documents as plain text, highlights with character offsets.

    ``project`` selects a project by id or name when the database holds several.  ``highlights``
    has one row per highlight and tag: document (Taguette document id), start, end (characters,
    end exclusive, into ``documents.text``), code (tag path), coder (the login that created the
    highlight, from Taguette's command log; the sole project member otherwise), text (the plain
    text slice), highlight_id and located ("offset" or "search").  ``location_counts`` counts
    highlights (not highlight x tag rows) by how they were located, including "missing".

    A database that cannot be read (damaged, tables without their columns) or a document that
    cannot be (contents that are not text, an id that is not a number) raises
    :class:`TaguetteError` naming the file and the document; a highlight that cannot be placed
    (offsets that are not numbers, text not found, no tags) is a line in ``problems``. Names
    (documents, tags, logins) come through :func:`~nlp_theming.textio.clean_name`.
    """
    con = _connect(path)
    try:
        projects = _rows(con, path, "projects", "SELECT id, name, description FROM projects ORDER BY id")
        if project is None:
            if len(projects) != 1:
                names = ", ".join(f"{i}: {clean_name(n)!r}" for i, n, _ in projects[:10]) or "none"
                raise TaguetteError(f"{path}: {len(projects)} projects in the database ({names}); pass project=")
            chosen = projects[0]
        else:
            matches = [p for p in projects if p[0] == project or p[1] == project]
            if not matches:
                raise TaguetteError(f"{path}: no project {project!r}")
            chosen = matches[0]
        project_id, project_name, project_description = chosen

        doc_rows = _rows(con, path, "documents",
                         "SELECT id, name, contents FROM documents WHERE project_id = ? ORDER BY id", (project_id,))
        tag_rows = _rows(con, path, "tags", "SELECT id, path, description FROM tags WHERE project_id = ?",
                         (project_id,))
        link_rows = _rows(
            con, path, "highlight tags",
            "SELECT ht.highlight_id, ht.tag_id FROM highlight_tags ht "
            "JOIN highlights h ON h.id = ht.highlight_id JOIN documents d ON d.id = h.document_id "
            "WHERE d.project_id = ?",
            (project_id,),
        )
        hl_rows = _rows(
            con, path, "highlights",
            "SELECT h.id, h.document_id, h.start_offset, h.end_offset, h.snippet FROM highlights h "
            "JOIN documents d ON d.id = h.document_id WHERE d.project_id = ? ORDER BY h.document_id, h.id",
            (project_id,),
        )
        coder_of, fallback = _coders(con, path, project_id)
    finally:
        con.close()

    texts: dict[int, str] = {}
    names: dict[int, str] = {}
    for doc_id, name, contents in doc_rows:
        shown = clean_name(_text(name)) or f"document {doc_id}"
        if _whole(doc_id) is None:
            raise TaguetteError(f"{path}: document {clean_name(doc_id)!r} ({shown!r}): its id is not a number")
        names[doc_id] = shown
        texts[doc_id] = _document_text(path, doc_id, shown, contents)
    documents = pd.DataFrame(
        {
            "document": pd.Series(list(texts), dtype="int64"),
            "name": pd.Series([names[d] for d in texts], dtype=object),
            "text": pd.Series(list(texts.values()), dtype=object),
        }
    )
    problems: list[str] = []
    tag_path: dict[object, str] = {}
    for tid, tag, _ in tag_rows:
        code = clean_name(_text(tag))
        if code:
            tag_path[tid] = code
        else:
            problems.append(f"tag {clean_name(tid)!r}: no name (or not UTF-8 text); its highlights keep their other"
                            " tags")
    described = {}
    for tid, _, description in tag_rows:
        if tid in tag_path:
            described.setdefault(tag_path[tid], _text(description) or "")
    tags = pd.DataFrame({"code": sorted(described), "description": [described[c] for c in sorted(described)]},
                        dtype=object)
    tags_of: dict[object, list[str]] = {}
    for hid, tid in link_rows:
        if tid in tag_path and tag_path[tid] not in tags_of.get(hid, []):
            tags_of.setdefault(hid, []).append(tag_path[tid])

    counts: Counter[str] = Counter({"offset": 0, "search": 0, "missing": 0})
    out: list[tuple] = []
    starts_cache: dict[int, np.ndarray] = {}
    for hid, doc_id, start_b, end_b, snippet_html in hl_rows:
        label = f"highlight {clean_name(hid)} in document {doc_id} ({names[doc_id]!r})"
        start, end = _whole(start_b), _whole(end_b)
        if _whole(hid) is None or start is None or end is None:
            what = "its id" if _whole(hid) is None else "its offsets"
            problems.append(f"{label}: {what} ({clean_name(start_b)!r}, {clean_name(end_b)!r}) not whole numbers;"
                            " left out")
            counts["missing"] += 1
            continue
        text = texts[doc_id]
        if doc_id not in starts_cache:
            starts_cache[doc_id] = _char_byte_starts(text)
        try:
            snippet = html_to_text(_text(snippet_html) or "")
        except (ValueError, AssertionError, RecursionError):
            snippet = ""
        found = _locate(text, starts_cache[doc_id], start, end, snippet)
        if found is None:
            counts["missing"] += 1
            short = " ".join(snippet.split())
            short = short[:80] + ("..." if len(short) > 80 else "")
            problems.append(f"{label}: text not found (bytes {start}-{end}): {short!r}")
            continue
        s, e, how = found
        counts[how] += 1
        codes = tags_of.get(hid, [])
        if not codes:
            problems.append(f"{label}: has no tags; left out")
            continue
        coder = coder_of.get(hid, fallback)
        for code in sorted(codes):
            out.append((doc_id, s, e, code, coder, text[s:e], hid, how))
    highlights = pd.DataFrame(
        out, columns=["document", "start", "end", "code", "coder", "text", "highlight_id", "located"]
    )
    highlights = highlights.astype({"document": "int64", "start": "int64", "end": "int64", "highlight_id": "int64"})
    return TaguetteProject(
        name=clean_name(_text(project_name)) or "Taguette project",
        description=_text(project_description) or "",
        documents=documents,
        highlights=highlights,
        tags=tags,
        problems=problems,
        location_counts=dict(counts),
    )
