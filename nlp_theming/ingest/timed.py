"""Audio-derived transcripts: WebVTT, SRT, Whisper-style JSON and CSV tables of turns."""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from dataclasses import dataclass

from .model import (
    IngestError,
    TimedPiece,
    Transcript,
    from_timed_pieces,
    parse_timestamp,
)
from .text import decode_bytes

_ARROW = re.compile(r"^\s*(?P<start>[\d:.,]+)\s+-->\s+(?P<end>[\d:.,]+)")
_VOICE = re.compile(r"<v(?:\.[\w.\-]+)?\s+([^>]+)>(.*?)(?:</v>|$)", re.DOTALL)
_TAG = re.compile(r"</?[^>]+>")
# Zoom and many captioners write "Name: text" inside the cue.
_INLINE_SPEAKER = re.compile(
    r"^(?P<name>[A-Z][\w'’.\-]*(?:\s+[\w'’.\-]+){0,3}|SPEAKER_\d+|Speaker \d+)\s*:\s+(?P<text>.+)$", re.DOTALL
)
_BRACKET_SPEAKER = re.compile(r"^\[(?P<name>[^\]]{1,40})\]\s*(?P<text>.+)$", re.DOTALL)


def _split_speaker(text: str) -> tuple[str | None, str]:
    for pattern in (_BRACKET_SPEAKER, _INLINE_SPEAKER):
        m = pattern.match(text)
        if m:
            return m.group("name").strip(), m.group("text").strip()
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


def _cue_text(payload: str) -> tuple[str | _Inline | None, str]:
    """Speaker and plain text of a cue payload (voice spans, markup and entities removed)."""
    speaker = None
    voices = _VOICE.findall(payload)
    if voices:
        speaker = voices[0][0].strip()
        payload = " ".join(v[1] for v in voices)
    text = html.unescape(_TAG.sub("", payload))
    text = " ".join(text.split())
    if speaker is None:
        label, rest = _split_speaker(text)
        if label is not None:
            return _Inline(label, rest, text), rest
    return speaker, text


def _blocks(text: str) -> list[list[str]]:
    return [b.split("\n") for b in re.split(r"\n\s*\n", text.strip()) if b.strip()]


def read_vtt(raw: bytes) -> Transcript:
    text = decode_bytes(raw)
    if not text.lstrip().startswith("WEBVTT"):
        raise IngestError("not a WebVTT file (first line must be WEBVTT)")
    pieces: list[TimedPiece] = []
    for n, block in enumerate(_blocks(text)):
        if n == 0 and block[0].startswith("WEBVTT"):
            continue
        if block[0].startswith(("NOTE", "STYLE", "REGION")):
            continue
        timing = next((i for i, line in enumerate(block[:2]) if "-->" in line), None)
        if timing is None:
            raise IngestError(f"malformed cue {n}: no 'start --> end' line near {block[0][:40]!r}")
        m = _ARROW.match(block[timing])
        if not m:
            raise IngestError(f"malformed cue timing {block[timing][:60]!r}")
        speaker, body = _cue_text("\n".join(block[timing + 1 :]))
        pieces.append(TimedPiece(body, parse_timestamp(m["start"]), parse_timestamp(m["end"]), speaker))
    if not pieces:
        raise IngestError("WebVTT file has no cues")
    return from_timed_pieces(_confirm_inline_speakers(pieces), "vtt")


def read_srt(raw: bytes) -> Transcript:
    text = decode_bytes(raw)
    pieces: list[TimedPiece] = []
    for block in _blocks(text):
        timing = next((i for i, line in enumerate(block[:2]) if "-->" in line), None)
        if timing is None:
            raise IngestError(f"malformed SRT block starting {block[0][:40]!r}: no 'start --> end' line")
        m = _ARROW.match(block[timing])
        if not m:
            raise IngestError(f"malformed SRT timing {block[timing][:60]!r}")
        speaker, body = _cue_text("\n".join(block[timing + 1 :]))
        pieces.append(TimedPiece(body, parse_timestamp(m["start"]), parse_timestamp(m["end"]), speaker))
    if not pieces:
        raise IngestError("SRT file has no subtitles")
    return from_timed_pieces(_confirm_inline_speakers(pieces), "srt")


def _confidence(segment: dict) -> float | None:
    words = segment.get("words") or []
    probs = [w.get("probability", w.get("score")) for w in words if isinstance(w, dict)]
    probs = [float(p) for p in probs if isinstance(p, (int, float))]
    if probs:
        return sum(probs) / len(probs)
    if isinstance(segment.get("confidence"), (int, float)):
        return float(segment["confidence"])
    if isinstance(segment.get("avg_logprob"), (int, float)):
        return math.exp(segment["avg_logprob"])
    return None


def read_whisper_json(raw: bytes) -> Transcript:
    """Whisper, faster-whisper and WhisperX output: ``{"segments": [...]}`` or a bare list."""
    try:
        data = json.loads(decode_bytes(raw))
    except json.JSONDecodeError as exc:
        raise IngestError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
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
        pieces.append(TimedPiece(str(seg["text"]).strip(), start, end, seg.get("speaker"), _confidence(seg)))
    if not pieces:
        raise IngestError("JSON has no segments")
    return from_timed_pieces(pieces, "whisper_json")


_CSV_ALIASES = {
    "speaker": ("speaker", "name", "speaker_name", "participant"),
    "text": ("text", "utterance", "content", "transcript", "speech"),
    "start": ("start", "start_time", "begin", "from"),
    "end": ("end", "end_time", "to", "stop"),
    "confidence": ("confidence", "probability", "score"),
}


def read_csv_turns(raw: bytes) -> Transcript:
    """A table of turns: ``speaker, text`` and optionally ``start, end, confidence``."""
    text = decode_bytes(raw)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    fields = {f.strip().lower(): f for f in reader.fieldnames or []}
    cols = {key: next((fields[a] for a in aliases if a in fields), None) for key, aliases in _CSV_ALIASES.items()}
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
        pieces.append(TimedPiece(get("text") or "", start, end, get("speaker"), conf))
    return from_timed_pieces(pieces, "csv_turns")
