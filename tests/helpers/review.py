"""A small real project for the review tests: SYNTHETIC interviews about medical leadership.

Four made-up transcripts (two sites, three roles; one a timed WebVTT), a codebook of five
themes under three meta-themes, and one real suggest run with the real embedding model. Built
once per test process; each test works on a copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

XSS = "<script>window.__xss=1</script>"
BOLD = "<b>bold</b>"

TRANSCRIPTS = {
    "north-consultant.txt": [
        ("Interviewer", "Thank you for joining. How did you come to be a clinical lead?"),
        ("Dr Okafor", "Nobody else applied, to be honest. I had been a consultant for eight years, so colleagues "
                      "already trusted my clinical judgement. That credibility mattered more than any certificate."),
        ("Interviewer", "How much time do you get for the role?"),
        ("Dr Okafor", "One programmed activity a week, which is nowhere near enough. The leadership work spills into "
                      "my evenings. I answer rota emails at eleven at night most weeks."),
        ("Interviewer", "Did you have any leadership training?"),
        ("Dr Okafor", "I did a two-day course on managing budgets, and later a coaching programme. The coaching "
                      "helped me far more than the course. I still wish someone had mentored me in the first year."),
    ],
    "north-nurse.vtt": [
        ("Interviewer", "Can you tell me how decisions are made in your directorate?"),
        ("Sister Price", "We work as a triumvirate: the clinical director, the business manager and me as head of "
                         "nursing. We meet every Monday and share the decisions on staffing and the budget."),
        ("Interviewer", "Does everyone get heard in those meetings?"),
        ("Sister Price", "Mostly yes, but the consultants still expect the last word. Junior nurses rarely speak up "
                         "when a senior doctor disagrees. The hierarchy is softer than it was, but it is there."),
        ("Interviewer", "What would help?"),
        ("Sister Price", "Protected time for the triumvirate to plan together, instead of firefighting the waiting "
                         "list every week. And training for nurses who step into leadership roles."),
    ],
    "south-consultant.txt": [
        ("Interviewer", "What made you take on the medical director post?"),
        ("Dr Lindqvist", "I wanted a say in how the hospital is run. Being a respected surgeon helped me get the "
                         "job, people listen to someone who still operates."),
        ("Interviewer", "Someone pasted this into the chat earlier, can you read it out?"),
        ("Dr Lindqvist", f"It says {XSS} and then {BOLD} in angle brackets. Odd thing to paste into an interview "
                         "chat. Anyway, I have no protected time for any of this leadership work."),
        ("Interviewer", "How do you find the workload?"),
        ("Dr Lindqvist", "Exhausting. The job plan gives me two sessions, but the role takes four or five. I have "
                         "stopped doing research to make room for the meetings."),
    ],
    "south-manager.txt": [
        ("Interviewer", "How do you work with the doctors in your division?"),
        ("Ms Haddad", "As the business manager I bring the numbers, the clinical director brings credibility with "
                      "the consultants, and the matron knows the wards. The three of us decide together."),
        ("Interviewer", "Is it a partnership of equals?"),
        ("Ms Haddad", "Not always. Some consultants only listen to another doctor, never to a manager. I have "
                      "learned to let the clinical director carry the difficult messages."),
        ("Interviewer", "Were you trained for this?"),
        ("Ms Haddad", "I did an MBA, and the trust runs a leadership academy. The academy taught me more about "
                      "influencing clinicians than the MBA did."),
    ],
}

MANIFEST = [
    ("north-consultant.txt", "North", "P01", "consultant"),
    ("north-nurse.vtt", "North", "P02", "nurse"),
    ("south-consultant.txt", "South", "P03", "consultant"),
    ("south-manager.txt", "South", "P04", "manager"),
]

CODEBOOK = [
    ("Selection and credibility", "Becoming a leader",
     "How people come into leadership posts and why colleagues accept them as leaders.",
     "Reasons for taking the role; selection; clinical credibility or reputation.",
     "Formal training (use Training and development).",
     "Nobody else applied | Colleagues trusted my clinical judgement"),
    ("Training and development", "Becoming a leader",
     "Courses, coaching, mentoring and other preparation for leadership.",
     "Any formal or informal learning for the leadership role.",
     "Clinical training.",
     "A coaching programme helped me | I did a course on budgets"),
    ("Time and workload", "Doing the role",
     "Time allocated to leadership and the workload it brings.",
     "Programmed activities, sessions, protected time, work spilling into evenings.",
     "Clinical workload unrelated to leadership.",
     "One session a week is not enough | I answer emails at night"),
    ("Working in the triumvirate", "Doing the role",
     "Shared leadership between doctor, nurse and manager.",
     "Joint decisions of clinical director, head of nursing and business manager.",
     "",
     "We meet every Monday as a triumvirate"),
    ("Hierarchy and voice", "Organisational culture",
     "Professional hierarchy and who gets heard.",
     "Doctors having the last word; staff not speaking up; managers not listened to.",
     "",
     "Consultants still expect the last word"),
]


def _vtt(turns: list[tuple[str, str]]) -> str:
    out, t = ["WEBVTT", ""], 0.0
    for n, (speaker, text) in enumerate(turns, start=1):
        duration = len(text.split()) / 2.5
        out += [str(n), f"{_ts(t)} --> {_ts(t + duration)}", f"<v {speaker}>{text}</v>", ""]
        t += duration + 1.0
    return "\n".join(out)


def _ts(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    return f"00:{int(m):02d}:{int(s):02d}.{round((s % 1) * 1000) % 1000:03d}"


def write_sources(folder: Path) -> tuple[Path, Path, Path]:
    """Write the transcripts, the manifest and the codebook; returns (transcripts, manifest, codebook)."""
    import csv

    transcripts = folder / "transcripts"
    transcripts.mkdir(parents=True, exist_ok=True)
    for name, turns in TRANSCRIPTS.items():
        if name.endswith(".vtt"):
            body = _vtt(turns)
        else:
            body = "SYNTHETIC interview for tests\n\n" + "\n\n".join(f"{s}: {t}" for s, t in turns) + "\n"
        (transcripts / name).write_text(body, encoding="utf-8")
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file", "site", "participant", "role"])
        for name, site, participant, role in MANIFEST:
            w.writerow([f"transcripts/{name}", site, participant, role])
    codebook = folder / "codebook.csv"
    with codebook.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["code", "group", "description", "inclusion", "exclusion", "examples"])
        w.writerows(CODEBOOK)
    return transcripts, manifest, codebook


_BUILT: dict[str, Path] = {}


def base_project(root: Path) -> Path:
    """Build the project once per process (ingest, codebook, one real suggest run)."""
    if "path" not in _BUILT:
        from nlp_theming import Project
        from nlp_theming.suggest import SuggestConfig, run_suggest

        transcripts, manifest, codebook = write_sources(root / "sources")
        path = root / "project"
        with Project.init(path) as p:
            report = p.ingest([transcripts], manifest)
            assert not report.failed, report.failed
            p.load_codebook(codebook)
            run_suggest(p.con, SuggestConfig(seed=0, discover=False))
        _BUILT["path"] = path
    return _BUILT["path"]


def copy_project(base: Path, target: Path) -> Path:
    shutil.copytree(base, target)
    return target
