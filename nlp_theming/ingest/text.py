"""Plain text with speaker labels (.txt, .md); decoding is :mod:`nlp_theming.textio`'s.

Which lines name a speaker is sniffed per file (:mod:`.layouts`): a label at the start of a
line (``Interviewer:``, ``P3:``, ``Dr Shah:``, optionally with a timestamp such as
``[00:01:02]``), or the name alone on a line above the speech (``Jane Doe``, ``**Jane Doe**``,
``Jane Doe  0:03``, ``Speaker 1 (00:01:12):``). Lines without a label continue the turn above.
Text before the first label (a title, a date) is kept but belongs to no speaker.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from ..textio import decode_bytes
from ..transcript import IngestError, Transcript, Turn, is_interviewer_label, parse_timestamp, recognise_interviewer
from .layouts import NOT_SPEAKERS, TIME, accept_name_lines, name_line, time_line

# A label is short: up to five words, no sentence punctuation, optionally "Dr."/"Mrs." style,
# optionally bold (**Jane:**) and timed before the name (a time or a time range), after it or after
# the colon.
_LABEL = re.compile(
    rf"^(?P<prefix>[ \t]*(?:[\[(](?P<time>{TIME})(?:[ \t]*-->[ \t]*{TIME})?[\])][ \t]*)?)"
    r"(?:\*\*|__)?"
    r"(?P<label>(?:[A-Z][\w'’.\-]*|[A-Z]?\d+)(?:[ \t]+[\w'’.\-]+){0,4}?)"
    rf"(?:\*\*|__)?[ \t]*(?:[\[(](?P<time2>{TIME})[\])])?[ \t]*:(?:\*\*|__)?[ \t]+"
    rf"(?:[\[(](?P<time3>{TIME})[\])][ \t]*)?",
)

#: A label found on a line: (label, offset where the speech starts, timestamp).
Label = tuple[str, int, float | None]


def _speaker_label(line: str) -> Label | None:
    """Return (label, offset where speech starts, timestamp) when the line opens with a label."""
    m = _LABEL.match(line)
    if not m:
        return None
    label = m.group("label").strip()
    if label.lower().rstrip(".") in NOT_SPEAKERS or len(label) > 40:
        return None
    # "Well, I think: ..." is speech, not a label: labels carry no sentence punctuation.
    if any(ch in label for ch in ',;!?"“”'):
        return None
    words = label.split()
    # Long lower-case phrases before a colon are speech ("the thing is: ...").
    if len(words) > 2 and sum(w[0].islower() for w in words) > 1:
        return None
    stamp = m.group("time") or m.group("time2") or m.group("time3")
    return label, m.end(), parse_timestamp(stamp) if stamp else None


def _name_like(label: str) -> bool:
    return all(w[0].isupper() or w[0].isdigit() for w in label.split())


def parse_labelled_text(
    text: str,
    source_format: str,
    emphasised: Collection[int] = (),
    known: Mapping[int, Label] | None = None,
) -> Transcript:
    """Find speaker turns in typed text. Offsets point into ``text`` unchanged.

    ``emphasised``: indices of lines a word processor shows bold or as a heading; ``known``:
    labels already known by line index (rows of a speaker/text table).
    """
    known = dict(known or {})
    lines = text.split("\n")
    inline: list[Label | None] = []
    for number, line in enumerate(lines, start=1):
        try:
            inline.append(_speaker_label(line) if line.strip() and number - 1 not in known else None)
        except IngestError as exc:  # a stamp such as [00:75:00]
            raise IngestError(f"line {number}: {exc}") from exc
    counts: dict[str, int] = {}
    for found in inline:
        if found:
            counts[found[0]] = counts.get(found[0], 0) + 1
    # A one-off "So basically: ..." is speech; a label recurs or looks like a name.
    inline = [f if f and (counts[f[0]] >= 2 or _name_like(f[0])) else None for f in inline]
    candidates = {
        i: found
        for i, line in enumerate(lines)
        if i not in known and inline[i] is None and (found := name_line(line, i in emphasised))
    }
    names = accept_name_lines(lines, candidates)
    n_inline = sum(1 for f in inline if f)
    if len(names) > n_inline:
        inline = [None] * len(lines)  # "Note: ..." inside speech under name lines is speech
    else:
        names = {}
    # A time alone on the line above a name line (older Teams documents) belongs to that turn.
    skip: set[int] = set()
    for i, found in names.items():
        above = next((j for j in range(i - 1, -1, -1) if lines[j].strip()), None)
        if above is not None and above not in names and (when := time_line(lines[above])) is not None:
            skip.add(above)
            if found.time is None:
                found.time = when
    labels = [f[0] for f in (*known.values(), *(f for f in inline if f))] + [f.label for f in names.values()]
    # Unlabelled lines continue the turn above only where participants are labelled too. With
    # no labels, or only the interviewer's, each paragraph is its own turn: think-aloud notes
    # and transcripts that mark only the questions. Under a name line the speech is below it.
    continues = bool(names) or any(not is_interviewer_label(label) for label in labels)
    turns: list[Turn] = []
    pos = 0
    current: Turn | None = None
    for i, line in enumerate(lines):
        line_start, line_end = pos, pos + len(line)
        pos = line_end + 1
        if not line.strip() or i in skip:
            continue
        found = known.get(i) or inline[i]
        if found:
            label, offset, stamp = found
            current = Turn(speaker=label, start=line_start + offset, end=line_end, start_time=stamp)
            turns.append(current)
        elif i in names:
            # the turn's speech starts on a later line
            current = Turn(speaker=names[i].label, start=pos, end=pos, start_time=names[i].time)
            turns.append(current)
        elif current is not None and continues:
            if current.end <= current.start:  # the first line of speech under a label
                current.start = line_start
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
    transcript = Transcript(text=text, source_format=source_format, turns=turns)
    transcript.layout = _layout_name(len(known), n_inline, names)
    recognise_interviewer(transcript)
    return transcript


def _layout_name(n_table: int, n_inline: int, names: dict) -> str:
    if n_table and n_table >= max(n_inline, len(names)):
        return "table"
    if names:
        return "name + time lines" if any(n.time is not None for n in names.values()) else "name lines"
    return "name: text" if n_inline else "none"


def read_text(raw: bytes, source_format: str = "txt") -> Transcript:
    return parse_labelled_text(decode_bytes(raw), source_format)
