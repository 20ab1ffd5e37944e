"""Ingest stage: read transcript files into the project store.

One reader per format, looked up by file extension (``READERS``). Each returns a
:class:`Transcript`; :func:`ingest_paths` stores it with its manifest metadata. Recordings
(``RECORDING_FORMATS``: audio and video) are transcribed on this machine first (``asr``), into
the project's ``transcripts/`` folder as Whisper-style JSON and WebVTT. A file that
cannot be read gives one line naming the file and the problem, and the batch goes on.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..store.documents import document_speakers, store_transcript
from ..store.schema import project_folder
from ..textio import (
    InputError,
    check_size,
    clean_name,
    clean_text,
    decode_bytes,
    dict_rows,
    file_hash,
    header_name,
    header_names,
    sniff_delimiter,
)
from ..transcript import Cue, IngestError, Transcript, Turn, recognise_interviewer, speaker_warning, speakers
from .asr import RECORDING_FORMATS, AsrOptions, AsrUnavailable, read_recording
from .documents import read_docx, read_odt
from .text import parse_labelled_text, read_text
from .timed import TURN_COLUMNS, read_csv_turns, read_srt, read_vtt, read_whisper_json

__all__ = [
    "READERS",
    "RECORDING_FORMATS",
    "AsrOptions",
    "AsrUnavailable",
    "Cue",
    "FileSpeakers",
    "IngestError",
    "IngestReport",
    "Transcript",
    "Turn",
    "ingest_paths",
    "ingest_text",
    "read_manifest",
    "read_transcript",
    "speaker_warnings",
    "text_transcript",
]

Reader = Callable[[bytes], Transcript]

READERS: dict[str, Reader] = {
    ".txt": lambda raw: read_text(raw, "txt"),
    ".md": lambda raw: read_text(raw, "md"),
    ".docx": read_docx,
    ".odt": read_odt,
    ".vtt": read_vtt,
    ".srt": read_srt,
    ".json": read_whisper_json,
    ".csv": read_csv_turns,
}


def is_known_format(path: Path) -> bool:
    """A transcript format of ``READERS`` or a recording to transcribe."""
    return path.suffix.lower() in READERS or path.suffix.lower() in RECORDING_FORMATS


def read_transcript(path: str | Path, asr: AsrOptions | None = None) -> Transcript:
    """Read one transcript file, or transcribe one recording (its transcript files go to a
    temporary folder: in a project, ingest keeps them). Raises :class:`IngestError` with a
    one-line reason."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None and path.suffix.lower() not in RECORDING_FORMATS:
        known = sorted(READERS) + sorted(RECORDING_FORMATS)
        raise IngestError(f"unsupported file type {path.suffix or '(none)'!r}; supported: {', '.join(known)}")
    if not path.is_file():
        raise IngestError("file not found")
    if reader is None:
        with tempfile.TemporaryDirectory(prefix="nlp-theming-asr-") as folder:
            return read_recording(path, folder, options=asr)[0]
    check_size(path.stat().st_size)
    return reader(path.read_bytes())


def transcripts_folder(con: sqlite3.Connection) -> Path:
    """Where a project keeps the transcripts it made of recordings: ``PROJECT/transcripts/``."""
    folder = project_folder(con)
    return folder / "transcripts" if folder is not None else Path(tempfile.mkdtemp(prefix="nlp-theming-asr-"))


# How the ingest report says which rule recognised the interviewer (transcript.recognise_interviewer).
_RULES = {
    "manifest": "named in the manifest",
    "label": "by label",
    "questions": "asks most of the questions",
}


@dataclass
class FileSpeakers:
    """Who a file's reader found speaking, how, and who the interviewer is."""

    path: str
    speakers: list[str]
    layout: str
    interviewer: list[str]
    rule: str  # manifest, label, questions or none

    @property
    def warning(self) -> str | None:
        return speaker_warning(self.speakers)

    def line(self) -> str:
        found = ", ".join(self.speakers) if self.speakers else "none"
        who = f"{', '.join(self.interviewer)} ({_RULES[self.rule]})" if self.interviewer else "none recognised"
        return f"{self.path}: speakers: {found}; layout: {self.layout}; interviewer: {who}"


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # found in a folder, not read: (path, why)
    document_ids: list[int] = field(default_factory=list)
    files: list[FileSpeakers] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"{path}: {problem}" for path, problem in self.failed]

    def skipped_lines(self) -> list[str]:
        return [f"{path}: skipped: {why}" for path, why in self.skipped]

    def file_lines(self) -> list[str]:
        """One line per file read: its speakers, the layout they were found in, the interviewer."""
        return [f.line() for f in self.files]

    def warnings(self) -> list[str]:
        """One line per file ingested with no speaker or only one."""
        return [f"{f.path}: {f.warning}; ingested all the same" for f in self.files if f.warning]


def read_manifest(path: str | Path) -> dict[Path, dict[str, str]]:
    """Manifest CSV: a ``file`` column (relative to the manifest) and any metadata columns."""
    path = Path(path)
    try:
        text = decode_bytes(path.read_bytes())
    except FileNotFoundError as exc:
        raise IngestError(f"{path}: manifest not found") from exc
    except IngestError as exc:
        raise IngestError(f"{path}: {exc}") from exc
    reader = dict_rows(text, sniff_delimiter(text, lambda names: "file" in names))
    fields = [header_name(f) for f in reader.fieldnames or []]
    if "file" not in fields:
        raise IngestError(f"{path}: manifest needs a 'file' column (found: {', '.join(fields) or 'none'})")
    rows: dict[Path, dict[str, str]] = {}
    for row in reader:
        # metadata keys keep their spelling (they name summary groupings); "File" is the file column
        row = {clean_name(k): clean_name(v) for k, v in row.items() if k is not None}
        file_key = next((k for k in row if header_name(k) == "file"), None)
        if file_key is None or not row.get(file_key):
            continue
        target = (path.parent / row.pop(file_key)).resolve()
        media_key = next((k for k in row if header_name(k) == "media"), None)
        if media_key and row.get(media_key):
            # a recording is named relative to the manifest, like the transcript: stored absolute
            row["media"] = str((path.parent / row.pop(media_key)).resolve())
        rows[target] = {k: v for k, v in row.items() if k and v != ""}
    return rows


# Files a folder of transcripts often holds beside them, by their whole name (any case, any
# extension): about the transcripts, not one of them.
NOT_TRANSCRIPT_NAMES = re.compile(
    r"(readme|license|licence|copying|changelog|changes|notice|contributing|authors|citation)", re.IGNORECASE
)
# Columns of the tables researchers keep beside transcripts (codebooks, manifests, coding tables).
# A CSV with a text column and a speaker or time column is a table of turns whatever else it has.
OTHER_TABLE_COLUMNS = {
    "code": "a codebook or coding table", "codes": "a coding table", "theme": "a codebook",
    "definition": "a codebook", "description": "a codebook", "meta_theme": "a codebook",
    "file": "a manifest", "unit_id": "a coded-units table",
}
HEADER_BYTES = 64 * 1024  # enough to read a CSV's header row


def not_a_transcript(path: Path) -> str | None:
    """Why a file found in a folder is plainly not a transcript (None when it may be one).

    Only files found by searching a folder are judged: a file named on the command line is
    read as asked, and fails with its reader's reason if it is not a transcript."""
    name = path.name
    if name.startswith(("~$", "._", ".")):
        return "a hidden, temporary or lock file"
    if named := NOT_TRANSCRIPT_NAMES.fullmatch(path.stem):
        return f"named like a {named.group(1).lower()} file, not a transcript"
    if path.suffix.lower() != ".csv":
        return None
    try:
        with path.open("rb") as fh:
            head = fh.read(HEADER_BYTES)
        text = decode_bytes(head)
    except (OSError, InputError):
        return None  # the reader reports it properly
    names = header_names(text, sniff_delimiter(text))
    has_text = any(n in TURN_COLUMNS["text"] for n in names)
    turn_like = any(n in TURN_COLUMNS[k] for k in ("speaker", "start", "end") for n in names)
    if has_text and turn_like:
        return None
    other = next((n for n in names if n in OTHER_TABLE_COLUMNS), None)
    if other:
        return f"a table with a {other!r} column and no speaker or time column: {OTHER_TABLE_COLUMNS[other]}"
    if not has_text:
        return "a table without a text column, not turns of a transcript"
    return None


def _expand(
    paths: Iterable[str | Path], keep: Callable[[Path], str | None]
) -> tuple[list[Path], list[tuple[str, str]]]:
    """The files to read, and the files found in folders but skipped (with why)."""
    files: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for p in paths:
        p = Path(p)
        if not p.is_dir():
            files.append(p)
            continue
        for f in sorted(p.rglob("*")):
            if not f.is_file() or not is_known_format(f):
                continue
            why = keep(f)
            if why is None:
                files.append(f)
            elif why:
                skipped.append((str(f), why))
    return files, skipped


def ingest_paths(
    con: sqlite3.Connection,
    paths: Iterable[str | Path],
    manifest: str | Path | None = None,
    progress: bool = False,
    asr: AsrOptions | None = None,
) -> IngestReport:
    """Read files (folders are searched for known formats) and store new or changed ones.

    A recording is transcribed with ``asr`` into ``PROJECT/transcripts/`` unless a transcript
    of the same bytes is there already (finished, or corrected by hand since): a batch killed
    halfway keeps the recordings it finished, and the one it was on resumes where it stopped."""
    report = IngestReport()
    meta: dict[Path, dict[str, str]] = {}
    paths = list(paths)
    manifest_path = Path(manifest).resolve() if manifest is not None else None
    if manifest is not None:
        meta = read_manifest(manifest)
        if not paths:
            paths = list(meta)
        for target in meta:
            if not target.exists():
                report.failed.append((str(target), f"named in manifest {manifest} but not found"))

    def keep(f: Path) -> str | None:
        resolved = f.resolve()
        if resolved == manifest_path:
            return ""  # the manifest itself: skipped without a word
        if manifest is not None:
            # with a manifest, a folder gives just the files it lists
            return None if resolved in meta else f"not listed in the manifest {Path(manifest).name}"
        return not_a_transcript(f)

    files, report.skipped = _expand(paths, keep)
    files = [f for f in files if f.exists() or f.resolve() not in meta]
    seen: dict[str, Path] = {}
    iterator: Iterable[Path] = files
    if progress:
        from tqdm import tqdm

        iterator = tqdm(files, desc="ingest", unit="file")
    for path in iterator:
        resolved = path.resolve()
        attrs = dict(meta.get(resolved, {}))
        name = clean_name(attrs.pop("document", None) or path.stem) or "document"
        if name in seen and seen[name] != resolved:
            report.failed.append(
                (str(path), f"another file in this batch ({seen[name].name}) has the same name {name!r}")
            )
            continue
        seen[name] = resolved
        try:
            if path.suffix.lower() in RECORDING_FORMATS and path.is_file():
                transcript, raw_hash = read_recording(path, transcripts_folder(con), name, asr, progress)
            else:
                raw_hash = file_hash(path) if path.is_file() else ""
                transcript = read_transcript(path)
            if attrs.get("interviewer"):
                recognise_interviewer(transcript, attrs["interviewer"])
            # one transaction per file: a failure here rolls back this file only
            status, doc_id = store_transcript(con, name, resolved, raw_hash, transcript, attrs)
        except InputError as exc:
            report.failed.append((str(path), str(exc)))
            continue
        except OSError as exc:
            report.failed.append((str(path), f"cannot read: {exc.strerror or exc}"))
            continue
        except Exception as exc:
            # a reader bug or an odd file must not cost the rest of the batch
            report.failed.append((str(path), _one_line(f"unexpected error: {type(exc).__name__}: {exc}")))
            continue
        getattr(report, status).append(str(path))
        report.document_ids.append(doc_id)
        interviewer = list(dict.fromkeys(t.speaker for t in transcript.turns if t.is_interviewer and t.speaker))
        report.files.append(
            FileSpeakers(str(path), speakers(transcript), transcript.layout, interviewer, transcript.interviewer_rule)
        )
    return report


def speaker_warnings(con: sqlite3.Connection) -> list[str]:
    """One line per current document with no speaker or only one (what ``status`` lists)."""
    found = document_speakers(con)
    return [f"{name}: {warning}" for name, labels in found.items() if (warning := speaker_warning(labels))]


def text_transcript(text: str, source_format: str) -> Transcript:
    """The transcript of text that comes from another tool; :class:`InputError` if it has none
    (empty, binary). An importer checks every document with this before it stores any."""
    return parse_labelled_text(clean_text(text), source_format)


def ingest_text(
    con: sqlite3.Connection, name: str, text: str, source: str, source_format: str, attrs: dict[str, str] | None = None
) -> tuple[str, int]:
    """Store text that comes from another tool rather than a file (a Taguette project, say)."""
    transcript = text_transcript(text, source_format)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    attrs = {clean_name(k): clean_name(v) for k, v in (attrs or {}).items() if clean_name(k)}
    return store_transcript(con, clean_name(name), Path(source), digest, transcript, attrs)


def _one_line(message: str, limit: int = 300) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1] + "…"
