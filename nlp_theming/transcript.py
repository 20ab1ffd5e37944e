"""The Transcript model: what every reader returns and the store keeps; text, turns and timed cues.

All offsets are Python string indices (code points) into ``Transcript.text``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .textio import InputError

INTERVIEWER_LABELS = re.compile(
    r"^(interviewer|int|i|q|iv|researcher|moderator|facilitator|interviewer\s*\d+)$", re.IGNORECASE
)


#: Readers raise it for a file they cannot read: the package's one input error (see textio).
IngestError = InputError


@dataclass
class Turn:
    speaker: str | None
    start: int
    end: int
    start_time: float | None = None
    end_time: float | None = None
    confidence: float | None = None
    is_interviewer: bool = False


@dataclass
class Cue:
    start: int
    end: int
    start_time: float | None = None
    end_time: float | None = None
    confidence: float | None = None


@dataclass
class Transcript:
    text: str
    source_format: str
    turns: list[Turn] = field(default_factory=list)
    cues: list[Cue] = field(default_factory=list)

    def turn_text(self, turn: Turn) -> str:
        return self.text[turn.start : turn.end]


def is_interviewer_label(label: str | None) -> bool:
    return bool(label) and bool(INTERVIEWER_LABELS.match(label.strip().rstrip(".")))


@dataclass
class TimedPiece:
    """One cue as a timed reader sees it, before the transcript text is laid out."""

    text: str
    start_time: float | None
    end_time: float | None
    speaker: str | None = None
    confidence: float | None = None


def from_timed_pieces(pieces: list[TimedPiece], source_format: str, pause_break: float = 2.0) -> Transcript:
    """Lay timed cues out as readable text: consecutive cues of one speaker form a turn,
    written ``Speaker: text`` with turns separated by a blank line.

    Without speaker labels a long pause starts a new paragraph, so turns still follow the talk.
    """
    pieces = [p for p in pieces if p.text.strip()]
    if not pieces:
        raise IngestError("no spoken text found")
    groups: list[list[TimedPiece]] = []
    for piece in pieces:
        if groups:
            prev = groups[-1][-1]
            same = piece.speaker == prev.speaker
            gap = (
                piece.start_time - prev.end_time if piece.start_time is not None and prev.end_time is not None else 0.0
            )
            if same and (piece.speaker is not None or gap < pause_break):
                groups[-1].append(piece)
                continue
        groups.append([piece])

    parts: list[str] = []
    turns: list[Turn] = []
    cues: list[Cue] = []
    pos = 0
    for group in groups:
        if parts:
            parts.append("\n\n")
            pos += 2
        speaker = group[0].speaker
        if speaker:
            label = f"{speaker}: "
            parts.append(label)
            pos += len(label)
        turn_start = pos
        for i, piece in enumerate(group):
            if i:
                parts.append(" ")
                pos += 1
            text = " ".join(piece.text.split())
            cues.append(Cue(pos, pos + len(text), piece.start_time, piece.end_time, piece.confidence))
            parts.append(text)
            pos += len(text)
        confs = [p.confidence for p in group if p.confidence is not None]
        turns.append(
            Turn(
                speaker=speaker,
                start=turn_start,
                end=pos,
                start_time=group[0].start_time,
                end_time=group[-1].end_time,
                confidence=sum(confs) / len(confs) if confs else None,
                is_interviewer=is_interviewer_label(speaker),
            )
        )
    return Transcript(text="".join(parts), source_format=source_format, turns=turns, cues=cues)


_TIME = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?$")
# Plain seconds: digits only, so float() cannot let through "nan", "inf", "-3" or "1e9".
_SECONDS = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)$")


def parse_timestamp(value: str) -> float:
    """``01:02:03.500``, ``02:03,5`` or plain seconds -> seconds.

    Raises :class:`IngestError` for anything else, including ``00:99:01`` (minutes and seconds
    past 59) and negative or non-finite numbers.
    """
    value = value.strip()
    if _SECONDS.match(value):
        return float(value)
    m = _TIME.match(value)
    # Minutes may run past 59 only when there is no hours field ("75:00" is unambiguous).
    if not m or int(m[3]) > 59 or (m[1] is not None and int(m[2]) > 59):
        raise IngestError(f"bad timestamp {value!r}")
    hours, minutes, seconds, frac = m.groups()
    total = int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
    if frac:
        total += int(frac.ljust(3, "0")) / 1000
    return float(total)
