"""Ingest stage: read transcript files into the project store.

One reader per format, looked up by file extension (``READERS``). Each returns a
:class:`Transcript`; :func:`ingest_paths` stores it with its manifest metadata. A file that
cannot be read gives one line naming the file and the problem, and the batch goes on.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..store.documents import document_speakers, store_transcript
from ..textio import InputError, clean_text, decode_bytes, dict_rows, header_name, sniff_delimiter
from ..transcript import Cue, IngestError, Transcript, Turn, recognise_interviewer, speaker_warning, speakers
from .documents import read_docx, read_odt
from .text import parse_labelled_text, read_text
from .timed import read_csv_turns, read_srt, read_vtt, read_whisper_json

__all__ = [
    "READERS",
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

MAX_BYTES = 50 * 1024 * 1024  # a transcript is words; anything larger is almost surely not one


def read_transcript(path: str | Path) -> Transcript:
    """Read one transcript file. Raises :class:`IngestError` with a one-line reason."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise IngestError(f"unsupported file type {path.suffix or '(none)'!r}; supported: {', '.join(sorted(READERS))}")
    if not path.is_file():
        raise IngestError("file not found")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise IngestError(f"file is too large ({size / 1e6:.0f} MB; the limit is {MAX_BYTES / 1e6:.0f} MB)")
    return reader(path.read_bytes())


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
    document_ids: list[int] = field(default_factory=list)
    files: list[FileSpeakers] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"{path}: {problem}" for path, problem in self.failed]

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
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        file_key = next((k for k in row if header_name(k) == "file"), None)
        if file_key is None or not row.get(file_key):
            continue
        target = (path.parent / row.pop(file_key)).resolve()
        rows[target] = {k: v for k, v in row.items() if k and v != ""}
    return rows


def _expand(paths: Iterable[str | Path], skip: set[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(
                f
                for f in sorted(p.rglob("*"))
                if f.is_file()
                and f.suffix.lower() in READERS
                and f.resolve() not in skip
                # a folder's README is about the transcripts, not one of them
                and not f.name.upper().startswith("README")
            )
        else:
            files.append(p)
    return files


def ingest_paths(
    con: sqlite3.Connection,
    paths: Iterable[str | Path],
    manifest: str | Path | None = None,
    progress: bool = False,
) -> IngestReport:
    """Read files (folders are searched for known formats) and store new or changed ones."""
    report = IngestReport()
    meta: dict[Path, dict[str, str]] = {}
    skip: set[Path] = set()
    paths = list(paths)
    if manifest is not None:
        meta = read_manifest(manifest)
        skip.add(Path(manifest).resolve())
        if not paths:
            paths = list(meta)
        for target in meta:
            if not target.exists():
                report.failed.append((str(target), f"named in manifest {manifest} but not found"))
    files = [f for f in _expand(paths, skip) if f.exists() or f.resolve() not in meta]
    seen: dict[str, Path] = {}
    iterator: Iterable[Path] = files
    if progress:
        from tqdm import tqdm

        iterator = tqdm(files, desc="ingest", unit="file")
    for path in iterator:
        resolved = path.resolve()
        attrs = dict(meta.get(resolved, {}))
        name = attrs.pop("document", None) or path.stem
        if name in seen and seen[name] != resolved:
            report.failed.append(
                (str(path), f"another file in this batch ({seen[name].name}) has the same name {name!r}")
            )
            continue
        seen[name] = resolved
        try:
            raw_hash = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
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


def ingest_text(
    con: sqlite3.Connection, name: str, text: str, source: str, source_format: str, attrs: dict[str, str] | None = None
) -> tuple[str, int]:
    """Store text that comes from another tool rather than a file (a Taguette project, say)."""
    transcript = parse_labelled_text(clean_text(text), source_format)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return store_transcript(con, name, Path(source), digest, transcript, dict(attrs or {}))


def _one_line(message: str, limit: int = 300) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1] + "…"
