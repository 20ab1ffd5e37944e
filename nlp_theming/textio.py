"""The one way text files come in: decoding, column names and CSV separators.

Transcripts, manifests, codebooks, coded-unit and span files and review sheets come from
Word, Excel, LibreOffice, transcription services and other coding tools, in whatever encoding
and separator those wrote. Every reader of the package decodes and sniffs through here, so a
file that one command reads, every command reads.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import math
import os
import re
import unicodedata
import zipfile
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# The csv module refuses a field over 131,072 characters; one long answer in a transcript table
# or a coded unit can be longer. The file-size limit (LIMITS) bounds memory instead.
csv.field_size_limit(2**31 - 1)

#: Separators tried, in order: comma, then what European Excel (``;``) and TSV files use.
DELIMITERS = (",", ";", "\t")


class InputError(ValueError):
    """A file that cannot be read, with the reason in one line."""


def decode_bytes(raw: bytes) -> str:
    """Decode a text file: BOMs first, then UTF-8, UTF-16 without BOM, then cp1252.

    Binary content is refused rather than turned into mojibake. The result is NFC-normalised
    with ``\\n`` line ends (:func:`clean_text`).
    """
    if not raw.strip():
        raise InputError("file is empty")
    for bom, enc in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            try:
                return clean_text(raw.decode(enc))
            except UnicodeDecodeError as exc:
                raise InputError(f"starts with a {enc} byte-order mark but is not valid {enc}: {exc.reason}") from exc
    # UTF-16 without a BOM: every other byte of ASCII text is NUL.
    sample = raw[:4000]
    if len(sample) >= 4 and sample.count(0) > len(sample) * 0.3:
        even_nuls = sample[0::2].count(0)
        odd_nuls = sample[1::2].count(0)
        enc = "utf-16-le" if odd_nuls > even_nuls * 4 else "utf-16-be" if even_nuls > odd_nuls * 4 else None
        if enc:
            try:
                return clean_text(raw.decode(enc))
            except UnicodeDecodeError:
                pass
        raise InputError("looks like a binary file, not text")
    if b"\x00" in sample:
        raise InputError("looks like a binary file, not text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise InputError("not valid UTF-8, UTF-16 or cp1252 text") from exc
    return clean_text(text)


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")


def clean_text(text: str) -> str:
    """NFC, ``\\n`` line ends, no BOM; refuses text that is mostly control characters or blank."""
    text = _normalise(text)
    controls = sum(1 for ch in text[:5000] if unicodedata.category(ch) == "Cc" and ch not in "\n\t")
    if controls > max(10, len(text[:5000]) * 0.01):
        raise InputError("looks like a binary file, not text")
    if not text.strip():
        raise InputError("file is empty")
    return text


# Characters a name must not carry to a terminal or a table: C0 and C1 controls (ESC starts a
# terminal escape sequence, BEL rings), and the bidirectional marks, embeddings, overrides and
# isolates that make text display in another order than it reads (U+202E "Trojan Source").
UNSAFE_IN_NAMES = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean_name(name: object) -> str:
    """A name or label from a file (speaker, coder, document, code, attribute) made safe to store
    and show: control and bidi-override characters dropped (a tab or line break becomes a space),
    surrounding spaces stripped. Every reader and importer passes names through here as they come
    in; a clean name comes back unchanged."""
    text = re.sub(r"[\t\n\r\v\f]", " ", "" if name is None else str(name))
    return UNSAFE_IN_NAMES.sub("", text).strip()


def terminal_safe(text: object) -> str:
    """Text from the store as printed on a terminal: control and bidi-override characters shown
    as ``\\x1b``-style escapes (line breaks and tabs kept), so a file can never move the cursor,
    ring the bell, rewrite the screen or reorder what the terminal shows."""
    def show(m: re.Match) -> str:
        return m.group() if m.group() in "\n\t" else m.group().encode("unicode_escape").decode()

    return UNSAFE_IN_NAMES.sub(show, "" if text is None else str(text))


def read_text_file(path: str | Path) -> str:
    """A text file's content, decoded as :func:`decode_bytes` does."""
    return decode_bytes(Path(path).read_bytes())


def header_name(name: object) -> str:
    """A column name as compared: stripped, lower-cased, spaces/hyphens/dots as underscores
    ("Meta-theme", " Code " and "meta theme" name the same column)."""
    return re.sub(r"[\s\-.]+", "_", str(name or "").strip().lower()).strip("_")


def header_names(text: str, delimiter: str) -> list[str]:
    """The normalised column names of a CSV text's first record."""
    try:
        first = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except (StopIteration, csv.Error):
        return []
    return [header_name(h) for h in first]


def sniff_delimiter(
    text: str,
    accept: Callable[[list[str]], bool] | None = None,
    candidates: Sequence[str] = DELIMITERS,
) -> str:
    """The separator of a CSV text.

    With ``accept`` (a test on the normalised header names, e.g. "has a code column"), the
    first candidate whose header passes wins; without one, or when none passes, the candidate
    that splits the header into the most columns, and the first candidate on a tie.
    """
    headers = {sep: header_names(text, sep) for sep in candidates}
    if accept is not None:
        for sep in candidates:
            if accept(headers[sep]):
                return sep
    return max(candidates, key=lambda sep: (len(headers[sep]), -candidates.index(sep)))


def dict_rows(text: str, delimiter: str) -> csv.DictReader:
    """A ``csv.DictReader`` over ``text`` (header names as written; compare with :func:`header_name`).

    The quote character and whether a space follows the separator are sniffed for the chosen
    separator (`A, "hello, there"` keeps its comma); failing that, double quotes and spaces
    after the separator skipped.
    """
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=delimiter)
        quotechar, skip = dialect.quotechar or '"', dialect.skipinitialspace
    except csv.Error:
        quotechar, skip = '"', True
    return csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quotechar,
                          skipinitialspace=skip)


# ---------------------------------------------------------------------- limits and archives


def _env_number(name: str, default: float) -> float:
    """A positive, finite number from the environment; anything else leaves the default."""
    value = os.environ.get(name, "").strip()
    try:
        number = float(value) if value else default
    except ValueError:
        return default
    return number if math.isfinite(number) and number > 0 else default


@dataclass(frozen=True)
class Limits:
    """How much one input may cost. A transcript is words: a file past these is almost surely
    not one, or is built to exhaust memory (a zip bomb). Each can be raised with an environment
    variable (``docs/security.md``)."""

    file_bytes: int = 50 * 1024 * 1024  # NLP_THEMING_MAX_FILE_MB
    unzipped_bytes: int = 200 * 1024 * 1024  # NLP_THEMING_MAX_UNZIPPED_MB: all members of an archive together
    zip_ratio: float = 100.0  # NLP_THEMING_MAX_ZIP_RATIO: a member's size over its compressed size
    zip_members: int = 100_000
    # A recording is streamed, never read whole, so its limit is its own and far larger: three
    # hours of uncompressed stereo WAV is about 1.9 GB, of video several GB.
    recording_bytes: int = 20 * 1024 * 1024 * 1024  # NLP_THEMING_MAX_RECORDING_MB

    @classmethod
    def from_env(cls) -> Limits:
        mb = 1024 * 1024
        return cls(
            file_bytes=int(_env_number("NLP_THEMING_MAX_FILE_MB", cls.file_bytes / mb) * mb),
            unzipped_bytes=int(_env_number("NLP_THEMING_MAX_UNZIPPED_MB", cls.unzipped_bytes / mb) * mb),
            zip_ratio=_env_number("NLP_THEMING_MAX_ZIP_RATIO", cls.zip_ratio),
            recording_bytes=int(_env_number("NLP_THEMING_MAX_RECORDING_MB", cls.recording_bytes / mb) * mb),
        )


LIMITS = Limits.from_env()
# Members smaller than this are not judged by their ratio: a short run of repeated XML compresses
# far past any ratio and costs nothing.
RATIO_FLOOR = 1024 * 1024
XML_CHUNK = 1024 * 1024  # an XML member is searched for a DOCTYPE in chunks of this size


#: What reading a member of a damaged zip raises: bad CRC or header, a broken deflate stream, a
#: stream cut short, an encrypted or unknown compression method.
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError, ValueError)


def check_size(size: int, limits: Limits = LIMITS, recording: bool = False) -> None:
    """Refuse a file past the limit: a transcript's, or with ``recording`` an audio or video file's."""
    limit, variable = (
        (limits.recording_bytes, "NLP_THEMING_MAX_RECORDING_MB") if recording
        else (limits.file_bytes, "NLP_THEMING_MAX_FILE_MB")
    )
    if size > limit:
        raise InputError(f"file is too large ({size / 1e6:.0f} MB; the limit is {limit / 1e6:.0f} MB, set by"
                         f" {variable})")


def file_hash(path: str | Path, chunk: int = 1024 * 1024) -> str:
    """The SHA-256 of a file, read in chunks (a recording can be gigabytes)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()




def open_archive(raw: bytes, kind: str, limits: Limits = LIMITS) -> zipfile.ZipFile:
    """Open a zip container (.docx, .odt, .qdpx) after checking what it claims to hold.

    Refused, with one line saying why: not a zip or damaged; more members than the limit;
    duplicate or climbing member names (``../``, absolute); a total unpacked size or a member's
    compression ratio over the limits (zip readers stop at a member's declared size, so the
    declared sizes bound what any later reader can unpack); an XML member with a DOCTYPE
    (entity expansion: billion laughs, external entities).
    """
    if not raw:
        raise InputError("file is empty")
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        members = archive.infolist()
    except (zipfile.LargeZipFile, *ZIP_ERRORS) as exc:  # an unknown zip version is NotImplementedError
        raise InputError(f"not a valid {kind} file (it is not a zip archive, or the archive is damaged)") from exc
    if len(members) > limits.zip_members:
        raise InputError(f"{kind} archive has {len(members)} members (the limit is {limits.zip_members})")
    names = [m.filename for m in members]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(f"{kind} archive holds {name!r} twice (a damaged or crafted file)")
        seen.add(name)
    for name in names:
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", name):
            raise InputError(f"{kind} archive member {name!r} points outside the archive")
    total = sum(m.file_size for m in members)
    if total > limits.unzipped_bytes:
        raise InputError(
            f"{kind} archive unpacks to {total / 1e6:.0f} MB (the limit is {limits.unzipped_bytes / 1e6:.0f} MB)"
        )
    for m in members:
        if m.file_size > RATIO_FLOOR and m.file_size > limits.zip_ratio * max(m.compress_size, 1):
            raise InputError(
                f"{kind} archive member {m.filename!r} is compressed {m.file_size / max(m.compress_size, 1):.0f} to 1"
                f" (the limit is {limits.zip_ratio:.0f} to 1): refused as a possible zip bomb"
            )
    for m in members:
        if m.filename.lower().endswith((".xml", ".rels", ".qde")) and declares_doctype(archive, m):
            raise InputError(f"{kind} archive member {m.filename!r} declares a DOCTYPE: refused (entity expansion)")
    return archive


# "<!DOCTYPE" and "<!ENTITY" as UTF-8 (and ASCII-compatible encodings) and as UTF-16 either way.
_DTD_MARKERS = tuple(
    marker.encode(codec) for marker in ("<!DOCTYPE", "<!ENTITY") for codec in ("utf-8", "utf-16-le", "utf-16-be")
)


def declares_doctype(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bool:
    """Whether an XML member holds a DOCTYPE or an entity declaration anywhere, read in chunks
    (the declared sizes are checked already, so this is bounded). Outside markup, "<!" is
    always escaped, so a marker in the bytes is a declaration (or, rarely, inside a comment)."""
    overlap = max(len(m) for m in _DTD_MARKERS) - 1
    tail = b""
    try:
        with archive.open(member) as fh:
            while chunk := fh.read(XML_CHUNK):
                window = tail + chunk
                if any(m in window for m in _DTD_MARKERS):
                    return True
                tail = window[-overlap:]
    except ZIP_ERRORS as exc:
        raise InputError(f"archive member {member.filename!r} cannot be read ({exc})") from exc
    return False


def open_workbook(path: str | Path, limits: Limits = LIMITS):
    """An XLSX workbook (openpyxl, read-only, values) once its size and its archive are checked
    (:func:`open_archive`); :class:`InputError` in one line when it cannot be opened."""
    from openpyxl import load_workbook

    path = Path(path)
    check_size(path.stat().st_size, limits)
    open_archive(path.read_bytes(), ".xlsx", limits).close()
    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a file that is not a workbook
        raise InputError(f"not a readable XLSX workbook ({type(exc).__name__})") from None


@lru_cache(maxsize=1)
def _composing_starters() -> frozenset[str]:
    """Characters of combining class 0 that NFC can still join to the character before them:
    the second half of a canonical pair (Indic two-part vowels, ...) and Hangul medial vowels
    and final consonants."""
    found = {chr(c) for c in range(0x1161, 0x1176)} | {chr(c) for c in range(0x11A8, 0x11C3)}
    for code in range(0x20000):  # every two-part canonical decomposition lies below U+20000
        parts = unicodedata.decomposition(chr(code)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            second = chr(int(parts[1], 16))
            if unicodedata.combining(second) == 0:
                found.add(second)
    return frozenset(found)


def _pieces(raw: str) -> list[str]:
    """``raw`` cut before every character NFC never joins to what precedes it."""
    joins = _composing_starters()
    cuts = [i for i, ch in enumerate(raw) if i and not unicodedata.combining(ch) and ch not in joins]
    return [raw[a:b] for a, b in itertools.pairwise([0, *cuts, len(raw)])]


class OffsetMap:
    """Positions in a text before :func:`clean_text` to positions in the text after it.

    Other tools count positions in the text as they stored it (CRLF line ends, a byte-order
    mark, decomposed accents); the store keeps the cleaned text. ``offsets(i)`` is where raw
    position ``i`` (0 to ``len(raw)``) lands: a removed character's position lands on the
    character after it, so a passage ``raw[a:b]`` is ``clean[offsets(a):offsets(b)]`` less
    what cleaning removed.
    """

    # NFC is applied piece by piece, the text cut before each character that never composes
    # with what precedes it (see _pieces), so pieces are a character and its marks and every
    # position maps exactly. A changed piece longer than this (a pile of hundreds of marks)
    # maps its inner positions in proportion rather than normalising every prefix.
    _EXACT = 256

    def __init__(self, raw: str) -> None:
        self.changed: list[tuple[int, int, int, list[int]]] = []  # raw start, raw end, NFC start, inner map
        nfc = raw
        if not unicodedata.is_normalized("NFC", raw):
            parts, start, out = [], 0, 0
            for piece in _pieces(raw):
                done = unicodedata.normalize("NFC", piece)
                if done != piece:
                    n = len(piece)
                    if n <= self._EXACT:
                        inner = [min(len(unicodedata.normalize("NFC", piece[:k])), len(done)) for k in range(n + 1)]
                    else:
                        inner = [round(k * len(done) / n) for k in range(n + 1)]
                    for k in range(1, n + 1):
                        inner[k] = max(inner[k], inner[k - 1])
                    self.changed.append((start, start + n, out, inner))
                parts.append(done)
                start, out = start + len(piece), out + len(done)
            nfc = "".join(parts)
        self.starts = [c[0] for c in self.changed]
        # after NFC: a CR before LF and every BOM are dropped (a lone CR becomes LF, one for one)
        self.removed = [m.start() for m in re.finditer("\r(?=\n)|\ufeff", nfc)]
        self.text = _normalise(raw)

    def _nfc(self, i: int) -> int:
        j = bisect_right(self.starts, i) - 1
        if j < 0:
            return i
        start, end, out, inner = self.changed[j]
        if i <= end:
            return out + inner[i - start]
        return i + (out + inner[-1] - end)

    def __call__(self, i: int) -> int:
        i = self._nfc(i)
        return i - bisect_left(self.removed, i)
