"""Fuzzing: seed files of every format, mutations of them, and the reader or importer each goes through.

Used by ``scripts/fuzz.py`` (thousands of inputs, each in a worker process under time and memory
limits) and ``tests/test_fuzz.py`` (Hypothesis, a few seconds). Every seed is SYNTHETIC: written
here or by the suite's own fixture writers (``tests/helpers/formats.py``, ``tests/helpers/review.py``,
``tests/fixtures/layouts``, ``tests/fixtures/qda``).

An input ends in one of these outcomes:

* ``clean``: the package's :class:`~nlp_theming.textio.InputError` (every reader's and importer's
  documented error derives from it), in one line;
* ``ok``: read or imported (problems with single rows are reported in the result, not raised);
* ``traceback``: any other exception, or a clean error spread over several lines;
* ``partial``: an importer that refused the file but left the project changed;
* ``unclean``: a name stored from the file (document, coder, code) that carries control characters;
* ``timeout`` and ``memory`` (decided by the runner: over the time limit, or out of address space).
"""

from __future__ import annotations

import io
import json
import random
import re
import shutil
import sqlite3
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
OUTCOMES = ("clean", "ok", "traceback", "partial", "unclean", "timeout", "memory")
# What a name read from a file must never carry to a terminal: C0/C1 controls (ESC, BEL, ...) and
# the bidirectional overrides and isolates that reorder what is shown (U+202E and its kin).
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
HOSTILE_NAME = "Dr\x1b[31m\x07 Evil\u202eRTL"

# ---------------------------------------------------------------------------- seeds


@dataclass(frozen=True)
class Seed:
    path: Path
    targets: tuple[str, ...]


# The tables and columns of a Taguette project the reader uses (written here, not copied).
TAGUETTE_SCHEMA = """
CREATE TABLE projects (id INTEGER PRIMARY KEY, name TEXT, description TEXT);
CREATE TABLE project_members (project_id INTEGER, user_login TEXT, privileges TEXT);
CREATE TABLE documents (id INTEGER PRIMARY KEY, name TEXT, project_id INTEGER, contents TEXT);
CREATE TABLE tags (id INTEGER PRIMARY KEY, project_id INTEGER, path TEXT, description TEXT);
CREATE TABLE highlights (id INTEGER PRIMARY KEY, document_id INTEGER, start_offset INTEGER,
                         end_offset INTEGER, snippet TEXT);
CREATE TABLE highlight_tags (highlight_id INTEGER, tag_id INTEGER);
CREATE TABLE commands (id INTEGER PRIMARY KEY, user_login TEXT, project_id INTEGER, payload TEXT);
"""


def taguette_db(path: Path) -> Path:
    """A small SYNTHETIC Taguette project: two documents, three tags, four highlights, two coders."""
    from nlp_theming.exchange.taguette import html_to_text

    con = sqlite3.connect(path)
    con.executescript(TAGUETTE_SCHEMA)
    con.execute("INSERT INTO projects VALUES (1, 'SYNTHETIC study', 'fuzzing seed')")
    con.executemany("INSERT INTO project_members VALUES (1, ?, 'ADMIN')", [("ann",), ("ben",)])
    docs = {
        10: "<p>Interviewer: How did you become a lead?</p>\n<p>Dr Ahn: Nobody else applied. Café &amp; crème.</p>",
        11: "<p>Interviewer: Any training?</p>\n<p>Ms Roy: A two-day course on budgets, then coaching.</p>",
    }
    for doc_id, html in docs.items():
        con.execute("INSERT INTO documents VALUES (?, ?, 1, ?)", (doc_id, f"interview-{doc_id}.docx", html))
    con.executemany("INSERT INTO tags VALUES (?, 1, ?, ?)",
                    [(1, "Selection", "coming into the role"), (2, "Training", ""), (3, "Food", "")])
    rows = []
    for hid, (doc_id, piece) in enumerate([(10, "Nobody else applied"), (10, "Café & crème"),
                                           (11, "A two-day course"), (11, "coaching")], start=1):
        text = html_to_text(docs[doc_id])
        start = len(text[: text.index(piece)].encode("utf-8"))
        rows.append((hid, doc_id, start, start + len(piece.encode("utf-8")), piece))
    con.executemany("INSERT INTO highlights VALUES (?, ?, ?, ?, ?)", rows)
    con.executemany("INSERT INTO highlight_tags VALUES (?, ?)", [(1, 1), (2, 3), (3, 2), (4, 2), (4, 1)])
    con.executemany("INSERT INTO commands (user_login, project_id, payload) VALUES (?, 1, ?)",
                    [("ann", json.dumps({"type": "highlight_add", "highlight_id": h})) for h in (1, 2)]
                    + [("ben", json.dumps({"type": "highlight_add", "highlight_id": h})) for h in (3, 4)])
    con.commit()
    con.close()
    return path


def _yaml_codebook(path: Path) -> Path:
    from tests.helpers.review import CODEBOOK

    groups: dict[str, list] = {}
    for code, group, description, inclusion, _, examples in CODEBOOK:
        groups.setdefault(group, []).append({"code": code, "description": description, "inclusion": inclusion,
                                             "examples": examples.split(" | ")})
    import yaml

    body = {"codes": [{"code": g, "children": kids} for g, kids in groups.items()]}
    path.write_text("# SYNTHETIC codebook for fuzzing\n" + yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def build_seeds(folder: Path, with_run: bool = True) -> tuple[list[Seed], Path]:
    """Write a seed file of every format and build the project importers work on (a copy per input).

    Returns the seeds and the base project. ``with_run``: one real suggest run (the embedding model,
    about a minute), so that a review sheet can be exported; without it there is no sheet seed.
    """
    from nlp_theming import Project
    from nlp_theming.exchange.coded import write_span_csv
    from nlp_theming.store.documents import current_texts
    from tests.helpers.formats import write_all
    from tests.helpers.review import write_sources

    folder.mkdir(parents=True, exist_ok=True)
    seeds: list[Seed] = []
    for path in write_all(folder / "formats").values():
        ingest = ("ingest",) if path.suffix in (".txt", ".vtt", ".json", ".csv", ".docx", ".srt") else ()
        seeds.append(Seed(path, ("transcript", *ingest)))
    for path in sorted((FIXTURES / "layouts").iterdir()):
        if path.suffix in (".txt", ".md", ".docx", ".odt", ".vtt"):
            seeds.append(Seed(path, ("transcript",)))
    transcripts, manifest, codebook = write_sources(folder / "sources")
    seeds += [Seed(manifest, ("manifest",)), Seed(codebook, ("codebook",)),
              Seed(FIXTURES / "qda" / "codebook.csv", ("codebook",)),
              Seed(_yaml_codebook(folder / "codebook.yaml"), ("codebook",))]
    for path in sorted((FIXTURES / "qda").iterdir()):
        if path.suffix in (".csv", ".xlsx") and path.name != "codebook.csv":
            seeds.append(Seed(path, ("qda-table", "import-qda")))
    tag = taguette_db(folder / "study.sqlite3")
    seeds.append(Seed(tag, ("taguette", "import-taguette", "taguette-units")))

    base = folder / "base-project"
    with Project.init(base) as p:
        report = p.ingest([transcripts, FIXTURES / "qda" / "transcripts"], manifest)
        assert not report.failed, report.failed
        p.load_codebook(codebook)
        texts = current_texts(p.con)
        rows = []
        for (doc, text), (code, coder) in zip(sorted(texts.items())[:4], [("Time and workload", "ann"),
                                              ("Hierarchy and voice", "ben"), ("Training and development", "ann"),
                                              ("Selection and credibility", "ben")], strict=False):
            start = text.index("\n") + 1
            rows.append((doc, start, start + 60, code, coder, text[start:start + 60]))
        import pandas as pd

        spans = pd.DataFrame(rows, columns=["document", "start", "end", "code", "coder", "text"])
        write_span_csv(spans, folder / "spans.csv")
        seeds.append(Seed(folder / "spans.csv", ("spans", "import-spans")))
        p.import_coding(folder / "spans.csv", "spans")
        p.coded_units(folder / "units.csv")
        seeds.append(Seed(folder / "units.csv", ("units", "import-units")))
        p.export_qdpx(folder / "project.qdpx")
        seeds.append(Seed(folder / "project.qdpx", ("qdpx", "check-qdpx", "import-qdpx")))
        p.export_qdc(folder / "codebook.qdc")
        seeds.append(Seed(folder / "codebook.qdc", ("qdc", "import-qdc")))
        if with_run:
            from nlp_theming.suggest import SuggestConfig

            p.suggest(SuggestConfig(seed=0, discover=False, matcher="zeroshot"))
            p.export_sheet("ann", folder / "sheet.csv")
            p.export_sheet("ann", folder / "sheet.xlsx")
            seeds += [Seed(folder / "sheet.csv", ("sheet", "import-sheet")),
                      Seed(folder / "sheet.xlsx", ("sheet", "import-sheet"))]
    return seeds, base


# ---------------------------------------------------------------------------- mutations

Mutator = Callable[[bytes, random.Random], bytes]
SPECIAL = [b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"\x1b[2J", b"\x07", "\u202e".encode(), b'"', b",", b";", b"\t",
           b"\r", b"\n\n", b"-->", b"<", b"&", b"]]>", b"\xc3", b"\xed\xa0\x80", b"{", b"[", b"- ", b"*", b"&a ",
           b"|", b"\\", b"%s", b"=cmd|' /C calc'!A0", b"1e400", b"nan", b"-inf", b"-5", b"9" * 400]


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def bit_flips(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.choice((1, 2, 4, 16, 64))):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def insert_bytes(data: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(data) + 1)
    piece = rng.choice(SPECIAL) if rng.random() < 0.7 else rng.randbytes(rng.randint(1, 32))
    return data[:i] + piece * rng.choice((1, 1, 3, 100)) + data[i:]


def delete_range(data: bytes, rng: random.Random) -> bytes:
    if len(data) < 2:
        return data
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.randint(1, min(200, len(data) - i)):]


def duplicate_range(data: bytes, rng: random.Random) -> bytes:
    if len(data) < 2:
        return data
    i = rng.randrange(len(data))
    piece = data[i:i + rng.randint(1, 400)]
    return data[:i] + piece * rng.choice((2, 10, 1000)) + data[i:]


def huge_line(data: bytes, rng: random.Random) -> bytes:
    """One line of 200,000 to 3,000,000 characters (under the file-size limit)."""
    i = data.find(b"\n", rng.randrange(len(data) + 1))
    i = len(data) if i < 0 else i
    word = rng.choice((b"word ", b"x", b"\xc3\xa9", b"a,", b"<b>", b"0"))
    return data[:i] + word * (rng.choice((200_000, 1_100_000, 3_000_000)) // len(word)) + data[i:]


def huge_number(data: bytes, rng: random.Random) -> bytes:
    """A run of digits replaced by thousands of digits, or by a non-finite or negative number."""
    runs = list(re.finditer(rb"\d+(\.\d+)?", data))
    if not runs:
        return data
    m = rng.choice(runs)
    new = rng.choice((b"9" * rng.choice((400, 5000, 100_000)), b"1e400", b"nan", b"inf", b"-inf", b"-5", b"-0",
                      b"1" + b"0" * 30, b"0x1f", b"\xd9\xa3"))
    return data[: m.start()] + new + data[m.end():]


def deep_nesting(data: bytes, rng: random.Random) -> bytes:
    depth = rng.choice((1000, 100_000))
    opener, closer = rng.choice(((b"[", b"]"), (b"{\"a\":", b"}"), (b"<a>", b"</a>"), (b"- ", b""),
                                 (b"&x", b""), (b"<v ", b">")))
    i = rng.randrange(len(data) + 1)
    return data[:i] + opener * depth + closer * depth + data[i:]


def reencode(data: bytes, rng: random.Random) -> bytes:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data[::-1]
    enc = rng.choice(("utf-16-le", "utf-16-be", "utf-32", "cp1252", "latin-1", "shift_jis", "utf-7"))
    return text.encode(enc, errors="replace")


def control_names(data: bytes, rng: random.Random) -> bytes:
    """A name-like word (capitalised, or before a colon) gets terminal escapes and a bidi override."""
    found = list(re.finditer(rb"[A-Z][a-z]+", data))
    if not found:
        return data
    m = rng.choice(found)
    return data[: m.start()] + HOSTILE_NAME.encode("utf-8") + data[m.end():]


BYTE_MUTATORS: list[Mutator] = [truncate, bit_flips, insert_bytes, delete_range, duplicate_range, huge_line,
                                huge_number, deep_nesting, reencode, control_names]
XML_ATTACKS = [
    b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    b'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    b'<!DOCTYPE x SYSTEM "http://example.invalid/x.dtd">',
]


def _members(data: bytes) -> list[tuple[zipfile.ZipInfo, bytes]] | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return [(i, z.read(i)) for i in z.infolist()]
    except Exception:
        return None


def _zip(items: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    import warnings

    with warnings.catch_warnings(), zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        warnings.simplefilter("ignore")  # duplicate names are one of the mutations
        for name, body in items:
            z.writestr(name, body)
    return out.getvalue()


def zip_mutation(data: bytes, rng: random.Random) -> bytes:
    """A mutation of a zip container (.docx, .odt, .xlsx, .qdpx): its members, not its bytes."""
    members = _members(data)
    if not members:
        return rng.choice(BYTE_MUTATORS)(data, rng)
    items = [(i.filename, body) for i, body in members]
    k = rng.randrange(len(items))
    name, body = items[k]
    kind = rng.choice(("bomb", "duplicate", "climb", "drop", "member", "member", "member", "xml", "xml", "big"))
    if kind == "bomb":
        items.append((f"word/bomb{rng.randrange(9)}.xml", b" " * rng.choice((2 << 20, 300 << 20))))
    elif kind == "duplicate":
        items.append((name, rng.choice(BYTE_MUTATORS)(body, rng)))
    elif kind == "climb":
        items.append((rng.choice(("../../evil.txt", "/etc/x.xml", "C:/x.xml", "sources/../../y.txt")), b"x"))
    elif kind == "drop":
        del items[k]
    elif kind == "member":
        items[k] = (name, rng.choice(BYTE_MUTATORS)(body, rng))
    elif kind == "big":
        items[k] = (name, huge_line(body, rng))
    else:
        xml = [j for j, (n, _) in enumerate(items) if n.endswith((".xml", ".qde", ".rels"))] or [k]
        j = rng.choice(xml)
        n, b = items[j]
        head, sep, rest = b.partition(b"?>")
        attack = rng.choice(XML_ATTACKS)
        b = head + sep + attack + rest if sep else attack + b
        if rng.random() < 0.5:
            b = b.replace(b">", b">&b;", 1) if b"&b;" not in b else b
        items[j] = (n, b)
    return _zip(items)


def raw_zip_damage(data: bytes, rng: random.Random) -> bytes:
    """Damage where zip readers look: the central directory at the end, or a local header."""
    if len(data) < 64:
        return bit_flips(data, rng)
    out = bytearray(data)
    where = rng.choice((len(out) - rng.randint(1, 60), rng.randrange(30), out.find(b"PK\x01\x02") + rng.randrange(46)))
    where = max(0, min(len(out) - 1, where))
    out[where] = rng.randrange(256)
    return bytes(out)


def sqlite_pages(data: bytes, rng: random.Random) -> bytes:
    """Damaged database pages: bytes overwritten inside a page, a header field, or a page cut off."""
    out = bytearray(data)
    page = int.from_bytes(data[16:18], "big") or 4096 if len(data) > 100 else 4096
    pages = max(1, len(out) // max(page, 512))
    choice = rng.choice(("page", "header", "cut"))
    if choice == "cut":
        return bytes(out[: page * rng.randrange(pages)])
    start = rng.randrange(100) if choice == "header" else rng.randrange(pages) * page + rng.randrange(min(page, 64))
    for i in range(start, min(len(out), start + rng.choice((1, 4, 32)))):
        out[i] = rng.randrange(256)
    return bytes(out)


TAGUETTE_EDITS = [
    "UPDATE highlights SET start_offset = NULL WHERE id = 1",
    "UPDATE highlights SET end_offset = 'abc' WHERE id = 2",
    "UPDATE highlights SET start_offset = 99999999999999999, end_offset = -3 WHERE id = 3",
    "UPDATE highlights SET start_offset = 1e300 WHERE id = 1",
    "UPDATE highlights SET snippet = X'fffe00c3' WHERE id = 4",
    "UPDATE documents SET contents = X'ff00fe41c328' WHERE id = 10",
    "UPDATE documents SET contents = NULL WHERE id = 11",
    "UPDATE documents SET contents = 12345 WHERE id = 10",
    "UPDATE documents SET name = NULL WHERE id = 10",
    "UPDATE documents SET name = X'00ff' WHERE id = 11",
    f"UPDATE documents SET name = '{HOSTILE_NAME}' WHERE id = 10",
    "UPDATE documents SET name = (SELECT name FROM documents WHERE id = 11) WHERE id = 10",
    "UPDATE documents SET name = '' WHERE id = 10",
    "UPDATE documents SET name = '../../etc/passwd' WHERE id = 11",
    "UPDATE documents SET id = 'ten' WHERE id = 10",
    "UPDATE documents SET id = -1 WHERE id = 11",
    "UPDATE documents SET contents = '<p>' || substr(contents, 1, 20) WHERE id = 10",
    "UPDATE documents SET contents = '' WHERE id = 11",
    "UPDATE documents SET contents = '   ' WHERE id = 10",
    "UPDATE tags SET path = NULL WHERE id = 1",
    f"UPDATE tags SET path = '{HOSTILE_NAME}' WHERE id = 2",
    "UPDATE tags SET path = X'c328' WHERE id = 3",
    "UPDATE tags SET description = 3.5 WHERE id = 1",
    "UPDATE tags SET path = 'Training' WHERE id = 1",
    "UPDATE highlight_tags SET tag_id = 99 WHERE highlight_id = 1",
    "UPDATE highlight_tags SET highlight_id = NULL WHERE tag_id = 2",
    "UPDATE highlights SET document_id = 999 WHERE id = 2",
    "UPDATE highlights SET document_id = NULL WHERE id = 3",
    "UPDATE highlights SET id = 'x' WHERE id = 4",
    f"UPDATE commands SET user_login = '{HOSTILE_NAME}' WHERE id = 1",
    "UPDATE commands SET user_login = NULL WHERE id = 2",
    "UPDATE commands SET payload = '{\"type\": \"highlight_add\", \"highlight_id\": \"abc\"}' WHERE id = 3",
    "UPDATE commands SET payload = '{\"type\": \"highlight_add\", \"highlight_id\": 1e999}' WHERE id = 3",
    "UPDATE commands SET payload = '{\"type\": \"highlight_add\", \"highlight_id\": null}' WHERE id = 1",
    "UPDATE commands SET payload = '[' || replace(hex(zeroblob(50000)), '0', '[') WHERE id = 4",
    "UPDATE commands SET payload = X'ff' WHERE id = 2",
    "UPDATE projects SET name = NULL, description = X'00'",
    f"UPDATE projects SET name = '{HOSTILE_NAME}'",
    "UPDATE project_members SET user_login = NULL",
    "INSERT INTO projects VALUES (2, 'second', '')",
    "UPDATE projects SET id = 'one'",
    "DELETE FROM documents WHERE id = 10",
    "DELETE FROM project_members",
    "DROP TABLE commands",
    "DROP TABLE highlight_tags",
    "ALTER TABLE highlights RENAME COLUMN snippet TO other",
    "ALTER TABLE documents DROP COLUMN contents",
    "ALTER TABLE tags DROP COLUMN description",
    "ALTER TABLE highlights DROP COLUMN end_offset",
    "INSERT INTO highlights VALUES (5, 10, 0, 5, NULL)",
    "INSERT INTO highlight_tags VALUES (5, 1)",
    "INSERT INTO documents VALUES (12, 'big.docx', 1, '<p>' || replace(hex(zeroblob(600000)), '00', 'ab ') || '</p>')",
    "INSERT INTO documents VALUES (13, 'nested.docx', 1, replace(hex(zeroblob(100000)), '00', '<b>'))",
    "INSERT INTO documents VALUES (14, 'doc14.docx', 1, '<p>Dr A: one</p>')",
    "INSERT INTO documents VALUES (15, 'doc15.docx', 1, X'c3')",
]


def taguette_edit(data: bytes, rng: random.Random) -> bytes:
    """NULLs, BLOBs, odd ids, missing columns and tables, hostile names: edits of a Taguette database."""
    import os
    import tempfile

    fd, name = tempfile.mkstemp(suffix=".sqlite3")
    os.close(fd)
    try:
        Path(name).write_bytes(data)
        try:
            con = sqlite3.connect(name)
            for sql in rng.sample(TAGUETTE_EDITS, rng.choice((1, 1, 2, 3))):
                try:
                    con.execute(sql)
                except sqlite3.Error:
                    pass
            con.commit()
            con.close()
        except sqlite3.Error:
            return sqlite_pages(data, rng)
        return Path(name).read_bytes()
    finally:
        Path(name).unlink(missing_ok=True)


def mutators_for(path: Path) -> list[tuple[Mutator, int]]:
    """The mutations for a seed's format, with weights."""
    suffix = path.suffix.lower()
    if suffix in (".docx", ".odt", ".xlsx", ".qdpx"):
        return [(zip_mutation, 8), (raw_zip_damage, 2), (truncate, 1), (bit_flips, 1)]
    if suffix in (".sqlite3", ".sqlite", ".db"):
        return [(taguette_edit, 8), (sqlite_pages, 3), (truncate, 1)]
    return [(m, 1) for m in BYTE_MUTATORS]


def mutate(data: bytes, path: Path, rng: random.Random) -> tuple[bytes, list[str]]:
    """One to three stacked mutations of a seed; returns the bytes and the mutations' names."""
    choices = mutators_for(path)
    names = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        fn = rng.choices([m for m, _ in choices], weights=[w for _, w in choices])[0]
        data = fn(data, rng)
        names.append(fn.__name__)
    return data, names


# ---------------------------------------------------------------------------- targets


def _read(fn: Callable[[Path], object]) -> Callable[[Path, Path | None, Path], tuple[str, str]]:
    def run(path: Path, base: Path | None, work: Path) -> tuple[str, str]:
        fn(path)
        return "ok", ""

    return run


def _snapshot(con: sqlite3.Connection) -> tuple:
    from nlp_theming.store.codebooks import latest_version
    from nlp_theming.store.decisions import decision_count
    from nlp_theming.store.documents import documents_fingerprint

    return documents_fingerprint(con), decision_count(con), latest_version(con)


def stored_names(con: sqlite3.Connection) -> list[str]:
    """Names that came in from files: documents, speakers, coders, codes."""
    from nlp_theming.store.codebooks import code_names
    from nlp_theming.store.decisions import all_coders
    from nlp_theming.store.documents import current_document_names, document_speakers

    names = current_document_names(con) + all_coders(con)
    names += [s for labels in document_speakers(con).values() for s in labels]
    try:
        names += code_names(con)
    except Exception:  # no codebook yet
        pass
    return names


def _with_project(action: Callable[[object, Path], object], fresh: bool = False):
    def run(path: Path, base: Path | None, work: Path) -> tuple[str, str]:
        from nlp_theming import Project

        target = work / "project"
        shutil.rmtree(target, ignore_errors=True)
        if fresh or base is None:
            Project.init(target).close()
        else:
            shutil.copytree(base, target)
        with Project(target) as p:
            before = _snapshot(p.con)
            try:
                action(p, path)
            except Exception:
                after = _snapshot(p.con)
                if after != before:
                    raise PartialImport(f"refused, but the project changed: {before} -> {after}") from None
                raise
            bad = [n for n in stored_names(p.con) if UNSAFE.search(n)]
        if bad:
            return "unclean", f"stored names with control characters: {bad[:3]!r}"
        return "ok", ""

    return run


class PartialImport(Exception):
    """An importer refused a file after changing the project."""


def _targets() -> dict[str, Callable[[Path, Path | None, Path], tuple[str, str]]]:
    from nlp_theming.codebook import load_codebook
    from nlp_theming.exchange.coded import read_coded_units_csv, read_span_csv
    from nlp_theming.exchange.imports import taguette_units
    from nlp_theming.exchange.qda_tables import read_qda_table
    from nlp_theming.exchange.refi_import import read_qdc_file, read_qdpx
    from nlp_theming.exchange.refi_qda import check_qdpx
    from nlp_theming.exchange.taguette import read_taguette
    from nlp_theming.ingest import read_manifest, read_transcript
    from nlp_theming.review.sheet import read_sheet

    def units(path: Path, base: Path | None, work: Path) -> tuple[str, str]:
        taguette_units(path, work / "units.csv", work / "spans.csv")
        return "ok", ""

    return {
        "transcript": _read(read_transcript),
        "manifest": _read(read_manifest),
        "codebook": _read(load_codebook),
        "spans": _read(read_span_csv),
        "units": _read(read_coded_units_csv),
        "qda-table": _read(read_qda_table),
        "taguette": _read(read_taguette),
        "taguette-units": units,
        "qdpx": _read(read_qdpx),
        "check-qdpx": _read(check_qdpx),
        "qdc": _read(read_qdc_file),
        "sheet": _read(read_sheet),
        "ingest": _with_project(lambda p, path: _ingest(p, path)),
        "import-spans": _with_project(lambda p, path: p.import_coding(path, "spans")),
        "import-units": _with_project(lambda p, path: p.import_coding(path, "units")),
        "import-qda": _with_project(lambda p, path: p.import_coding(path, "qda")),
        "import-taguette": _with_project(lambda p, path: p.import_coding(path, "taguette"), fresh=True),
        "import-qdpx": _with_project(lambda p, path: p.import_coding(path, "qdpx"), fresh=True),
        "import-qdc": _with_project(lambda p, path: p.import_coding(path, "qdc")),
        "import-sheet": _with_project(lambda p, path: p.import_sheet(path, "ann")),
    }


def _ingest(p, path: Path) -> None:
    report = p.ingest([path])
    # ingest never raises for one file: a reader's bug shows as an "unexpected error" line
    for _, problem in report.failed:
        if problem.startswith("unexpected error: MemoryError"):
            raise MemoryError(problem)
        if problem.startswith("unexpected error"):
            raise AssertionError(problem)


_TARGETS: dict = {}


def targets() -> dict[str, Callable[[Path, Path | None, Path], tuple[str, str]]]:
    if not _TARGETS:
        _TARGETS.update(_targets())
    return _TARGETS


def run_target(target: str, path: Path, base: Path | None, work: Path) -> tuple[str, str]:
    """(outcome, detail) of one input through one target, in this process (no limits here)."""
    from nlp_theming.textio import InputError

    try:
        return targets()[target](path, base, work)
    except InputError as exc:
        message = str(exc)
        if "\n" in message or not message.strip():
            return "traceback", f"a clean error in several lines: {message[:500]!r}"
        return "clean", message[:300]
    except PartialImport as exc:
        return "partial", str(exc)
    except MemoryError:
        return "memory", "MemoryError"
    except RecursionError as exc:
        return "traceback", "".join(traceback.format_exception(exc)[-3:])[-1500:]
    except Exception as exc:
        return "traceback", "".join(traceback.format_exception(exc))[-3000:]
