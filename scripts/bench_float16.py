"""Quality check of the float16 vector cache: ``evaluate`` on coded data sets with the vectors
kept as float32 and as float16 (what the cache stores), side by side; prints top-5 recall and
mean kappa of each and the largest cosine change rounding made.

    python scripts/bench_float16.py --data serdif serdif_units.csv CODEBOOK.csv --data annomi annomi_units.csv \\
        annomi_codebook.csv

(the units as docs/evaluation.md makes them: ``nlp-theming taguette-units`` for SERDIF,
``scripts/annomi_units.py`` for AnnoMI). Each data set is embedded once, as float32; the float16
run reads those vectors rounded, exactly as a cache written as float16 gives them back.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import tempfile
from pathlib import Path

import numpy as np


def cosine_change(cache: Path) -> tuple[float, float]:
    """(largest 1 - cosine, largest absolute change) between each cached float32 vector and its
    float16 rounding."""
    from nlp_theming.store.embeddings import as_stored

    worst_cos, worst_abs = 0.0, 0.0
    con = sqlite3.connect(cache)
    for (blob,) in con.execute("SELECT vector FROM embeddings"):
        v = np.frombuffer(blob, dtype=np.float32)
        r = as_stored(v)
        cos = float(v @ r / (np.linalg.norm(v) * np.linalg.norm(r)))
        worst_cos, worst_abs = max(worst_cos, 1.0 - cos), max(worst_abs, float(np.abs(v - r).max()))
    con.close()
    return worst_cos, worst_abs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs=3, action="append", metavar=("NAME", "UNITS", "CODEBOOK"), required=True)
    parser.add_argument("--fractions", default="0,0.3", help="hand-coded shares to evaluate at")
    parser.add_argument("--method", default="semisupervised")
    parser.add_argument("--encoder", default="auto")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    from nlp_theming.evaluate import evaluate
    from nlp_theming.store import embeddings

    fractions = [float(f) for f in args.fractions.split(",")]
    out: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, units, codebook in args.data:
            figures = {}
            for dtype in (np.float32, np.float16):
                folder = Path(tmp) / name / np.dtype(dtype).name
                folder.mkdir(parents=True)
                if dtype is np.float16:  # the float32 vectors, read back rounded as a float16 cache gives them
                    shutil.copy(Path(tmp) / name / "float32" / "embeddings.sqlite", folder / "embeddings.sqlite")
                embeddings.STORED_DTYPE = dtype  # what the cache stores and encode rounds through
                metrics = evaluate(codebook, units, folder, learning_curve=fractions, methods=[args.method],
                                   encoder=args.encoder)
                figures[np.dtype(dtype).name] = {r["train_fraction"]: (r["top5_recall"], r["mean_kappa"])
                                                 for r in metrics["learning_curve"]}
            embeddings.STORED_DTYPE = np.float16  # (as_stored reads it: the rounding measured below)
            worst_cos, worst_abs = cosine_change(Path(tmp) / name / "float32" / "embeddings.sqlite")
            for fraction in fractions:
                (r32, k32), (r16, k16) = figures["float32"][fraction], figures["float16"][fraction]
                row = {"data": name, "method": args.method, "hand_coded": fraction, "top5_recall_float32": r32,
                       "top5_recall_float16": r16, "kappa_float32": k32, "kappa_float16": k16,
                       "max_cosine_change": worst_cos, "max_abs_change": worst_abs}
                out.append(row)
                print(f"{name} {args.method} at {fraction}: top-5 recall {r32:.4f} (float32) {r16:.4f} (float16);"
                      f" mean kappa {k32:.4f} / {k16:.4f}; largest cosine change {worst_cos:.2e},"
                      f" largest value change {worst_abs:.2e}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
