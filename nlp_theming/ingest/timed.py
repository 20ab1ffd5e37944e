"""Audio-derived transcripts: WebVTT, SRT, Whisper-style JSON and CSV tables of turns."""

from __future__ import annotations

import csv
import html
import json
import math
import re
from dataclasses import dataclass

from ..textio import decode_bytes, dict_rows, sniff_delimiter
from ..transcript import (
    IngestError,
    TimedPiece,
    Transcript,
    from_timed_pieces,
    parse_timestamp,
)

_ARROW = re.compile(r"^\s*(?P<start>[\d:.,]+)\s+-->\s+(?P<end>[\d:.,]+)")
# A voice span's opening tag; its text runs to the next one (the closing </v> is optional).
# A name or tag never holds "<": each match then scans only to the next "<", in linear time
# (with [^>]+ a run of "<v <v <v" without a ">" rescanned the rest of the cue from each "<").
_VOICE_OPEN = re.compile(r"<v(?:\.[\w.\-]+)?\s+([^<>]+)>")
_TAG = re.compile(r"</?[^<>]+>")
# Zoom and many captioners write "Name: text" inside the cue.
_INLINE_SPEAKER = re.compile(
    r"^(?P<name>[A-Z][\w'’.\-]*(?:\s+[\w'’.\-]+){0,3}|SPEAKER_\d+|Speaker \d+)\s*:\s+(?P<text>.+)$", re.DOTALL
)
_BRACKET_SPEAKER = re.compile(r"^\[(?P<name>[^\]]{1,40})\]\s*(?P<text>.+)$", re.DOTALL)
# Captioners' sound and event tags: "[laughs] We get two." is speech, not a speaker.
_NON_SPEECH = {
    "applause",
    "background",
    "coughs",
    "crosstalk",
    "cross-talk",
    "inaudible",
    "indistinct",
    "laughs",
    "laughing",
    "laughter",
    "music",
    "noise",
    "overlapping",
    "pause",
    "sighs",
    "silence",
    "unclear",
    "unintelligible",
}


def _bracket_label(name: str) -> bool:
    """A bracketed label names someone ([Dr Shah], [SPEAKER_01], [P3]) rather than a sound."""
    words = name.split()
    return bool(words) and name[0].isupper() and words[0].strip(".,:;!?").lower() not in _NON_SPEECH


def _split_speaker(text: str) -> tuple[str | None, str]:
    m = _BRACKET_SPEAKER.match(text)
    if m and _bracket_label(m["name"].strip()):
        return m["name"].strip(), m["text"].strip()
    m = _INLINE_SPEAKER.match(text)
    if m:
        return m["name"].strip(), m["text"].strip()
    return None, text


@dataclass
class _Inline:
    """A speaker read from the cue text ("Name: ...") rather than markup: still to be confirmed."""

    label: str
    text: str
    original: str


def _confirm_inline_speakers(pieces: list[TimedPiece]) -> list[TimedPiece]:
    """Keep a "Name: text" label only when it recurs or looks like a name of several words.

    In captions without speakers, "The honest answer: not enough" is speech, and one-off
    phrases before a colon must stay part of it.
    """
    counts: dict[str, int] = {}
    for p in pieces:
        if isinstance(p.speaker, _Inline):
            counts[p.speaker.label] = counts.get(p.speaker.label, 0) + 1
    for p in pieces:
        if isinstance(p.speaker, _Inline):
            inline, words = p.speaker, p.speaker.label.split()
            name_like = len(words) >= 2 and all(w[0].isupper() or w[0].isdigit() for w in words)
            if counts[inline.label] >= 2 or name_like or inline.label.upper().startswith("SPEAKER"):
                p.speaker, p.text = inline.label, inline.text
            else:
                p.speaker, p.text = None, inline.original
    return pieces


def _plain(payload: str) -> str:
    return " ".join(html.unescape(_TAG.sub("", payload)).split())


def _cue_text(payload: str) -> list[tuple[str | _Inline | None, str]]:
    """(speaker, plain text) of a cue payload, one pair per voice span (markup and entities
    removed). A cue where several people speak has several spans."""
    parts = _VOICE_OPEN.split(payload)
    if len(parts) > 1:
        # parts: [text before the first span, name, text, name, text, ...]; text before the
        # first span is kept with the first voice rather than dropped
        names, bodies = parts[1::2], parts[2::2]
        bodies[0] = parts[0] + " " + bodies[0]
        return [(name.strip(), _plain(body)) for name, body in zip(names, bodies, strict=True)]
    text = _plain(payload)
    label, rest = _split_speaker(text)
    if label is not None:
        return [(_Inline(label, rest, text), rest)]
    return [(None, text)]


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """Blank-line separated blocks, each with the (1-based) number of its first line."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            current = None
        elif current is None:
            current = [line]
            blocks.append((number, current))
        else:
            current.append(line)
    return blocks


def _check_order(start: float | None, end: float | None, where: str) -> None:
    if start is not None and end is not None and end < start:
        raise IngestError(f"{where}: ends ({end:g} s) before it starts ({start:g} s)")


def _timed_cue(block: list[str], timing: int, where: str) -> list[TimedPiece]:
    """The pieces of one VTT/SRT cue whose ``start --> end`` line is ``block[timing]``."""
    m = _ARROW.match(block[timing])
    if not m:
        raise IngestError(f"{where}: malformed cue timing {block[timing][:60]!r}")
    try:
        start, end = parse_timestamp(m["start"]), parse_timestamp(m["end"])
    except IngestError as exc:
        raise IngestError(f"{where}: {exc}") from exc
    _check_order(start, end, where)
    return [TimedPiece(body, start, end, speaker, where=where)
            for speaker, body in _cue_text("\n".join(block[timing + 1 :]))]


def read_vtt(raw: bytes) -> Transcript:
    text = decode_bytes(raw)
    if not text.lstrip().startswith("WEBVTT"):
        raise IngestError("not a WebVTT file (first line must be WEBVTT)")
    pieces: list[TimedPiece] = []
    for n, (first, block) in enumerate(_blocks(text)):
        if n == 0 and block[0].startswith("WEBVTT"):
            continue
        if block[0].startswith(("NOTE", "STYLE", "REGION")):
            continue
        timing = next((i for i, line in enumerate(block[:2]) if "-->" in line), None)
        if timing is None:
            raise IngestError(f"malformed cue {n} (line {first}): no 'start --> end' line near {block[0][:40]!r}")
        pieces.extend(_timed_cue(block, timing, f"cue {n} (line {first + timing})"))
    if not pieces:
        raise IngestError("WebVTT file has no cues")
    return from_timed_pieces(_confirm_inline_speakers(pieces), "vtt")


def read_srt(raw: bytes) -> Transcript:
    text = decode_bytes(raw)
    pieces: list[TimedPiece] = []
    for n, (first, block) in enumerate(_blocks(text), start=1):
        timing = next((i for i, line in enumerate(block[:2]) if "-->" in line), None)
        if timing is None:
            raise IngestError(
                f"malformed SRT block {n} (line {first}) starting {block[0][:40]!r}: no 'start --> end' line"
            )
        pieces.extend(_timed_cue(block, timing, f"subtitle {n} (line {first + timing})"))
    if not pieces:
        raise IngestError("SRT file has no subtitles")
    return from_timed_pieces(_confirm_inline_speakers(pieces), "srt")


def _confidence(segment: dict) -> float | None:
    words = segment.get("words") or []
    if not isinstance(words, list):  # a malformed "words" field carries no confidences
        words = []
    probs = [w.get("probability", w.get("score")) for w in words if isinstance(w, dict)]
    probs = [float(p) for p in probs if isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p)]
    if probs:
        return sum(probs) / len(probs)
    if isinstance(segment.get("confidence"), (int, float)):
        return float(segment["confidence"])
    if isinstance(segment.get("avg_logprob"), (int, float)):
        return math.exp(segment["avg_logprob"])
    return None


def _json_speaker(value: object, i: int) -> str | None:
    # Some diarisers number their speakers: 1 is the label "1".
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise IngestError(f"segment {i}: speaker must be text or a number, not {type(value).__name__}")


#: Seconds of silence between recognised segments that start a new turn in a transcript this
#: tool made from a recording (no diariser: see docs/audio.md).
ASR_PAUSE_BREAK = 1.0


def read_whisper_json(raw: bytes) -> Transcript:
    """Whisper, faster-whisper and WhisperX output: ``{"segments": [...]}`` or a bare list."""
    try:
        # an integer of 20 or more digits is no time or score: read as infinity, which every
        # check below refuses by name (a float of it would raise OverflowError wherever it is used)
        data = json.loads(decode_bytes(raw), parse_int=lambda d: int(d) if len(d.lstrip("-")) < 20 else math.inf)
    except json.JSONDecodeError as exc:
        raise IngestError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:
        raise IngestError("malformed JSON: nested too deeply to be a transcript") from exc
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise IngestError(f"malformed JSON: {str(exc).split(';')[0]}") from exc
    segments = data.get("segments") if isinstance(data, dict) else data
    if not isinstance(segments, list):
        raise IngestError("JSON has no 'segments' list (expected Whisper-style output)")
    pieces: list[TimedPiece] = []
    for i, seg in enumerate(segments):
        if not isinstance(seg, dict) or "text" not in seg:
            raise IngestError(f"segment {i} has no 'text'")
        try:
            start = float(seg["start"]) if seg.get("start") is not None else None
            end = float(seg["end"]) if seg.get("end") is not None else None
        except (TypeError, ValueError) as exc:
            raise IngestError(f"segment {i} has a non-numeric start or end") from exc
        # JSON allows NaN and Infinity; neither is a time
        if any(t is not None and not (math.isfinite(t) and t >= 0) for t in (start, end)):
            raise IngestError(f"segment {i}: start and end must be finite, non-negative seconds")
        _check_order(start, end, f"segment {i}")
        speaker = _json_speaker(seg.get("speaker"), i)
        pieces.append(TimedPiece(str(seg["text"]).strip(), start, end, speaker, _confidence(seg), f"segment {i}"))
    if not pieces:
        raise IngestError("JSON has no segments")
    if isinstance(data, dict) and isinstance(data.get("nlp_theming"), dict):
        # made by this tool from a recording, with no speakers: turns cut at shorter pauses and
        # after questions, whether the recording or its (corrected) transcript is ingested
        return from_timed_pieces(pieces, "whisper_json", ASR_PAUSE_BREAK, break_after_question=True)
    return from_timed_pieces(pieces, "whisper_json")


TURN_COLUMNS = {
    "speaker": ("speaker", "name", "speaker_name", "participant"),
    "text": ("text", "utterance", "content", "transcript", "speech"),
    "start": ("start", "start_time", "begin", "from"),
    "end": ("end", "end_time", "to", "stop"),
    "confidence": ("confidence", "probability", "score"),
}


def read_csv_turns(raw: bytes) -> Transcript:
    """A table of turns: ``speaker, text`` and optionally ``start, end, confidence``."""
    text = decode_bytes(raw)
    sep = sniff_delimiter(text, lambda names: any(n in TURN_COLUMNS["text"] for n in names))
    reader = dict_rows(text, sep)
    try:
        return _csv_transcript(reader)
    except csv.Error as exc:
        # e.g. a field over the csv module's 131,072-character limit; line_num counts the
        # lines already read, and the error is in the one being read
        raise IngestError(f"unreadable CSV near line {reader.line_num + 1}: {exc}") from exc


def _csv_transcript(reader: csv.DictReader) -> Transcript:
    fields = {f.strip().lower(): f for f in reader.fieldnames or []}
    cols = {key: next((fields[a] for a in aliases if a in fields), None) for key, aliases in TURN_COLUMNS.items()}
    if cols["text"] is None:
        raise IngestError(f"CSV of turns needs a 'text' column (found: {', '.join(fields) or 'none'})")
    pieces = []
    for n, row in enumerate(reader, start=2):

        def get(key: str, row: dict = row) -> str | None:
            col = cols[key]
            value = row.get(col) if col else None
            return value.strip() if isinstance(value, str) and value.strip() else None

        try:
            start = parse_timestamp(get("start")) if get("start") else None
            end = parse_timestamp(get("end")) if get("end") else None
            conf = float(get("confidence")) if get("confidence") else None
        except (IngestError, ValueError) as exc:
            raise IngestError(f"row {n}: {exc}") from exc
        _check_order(start, end, f"row {n}")
        pieces.append(TimedPiece(get("text") or "", start, end, get("speaker"), conf, f"row {n}"))
    return from_timed_pieces(pieces, "csv_turns")
