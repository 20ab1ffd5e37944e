"""Benchmark: a million segments on one machine, every step within 4 GB of RSS (issue 14, item 5).

Writes a SYNTHETIC corpus, then runs each step of a project's life in its own process (the CLI,
or the Python API where there is no command) and prints its wall seconds and peak resident set
size against the 4 GB target:

    python scripts/bench_scale.py --segments 1e6                  # the whole thing (an hour or more)
    python scripts/bench_scale.py --segments 1e6 --synthetic-run  # a seeded run instead of `suggest`
    python scripts/bench_scale.py --segments 2e4 --keep /tmp/s    # small, keeps the corpus and project
    python scripts/bench_scale.py --project P1M --synthetic-run --json figures.json   # an ingested project (copied)

The corpus is SYNTHETIC: ``--segments / 100`` plain-text interviews of 100 question-and-answer
pairs each, the answers drawn (seeded) from ``--distinct`` texts made of one or two sentences of
the sample corpus's participants, the questions from its interviewers; a manifest gives each
interview a site (A to I) and a role. Answers repeat on purpose: the embedding cache embeds each
distinct text once, so ``suggest`` embeds ``--distinct`` texts (minutes), not a million (hours);
every other step sees a million distinct segments. The figures are of this corpus, not of real
transcripts, whose segments are longer and all different.

Steps: init, ingest (with segmenting), codebook, suggest (or ``--synthetic-run``: a run of
seeded scores stored with the store's own functions, labelled as such), review (the queue's
first 20 items through ``review_queue`` and the review page through Flask's test client), decide
(a few thousand SYNTHETIC accepts of top suggestions, seeded, through ``review.actions``),
summarize (every format, as the CLI writes them), export (the tidy CSV, the review sheet as CSV,
the confirmed coding as .qdpx) and status. A step that fails or passes 4 GB is shown as such and
the rest still run. A measurement, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SAMPLE = ROOT / "corpora" / "nhs-medical-leadership"
TARGET_MB = 4096
PER_INTERVIEW = 100  # answers per synthetic interview
CODER = "bench-synthetic"


# ---------------------------------------------------------------------- the SYNTHETIC corpus


def sample_sentences() -> tuple[list[str], list[str]]:
    """Participants' sentences (four words or more) and interviewers' questions of the sample corpus."""
    import yaml

    answers: list[str] = []
    questions: list[str] = []
    for source in sorted((SAMPLE / "source").glob("*.yaml")):
        for turn in yaml.safe_load(source.read_text(encoding="utf-8"))["turns"]:
            if turn["speaker"] == "P":
                answers += [s for s in re.split(r"(?<=[.?!])\s+", turn["text"]) if len(s.split()) >= 4]
            else:
                questions.append(turn["text"])
    return answers, questions


def write_corpus(folder: Path, n_segments: int, distinct: int, seed: int = 0) -> int:
    """Write the SYNTHETIC interviews and their manifest; returns the number of files."""
    answers, questions = sample_sentences()
    rng = random.Random(seed)
    pool: set[str] = set()
    while len(pool) < distinct:
        pool.add(" ".join(rng.sample(answers, rng.randint(1, 2))))
    texts = sorted(pool)
    folder.mkdir(parents=True, exist_ok=True)
    n_files = -(-n_segments // PER_INTERVIEW)
    manifest = ["file,site,role"]
    for i in range(n_files):
        lines = ["# SYNTHETIC interview written by scripts/bench_scale.py"]
        for _ in range(min(PER_INTERVIEW, n_segments - i * PER_INTERVIEW)):
            lines += [f"Interviewer: {rng.choice(questions)}", f"P{i + 1}: {rng.choice(texts)}"]
        name = f"synthetic-{i + 1:06d}.txt"
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        manifest.append(f"{name},{'ABCDEFGHI'[i % 9]},{('doctor', 'nurse', 'manager')[i % 3]}")
    (folder / "manifest.csv").write_text("\n".join(manifest) + "\n", encoding="utf-8")
    (folder / "README.md").write_text("SYNTHETIC interviews for scripts/bench_scale.py; not real data.\n",
                                      encoding="utf-8")
    return n_files


# ---------------------------------------------------------------------- steps run in their own process


def step_synthetic_run(project: str, seed: int = 0, top_k: int = 5) -> str:
    """SYNTHETIC: a complete run of seeded scores (top ``top_k`` codes per participant segment),
    stored with the store's own functions, so that the steps after suggest have a run to read
    without embedding anything. Labelled synthetic in its model id, matcher and method."""
    import numpy as np

    from nlp_theming.codebook import load_stored_codebook
    from nlp_theming.segment import project_segmenter
    from nlp_theming.store import open_project
    from nlp_theming.store.documents import segment_spans
    from nlp_theming.store.runs import RunSpec, claim_run, complete_run, decision_mark

    con = open_project(project)
    version, book = load_stored_codebook(con)
    codes = [c.code for c in book.leaves]
    scheme = project_segmenter(con).scheme
    spans = segment_spans(con, scheme)
    ids = spans.segment_id[spans.role == "participant"].to_numpy()
    rng = np.random.default_rng(seed)
    spec = RunSpec("synthetic", version, "synthetic", scheme, {"synthetic": True, "top_k": top_k},
                   f"synthetic-{seed}-{top_k}", seed, decision_mark(con))
    run_id = claim_run(con, spec)

    def rows():
        for start in range(0, len(ids), 100_000):
            block = ids[start:start + 100_000]
            picks = np.argsort(rng.random((len(block), len(codes))), axis=1)[:, :top_k]
            scores = -np.sort(-rng.beta(2, 5, (len(block), top_k)), axis=1)
            for sid, pick, score in zip(block.tolist(), picks.tolist(), scores.tolist(), strict=True):
                for rank, (c, s) in enumerate(zip(pick, score, strict=True), start=1):
                    yield int(sid), codes[c], round(float(s), 6), rank, "synthetic"

    complete_run(con, run_id, rows(), [], len(ids))
    return f"run {run_id}: {len(ids) * top_k} SYNTHETIC suggestions on {len(ids)} participant segments"


def step_review(project: str) -> str:
    """The queue's first page through the API, then the review page through Flask's test client."""
    from nlp_theming.review.queue import queue_page
    from nlp_theming.review.server import create_app
    from nlp_theming.store import open_project

    con = open_project(project)
    t0 = time.perf_counter()
    head = queue_page(con, CODER, limit=20).items
    t_queue = time.perf_counter() - t0
    client = create_app(project, coder=CODER).test_client()
    times = []
    for _ in range(2):  # the first request fills the server's cache, the second is what a reviewer waits for
        t0 = time.perf_counter()
        response = client.get("/review")
        times.append(time.perf_counter() - t0)
        if response.status_code != 200:
            raise RuntimeError(f"/review answered {response.status_code}")
    return (f"queue_page(limit=20): {t_queue * 1000:.0f} ms ({len(head)} rows); "
            f"/review: {times[0] * 1000:.0f} ms first, {times[1] * 1000:.0f} ms again")


def step_decide(project: str, n: int = 2000, seed: int = 0) -> str:
    """SYNTHETIC decisions: accept the top suggestion of ``n`` participant segments drawn (seeded)."""
    from nlp_theming.review.actions import accept
    from nlp_theming.segment import project_segmenter
    from nlp_theming.store import open_project
    from nlp_theming.store.documents import segment_spans
    from nlp_theming.store.runs import latest_run, segment_suggestions

    con = open_project(project)
    run_id = latest_run(con)
    spans = segment_spans(con, project_segmenter(con).scheme)
    ids = sorted(spans.segment_id[spans.role == "participant"].tolist())
    done = 0
    for sid in random.Random(seed).sample(ids, min(n, len(ids))):
        top = segment_suggestions(con, sid, run_id)
        if top:
            accept(con, CODER, sid, top[0][0], run_id)
            done += 1
    return f"{done} SYNTHETIC accepts by {CODER}"


INTERNAL = {"synthetic-run": step_synthetic_run, "review": step_review, "decide": step_decide}


# ---------------------------------------------------------------------- measuring


def measure(name: str, argv: list[str], log: Path) -> dict:
    """Run one step in its own process: wall seconds, peak RSS (MB), exit status, its last line."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=out, env=env)
        stdout = proc.stdout.read() if proc.stdout else b""
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: its peak, not the script's
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.write(stdout)
    lines = [line for line in stdout.decode("utf-8", "replace").splitlines() if line.strip()]
    # status ends with its table per coder; its headline is the line worth showing
    lines = [line for line in lines if line.startswith("run ")][:1] or lines if name == "status" else lines
    peak = usage.ru_maxrss / 1024  # kilobytes on Linux
    row = {"step": name, "seconds": round(seconds, 1), "peak_mb": round(peak), "exit": proc.returncode,
           "within_4gb": peak <= TARGET_MB, "note": lines[-1][:160] if lines else ""}
    print(f"  {name:<16} {row['seconds']:>9.1f} s {row['peak_mb']:>7} MB  "
          f"{'ok ' if row['within_4gb'] else 'OVER'} {'' if proc.returncode == 0 else f'FAILED ({proc.returncode}) '}"
          f"{row['note']}", flush=True)
    return row


def plan(project: Path, work: Path, corpus: Path | None, args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    cli = [sys.executable, "-m", "nlp_theming.cli"]
    me = [sys.executable, str(Path(__file__).resolve()), "--internal"]
    steps: list[tuple[str, list[str]]] = []
    if corpus is not None:
        steps += [("init", [*cli, "init", str(project)]),
                  ("ingest+segment", [*cli, "ingest", str(project), str(corpus), "--manifest",
                                      str(corpus / "manifest.csv"), "--quiet"])]
    steps.append(("codebook", [*cli, "codebook", str(project), str(SAMPLE / "codebook.csv")]))
    if args.synthetic_run:
        steps.append(("synthetic-run", [*me, "synthetic-run", str(project)]))
    else:
        steps.append(("suggest", [*cli, "suggest", str(project), "--encoder", args.encoder, "--quiet"]))
    steps += [
        ("review", [*me, "review", str(project)]),
        ("decide", [*me, "decide", str(project)]),
        # the matcher learns from those decisions: the refit a reviewer waits for, at this size
        *([] if args.synthetic_run else
          [("re-suggest", [*cli, "suggest", str(project), "--encoder", args.encoder, "--quiet"])]),
        ("summarize", [*cli, "summarize", str(project), "--out", str(work / "summary"), "--quiet"]),
        ("export csv", [*cli, "export", str(project), "--out", str(work / "suggestions.csv"), "--quiet"]),
        ("export sheet", [*cli, "sheet", "export", str(project), "--coder", CODER, "--out",
                          str(work / "sheet.csv"), "--quiet"]),
        ("export qdpx", [*cli, "export", str(project), "--out", str(work / "coding.qdpx")]),
        ("status", [*cli, "status", str(project)]),
    ]
    return [s for s in steps if not args.steps or s[0].split()[0] in args.steps]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--segments", type=float, default=1e6, help="participant segments (default 1e6)")
    ap.add_argument("--distinct", type=float, default=2e4, help="distinct answer texts (default 2e4)")
    ap.add_argument("--keep", type=Path, default=None, help="work here and keep the corpus, project and outputs")
    ap.add_argument("--project", type=Path, default=None, help="an ingested project to copy instead of ingesting")
    ap.add_argument("--synthetic-run", action="store_true", help="a seeded SYNTHETIC run instead of `suggest`")
    ap.add_argument("--encoder", default="auto", help="suggest's --encoder (default auto)")
    ap.add_argument("--steps", nargs="*", default=None, help="only these steps (first word of their names)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    ap.add_argument("--internal", nargs=2, metavar=("STEP", "PROJECT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.internal:
        print(INTERNAL[args.internal[0]](args.internal[1]))
        return

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    project, corpus = work / "project", None
    n, distinct = int(args.segments), int(args.distinct)
    print(f"SYNTHETIC benchmark in {work}: target {TARGET_MB} MB of RSS per step")
    if args.project is not None:
        if project.exists():
            shutil.rmtree(project)
        shutil.copytree(args.project, project)
        print(f"copied {args.project} (its corpus and sizes are its own)")
    else:
        corpus = work / "corpus"
        t0 = time.perf_counter()
        files = write_corpus(corpus, n, distinct)
        print(f"wrote {files} SYNTHETIC interviews: {n} answers from {distinct} distinct texts "
              f"(embedding sees {distinct} texts), {time.perf_counter() - t0:.0f} s")
    print(f"  {'step':<16} {'seconds':>11} {'peak':>10}")
    rows = [measure(name, argv, work / "bench.log") for name, argv in plan(project, work, corpus, args)]
    over = [r["step"] for r in rows if not r["within_4gb"]]
    failed = [r["step"] for r in rows if r["exit"] != 0]
    print(f"over 4 GB: {', '.join(over) or 'none'}; failed: {', '.join(failed) or 'none'} (log: {work / 'bench.log'})")
    if args.json:
        args.json.write_text(json.dumps({"synthetic": True, "segments": n, "distinct": distinct,
                                         "project": str(args.project or project), "target_mb": TARGET_MB,
                                         "steps": rows}, indent=2), encoding="utf-8")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
