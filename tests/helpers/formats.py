"""Transcript fixtures in every supported format, written by the test suite itself.

All content is SYNTHETIC: a short made-up interview about medical leadership.
"""

from __future__ import annotations

import json
from pathlib import Path

TURNS = [
    ("Interviewer", "Thanks for agreeing to talk to me. Could you describe your role?"),
    (
        "Dr Shah",
        "I'm the clinical director for medicine. I get two PAs for it, which is nowhere near enough. "
        "The role spills into my evenings and my home life.",
    ),
    ("Interviewer", "How were you selected for the role?"),
    (
        "Dr Shah",
        "There was an interview, but honestly nobody was queuing up for it. "
        "You need clinical credibility, five or ten years as a consultant, before colleagues listen.",
    ),
    ("Interviewer", "And how does the triumvirate work here?"),
    (
        "Dr Shah",
        "The nurse, the business manager and I meet every Monday. We share the decisions "
        "about the budget and the waiting lists, and it works well most weeks.",
    ),
]
SPEECH_RATE = 2.5  # words per second, to lay out believable timestamps


def _timed():
    t = 0.0
    for speaker, text in TURNS:
        duration = len(text.split()) / SPEECH_RATE
        yield speaker, text, t, t + duration
        t += duration + 0.8


def _ts(seconds: float, sep: str = ".") -> str:
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}:{int(m):02d}:{int(s):02d}{sep}{round((s % 1) * 1000):03d}"


def labelled_text() -> str:
    lines = ["SYNTHETIC interview for tests, 3 May"]
    lines += [f"{speaker}: {text}" for speaker, text in TURNS]
    return "\n\n".join(lines) + "\n"


def write_all(folder: Path) -> dict[str, Path]:
    """Write one file per format (and encoding); returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    text = labelled_text()

    def put(name: str, data: bytes | str) -> None:
        path = folder / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        out[name] = path

    put("typed.txt", text)
    put("typed.md", "# SYNTHETIC interview\n\n" + "\n\n".join(f"{s}: {t}" for s, t in TURNS))
    put("bom.txt", text.encode("utf-8-sig"))
    put("utf16.txt", text.encode("utf-16"))
    put("cp1252.txt", text.replace("I'm", "I’m").replace("Thanks", "Thanks — café").encode("cp1252"))

    import docx

    d = docx.Document()
    d.add_paragraph("SYNTHETIC interview for tests")
    for speaker, line in TURNS:
        p = d.add_paragraph()
        p.add_run(f"{speaker}:").bold = True
        p.add_run(f" {line}")
    d.save(folder / "typed.docx")
    out["typed.docx"] = folder / "typed.docx"

    from odf.opendocument import OpenDocumentText
    from odf.text import P

    odt = OpenDocumentText()
    odt.text.addElement(P(text="SYNTHETIC interview for tests"))
    for speaker, line in TURNS:
        odt.text.addElement(P(text=f"{speaker}: {line}"))
    odt.save(str(folder / "typed.odt"))
    out["typed.odt"] = folder / "typed.odt"

    # WebVTT with voice spans, each turn in two cues
    cues = ["WEBVTT", "NOTE SYNTHETIC test fixture"]
    zoom = ["WEBVTT"]
    teams = ["WEBVTT"]
    srt = []
    n = 0
    for speaker, line, start, end in _timed():
        words = line.split()
        half = len(words) // 2
        mid = start + (end - start) / 2
        for part, a, b in ((words[:half], start, mid), (words[half:], mid, end)):
            n += 1
            body = " ".join(part)
            cues.append(f"{n}\n{_ts(a)} --> {_ts(b)} line:90%\n<v {speaker}>{body}</v>")
            zoom.append(f"{n}\n{_ts(a)} --> {_ts(b)}\n{speaker}: {body}")
            teams.append(f"6f1c2a7e-{n:04d}/{n}-0\n{_ts(a)} --> {_ts(b)}\n<v {speaker}>{body}</v>")
            srt.append(f"{n}\n{_ts(a, ',')} --> {_ts(b, ',')}\n[{speaker}] {body}")
    put("voice.vtt", "\n\n".join(cues) + "\n")
    put("zoom.vtt", "\n\n".join(zoom) + "\n")
    put("teams.vtt", "\n\n".join(teams) + "\n")
    put("captions.srt", "\n\n".join(srt) + "\n")

    whisper = {"text": " ".join(t for _, t in TURNS), "segments": []}
    whisperx = {"segments": []}
    for i, (speaker, line, start, end) in enumerate(_timed()):
        whisper["segments"].append(
            {"id": i, "start": start, "end": end, "text": " " + line.lower(), "avg_logprob": -0.2}
        )
        words = []
        step = (end - start) / len(line.split())
        for j, w in enumerate(line.split()):
            words.append(
                {"word": w, "start": start + j * step, "end": start + (j + 1) * step, "score": 0.9 if j % 5 else 0.5}
            )
        whisperx["segments"].append(
            {
                "start": start,
                "end": end,
                "text": line,
                "speaker": f"SPEAKER_0{0 if speaker == 'Interviewer' else 1}",
                "words": words,
            }
        )
    put("whisper.json", json.dumps(whisper))
    put("whisperx.json", json.dumps(whisperx))
    rows = ["speaker,start,end,text"] + [f'{s},{a:.1f},{b:.1f},"{t}"' for s, t, a, b in _timed()]
    put("turns.csv", "\n".join(rows) + "\n")
    return out


def write_bad(folder: Path) -> dict[str, tuple[Path, str]]:
    """Broken inputs and a word the one-line error must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = {
        "empty.txt": (b"", "empty"),
        "blank.vtt": (b"   \n\n", "empty"),
        "binary.txt": (bytes(range(256)) * 20, "binary"),
        "broken.docx": (b"PK\x03\x04 this is not really a zip", "docx"),
        "broken.odt": (b"not an odt at all", "odt"),
        "noheader.vtt": (b"1\n00:00:01.000 --> 00:00:02.000\nhello\n", "WEBVTT"),
        "badtime.vtt": (b"WEBVTT\n\n1\n00:00:aa --> 00:00:02.000\nhello\n", "timing"),
        "notiming.srt": (b"1\nhello there\n\n2\nagain\n", "start --> end"),
        "broken.json": (b'{"segments": [{"start": 0, "end": 1, "text": "hi"}', "malformed JSON"),
        "nosegments.json": (b'{"language": "en"}', "segments"),
        "notext.csv": (b"speaker,utterance_id\nA,1\n", "text"),
        "notes.xyz": (b"some text", "unsupported"),
    }
    out = {}
    for name, (data, word) in cases.items():
        (folder / name).write_bytes(data)
        out[name] = (folder / name, word)
    return out
