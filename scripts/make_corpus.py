"""Write a large SYNTHETIC corpus for performance benchmarks by recombining the sample corpus.

Writes N transcripts (150 to 2,000) with ids X-0001, X-0002, ... and a manifest.csv into DIR. The
interviews are spread evenly over the nine sites and, within each site, over the five formats
(txt, docx, vtt, srt, whisper_json). Each one is put together from the source interviews of one
site: an opening and a closing exchange and 8-14 question-and-answer pairs drawn at random, so
the talk stays within one trust. The participant's role, level, unit and job title come from
one of the site's interviews; the speaker label is new. Rendering (speech-recognition damage
included) is done by the functions of build_corpus.py.

The result is for benchmarks only: it has no gold codings, and the same answers recur across
files. Every file's header (title line, WEBVTT NOTE, JSON "note"; SRT has no header) and every
manifest row say SYNTHETIC. Deterministic for a given N and --seed.

Usage: python scripts/make_corpus.py N --out DIR [--seed S]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

if __package__:  # imported as scripts.make_corpus (the tests)
    from . import build_corpus as bc
else:  # run as a script: its own folder is first on the path
    import build_corpus as bc

CORPUS, EXTENSIONS, MANIFEST_FIELDS, Interview = bc.CORPUS, bc.EXTENSIONS, bc.MANIFEST_FIELDS, bc.Interview
csv_bytes, load_all, manifest_row, render = bc.csv_bytes, bc.load_all, bc.manifest_row, bc.render

MIN_N, MAX_N = 150, 2000
NOTE = "SYNTHETIC, for performance benchmarks only"
TITLES = {
    "doctor": ("Dr",),
    "nurse": ("Sister", "Matron", "Ms", "Mr"),
    "manager": ("Ms", "Mr", "Mrs"),
    "psychologist": ("Dr",),
}
INTERVIEWER_LABELS = ("Interviewer", "Interviewer", "Interviewer", "Researcher", "Int")
GENERATED = re.compile(r"^X-\d{4}\.(txt|docx|vtt|srt|json)$")

Exchange = tuple[str, str]  # (question, answer)


def exchanges(interview: Interview) -> list[Exchange]:
    """The interview's question-and-answer pairs, in order."""
    turns = interview.turns[1:] if interview.turns and interview.turns[0][0] == "P" else interview.turns
    return [(turns[i][1], turns[i + 1][1]) for i in range(0, len(turns) - 1, 2) if turns[i][0] == "I"]


def surname(label: str) -> str | None:
    words = label.split()
    return words[-1] if len(words) > 1 and words[-1][:1].isupper() else None


def compose(n: int, site: str, fmt: str, donors: list[Interview], surnames: list[str], rng: random.Random) -> Interview:
    """One new interview from the exchanges of one site's interviews."""
    base = rng.choice(donors)
    by_donor = {iv.id: exchanges(iv) for iv in donors}
    opening = rng.choice([ex[0] for ex in by_donor.values() if len(ex) > 2])
    closing = rng.choice([ex[-1] for ex in by_donor.values() if len(ex) > 2])
    middle = [pair for ex in by_donor.values() for pair in ex[1:-1]]
    body = rng.sample(middle, min(len(middle), rng.randint(8, 14)))
    if rng.random() < 0.35:
        label = f"P{n}"
    else:
        label = f"{rng.choice(TITLES.get(base.role, ('Ms',)))} {rng.choice(surnames)}"
    turns: list[tuple[str, str]] = []
    for question, answer in [opening, *body, closing]:
        turns += [("I", question), ("P", answer)]
    return Interview(
        id=f"X-{n:04d}",
        site=site,
        participant=f"X-P{n:04d}",
        role=base.role,
        level=base.level,
        unit=base.unit,
        job_title=base.job_title,
        format=fmt,
        interviewer_label=rng.choice(INTERVIEWER_LABELS),
        participant_label=label,
        turns=turns,
    )


def make_corpus(n: int, out: Path, seed: int = 0, corpus: Path = CORPUS) -> list[Path]:
    if not MIN_N <= n <= MAX_N:
        raise ValueError(f"N must be between {MIN_N} and {MAX_N}, not {n}")
    interviews, problems = load_all(corpus)
    if problems:
        raise ValueError("the sample corpus has problems; run build_corpus.py: " + "; ".join(problems[:3]))
    by_site: dict[str, list[Interview]] = {}
    for iv in interviews:
        if len(exchanges(iv)) > 2:
            by_site.setdefault(iv.site, []).append(iv)
    if not by_site:
        raise ValueError(f"no usable source interviews under {corpus / 'source'}")
    sites = sorted(by_site)
    formats = list(EXTENSIONS)
    surnames = sorted({s for iv in interviews if (s := surname(iv.participant_label))}) or ["Smith"]
    rng = random.Random(f"make_corpus/{seed}")

    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():  # files of an earlier run, which may have had a larger N
        if old.is_file() and GENERATED.match(old.name):
            old.unlink()
    written, rows = [], []
    for i in range(n):
        site = sites[i % len(sites)]
        fmt = formats[(i // len(sites) + i % len(sites)) % len(formats)]
        iv = compose(i + 1, site, fmt, by_site[site], surnames, rng)
        title = f"Interview {iv.id} — SYNTHETIC transcript for performance benchmarks only"
        rendered = render(iv, seed=seed, title=title)
        path = out / iv.filename
        path.write_bytes(rendered.data)
        written.append(path)
        rows.append(manifest_row(iv, iv.filename, note=NOTE))
    (out / "manifest.csv").write_bytes(csv_bytes([*MANIFEST_FIELDS, "note"], rows))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", type=int, help=f"number of transcripts ({MIN_N}-{MAX_N})")
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="sample corpus to recombine (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        written = make_corpus(args.n, args.out, args.seed, args.corpus)
    except ValueError as exc:
        parser.error(str(exc))
    print(f"wrote {len(written)} SYNTHETIC transcripts and manifest.csv to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
