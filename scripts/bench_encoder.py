"""Benchmark: the torch and the onnx (int8) encoder on the same texts in the same run, alternated
``--repeats`` times so that a busy machine slows both alike; prints segments per second and their
ratio for each repeat, and how close the int8 vectors are to the torch ones (cosine).

    python scripts/bench_encoder.py                       # the sample corpus's participant segments
    python scripts/bench_encoder.py --texts serdif_units.csv --limit 2000   # any CSV with a text column

Both encoders use every core they are given (torch's and ONNX Runtime's own defaults); each text is
encoded once, sorted by length, in batches of ``--batch-size``, as ``Embedder`` does.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpora" / "nhs-medical-leadership"


def sample_texts() -> list[str]:
    """The sample corpus's participant segments, segmented as a project does."""
    from nlp_theming import Project

    with tempfile.TemporaryDirectory() as tmp, Project.init(Path(tmp) / "p") as p:
        p.ingest([CORPUS / "transcripts"], CORPUS / "manifest.csv")
        segments = p.segments()
        return segments[segments.speaker_role == "participant"].text.tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=Path, default=None, help="a CSV with a text column (default: sample corpus)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many texts")
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    from nlp_theming.embed import load_model, load_onnx_model

    if args.texts:
        import pandas as pd

        texts = pd.read_csv(args.texts).text.fillna("").astype(str).tolist()
    else:
        texts = sample_texts()
    texts = sorted(dict.fromkeys(texts), key=len)[: args.limit] if args.limit else sorted(set(texts), key=len)
    torch_model, onnx_model = load_model(args.model, "cpu"), load_onnx_model(args.model)  # loading excluded
    rows = []
    for repeat in range(1, args.repeats + 1):
        started = time.perf_counter()
        a = torch_model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True,
                               show_progress_bar=False, convert_to_numpy=True)
        torch_s = time.perf_counter() - started
        started = time.perf_counter()
        b = onnx_model.encode(texts, batch_size=args.batch_size)
        onnx_s = time.perf_counter() - started
        cosine = (np.asarray(a) * b).sum(axis=1)
        row = {"repeat": repeat, "texts": len(texts), "torch_per_s": len(texts) / torch_s,
               "onnx_per_s": len(texts) / onnx_s, "ratio": torch_s / onnx_s,
               "cosine_mean": float(cosine.mean()), "cosine_min": float(cosine.min())}
        rows.append(row)
        print(f"repeat {repeat}: {len(texts)} texts; torch {row['torch_per_s']:7.1f} segments/s, onnx int8"
              f" {row['onnx_per_s']:7.1f} segments/s: {row['ratio']:.2f}x; cosine to torch mean"
              f" {row['cosine_mean']:.4f}, min {row['cosine_min']:.4f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
