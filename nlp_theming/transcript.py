"""The Transcript model: what every reader returns and the store keeps; text, turns and timed cues.

All offsets are Python string indices (code points) into ``Transcript.text``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from .textio import InputError, clean_name

#: Speaker labels that name the interviewer wherever they appear (the "label" rule).
INTERVIEWER_LABELS = re.compile(
    r"^(interviewer|int|i|q|iv|researcher|moderator|facilitator|interviewer\s*\d+)$", re.IGNORECASE
)
# The "questions" rule, for labels that say nothing (SPEAKER_00, names): the interviewer is the
# speaker with the most turns that ask something, when it is clear: at least this many such
# turns, this many times as many as anyone else, and this share of their own turns.
QUESTION_TURNS_MIN = 2
QUESTION_LEAD = 2.0
QUESTION_SHARE = 0.4


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

    def __post_init__(self) -> None:
        # every reader makes its turns here: a label from a file never carries a terminal escape
        if self.speaker:
            self.speaker = clean_name(self.speaker) or None


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
    # How the reader found the speakers (e.g. "name: text", "name lines", "table") and which
    # rule marked the interviewer: for the ingest report, not stored.
    layout: str = "none"
    interviewer_rule: str = "none"

    def turn_text(self, turn: Turn) -> str:
        return self.text[turn.start : turn.end]


def is_interviewer_label(label: str | None) -> bool:
    return bool(label) and bool(INTERVIEWER_LABELS.match(label.strip().rstrip(".")))


def interviewer_labels(labels: str) -> set[str]:
    """A manifest's ``interviewer`` column names the interviewer's speaker label(s), separated
    by ``|``: diarised speech recognition says SPEAKER_00, not who asked the questions."""
    return {label.strip().lower() for label in labels.split("|") if label.strip()}


def speakers(transcript: Transcript) -> list[str]:
    """The distinct speaker labels of a transcript, in order of first turn."""
    return list(dict.fromkeys(t.speaker for t in transcript.turns if t.speaker))


#: An interview has at least two speakers; a document with fewer is ingested with a warning.
MIN_SPEAKERS = 2


def speaker_warning(labels: list[str]) -> str | None:
    """What is wrong with a document whose distinct speakers are ``labels``; None if nothing."""
    if len(labels) >= MIN_SPEAKERS:
        return None
    if not labels:
        return "no speaker found"
    return f"only one speaker found ({labels[0]})"


def recognise_interviewer(transcript: Transcript, labels: str | None = None) -> str:
    """Mark the interviewer's turns and return the rule that decided, also kept in
    ``transcript.interviewer_rule``: ``manifest`` (``labels``, the manifest's interviewer
    column, names them), else ``label`` (a common label such as Interviewer or Q), else
    ``questions`` (one speaker clearly asks most of the questions), else ``none``."""
    turns = transcript.turns
    if labels:
        wanted = interviewer_labels(labels)
        for turn in turns:
            turn.is_interviewer = (turn.speaker or "").strip().lower() in wanted
        rule = "manifest"
    elif any(is_interviewer_label(t.speaker) for t in turns):
        for turn in turns:
            turn.is_interviewer = is_interviewer_label(turn.speaker)
        rule = "label"
    else:
        asker = _asks_the_questions(transcript)
        for turn in turns:
            turn.is_interviewer = asker is not None and turn.speaker == asker
        rule = "questions" if asker else "none"
    transcript.interviewer_rule = rule
    return rule


def _asks_the_questions(transcript: Transcript) -> str | None:
    asked: dict[str, int] = {}
    said: dict[str, int] = {}
    for turn in transcript.turns:
        if turn.speaker:
            said[turn.speaker] = said.get(turn.speaker, 0) + 1
            asked[turn.speaker] = asked.get(turn.speaker, 0) + ("?" in transcript.turn_text(turn))
    if len(said) < 2:
        return None
    ranked = sorted(asked.items(), key=lambda kv: -kv[1])
    top, n = ranked[0]
    runner_up = ranked[1][1]
    if n >= QUESTION_TURNS_MIN and n >= QUESTION_LEAD * runner_up and n >= QUESTION_SHARE * said[top]:
        return top
    return None


@dataclass
class TimedPiece:
    """One cue as a timed reader sees it, before the transcript text is laid out."""

    text: str
    start_time: float | None
    end_time: float | None
    speaker: str | None = None
    confidence: float | None = None
    where: str = ""  # the place in the file ("cue 3 (line 12)", "row 7") for error lines


#: A speech recogniser's confidence (the mean probability of a passage's words) below which the
#: review pages mark the passage for a person to check the words before coding them.
LOW_CONFIDENCE = 0.6

# Recognisers and caption editors let a cue start a little before the one above it (overlapping
# speech, rounding); a clock that runs back further than this is a damaged file.
BACKWARDS_TOLERANCE = 1.0


def check_pieces(pieces: list[TimedPiece]) -> None:
    """Times finite, non-negative, each piece ending after it starts and starting no more than
    :data:`BACKWARDS_TOLERANCE` seconds before the one above; confidences probabilities. One bad
    value refuses the file, naming the place: a transcript whose clock runs backwards would
    misplace every segment's time."""
    last: float | None = None
    for i, p in enumerate(pieces):
        where = p.where or f"piece {i + 1}"
        for label, t in (("start", p.start_time), ("end", p.end_time)):
            if t is not None and not (math.isfinite(t) and t >= 0):
                raise IngestError(f"{where}: {label} time {t!r} is not a finite, non-negative number of seconds")
        if p.start_time is not None and p.end_time is not None and p.end_time < p.start_time:
            raise IngestError(f"{where}: ends ({p.end_time:g} s) before it starts ({p.start_time:g} s)")
        if p.confidence is not None and not (math.isfinite(p.confidence) and 0.0 <= p.confidence <= 1.0):
            raise IngestError(f"{where}: confidence {p.confidence!r} is not between 0 and 1")
        if p.start_time is not None:
            if last is not None and p.start_time < last - BACKWARDS_TOLERANCE:
                raise IngestError(f"{where}: starts at {p.start_time:g} s, before the one above it ({last:g} s)")
            last = p.start_time if last is None else max(last, p.start_time)


def from_timed_pieces(
    pieces: list[TimedPiece], source_format: str, pause_break: float = 2.0, break_after_question: bool = False
) -> Transcript:
    """Lay timed cues out as readable text: consecutive cues of one speaker form a turn,
    written ``Speaker: text`` with turns separated by a blank line.

    Without speaker labels a long pause starts a new paragraph, so turns still follow the talk;
    with ``break_after_question`` so does a cue that ends in a question (in an interview the
    answer is usually someone else's).
    """
    check_pieces(pieces)
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
            asked = break_after_question and prev.text.rstrip().endswith("?")
            if same and (piece.speaker is not None or (gap < pause_break and not asked)):
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
            )
        )
    named = any(p.speaker for p in pieces)
    transcript = Transcript("".join(parts), source_format, turns, cues, layout="speaker per cue" if named else "none")
    recognise_interviewer(transcript)
    return transcript


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
    if hours and len(hours) > 6:  # past any recording, and past what a float holds
        raise IngestError(f"bad timestamp {value[:40]!r}: {len(hours)} digits of hours")
    total = int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
    if frac:
        total += int(frac.ljust(3, "0")) / 1000
    return float(total)


# ---------------------------------------------------------------------- naming speakers

#: Separates the entries of a document's ``speaker_names`` attribute (as in ``interviewer``).
NAMES_SEPARATOR = "|"


def speaker_names_applied(labels: list[str | None], spec: str) -> list[str | None]:
    """Turn labels after the naming ``spec`` (a document's ``speaker_names`` attribute), whose
    entries, separated by ``|``, apply in the order written:

    * ``OLD=NEW`` renames a label (``SPEAKER_01=P3``);
    * ``#N=NAME`` names turn N (counted from 0), e.g. an unlabelled turn of a recording;
    * ``#*=A,B`` names the turns A, B, A, B, ... from the first (a question-and-answer
      interview cut at pauses), for ``#N`` entries after it to correct.
    """
    labels = list(labels)
    for entry in (e.strip() for e in spec.split(NAMES_SEPARATOR)):
        if not entry:
            continue
        key, sep, value = entry.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise InputError(f"speaker names: {entry!r} is not OLD=NEW, #N=NAME or #*=A,B")
        if key == "#*":
            cycle = [v.strip() for v in value.split(",") if v.strip()]
            labels = [cycle[i % len(cycle)] for i in range(len(labels))]
        elif key.startswith("#"):
            if not key[1:].isdigit():
                raise InputError(f"speaker names: {key!r} is not a turn number (#0, #1, ...)")
            if int(key[1:]) < len(labels):  # a later version may have fewer turns
                labels[int(key[1:])] = value
        else:
            labels = [value if label == key else label for label in labels]
    return labels


def name_transcript_speakers(transcript: Transcript, spec: str | None) -> None:
    """Apply a ``speaker_names`` spec to a transcript's turns (before it is stored)."""
    if spec:
        for turn, label in zip(transcript.turns, speaker_names_applied([t.speaker for t in transcript.turns], spec),
                               strict=True):
            turn.speaker = label


def merge_speaker_names(old: str | None, new: list[str]) -> str:
    """A ``speaker_names`` spec with ``new`` entries added: an entry replaces an earlier one of
    the same key, and ``#*`` replaces every earlier turn entry."""
    entries = [e.strip() for e in (old or "").split(NAMES_SEPARATOR) if e.strip()]
    for entry in new:
        key = entry.partition("=")[0].strip()
        if key == "#*":
            entries = [e for e in entries if not e.startswith("#")]
        entries = [e for e in entries if e.partition("=")[0].strip() != key]
        entries.append(entry.strip())
    return NAMES_SEPARATOR.join(entries)
