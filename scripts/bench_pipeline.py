"""Benchmark: end-to-end segments per second, raw files to stored suggestions, against the raw
encoder's segments per second on the same texts in the same run; and peak memory of each.

    python scripts/bench_pipeline.py --n 150 [--encoder torch|onnx|auto]

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
    args = parser.parse_args()
    from nlp_theming.onnx_encoder import resolve_encoder

    mode = resolve_encoder(args.encoder)
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
