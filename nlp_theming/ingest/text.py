"""Plain text with speaker prefixes (.txt, .md); decoding is :mod:`nlp_theming.textio`'s.

Typed transcripts mark turns with a label at the start of a line: ``Interviewer:``, ``P3:``,
``Dr Shah:``, optionally after a timestamp such as ``[00:01:02]``. Lines without a label
continue the turn above. Text before the first label (a title, a date) is kept but belongs to
no speaker.
"""

from __future__ import annotations

import re

from ..textio import decode_bytes
from ..transcript import IngestError, Transcript, Turn, is_interviewer_label, parse_timestamp

# A label is short: up to five words, no sentence punctuation, optionally "Dr."/"Mrs." style.
_LABEL = re.compile(
    r"^(?P<prefix>[ \t]*(?:[\[(](?P<time>\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?)[\])][ \t]*)?)"
    r"(?P<label>(?:[A-Z][\w'’.\-]*|[A-Z]?\d+)(?:[ \t]+[\w'’.\-]+){0,4}?)"
    r"[ \t]*(?:\((?P<time2>\d{1,2}:\d{2}(?::\d{2})?)\))?[ \t]*:[ \t]+",
)
# Words that often start a line followed by a colon but are not speakers.
_NOT_SPEAKERS = {
    "note",
    "notes",
    "date",
    "time",
    "location",
    "site",
    "title",
    "re",
    "subject",
    "e.g",
    "i.e",
    "nb",
    "ps",
}


def _speaker_label(line: str) -> tuple[str, int, float | None] | None:
    """Return (label, offset where speech starts, timestamp) when the line opens with a label."""
    m = _LABEL.match(line)
    if not m:
        return None
    label = m.group("label").strip()
    if label.lower().rstrip(".") in _NOT_SPEAKERS or len(label) > 40:
        return None
    # "Well, I think: ..." is speech, not a label: labels carry no sentence punctuation.
    if any(ch in label for ch in ',;!?"“”'):
        return None
    words = label.split()
    # Long lower-case phrases before a colon are speech ("the thing is: ...").
    if len(words) > 2 and sum(w[0].islower() for w in words) > 1:
        return None
    stamp = m.group("time") or m.group("time2")
    return label, m.end(), parse_timestamp(stamp) if stamp else None


def _name_like(label: str) -> bool:
    return all(w[0].isupper() or w[0].isdigit() for w in label.split())


def parse_labelled_text(text: str, source_format: str) -> Transcript:
    """Find speaker turns in typed text. Offsets point into ``text`` unchanged."""
    lines = text.split("\n")
    found_labels: list[tuple[str, int, float | None] | None] = []
    for number, line in enumerate(lines, start=1):
        try:
            found_labels.append(_speaker_label(line) if line.strip() else None)
        except IngestError as exc:  # a stamp such as [00:75:00]
            raise IngestError(f"line {number}: {exc}") from exc
    counts: dict[str, int] = {}
    for found in found_labels:
        if found:
            counts[found[0]] = counts.get(found[0], 0) + 1
    # Unlabelled lines continue the turn above only where participants are labelled too. With
    # no labels, or only the interviewer's, each paragraph is its own turn: think-aloud notes
    # and transcripts that mark only the questions.
    # A one-off "So basically: ..." is speech; a label recurs or looks like a name.
    found_labels = [f if f and (counts[f[0]] >= 2 or _name_like(f[0])) else None for f in found_labels]
    any_label = any(f and not is_interviewer_label(f[0]) for f in found_labels)
    turns: list[Turn] = []
    pos = 0
    current: Turn | None = None
    for line, found in zip(lines, found_labels, strict=True):
        line_start, line_end = pos, pos + len(line)
        pos = line_end + 1
        if not line.strip():
            continue
        if found:
            label, offset, stamp = found
            current = Turn(
                speaker=label,
                start=line_start + offset,
                end=line_end,
                start_time=stamp,
                is_interviewer=is_interviewer_label(label),
            )
            turns.append(current)
        elif current is not None and any_label:
            current.end = line_end
        else:  # a paragraph of its own
            current = Turn(speaker=None, start=line_start, end=line_end)
            turns.append(current)
    for turn in turns:
        # trim trailing white space so a turn ends on its last character
        while turn.end > turn.start and text[turn.end - 1].isspace():
            turn.end -= 1
    turns = [t for t in turns if t.end > t.start]
    if not turns:
        raise IngestError("no text found")
    return Transcript(text=text, source_format=source_format, turns=turns)


def read_text(raw: bytes, source_format: str = "txt") -> Transcript:
    return parse_labelled_text(decode_bytes(raw), source_format)
