"""Benchmark: end-to-end segments per second, raw files to stored suggestions, against the raw
encoder's segments per second on the same texts in the same run; and peak memory of each.

    python scripts/bench_pipeline.py --n 150 [--encoder torch|onnx|auto]
    python scripts/bench_pipeline.py --sizes 1e3,1e4,1e5     # how cost grows: per stage, per size

``--sizes`` builds, for each size, SYNTHETIC transcripts with that many participant turns (one
segment each), every answer distinct (sentences of the sample corpus's answers recombined), and
prints per stage (ingest, segment, embed, match, store) seconds and the peak memory (RSS) of the
pipeline, beside the raw encoder on the texts the pipeline embeds (the answers and the questions
before them), and their ratios: of wall time, of CPU seconds (all threads; what other load on a
shared machine sways least) and of peak memory.

Both sides use the same encoder mode (``--encoder``; auto: onnx when ONNX Runtime is installed).

Figures are ratios against the baseline measured here, so they compare across machines.
Each side runs in its own process so that its peak memory is its own. The corpus is
SYNTHETIC (scripts/make_corpus.py), for performance figures only.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpora" / "nhs-medical-leadership"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    """CPU seconds of this process, all its threads: the work done, which other load on a shared
    machine sways much less than the wall time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load(model: str, mode: str):
    """The encoder of ``mode``, loaded (and exported, the first time): a fixed cost both sides exclude."""
    from nlp_theming.embed import load_model, load_onnx_model

    return load_onnx_model(model) if mode == "onnx" else load_model(model)


def pipeline(files: str, project: str, model: str, mode: str, queue: mp.Queue) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    from nlp_theming import Project, SuggestConfig

    load(model, mode)
    started = time.perf_counter()
    with Project.init(project) as p:
        report = p.ingest([Path(files)], Path(files) / "manifest.csv")
        ingested = time.perf_counter()
        p.load_codebook(CORPUS / "codebook.csv")
        summary = p.suggest(SuggestConfig(model=model, encoder=mode))
    total = time.perf_counter() - started
    queue.put(
        {
            "documents": len(report.added),
            "failed": len(report.failed),
            "segments": summary.n_segments,
            "seconds": total,
            "stages": {"ingest+segment": ingested - started, **summary.timings},
            "peak_mb": _peak_mb(),
        }
    )


def encoder(project: str, model: str, mode: str, batch_size: int, distinct: bool, queue: mp.Queue) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    import sqlite3

    con = sqlite3.connect(Path(project) / "project.db")
    texts = [
        r[0]
        for r in con.execute(
            "SELECT t.text FROM segment_texts t JOIN segments s ON s.id = t.segment_id WHERE s.role = 'participant'"
        )
    ]
    m = load(model, mode)
    # The fair baseline encodes each distinct text once, as the pipeline does: the generated
    # corpus repeats answers, and encoding every copy would flatter the pipeline.
    work = list(dict.fromkeys(texts)) if distinct else texts
    started = time.perf_counter()
    if mode == "onnx":  # sorted by length, as sentence-transformers does for torch: little padding
        m.encode(sorted(work, key=len), batch_size=batch_size)
    else:
        m.encode(work, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    queue.put(
        {
            "segments": len(texts),
            "encoded": len(work),
            "unique_texts": len(set(texts)),
            "seconds": time.perf_counter() - started,
            "peak_mb": _peak_mb(),
        }
    )


def write_growth_corpus(folder: Path, n_segments: int, seed: int = 0, turns_per_document: int = 100) -> int:
    """SYNTHETIC .txt transcripts with ``n_segments`` participant turns in all, each one or two
    sentences drawn from the sample corpus's answers (no two alike), after one of its questions."""
    import random
    import re

    import yaml

    answers, questions = [], []
    for source in sorted((CORPUS / "source").glob("*.yaml")):
        for turn in yaml.safe_load(source.read_text(encoding="utf-8"))["turns"]:
            if turn["speaker"] == "P":
                answers.extend(s for s in re.split(r"(?<=[.?!])\s+", turn["text"]) if len(s.split()) >= 4)
            else:
                questions.append(turn["text"])
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    n_docs = -(-n_segments // turns_per_document)
    for d in range(n_docs):
        lines = ["# SYNTHETIC transcript for the growth benchmark: sample corpus sentences recombined"]
        for _ in range(min(turns_per_document, n_segments - d * turns_per_document)):
            answer = ""
            while not answer or answer in seen:
                answer = " ".join(rng.sample(answers, rng.randint(1, 2)))
            seen.add(answer)
            lines += [f"Interviewer: {rng.choice(questions)}", f"P{d + 1}: {answer}"]
        (folder / f"synthetic-{d + 1:05d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return n_docs


def growth(files: str, project: str, model: str, mode: str, queue: mp.Queue) -> None:
    """Raw files to stored suggestions, stage by stage (the encoder loaded first, as for the baseline)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    from nlp_theming import Project, SuggestConfig
    from nlp_theming.ingest import ingest_paths
    from nlp_theming.segment import project_segmenter, segment_documents

    load(model, mode)
    stages: dict[str, float] = {}
    cpu = _cpu_s()
    started = time.perf_counter()
    with Project.init(project) as p:
        report = ingest_paths(p.con, [Path(files)])  # what Project.ingest does, the two stages timed apart
        stages["ingest"] = time.perf_counter() - started
        clock = time.perf_counter()
        segment_documents(p.con, project_segmenter(p.con), report.document_ids)
        stages["segment"] = time.perf_counter() - clock
        p.load_codebook(CORPUS / "codebook.csv")
        summary = p.suggest(SuggestConfig(model=model, encoder=mode))
    for stage in ("embed", "match", "store"):
        stages[stage] = summary.timings[stage]
    stages["other"] = time.perf_counter() - started - sum(stages.values())  # codebook, reading segments
    queue.put({"documents": len(report.added), "failed": len(report.failed), "segments": summary.n_segments,
               "seconds": time.perf_counter() - started, "cpu_s": _cpu_s() - cpu, "stages": stages,
               "peak_mb": _peak_mb()})


def growth_encoder(project: str, model: str, mode: str, batch_size: int, queue: mp.Queue) -> None:
    """The raw encoder on the distinct texts the pipeline embedded: the answers and the questions."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    from nlp_theming import Project
    from nlp_theming.suggest import suggestable_segments

    with Project(project) as p:
        segs = suggestable_segments(p.con, p.segmenter().scheme)
    work = sorted(dict.fromkeys(segs.text.tolist() + [t for t in segs.previous_text if t]), key=len)
    m = load(model, mode)
    cpu = _cpu_s()
    started = time.perf_counter()
    if mode == "onnx":
        m.encode(work, batch_size=batch_size)
    else:
        m.encode(work, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    queue.put({"encoded": len(work), "seconds": time.perf_counter() - started, "cpu_s": _cpu_s() - cpu,
               "peak_mb": _peak_mb()})


def run_growth(sizes: list[int], model: str, mode: str, batch_size: int) -> list[dict]:
    """Each size in fresh processes (the pipeline's, then the encoder's), its line printed as it comes."""
    print(f"SYNTHETIC transcripts (sample corpus sentences recombined), encoder mode {mode}; seconds per stage,"
          " peak RSS of each process")
    print(f"{'segments':>9} {'ingest':>7} {'segment':>8} {'embed':>7} {'match':>7} {'store':>7} {'other':>6}"
          f" {'total':>7} {'cpu s':>7} {'peak MB':>8} | {'encoder s':>9} {'cpu s':>7} {'peak MB':>8} |"
          f" {'time x':>6} {'cpu x':>6} {'mem x':>6}")
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            files = Path(tmp) / "corpus"
            write_growth_corpus(files, size)
            project = str(Path(tmp) / "project")
            full = _run(growth, str(files), project, model, mode)
            raw = _run(growth_encoder, project, model, mode, batch_size)
        st = full["stages"]
        row = {"size": size, "pipeline": full, "encoder": raw, "time_ratio": full["seconds"] / raw["seconds"],
               "memory_ratio": full["peak_mb"] / raw["peak_mb"], "cpu_ratio": full["cpu_s"] / raw["cpu_s"]}
        rows.append(row)
        print(f"{full['segments']:>9} {st['ingest']:>7.1f} {st['segment']:>8.1f} {st['embed']:>7.1f}"
              f" {st['match']:>7.1f} {st['store']:>7.1f} {st['other']:>6.1f}"
              f" {full['seconds']:>7.1f} {full['cpu_s']:>7.1f}"
              f" {full['peak_mb']:>8.0f} | {raw['seconds']:>9.1f} {raw['cpu_s']:>7.1f} {raw['peak_mb']:>8.0f} |"
              f" {row['time_ratio']:>6.2f} {row['cpu_ratio']:>6.2f} {row['memory_ratio']:>6.2f}", flush=True)
    return rows


def _run(target, *args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    import queue as queue_errors

    while True:
        try:
            result = queue.get(timeout=5)
            break
        except queue_errors.Empty:
            if not proc.is_alive():
                raise SystemExit(f"{target.__name__} died with exit code {proc.exitcode}") from None
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=150, help="transcripts to generate (150-2000)")
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--encoder", default="auto", choices=["auto", "torch", "onnx"])
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--sample", action="store_true", help="use the 36 bundled transcripts as they are (no repeated texts)"
    )
    parser.add_argument(
        "--encode-all",
        action="store_true",
        help="baseline encodes every segment, repeats included (default: each distinct text once)",
    )
    parser.add_argument("--sizes", default=None,
                        help="participant segments per size, e.g. 1e3,1e4,1e5: how cost grows (synthetic)")
    args = parser.parse_args()
    from nlp_theming.onnx_encoder import resolve_encoder

    mode = resolve_encoder(args.encoder)
    if args.sizes:
        rows = run_growth([int(float(s)) for s in args.sizes.split(",")], args.model, mode, args.batch_size)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2))
        return
    with tempfile.TemporaryDirectory() as tmp:
        files = Path(tmp) / "corpus"
        if args.sample:
            import shutil

            shutil.copytree(CORPUS / "transcripts", files / "transcripts")
            shutil.copy(CORPUS / "manifest.csv", files / "manifest.csv")
        else:
            subprocess.run(
                [sys.executable, str(ROOT / "scripts" / "make_corpus.py"), str(args.n), "--out", str(files)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        project = str(Path(tmp) / "project")
        full = _run(pipeline, str(files), project, args.model, mode)
        raw = _run(encoder, project, args.model, mode, args.batch_size, not args.encode_all)
    full_rate = full["segments"] / full["seconds"]
    raw_rate = raw["segments"] / raw["seconds"]
    figures = {
        "pipeline": full,
        "encoder": raw,
        "encoder_mode": mode,
        "speed_ratio": full_rate / raw_rate,
        "memory_ratio": full["peak_mb"] / raw["peak_mb"],
    }
    print(
        f"transcripts: {full['documents']} ingested ({full['failed']} failed), {full['segments']} segments, "
        f"{raw['unique_texts']} distinct texts (both sides embed each distinct text once)"
        if not args.encode_all
        else f"{raw['unique_texts']} distinct texts (the pipeline embeds each distinct text once; the encoder all)"
    )
    print(f"encoder mode: {mode}")
    print(f"pipeline, raw files to stored suggestions: {full_rate:8.1f} segments/s  peak {full['peak_mb']:7.0f} MB")
    print(f"raw encoder on the same texts:             {raw_rate:8.1f} segments/s  peak {raw['peak_mb']:7.0f} MB")
    print(f"ratio pipeline / encoder: speed {figures['speed_ratio']:.2f}x, peak memory {figures['memory_ratio']:.2f}x")
    print("pipeline stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in full["stages"].items()))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
