"""Render the SYNTHETIC nhs-medical-leadership sample corpus from its YAML sources.

Every ``source/<id>.yaml`` becomes ``transcripts/<id>.<ext>`` in the interview's format (txt, docx,
vtt, srt, whisper_json), and the folder gets ``manifest.csv`` and ``gold_spans.csv``. The
audio-derived formats carry speech-recognition damage (lower case, lost punctuation, inserted
fillers, false-start repetitions, a few misheard words), made word by word so that every coded
quote can be followed onto the rendered text.

Gold offsets point into the normalised text that nlp_theming's own reader returns for the
rendered file (``read_transcript(path).text``), and every row is checked against it.

Rendering is deterministic: every random choice comes from a generator seeded with the document
id, and .docx archives get fixed timestamps. Files are rewritten only when their bytes change.

Usage:
    python scripts/build_corpus.py            # render and write
    python scripts/build_corpus.py --check    # verify that what is on disk is up to date; writes nothing

``make_corpus.py`` imports the rendering functions from here.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import random
import re
import sys
import tempfile
import textwrap
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpora" / "nhs-medical-leadership"

EXTENSIONS = {"txt": ".txt", "docx": ".docx", "vtt": ".vtt", "srt": ".srt", "whisper_json": ".json"}
ASR_FORMATS = ("vtt", "srt", "whisper_json")
ROLES = ("doctor", "manager", "nurse", "psychologist")
LEVELS = ("board", "unit")
WHISPER_INTERVIEWER, WHISPER_PARTICIPANT = "SPEAKER_00", "SPEAKER_01"

MANIFEST_FIELDS = [
    "file", "site", "participant", "role", "level", "unit", "job_title", "format", "interviewer", "synthetic"
]
GOLD_FIELDS = ["document", "start", "end", "code", "coder", "text"]

SYNTHETIC_NOTE = "SYNTHETIC interview written for nlp-theming; no real person is quoted or named."
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader when libyaml is there

# --------------------------------------------------------------------------------------------
# Sources


class SourceError(ValueError):
    """A source or coding file that cannot be used, with the reason in one line."""


@dataclass
class Interview:
    id: str
    site: str
    participant: str
    role: str
    level: str
    unit: str | None
    job_title: str
    format: str
    interviewer_label: str
    participant_label: str
    turns: list[tuple[str, str]]  # (speaker "I" | "P", text)

    @property
    def filename(self) -> str:
        return f"{self.id}{EXTENSIONS[self.format]}"

    def label(self, speaker: str) -> str:
        """The speaker label a turn has in the rendered file."""
        if self.format == "whisper_json":
            return WHISPER_INTERVIEWER if speaker == "I" else WHISPER_PARTICIPANT
        return self.interviewer_label if speaker == "I" else self.participant_label


@dataclass
class Coding:
    coder: str
    code: str
    turn: int
    quote: str


def clean_text(value: object) -> str:
    """Source text as the renderers use it: NFC, runs of white space made single spaces."""
    return " ".join(unicodedata.normalize("NFC", str(value)).split())


def load_interview(path: Path) -> Interview:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise SourceError(f"{path.name}: malformed YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(data, dict):
        raise SourceError(f"{path.name}: not a mapping")
    required = ("id", "site", "participant", "role", "level", "job_title", "format", "turns")
    missing = [k for k in required if not data.get(k)]
    if missing:
        raise SourceError(f"{path.name}: missing {', '.join(missing)}")
    if str(data["id"]) != path.stem:
        raise SourceError(f"{path.name}: id {data['id']!r} does not match the file name")
    if data["format"] not in EXTENSIONS:
        raise SourceError(f"{path.name}: unknown format {data['format']!r}")
    if data["role"] not in ROLES or data["level"] not in LEVELS:
        raise SourceError(f"{path.name}: unknown role {data['role']!r} or level {data['level']!r}")
    turns: list[tuple[str, str]] = []
    for i, turn in enumerate(data["turns"]):
        if not isinstance(turn, dict) or turn.get("speaker") not in ("I", "P") or not str(turn.get("text", "")).strip():
            raise SourceError(f"{path.name}: turn {i} needs speaker I or P and some text")
        if turns and turns[-1][0] == turn["speaker"]:
            raise SourceError(f"{path.name}: turns {i - 1} and {i} have the same speaker (turns must alternate)")
        turns.append((turn["speaker"], clean_text(turn["text"])))
    return Interview(
        id=str(data["id"]),
        site=str(data["site"]),
        participant=str(data["participant"]),
        role=data["role"],
        level=data["level"],
        unit=clean_text(data["unit"]) if data.get("unit") else None,
        job_title=clean_text(data["job_title"]),
        format=data["format"],
        interviewer_label=clean_text(data.get("interviewer_label") or "Interviewer"),
        participant_label=clean_text(data.get("participant_label") or "Participant"),
        turns=turns,
    )


def load_codings(path: Path, coder: str, interview: Interview) -> list[Coding]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise SourceError(f"{path}: malformed YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("codings"), list):
        raise SourceError(f"{path}: needs a 'codings:' list")
    if str(data.get("document")) != interview.id:
        raise SourceError(f"{path}: document {data.get('document')!r} is not {interview.id!r}")
    if data.get("coder") not in (None, coder):
        raise SourceError(f"{path}: coder {data.get('coder')!r} but the file is in coding/{coder}/")
    out = []
    for item in data["codings"]:
        code, quote = clean_text(item.get("code", "")), clean_text(item.get("quote", ""))
        out.append(Coding(coder, code, int(item.get("turn", -1)), quote))
    return out


# --------------------------------------------------------------------------------------------
# Speech-recognition damage

# Plausible misrecognitions of this corpus's vocabulary (lower-cased source word -> outputs).
CONFUSIONS: dict[str, tuple[str, ...]] = {
    "triumvirate": ("tri virate", "try virate"),
    "triumvirates": ("tri virates",),
    "consultants": ("consultant",),
    "consultant": ("consultants",),
    "pas": ("pays", "p a's"),
    "pa": ("pay",),
    "amd": ("a m d", "and"),
    "amds": ("a m ds", "amd's"),
    "hsmr": ("h s m r",),
    "cqc": ("c q c", "seek you see"),
    "matron": ("patron", "matt ron"),
    "matrons": ("patrons",),
    "directorate": ("director rate", "directory"),
    "directorates": ("director rates", "directories"),
    "rota": ("rotor",),
    "rotas": ("rotors", "rotor's"),
    "divisional": ("division all",),
    "locum": ("locale", "low come"),
    "locums": ("low comes",),
    "exec": ("exact",),
    "execs": ("exacts",),
    "governance": ("government",),
    "mortality": ("morality",),
    "psychologist": ("psychologists",),
    "psychiatrist": ("psychiatrists",),
    "psychiatrists": ("psychiatrist",),
    "clinician": ("clinicians",),
    "clinicians": ("clinician",),
    "caseload": ("case load",),
    "anaesthetics": ("and aesthetics",),
    "orthopaedics": ("ortho peedics",),
    "deanery": ("dean ery",),
    "wards": ("walls",),
    "board": ("bored",),
    "their": ("there",),
    "sepsis": ("sep sis",),
    "duality": ("dual tea",),
}
FILLERS = ("um", "uh")
REPEATABLE = {"the", "a", "i", "we", "and", "to", "it", "that", "so", "you", "they", "in", "of", "is", "there"}
_CLAUSE_END = re.compile(r"[.,;:?!]['\"”’)\]]*$")


@dataclass
class AsrWord:
    text: str
    token: int | None  # index of the source token it renders; None for an inserted filler
    misheard: bool = False
    clause_end: bool = False  # the source had punctuation after it (a natural place to end a cue)


@dataclass
class AsrTurn:
    """One turn as speech recognition wrote it, with the way back to the source text."""

    source: str
    tokens: list[tuple[int, int]]
    words: list[AsrWord] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    def span(self, start: int, end: int) -> tuple[int, int] | None:
        """Rendered span of the source span [start, end): from the first to the last word that
        renders a source token overlapping it. None when nothing of it survives."""
        wanted = {i for i, (s, e) in enumerate(self.tokens) if s < end and e > start}
        pos, first, last = 0, None, None
        for word in self.words:
            if word.token in wanted:
                if first is None:
                    first = pos
                last = pos + len(word.text)
            pos += len(word.text) + 1
        return None if first is None or last is None else (first, last)


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3})")
_DECIMAL = re.compile(r"(?<=\d)\.(?=\d)")
_BREAKS = re.compile(r"[-‐‑–—/+]")
_PUNCT = re.compile(r"[^\w'\x00 ]")


@lru_cache(maxsize=65536)
def asr_forms(token: str) -> tuple[str, ...]:
    """The words a recogniser writes for one source token: lower case, punctuation dropped
    (apostrophes kept, decimal points kept), hyphens and slashes heard as breaks."""
    t = token.replace("’", "'").replace("‘", "'").lower()
    t = _DECIMAL.sub("\x00", _THOUSANDS.sub("", t))
    t = t.replace("&", " and ").replace("%", " percent ").replace("£", " ")
    t = _PUNCT.sub("", _BREAKS.sub(" ", t)).replace("_", " ").replace("\x00", ".")
    return tuple(w for w in (part.strip("'") for part in t.split()) if w)


def _base_words(text: str) -> AsrTurn:
    turn = AsrTurn(source=text, tokens=[(m.start(), m.end()) for m in re.finditer(r"\S+", text)])
    in_bracket = False  # stage directions such as [laughs] are not speech
    for i, (s, e) in enumerate(turn.tokens):
        token = text[s:e]
        if in_bracket or token.startswith("["):
            in_bracket = "]" not in token
            continue
        forms = asr_forms(token)
        for k, form in enumerate(forms):
            turn.words.append(AsrWord(form, i, clause_end=k == len(forms) - 1 and bool(_CLAUSE_END.search(token))))
    return turn


def damage(turn_texts: list[str], rng: random.Random, misheard: tuple[int, int] = (3, 6)) -> list[AsrTurn]:
    """Speech-recognition version of an interview's turns. A few words per interview are misheard
    (from ``CONFUSIONS``); fillers and false-start repetitions are sprinkled through the talk."""
    turns = [_base_words(text) for text in turn_texts]
    candidates = [
        (t, w) for t, turn in enumerate(turns) for w, word in enumerate(turn.words) if word.text in CONFUSIONS
    ]
    chosen = set(rng.sample(candidates, min(len(candidates), rng.randint(*misheard))))
    for turn_index, turn in enumerate(turns):
        out: list[AsrWord] = []
        for w, word in enumerate(turn.words):
            if (turn_index, w) in chosen:
                forms = rng.choice(CONFUSIONS[word.text]).split()
                out.extend(
                    AsrWord(form, word.token, misheard=True, clause_end=word.clause_end and k == len(forms) - 1)
                    for k, form in enumerate(forms)
                )
                continue
            if rng.random() < 0.015 and not (out and out[-1].text in FILLERS) and word.text not in FILLERS:
                out.append(AsrWord(rng.choice(FILLERS), None))
            # a false start repeats a short word that opens a phrase ("the the"), not one that ends it
            if word.text in REPEATABLE and not word.clause_end and rng.random() < 0.03:
                out.append(AsrWord(word.text, word.token))
            out.append(word)
        turn.words = out
    return turns


# --------------------------------------------------------------------------------------------
# Timing


@dataclass
class TimedWord:
    text: str
    start: float
    end: float
    score: float


@dataclass
class TimedCue:
    speaker: str  # "I" | "P"
    words: list[TimedWord]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def start(self) -> float:
        return self.words[0].start

    @property
    def end(self) -> float:
        return self.words[-1].end


def split_cues(words: list[AsrWord], rng: random.Random) -> list[list[AsrWord]]:
    """Cues of about 6-14 words, cut at word boundaries, preferring the ends of clauses."""
    cues: list[list[AsrWord]] = []
    i, n = 0, len(words)
    while i < n:
        remaining = n - i
        if remaining <= 14:
            cues.append(words[i:])
            break
        target = rng.randint(8, 12) if remaining >= 20 else remaining // 2
        options = [j for j in range(i + 6, min(i + 14, n - 6) + 1) if words[j - 1].clause_end]
        cut = min(options, key=lambda j: (abs(j - i - target), j)) if options else i + target
        cues.append(words[i:cut])
        i = cut
    return cues


def lay_out(speakers: list[str], turns: list[AsrTurn], rng: random.Random) -> list[TimedCue]:
    """Timestamps for every word: about 2.3-2.8 words a second, short gaps between cues and
    0.5-2 s between turns. Misheard words get low recogniser scores."""
    rates = {"I": rng.uniform(2.45, 2.85), "P": rng.uniform(2.4, 2.8)}
    clock = rng.uniform(0.4, 1.5)
    cues: list[TimedCue] = []
    for t, (speaker, turn) in enumerate(zip(speakers, turns, strict=True)):
        if t:
            clock += rng.uniform(0.5, 2.0)
        words = turn.words
        raw = [0.55 + 0.09 * len(w.text) for w in words]
        scale = len(words) / rates[speaker] / sum(raw)
        k = 0
        for c, chunk in enumerate(split_cues(words, rng)):
            if c:
                clock += rng.uniform(0.05, 0.3)
            timed = []
            for word in chunk:
                slot = raw[k] * scale
                k += 1
                spoken = slot * rng.uniform(0.82, 0.95)
                score = rng.uniform(0.3, 0.6) if word.misheard else rng.uniform(0.8, 0.99)
                timed.append(TimedWord(word.text, round(clock, 3), round(clock + spoken, 3), round(score, 3)))
                clock += slot
            cues.append(TimedCue(speaker, timed))
    return cues


def timestamp(seconds: float, sep: str = ".") -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


# --------------------------------------------------------------------------------------------
# Rendering


@dataclass
class Rendered:
    """A rendered transcript and what the reader should find in it."""

    interview: Interview
    data: bytes
    labels: list[str]  # speaker label of each source turn in the file
    asr: list[AsrTurn] | None = None  # None for typed formats (text kept as written)

    def turn_text(self, i: int) -> str:
        return self.asr[i].text if self.asr is not None else self.interview.turns[i][1]

    def span(self, i: int, start: int, end: int) -> tuple[int, int] | None:
        """Where the source span [start, end) of turn i lies in that turn's rendered text."""
        if self.asr is None:
            return start, end
        return self.asr[i].span(start, end)


def default_title(interview: Interview) -> str:
    return f"Interview {interview.id} — synthetic transcript"


def render(interview: Interview, seed: int | str = 0, title: str | None = None, note: str | None = None) -> Rendered:
    """Render one interview in its format. ``title`` heads typed formats; ``note`` (default: the
    title and the synthetic notice) goes into the header of formats that have one."""
    title = title or default_title(interview)
    note = note or f"{title}. {SYNTHETIC_NOTE}"
    rng = random.Random(f"{seed}/{interview.id}")
    labels = [interview.label(speaker) for speaker, _ in interview.turns]
    fmt = interview.format
    if fmt == "txt":
        return Rendered(interview, render_txt(title, labels, [t for _, t in interview.turns]), labels)
    if fmt == "docx":
        return Rendered(interview, render_docx(title, labels, [t for _, t in interview.turns]), labels)
    asr = damage([t for _, t in interview.turns], rng)
    for i, turn in enumerate(asr):
        if not turn.words:
            raise SourceError(f"{interview.id}: turn {i} has no words left after speech recognition")
    cues = lay_out([s for s, _ in interview.turns], asr, rng)
    names = {"I": interview.label("I"), "P": interview.label("P")}
    if fmt == "vtt":
        data = render_vtt(note, names, cues)
    elif fmt == "srt":
        data = render_srt(names, cues)
    else:
        data = render_whisper_json(note, names, cues)
    return Rendered(interview, data, labels, asr)


def render_txt(title: str, labels: list[str], texts: list[str]) -> bytes:
    paragraphs = [title] + [f"{label}: {text}" for label, text in zip(labels, texts, strict=True)]
    return ("\n\n".join(paragraphs) + "\n").encode("utf-8")


FIXED_TIME = datetime(2024, 1, 1, 9, 0, 0)


def render_docx(title: str, labels: list[str], texts: list[str]) -> bytes:
    import docx  # python-docx

    document = docx.Document()
    props = document.core_properties
    props.title = title
    props.author = "nlp-theming (synthetic sample corpus)"
    props.comments = SYNTHETIC_NOTE
    props.last_modified_by = "nlp-theming"
    props.created = props.modified = FIXED_TIME
    props.revision = 1
    document.add_heading(title, level=1)
    for label, text in zip(labels, texts, strict=True):
        paragraph = document.add_paragraph()
        paragraph.add_run(f"{label}:").bold = True
        paragraph.add_run(f" {text}")
    buffer = io.BytesIO()
    document.save(buffer)
    return _fixed_zip(buffer.getvalue())


def _fixed_zip(raw: bytes) -> bytes:
    """The same archive with fixed member timestamps, so identical content gives identical bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            member = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o644 << 16
            dst.writestr(member, src.read(info.filename))
    return out.getvalue()


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, width=42, break_long_words=False, break_on_hyphens=False) or [text]


def render_vtt(note: str, names: dict[str, str], cues: list[TimedCue]) -> bytes:
    blocks = ["WEBVTT", "NOTE\n" + "\n".join(_wrap(note))]
    for cue in cues:
        body = "\n".join(_wrap(html.escape(cue.text, quote=False)))
        blocks.append(f"{timestamp(cue.start)} --> {timestamp(cue.end)}\n<v {names[cue.speaker]}>{body}</v>")
    return ("\n\n".join(blocks) + "\n").encode("utf-8")


def render_srt(names: dict[str, str], cues: list[TimedCue]) -> bytes:
    blocks = []
    for n, cue in enumerate(cues, start=1):
        body = "\n".join(_wrap(f"{names[cue.speaker]}: {cue.text}"))
        blocks.append(f"{n}\n{timestamp(cue.start, ',')} --> {timestamp(cue.end, ',')}\n{body}")
    return ("\n\n".join(blocks) + "\n").encode("utf-8")


def render_whisper_json(note: str, names: dict[str, str], cues: list[TimedCue]) -> bytes:
    segments = [
        {
            "start": cue.start,
            "end": cue.end,
            "text": " " + cue.text,
            "speaker": names[cue.speaker],
            "words": [{"word": w.text, "start": w.start, "end": w.end, "score": w.score} for w in cue.words],
        }
        for cue in cues
    ]
    data = {"language": "en", "note": note, "segments": segments}
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def manifest_row(interview: Interview, file: str, **extra: str) -> dict[str, str]:
    return {
        "file": file,
        "site": interview.site,
        "participant": interview.participant,
        "role": interview.role,
        "level": interview.level,
        "unit": interview.unit or "",
        "job_title": interview.job_title,
        "format": interview.format,
        "interviewer": interview.label("I"),
        "synthetic": "yes",
        **extra,
    }


def csv_bytes(fields: list[str], rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


# --------------------------------------------------------------------------------------------
# Gold spans


def check_turns(rendered: Rendered, transcript) -> tuple[int, list[str]]:
    """Match the source turns to the reader's turns. Returns (offset of the first source turn in
    ``transcript.turns``, problems)."""
    iv = rendered.interview
    offset = 1 if transcript.turns and transcript.turns[0].speaker is None else 0
    problems = []
    if len(transcript.turns) != len(iv.turns) + offset:
        problems.append(f"{iv.id}: the reader finds {len(transcript.turns)} turns, expected {len(iv.turns) + offset}")
        return offset, problems
    for i in range(len(iv.turns)):
        turn = transcript.turns[i + offset]
        if turn.speaker != rendered.labels[i]:
            problems.append(
                f"{iv.id}: turn {i}: the reader says speaker {turn.speaker!r}, expected {rendered.labels[i]!r}"
            )
        elif transcript.text[turn.start : turn.end] != rendered.turn_text(i):
            problems.append(f"{iv.id}: turn {i}: the reader's text differs from the rendered text")
    return offset, problems


def gold_rows(
    rendered: Rendered, transcript, codings: list[Coding], codes: set[str] | None
) -> tuple[list[dict], list[str]]:
    """Gold rows of one document's codings, each checked against the reader's text."""
    iv = rendered.interview
    offset, problems = check_turns(rendered, transcript)
    if problems:
        return [], problems
    rows = []
    for c in codings:
        where = f"coding/{c.coder}/{iv.id}.yaml: {c.code!r} turn {c.turn}"
        if codes is not None and c.code not in codes:
            problems.append(f"{where}: code is not in the codebook")
            continue
        if not 0 <= c.turn < len(iv.turns):
            problems.append(f"{where}: no such turn")
            continue
        speaker, source = iv.turns[c.turn]
        if speaker != "P":
            problems.append(f"{where}: interviewer turns are not coded")
            continue
        pos = source.find(c.quote) if c.quote else -1
        if pos < 0:
            problems.append(f"{where}: quote not found in the turn: {c.quote[:60]!r}")
            continue
        span = rendered.span(c.turn, pos, pos + len(c.quote))
        if span is None:
            problems.append(f"{where}: nothing of the quote survives rendering")
            continue
        turn = transcript.turns[c.turn + offset]
        start, end = turn.start + span[0], turn.start + span[1]
        text = transcript.text[start:end]
        assert text == rendered.turn_text(c.turn)[span[0] : span[1]], where
        assert turn.start <= start < end <= turn.end, where
        rows.append({"document": iv.id, "start": start, "end": end, "code": c.code, "coder": c.coder, "text": text})
    return rows, problems


# --------------------------------------------------------------------------------------------
# Build


def load_all(corpus: Path) -> tuple[list[Interview], list[str]]:
    interviews, problems = [], []
    for path in sorted((corpus / "source").glob("*.yaml")):
        try:
            interviews.append(load_interview(path))
        except SourceError as exc:
            problems.append(str(exc))
    return interviews, problems


def build(corpus: Path, check: bool = False, out=sys.stdout) -> int:
    from nlp_theming.codebook import CodebookError, load_codebook
    from nlp_theming.ingest import IngestError, read_transcript

    interviews, problems = load_all(corpus)
    codes: set[str] | None = None
    try:
        codes = {c.code for c in load_codebook(corpus / "codebook.csv").leaves}
    except CodebookError as exc:
        problems.append(f"codebook.csv: {exc}")
    coders = sorted(p.name for p in (corpus / "coding").iterdir() if p.is_dir()) if (corpus / "coding").is_dir() else []

    outputs: dict[str, bytes] = {}
    manifest, gold = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for iv in interviews:
            try:
                rendered = render(iv)
            except SourceError as exc:
                problems.append(str(exc))
                continue
            rel = f"transcripts/{iv.filename}"
            outputs[rel] = rendered.data
            manifest.append(manifest_row(iv, rel))
            path = Path(tmp) / iv.filename
            path.write_bytes(rendered.data)
            try:
                transcript = read_transcript(path)
            except IngestError as exc:
                problems.append(f"{rel}: the reader refuses it: {exc}")
                continue
            codings: list[Coding] = []
            for coder in coders:
                coding_path = corpus / "coding" / coder / f"{iv.id}.yaml"
                if not coding_path.exists():
                    if coder == "coder1":
                        problems.append(f"coding/coder1/{iv.id}.yaml: missing (coder1 codes every interview)")
                    continue
                try:
                    codings.extend(load_codings(coding_path, coder, iv))
                except (SourceError, ValueError, TypeError) as exc:
                    problems.append(f"coding/{coder}/{iv.id}.yaml: {exc}")
            rows, found = gold_rows(rendered, transcript, codings, codes)
            gold.extend(rows)
            problems.extend(found)
    outputs["manifest.csv"] = csv_bytes(MANIFEST_FIELDS, manifest)
    outputs["gold_spans.csv"] = csv_bytes(GOLD_FIELDS, gold)

    changed = [
        rel for rel, data in outputs.items() if not (corpus / rel).is_file() or (corpus / rel).read_bytes() != data
    ]
    folder = corpus / "transcripts"
    stale = sorted(
        f"transcripts/{p.name}" for p in folder.glob("*") if p.is_file() and f"transcripts/{p.name}" not in outputs
    ) if folder.is_dir() else []

    if check:
        for rel in changed:
            print(f"out of date: {rel}", file=out)
        for rel in stale:
            print(f"no source for: {rel}", file=out)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        for rel in changed:
            (corpus / rel).write_bytes(outputs[rel])
        for rel in stale:
            (corpus / rel).unlink()
    for problem in problems:
        print(f"problem: {problem}", file=out)
    by_coder: dict[str, int] = {}
    for row in gold:
        by_coder[row["coder"]] = by_coder.get(row["coder"], 0) + 1
    verb = "checked" if check else "built"
    spans = ", ".join(f"{n} {coder}" for coder, n in sorted(by_coder.items())) or "none"
    print(
        f"{verb} {len(manifest)} transcripts; gold spans: {spans}; "
        f"{len(changed)} file(s) {'out of date' if check else 'written'}, "
        f"{len(stale)} stale transcript(s) {'found' if check else 'removed'}; {len(problems)} problem(s)",
        file=out,
    )
    return 1 if problems or (check and (changed or stale)) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="corpus folder (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="verify the rendered files without writing anything")
    args = parser.parse_args(argv)
    return build(args.corpus, check=args.check)


if __name__ == "__main__":
    sys.exit(main())
