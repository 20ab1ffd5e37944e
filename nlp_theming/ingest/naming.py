"""Naming a document's speakers after ingest: who the diariser's SPEAKER_00 is, or who spoke each
unlabelled turn of a recording transcribed without a diariser.

The naming is kept as the document's ``speaker_names`` attribute (and the interviewer as its
``interviewer`` attribute, the manifest's column), applied to the stored turns and segments in
place, and applied again to each new version of the document, as the manifest's interviewer is.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..store.documents import (
    current_document_id,
    document_attributes,
    document_text,
    document_turns,
    remark_interviewer,
    rename_speakers,
    set_attributes,
)
from ..store.schema import transaction
from ..textio import InputError
from ..transcript import is_interviewer_label, merge_speaker_names


@dataclass
class TurnLine:
    """One stored turn, as a person deciding who spoke sees it."""

    idx: int
    speaker: str | None
    is_interviewer: bool
    start_time: float | None
    confidence: float | None
    text: str

    def line(self, width: int = 70) -> str:
        when = f"{self.start_time:7.1f}s" if self.start_time is not None else "        "
        who = (self.speaker or "(unnamed)") + (" [interviewer]" if self.is_interviewer else "")
        words = " ".join(self.text.split())
        words = words if len(words) <= width else words[: width - 1] + "…"
        return f"#{self.idx:<4} {when}  {who:<24} {words}"


@dataclass
class SpeakerNaming:
    document: str
    changed: int  # turns whose speaker changed
    speaker_names: str  # the document's naming spec after this call
    interviewer: str | None
    turns: list[TurnLine] = field(default_factory=list)


def naming_entries(
    names: dict[str, str] | None = None, turns: dict[int, str] | None = None, alternate: Sequence[str] | None = None
) -> list[str]:
    """The ``speaker_names`` entries for these renames, turn names and alternation, in the order
    they apply: alternation first, then single turns, then renames."""
    entries: list[str] = []
    if alternate:
        if any(not a.strip() or "," in a or "|" in a for a in alternate):
            raise InputError("speaker names to alternate must be non-empty and hold no ',' or '|'")
        entries.append("#*=" + ",".join(a.strip() for a in alternate))
    for idx, label in sorted((turns or {}).items()):
        entries.append(f"#{int(idx)}={label}")
    for old, new in (names or {}).items():
        entries.append(f"{old}={new}")
    for entry in entries:
        if "|" in entry or not entry.partition("=")[2].strip():
            raise InputError(f"speaker names: {entry!r}: a name must be non-empty and hold no '|'")
    return entries


def document_turn_lines(con: sqlite3.Connection, document: str) -> list[TurnLine]:
    """The turns of the current version of ``document``, to decide who spoke each."""
    return _turn_lines(con, _document_id(con, document))


def _document_id(con: sqlite3.Connection, document: str) -> int:
    doc_id = current_document_id(con, document)
    if doc_id is None:
        raise InputError(f"no document named {document!r} in this project")
    return doc_id


def _turn_lines(con: sqlite3.Connection, doc_id: int) -> list[TurnLine]:
    text = document_text(con, doc_id)
    return [
        TurnLine(r["idx"], r["speaker"], bool(r["is_interviewer"]), r["start_time"], r["confidence"],
                 text[r["start"] : r["end"]])
        for r in document_turns(con, doc_id)
    ]


def name_speakers(
    con: sqlite3.Connection,
    document: str,
    interviewer: str | None = None,
    names: dict[str, str] | None = None,
    turns: dict[int, str] | None = None,
    alternate: Sequence[str] | None = None,
) -> SpeakerNaming:
    """Name the speakers of the current version of ``document`` (see :func:`naming_entries`)
    and mark ``interviewer`` (a label, or several separated by ``|``, as the manifest's column).
    Without an interviewer given or recorded, names such as "Interviewer" mark it by label."""
    doc_id = _document_id(con, document)
    entries = naming_entries(names, turns, alternate)
    with transaction(con):
        attrs = document_attributes(con, doc_id)
        spec = merge_speaker_names(attrs.get("speaker_names"), entries) if entries else attrs.get(
            "speaker_names", "")
        changed = rename_speakers(con, doc_id, spec)
        marked = interviewer or attrs.get("interviewer")
        if not marked:
            labels = {r["speaker"] for r in document_turns(con, doc_id) if r["speaker"]}
            marked = "|".join(sorted(label for label in labels if is_interviewer_label(label))) or None
        update = {"speaker_names": spec} if spec else {}
        if marked:
            update["interviewer"] = marked
        set_attributes(con, doc_id, update)
        remark_interviewer(con, doc_id, marked)
    return SpeakerNaming(document, changed, spec, marked, _turn_lines(con, doc_id))
