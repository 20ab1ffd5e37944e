"""REFI-QDA import: a ``.qdpx`` project or a ``.qdc`` codebook from NVivo, ATLAS.ti, MAXQDA or nlp-theming.

A .qdpx is read whole and checked before anything is stored (:func:`read_qdpx`): a file that
is refused changes nothing. Then, in order (:func:`import_qdpx`):

1. the codebook: the project's when it has none, else a new version only if it differs;
2. text sources as documents (name = source name; the same text again is no new version),
   with variables and cases as document attributes; other sources are reported and skipped;
3. each ``PlainTextSelection``'s codings as ``import`` decisions of the user who made them
   (the user's name, else the GUID), mapped onto the project's coding units.

Positions are Unicode code points from 0, end exclusive (REFI-QDA 10.2), counted in the
source text as stored in the file after a leading byte-order mark; the store keeps the text
normalised (:func:`nlp_theming.textio.clean_text`: NFC, LF line ends, no BOM), so every
position goes through :class:`~nlp_theming.textio.OffsetMap` onto that text.

Whatever cannot be carried is a warning at the point of loss. A hostile or corrupt file (not a
zip, a truncated one, a zip bomb, DTDs and entities, paths out of the archive, duplicate
GUIDs, reversed selections, text that is not UTF-8) is refused with one line naming the file.
"""

from __future__ import annotations

import re
import sqlite3
import zipfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd
from lxml import etree

from ..codebook import Codebook, load_stored_codebook, store_codebook
from ..ingest import ingest_text
from ..ingest.text import parse_labelled_text
from ..review.imports import import_spans
from ..review.memos import UNKNOWN_AUTHOR, import_memos
from ..segment import Segmenter, project_segmenter, segment_documents
from ..store.codebooks import latest_version
from ..store.decisions import MACHINE_CODERS
from ..store.documents import current_lengths, current_texts, recorded_scheme, update_attributes
from ..textio import LIMITS, RATIO_FLOOR, InputError, OffsetMap, clean_name, clean_text
from .refi_codebook import XmlError, norm_guid, parse_xml, read_codes, read_qdc
from .refi_qda import NAMESPACE, QDE_NAME, SOURCES, UNITS_NOTE

__all__ = [
    "QdcImport",
    "QdpxContent",
    "QdpxImport",
    "RefiImportError",
    "import_qdc",
    "import_qdpx",
    "read_qdc_file",
    "read_qdpx",
]

# Safety limits (textio.LIMITS, the one place they are set): a .qdpx is refused before any of it
# is stored when it breaks one. Only project.qde and text sources are read, so what is read, not
# what the archive holds (its audio and video may be large), is held to the unpacked limit.
_CHUNK = 1024 * 1024
_OTHER_SOURCES = ("PDFSource", "PictureSource", "AudioSource", "VideoSource")
_VALUES = ("TextValue", "BooleanValue", "IntegerValue", "FloatValue", "DateValue", "DateTimeValue")
_DRIVE = re.compile(r"^[A-Za-z]:")
#: the document attribute a case's name becomes (see docs/exchange.md)
CASE_ATTRIBUTE = "case"


class RefiImportError(InputError):
    """A REFI-QDA file refused as a whole: one line naming the file and the problem."""


@dataclass
class SourceText:
    """A text source as it will be stored: its name, normalised text and attributes."""

    name: str
    text: str
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass
class QdpxContent:
    """What a .qdpx holds that a project can take, read and checked; nothing is stored yet."""

    path: Path
    name: str
    users: dict[str, str] = field(default_factory=dict)  # normalised GUID -> coder name
    codebook: Codebook | None = None
    sources: list[SourceText] = field(default_factory=list)
    spans: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["document", "start", "end", "code",
                                                                               "coder"]))
    skipped_sources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    scheme: str | None = None  # the coding units of the nlp-theming project the file came from
    # memos from the file's Notes: (target, coder, text, at, document, start, end, code)
    notes: list[tuple] = field(default_factory=list)


@dataclass
class QdpxImport:
    """What an import stored and what it could not carry."""

    users: list[str] = field(default_factory=list)
    codebook_version: int | None = None
    codebook_created: bool = False
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped_sources: list[str] = field(default_factory=list)
    spans: int = 0
    decisions: int = 0
    already: int = 0  # codings an earlier import of the same file recorded
    memos: int = 0  # notes stored as memos
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    scheme_note: str | None = None

    def notes(self) -> list[str]:
        book = ("no codebook in the file" if self.codebook_version is None else
                f"codebook {'stored as version' if self.codebook_created else 'unchanged, still version'}"
                f" {self.codebook_version}")
        return [
            f"users: {', '.join(self.users) or 'none'}; {book}",
            f"documents: {len(self.added)} added, {len(self.updated)} updated (new version),"
            f" {len(self.unchanged)} unchanged, {len(self.skipped_sources)} sources skipped",
        ] + ([self.scheme_note] if self.scheme_note else []) + ([f"memos: {self.memos} notes stored"]
                                                                 if self.memos else [])


# ---------------------------------------------------------------------------- the zip


class _Zip:
    """Members of a zip read within limits: sizes, ratio and the total are checked while reading."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.read_bytes = 0
        try:
            self.zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, ValueError) as exc:
            # NotImplementedError: a damaged header claiming a zip version no reader knows
            raise self.error(f"not a zip archive, as a .qdpx must be ({exc})") from exc
        except OSError as exc:
            raise self.error(f"cannot read: {exc.strerror or exc}") from exc
        infos = self.zf.infolist()
        if len(infos) > LIMITS.zip_members:
            raise self.error(f"holds {len(infos)} entries (the limit is {LIMITS.zip_members})")
        self.members = {i.filename: i for i in infos}
        self.lower = {i.filename.lower(): i.filename for i in infos}

    def error(self, problem: str) -> RefiImportError:
        return RefiImportError(f"{self.path}: {problem}")

    def close(self) -> None:
        self.zf.close()

    def read(self, name: str, limit: int) -> bytes:
        info = self.members[name]
        if info.file_size > limit:
            raise self.error(f"{name} is {info.file_size / 1e6:.0f} MB uncompressed"
                             f" (the limit is {limit / 1e6:.0f} MB)")
        if info.file_size > RATIO_FLOOR and info.file_size > LIMITS.zip_ratio * max(info.compress_size, 1):
            raise self.error(f"{name} expands {info.file_size // max(info.compress_size, 1)} times"
                             f" (a zip bomb? the limit is {LIMITS.zip_ratio:.0f})")
        # The sizes in the header may lie: count what really comes out, in bounded chunks.
        out, got = [], 0
        try:
            with self.zf.open(info) as f:
                while chunk := f.read(_CHUNK):
                    got += len(chunk)
                    self.read_bytes += len(chunk)
                    if got > limit or got > info.file_size:
                        raise self.error(f"{name} expands past its declared or allowed size (a zip bomb?)")
                    if self.read_bytes > LIMITS.unzipped_bytes:
                        raise self.error(f"expands to over {LIMITS.unzipped_bytes / 1e6:.0f} MB (a zip bomb?)")
                    out.append(chunk)
        except RefiImportError:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
            raise self.error(f"{name} cannot be read: damaged, truncated or encrypted ({exc})") from exc
        return b"".join(out)


def _member(zipped: _Zip, where: str, target: str) -> str | None:
    """The zip member an ``internal://`` path names; None for an external (relative://,
    absolute://) source. A path that climbs out of ``sources/`` or names no member is refused."""
    if target.startswith(("relative://", "absolute://")):
        return None
    if not target.startswith("internal://"):
        raise zipped.error(f"{where}: path {target!r} is not inside the archive (only internal:// is read)")
    rest = target[len("internal://"):]
    parts = PurePosixPath(rest).parts
    if (not rest or "\\" in rest or rest.startswith("/") or _DRIVE.match(rest) or "\x00" in rest
            or any(p in ("..", ".") for p in parts) or len(parts) != 1):
        raise zipped.error(f"{where}: path {target!r} climbs out of the archive's sources/ folder"
                           " (or is not directly in it): refused")
    name = zipped.lower.get((SOURCES + rest).lower())
    if name is None:
        raise zipped.error(f"{where}: {target} names no file in the archive (no {SOURCES}{rest})")
    return name


# ---------------------------------------------------------------------------- reading the project


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _count(root: etree._Element, tag: str) -> int:
    return len(root.findall(f".//{{{NAMESPACE}}}{tag}"))


def _position(zipped: _Zip, sel: etree._Element, attr: str, where: str) -> int:
    value = sel.get(attr)
    try:
        return int(value or "")
    except ValueError:
        raise zipped.error(f"{where}: {attr} {value!r} is not a whole number") from None


def read_qdpx(path: str | Path, coder: str | None = None) -> QdpxContent:
    """Read and check a .qdpx completely, storing nothing; raises :class:`RefiImportError`.

    ``coder``: keep only that user's codings.
    """
    path = Path(path)
    zipped = _Zip(path)
    try:
        return _read(zipped, path, coder)
    finally:
        zipped.close()


def _read(zipped: _Zip, path: Path, coder: str | None) -> QdpxContent:
    qde_name = zipped.lower.get(QDE_NAME)
    if qde_name is None:
        raise zipped.error(f"no {QDE_NAME} at the top of the archive: not a REFI-QDA project")
    try:
        qde = zipped.read(qde_name, LIMITS.unzipped_bytes)
        root = parse_xml(qde)
    except XmlError as exc:
        raise zipped.error(f"{QDE_NAME} {exc}") from exc
    ns = f"{{{NAMESPACE}}}"
    if root.tag != f"{ns}Project":
        raise zipped.error(f"{QDE_NAME}: the root element is {root.tag}, not Project in {NAMESPACE}")
    seen: dict[str, str] = {}
    for el in root.iter():
        g = el.get("guid") if isinstance(el.tag, str) else None
        if g is None:
            continue
        if norm_guid(g) in seen:
            raise zipped.error(f"{QDE_NAME}: GUID {g} names both a {seen[norm_guid(g)]} and a {_local(el)}")
        seen[norm_guid(g)] = _local(el)

    out = QdpxContent(path, root.get("name") or path.stem)
    warn = out.warnings.append
    inline = iter(_INLINE_TEXT.findall(qde))  # each PlainTextContent as written, line ends and all
    if (root.get("origin") or "").startswith("nlp-theming"):
        said = re.search(re.escape(UNITS_NOTE) + r"([\w:.-]+?)\.(?:\s|$)", root.findtext(f"{ns}Description") or "")
        out.scheme = said.group(1) if said else None

    # users
    names: Counter[str] = Counter()
    for user in root.iterfind(f"{ns}Users/{ns}User"):
        name = clean_name(user.get("name")) or clean_name(user.get("guid"))
        out.users[norm_guid(user.get("guid"))] = name
        names[name] += 1
    for name, n in sorted(names.items()):
        if n > 1:
            warn(f"{n} users are called {name!r}: their codings are all {name!r}'s")

    # codebook
    found = read_codes(root.find(f"{ns}CodeBook"), NAMESPACE)
    out.warnings += found.warnings
    if found.codes:
        out.codebook = Codebook(out.name, found.codes)
    codes = found.by_guid

    # variables and cases: document attributes
    variables = {norm_guid(v.get("guid")): clean_name(v.get("name")) or clean_name(v.get("guid"))
                 for v in root.iterfind(f"{ns}Variables/{ns}Variable")}

    def values(el: etree._Element, where: str) -> dict[str, str]:
        got = {}
        for value_el in el.findall(f"{ns}VariableValue"):
            ref = value_el.find(f"{ns}VariableRef")
            key = variables.get(norm_guid(ref.get("targetGUID") if ref is not None else None))
            value = next((v.text or "" for v in value_el if _local(v) in _VALUES), None)
            if key is None:
                warn(f"{where}: a value of an unknown variable is not carried")
            elif value is not None and value.strip():
                got[key] = clean_name(value)
        return got

    case_of: dict[str, list[str]] = defaultdict(list)
    case_values: dict[str, dict[str, str]] = defaultdict(dict)
    for case in root.iterfind(f"{ns}Cases/{ns}Case"):
        name = clean_name(case.get("name")) or clean_name(case.get("guid"))
        own = values(case, f"case {name!r}")
        for ref in case.findall(f"{ns}SourceRef"):
            target = norm_guid(ref.get("targetGUID"))
            # the case's name unless one of its variables already says it (a case per site, say)
            if name not in own.values():
                case_of[target].append(name)
            for k, v in own.items():
                case_values[target].setdefault(k, v)
        if case.findall(f"{ns}SelectionRef"):
            warn(f"case {name!r}: selections as case members are not carried (only whole sources)")

    # notes: their text and author here; where each hangs is read with what it hangs on
    note_of: dict[str, tuple[str, str]] = {}
    for note in root.iterfind(f"{ns}Notes/*"):  # Note elements (some tools write TextSource there)
        body = (note.findtext(f"{ns}PlainTextContent") or "").strip()
        if not body:
            continue  # counted below as not carried (an external file, or empty)
        who = out.users.get(norm_guid(note.get("creatingUser"))) or UNKNOWN_AUTHOR
        note_of[norm_guid(note.get("guid"))] = (who, body)
    carried: set[str] = set()

    def noted(el: etree._Element, *where: object) -> None:
        for ref in el.findall(f"{ns}NoteRef"):
            guid = norm_guid(ref.get("targetGUID"))
            if guid in note_of:
                who, body = note_of[guid]
                out.notes.append((where[0], who, body, None, *where[1:]))
                carried.add(guid)

    noted(root, "project", None, None, None, None)
    for code_el in root.iter(f"{ns}Code"):
        if codes.get(norm_guid(code_el.get("guid"))):
            noted(code_el, "code", None, None, None, codes[norm_guid(code_el.get("guid"))])

    # sources
    sources_el = root.find(f"{ns}Sources")
    rows: list[tuple[str, int, int, str, str]] = []
    lost: Counter[str] = Counter()
    used_names: set[str] = set()
    for source in (sources_el if sources_el is not None else []):
        kind = _local(source)
        label = clean_name(source.get("name")) or clean_name(source.get("guid")) or "?"
        where = f"{kind} {label!r}"
        if kind in _OTHER_SOURCES:
            n_sel = sum(1 for c in source if _local(c).endswith("Selection"))
            n_cod = len(source.findall(f".//{ns}Coding"))
            out.skipped_sources.append(label)
            warn(f"{where}: not a text source, skipped ({n_sel} selections, {n_cod} codings not carried)")
            continue
        if kind != "TextSource":
            continue
        text = _source_text(zipped, source, where, inline)
        if text is None:
            n_cod = len(source.findall(f".//{ns}Coding"))
            out.skipped_sources.append(label)
            warn(f"{where}: no plain text inside the file (external or missing), skipped ({n_cod} codings not"
                 " carried)")
            continue
        name = label
        if name in used_names:
            unique = f"{name} ({clean_name(source.get('guid'))})"
            warn(f"{where}: another source has the same name: stored as {unique!r}")
            name = unique
        used_names.add(name)
        offsets = OffsetMap(text)
        try:
            clean = clean_text(text)
            parse_labelled_text(clean, "qdpx")  # what storing it will do: a failure here stores nothing
        except InputError as exc:
            out.skipped_sources.append(label)
            warn(f"{where}: {exc}, skipped")
            continue
        attrs = dict(case_values.get(norm_guid(source.get("guid")), {}))
        attrs.update(values(source, where))
        cases = case_of.get(norm_guid(source.get("guid")), [])
        if cases:
            attrs.setdefault(CASE_ATTRIBUTE, "; ".join(cases))
            if len(cases) > 1:
                warn(f"{where}: in {len(cases)} cases ({', '.join(cases)}): {CASE_ATTRIBUTE} lists them all")
        out.sources.append(SourceText(name, clean, attrs))
        noted(source, "document", name, None, None, None)
        if source.findall(f"{ns}Coding"):
            lost["codings of a whole source (only passages are carried)"] += len(source.findall(f"{ns}Coding"))
        for sel in source.findall(f"{ns}PlainTextSelection"):
            sel_where = f"{where} selection {sel.get('guid')}"
            start, end = _position(zipped, sel, "startPosition", sel_where), _position(zipped, sel, "endPosition",
                                                                                      sel_where)
            n_cod = len(sel.findall(f"{ns}Coding"))
            if start > end:
                raise zipped.error(f"{sel_where}: startPosition {start} is after endPosition {end}")
            if start < 0 or end > len(text):
                warn(f"{sel_where}: {start}-{end} lies outside the text (0-{len(text)}), {n_cod} codings not carried")
                continue
            a, b = offsets(start), offsets(end)
            if a == b:
                lost["codings of empty selections"] += n_cod
                continue
            if sel.find(f"{ns}Description") is not None:
                lost["descriptions of selections"] += 1
            noted(sel, "segment", name, a, b, None)
            for cod in sel.findall(f"{ns}Coding"):
                user = cod.get("creatingUser") or sel.get("creatingUser")
                who = out.users.get(norm_guid(user))
                ref = cod.find(f"{ns}CodeRef")
                code = codes.get(norm_guid(ref.get("targetGUID") if ref is not None else None))
                if who is None:
                    lost[f"codings by a user not in the file ({user or 'none named'})"] += 1
                elif who.lower() in MACHINE_CODERS:
                    lost[f"codings by {who!r}, a name reserved for the machine"] += 1
                elif code is None:
                    lost["codings of a code not in the file's codebook"] += 1
                elif coder is None or who == coder:
                    rows.append((name, a, b, code, who))
                    noted(cod, "decision", name, a, b, code)
    n_notes = len(root.findall(f"{ns}Notes/*"))
    if n_notes > len(carried):
        lost["notes with no inline text or on nothing carried"] += n_notes - len(carried)
    if coder is not None:  # one coder's import: their memos only
        out.notes = [n for n in out.notes if n[1] == coder]
    for thing in ("Links", "Sets", "Graphs"):
        el = root.find(f"{ns}{thing}")
        if el is not None and len(el):
            warn(f"{len(el)} {thing.lower()} are not carried (nlp-theming has no {thing.lower()})")
    for what, n in sorted(lost.items()):
        warn(f"{n} {what}: not carried")
    parents = {c.parent for c in (out.codebook.codes if out.codebook else []) if c.parent}
    on_parents = sorted({r[3] for r in rows if r[3] in parents})
    if on_parents:
        warn(f"codings of codes that have sub-codes ({', '.join(map(repr, on_parents))}) are recorded as they are;"
             " in review only the sub-codes can be applied")
    out.spans = pd.DataFrame(rows, columns=["document", "start", "end", "code", "coder"])
    return out


# An element's content as written in project.qde: an XML parser turns every CRLF or lone CR in
# it into LF, but positions into inline text count the characters as the exporter wrote them.
_INLINE_TEXT = re.compile(rb"<(?:[\w.-]+:)?PlainTextContent(?:\s[^>]*)?>(.*?)</(?:[\w.-]+:)?PlainTextContent\s*>",
                          re.S)
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


def _inline_text(parsed: str, raw: bytes | None) -> str:
    """``parsed`` with the line ends ``raw`` (the element as written) had, where the two agree."""
    if raw is None or b"\r" not in raw:
        return parsed
    breaks = [b.decode() for b in _LINE_BREAK.findall(raw)]
    lines = parsed.split("\n")
    if len(lines) != len(breaks) + 1:  # escaped line breaks (&#10;) as well: leave it parsed
        return parsed
    return "".join(line + brk for line, brk in zip(lines, [*breaks, ""], strict=True))


def _source_text(zipped: _Zip, source: etree._Element, where: str, inline: Iterator[bytes]) -> str | None:
    """A TextSource's plain text: ``PlainTextContent`` (its line ends as written), else its
    ``plainTextPath`` file inside the archive (UTF-8; a leading byte-order mark is not part of the
    text). None when it has neither."""
    ns = f"{{{NAMESPACE}}}"
    content = source.find(f"{ns}PlainTextContent")
    raw = next(inline, None) if content is not None else None
    if content is not None and content.text:
        return _inline_text(content.text, raw)
    target = source.get("plainTextPath")
    if not target:
        return None
    member = _member(zipped, where, target)
    if member is None:
        return None
    raw = zipped.read(member, LIMITS.file_bytes)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise zipped.error(f"{member} ({where}): plain text is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    return text.removeprefix("\ufeff")


# ---------------------------------------------------------------------------- storing


def units_for(con: sqlite3.Connection, content: QdpxContent, result: QdpxImport) -> Segmenter | None:
    """A fresh project takes the coding units of the nlp-theming project the file came from, so
    that both compare alike; a project with units of its own keeps them (noted when they differ)."""
    if content.scheme is None:
        return None
    try:
        theirs = Segmenter.from_scheme(content.scheme)
    except ValueError:
        result.warnings.append(f"{content.path.name}: unknown coding units {content.scheme!r}: the project's own used")
        return None
    ours = recorded_scheme(con)
    if ours is None:
        result.scheme_note = f"coding units {theirs.scheme}, as in the exported project"
        return theirs
    if ours != theirs.scheme:
        result.scheme_note = (f"coding units: the project's own ({ours}); the exported project used {theirs.scheme},"
                              " so agreement per segment will differ from its own")
    return None


def import_qdpx(con: sqlite3.Connection, path: str | Path, coder: str | None = None) -> QdpxImport:
    """Import a .qdpx project (checked whole first: a refused file changes nothing)."""
    content = read_qdpx(path, coder)
    path = Path(path)
    result = QdpxImport(users=sorted(set(content.users.values())), skipped_sources=content.skipped_sources,
                        warnings=list(content.warnings))
    if content.codebook is not None:
        result.codebook_version, result.codebook_created = store_codebook(con, content.codebook, path.resolve())
    texts = current_texts(con)
    ids = current_lengths(con)
    for source in content.sources:
        if texts.get(source.name) == source.text:
            # the same text (however it came in before) is the same document: no new version
            if source.attrs:
                update_attributes(con, ids[source.name][0], source.attrs)
            result.unchanged.append(source.name)
            continue
        status, _ = ingest_text(con, source.name, source.text, str(path.resolve()), "qdpx", source.attrs)
        getattr(result, status).append(source.name)
    if content.sources:
        segment_documents(con, units_for(con, content, result))
    if not content.spans.empty:
        if latest_version(con) is None:
            result.problems.append(f"{path.name}: the project has no codebook and the file has none: no coding "
                                   "imported")
        else:
            known = {c.code for c in load_stored_codebook(con)[1].codes}
            report = import_spans(con, content.spans, project_segmenter(con).scheme, known, source=f"{path.name}: ")
            result.spans, result.decisions, result.already = report.spans, report.decisions, report.already
            result.problems += report.problems
    if content.notes:
        stored, problems = import_memos(con, content.notes, project_segmenter(con).scheme)
        result.memos = stored
        result.problems += [f"{path.name}: {p}" for p in problems]
    return result


@dataclass
class QdcImport:
    version: int
    created: bool
    codes: int
    warnings: list[str] = field(default_factory=list)


def read_qdc_file(path: str | Path) -> tuple[Codebook, list[str]]:
    """A .qdc file's codebook and warnings; RefiImportError (one line naming the file) if refused."""
    path = Path(path)
    try:
        data = path.read_bytes()
        return read_qdc(data, path.stem)
    except OSError as exc:
        raise RefiImportError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise RefiImportError(f"{path}: {exc}") from exc


def import_qdc(con: sqlite3.Connection, path: str | Path) -> QdcImport:
    """Store a .qdc codebook as the project's latest version (unless it is the latest already)."""
    book, warnings = read_qdc_file(path)
    version, created = store_codebook(con, book, Path(path).resolve())
    return QdcImport(version, created, len(book.codes), warnings)
