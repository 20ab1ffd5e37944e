"""Speaker layouts of typed transcripts, sniffed per file: which lines name a speaker.

Typists and transcription tools say who speaks in several ways:

- ``name: text``: the label opens the line (``Jane: ...``, ``[00:01:02] Jane: ...``,
  ``Speaker 1 (00:01:02): ...``, ``Jane: [00:01:02] ...``, ``**Jane:** ...``);
- ``name lines``: the name alone on its line and the speech on the lines below (``Jane Doe``,
  ``**Jane Doe**``, ``### Jane Doe``, ``Jane Doe:``, a bold paragraph in Word or LibreOffice);
- ``name + time lines``: the same with a timestamp (``Jane Doe  0:03`` from Otter and Teams,
  ``Speaker 1 (00:01:12):`` from Rev and Descript, ``[00:01:12] Jane:``, ``[Jane] 00:01:12``
  from Zoom), possibly after a ``0:0:0.0 --> 0:0:3.9`` line (older Teams documents);
- ``table``: a speaker column and a text column (and perhaps a time column) in a document.

A line that looks like a name is not yet a speaker: headings, titles and one-word sentences
look the same. A name-line layout is accepted for a file only when it is consistent across it:
a few labels recur, they alternate, and each is followed by speech.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise

from ..transcript import IngestError, is_interviewer_label, parse_timestamp

TIME = r"\d{1,2}:\d{1,2}(?::\d{1,2})?(?:[.,]\d+)?"
# A line holding only a time, or a "start --> end" range (older Teams .docx transcripts).
_TIME_LINE = re.compile(rf"^[\[(]?(?P<t>{TIME})[\])]?(?:[ \t]*-->[ \t]*[\[(]?{TIME}[\])]?)?$")
_HEADING = re.compile(r"^#{1,6}[ \t]+(?P<inner>.*?)[ \t]*#*$")
_BOLD = re.compile(r"^(\*\*|__)(?P<inner>.+?)\1(?P<rest>.*)$")
_TIME_FIRST = re.compile(rf"^[\[(]?(?P<t>{TIME})[\])]?[ \t]*[-–|·]?[ \t]*(?P<rest>.+)$")
_TIME_LAST = re.compile(rf"^(?P<rest>.+?)[ \t]*[-–|·,]?[ \t]*[\[(]?(?P<t>{TIME})[\])]?[ \t]*:?$")

# Words that often start a line followed by a colon but are not speakers.
NOT_SPEAKERS = {
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
# Short answers a typist leaves on a line of their own, and common headings: never a name.
_NEVER_NAMES = {
    "absolutely", "agenda", "alright", "all right", "bye", "certainly", "end", "exactly", "fine", "good",
    "great", "hello", "hi", "hmm", "indeed", "mhm", "mm", "mm-hmm", "no", "nope", "of course", "ok", "okay",
    "really", "right", "sure", "thank you", "thanks", "true", "uh", "uh-huh", "um", "well", "yeah", "yep", "yes",
    "introduction", "background", "summary", "transcript", "interview", "contents", "appendix",
    "action", "actions", "decision", "decisions", "discussion", "outcome", "outcomes", "next steps", "minutes",
    "comment", "comments", "conclusion", "conclusions", "findings", "results", "methods", "recommendations",
}
# Lower-case words that may sit inside a name ("Ludwig van Beethoven", "Maria de la Cruz").
_PARTICLES = {"al", "bin", "da", "de", "del", "der", "di", "du", "el", "la", "le", "ten", "ter", "van", "von", "y"}

# Consistency of a name-line layout (see :func:`accept_name_lines`).
MIN_FOLLOWED_BY_SPEECH = 0.8  # share of name lines whose next line is speech
MIN_RECURRING_SHARE = 0.75  # share of name lines whose label occurs more than once
MIN_ALTERNATION = 0.5  # share of consecutive name lines that change speaker (untimed layouts)
MAX_SPEAKERS = 12


def is_name(label: str) -> bool:
    """Whether ``label`` can name a speaker: a few capitalised words or a numbered speaker
    (``Dr Shah``, ``Speaker 1``, ``SPEAKER_00``, ``P3``), no sentence punctuation."""
    words = label.split()
    if not 1 <= len(words) <= 5 or len(label) > 40:
        return False
    if any(ch in label for ch in ',;!?"“”()[]{}…*#:'):
        return False
    # a full stop ends a sentence, unless it ends an initial ("John F.")
    if label.endswith(".") and not re.search(r"(^|\s)\w\.$", label):
        return False
    if label.lower().rstrip(".") in NOT_SPEAKERS or label.lower() in _NEVER_NAMES:
        return False
    if label.replace(" ", "").isdigit():  # "2024", "1" alone: a year or a list number
        return False
    if is_interviewer_label(label):  # "interviewer" as some typists write it
        return True
    return all(w[0].isupper() or w[0].isdigit() or (i and w.lower() in _PARTICLES) for i, w in enumerate(words))


@dataclass
class NameLine:
    """A line that may name the speaker of the lines below it."""

    label: str
    time: float | None
    strength: str  # "timed" (has a timestamp), "marked" (bold, heading, colon) or "plain"


def time_line(line: str) -> float | None:
    """The time of a line that holds only a time (or a time range), else None."""
    m = _TIME_LINE.match(line.strip())
    if not m:
        return None
    try:
        return parse_timestamp(m["t"])
    except IngestError:
        return None


def name_line(line: str, emphasised: bool = False) -> NameLine | None:
    """Read ``line`` as a name alone on its line (perhaps marked up, perhaps timed), else None.

    ``emphasised``: the word processor shows the whole paragraph bold or as a heading.
    """
    s = line.strip()
    if not s or len(s) > 80:
        return None
    marked = emphasised
    if m := _HEADING.match(s):
        s, marked = m["inner"], True
    if m := _BOLD.match(s):
        s, marked = (m["inner"] + m["rest"]).strip(), True
    stamp = None
    if (m := _TIME_FIRST.match(s)) and not _TIME_LINE.match(s):
        s, stamp = m["rest"], m["t"]
    elif m := _TIME_LAST.match(s):
        s, stamp = m["rest"], m["t"]
    s = s.strip().strip("*_").strip()
    if s.endswith(":"):
        s, marked = s[:-1].strip().strip("*_").strip(), True
    if s.startswith("[") and s.endswith("]"):  # Zoom: "[Jane Doe] 00:01:12"
        s, marked = s[1:-1].strip(), True
    if not is_name(s):
        return None
    time = None
    if stamp is not None:
        try:
            time = parse_timestamp(stamp)
        except IngestError:
            return None  # "Room 10:75" is not a time, so not a timed name either
    return NameLine(s, time, "timed" if stamp is not None else "marked" if marked else "plain")


def accept_name_lines(lines: list[str], candidates: dict[int, NameLine]) -> dict[int, NameLine]:
    """The candidate name lines (by line index) that form a consistent layout; empty if none does.

    The strongest kind of candidate that is consistent wins (timed, then marked, then plain):
    at least two name lines, most followed by speech, most with a label that recurs; untimed
    layouts also need two recurring labels that mostly alternate. A timestamp is evidence
    enough for a label seen once; an untimed label seen once stays text (a heading).
    """
    following = _next_nonblank(lines)
    for strength in ("timed", "marked", "plain"):
        group = {i: c for i, c in candidates.items() if c.strength == strength}
        if len(group) < 2:
            continue
        order = sorted(group)
        labels = [group[i].label for i in order]
        counts = Counter(labels)
        recurring = {label for label, n in counts.items() if n >= 2}
        # speech follows: not another name line of this kind ("Definitely" under a bold name is speech)
        followed = sum(
            1 for i in order if following[i] is not None and following[i] not in group
            and time_line(lines[following[i]]) is None
        )
        if followed < MIN_FOLLOWED_BY_SPEECH * len(order) or not recurring or len(recurring) > MAX_SPEAKERS:
            continue
        if sum(counts[label] for label in recurring) < MIN_RECURRING_SHARE * len(order):
            continue
        if strength != "timed":
            changes = sum(a != b for a, b in pairwise(labels))
            if len(recurring) < 2 or changes < MIN_ALTERNATION * (len(labels) - 1):
                continue
        return {i: c for i, c in group.items() if c.label in recurring or strength == "timed"}
    return {}


def _next_nonblank(lines: list[str]) -> list[int | None]:
    out: list[int | None] = [None] * len(lines)
    nxt: int | None = None
    for i in range(len(lines) - 1, -1, -1):
        out[i] = nxt
        if lines[i].strip():
            nxt = i
    return out


# ---------------------------------------------------------------------- tables

_HEADERS = {
    "speaker": {"speaker", "speakers", "name", "who", "person", "participant", "speaker name"},
    "text": {"text", "transcript", "transcription", "speech", "utterance", "content", "dialogue", "words"},
    "time": {"time", "timestamp", "timecode", "start", "start time", "begin", "in"},
}


@dataclass
class TableRow:
    speaker: str | None
    time: float | None
    text: str


def table_rows(rows: list[list[str]]) -> list[TableRow] | None:
    """Rows of a table as (speaker, time, text) when it has a speaker column and a text column
    (found by a header row, or else by their contents); None for any other table."""
    rows = [[c.strip() for c in r] for r in rows if any(c.strip() for c in r)]
    width = max((len(r) for r in rows), default=0)
    if width < 2 or not rows:
        return None
    rows = [r + [""] * (width - len(r)) for r in rows]
    cols = _columns_from_header(rows[0])
    if cols is not None:
        rows = rows[1:]
    else:
        cols = _columns_from_content(rows)
        if cols is None:
            return None
    speaker, text, time = cols
    out = []
    for r in rows:
        when = time_line(r[time]) if time is not None else None
        out.append(TableRow(r[speaker].rstrip(":").strip() or None, when, r[text]))
    return out


def _columns_from_header(header: list[str]) -> tuple[int, int, int | None] | None:
    found: dict[str, int] = {}
    for i, cell in enumerate(header):
        key = cell.lower().rstrip(":").strip()
        for role, names in _HEADERS.items():
            if key in names and role not in found:
                found[role] = i
    if "speaker" in found and "text" in found:
        return found["speaker"], found["text"], found.get("time")
    return None


def _columns_from_content(rows: list[list[str]]) -> tuple[int, int, int | None] | None:
    width = len(rows[0])
    filled = [[r[i] for r in rows if r[i]] for i in range(width)]
    time = next((i for i in range(width) if filled[i] and all(time_line(c) is not None for c in filled[i])), None)
    rest = [i for i in range(width) if i != time and filled[i]]
    if len(rest) < 2:
        return None
    text = max(rest, key=lambda i: sum(len(c) for c in filled[i]) / len(filled[i]))
    names = [i for i in rest if i != text and all(is_name(c.rstrip(":").strip()) for c in filled[i])]
    if not names:
        return None
    speaker = min(names, key=lambda i: len(set(filled[i])))
    if len(set(filled[speaker])) > MAX_SPEAKERS:
        return None
    return speaker, text, time
