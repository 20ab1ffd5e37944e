"""Krippendorff's alpha (nominal) for the AnnoMI expert annotations, cross-checked.

AnnoMI-full.csv has one row per utterance and annotator.  Seven transcripts were annotated by all
ten annotators (ids 0-9); the other transcripts by one annotator each, so their utterances are not
pairable and do not change alpha (checked below).  We therefore work on the seven multiply-annotated
transcripts; an utterance is identified by (transcript_id, utterance_id).  Each label applies to
one speaker's utterances (therapist behaviour to therapist turns, talk type to client turns).

For each utterance-level label we build the coders x utterances reliability matrix, compute alpha
with ``nlp_theming.agreement.krippendorff_alpha_nominal``, compare it with the ``krippendorff``
package, and give a 95% percentile bootstrap interval that resamples utterances.  Utterances from
one conversation are not independent, so the interval is on the narrow side; a cluster bootstrap
over the seven transcripts would be wider (and rough with so few clusters).

Usage: python scripts/annomi_alpha.py [path/to/AnnoMI-full.csv] [--n-boot 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd

from nlp_theming.agreement import (
    bootstrap_ci,
    gwet_ac1,
    krippendorff_alpha_nominal,
    percent_agreement,
    reliability_matrix,
)

DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "annomi" / "AnnoMI-full.csv"

# (label column, which utterances it applies to, description)
LABELS = [
    ("main_therapist_behaviour", "therapist", "therapist behaviour (reflection/question/input/other)"),
    ("client_talk_type", "client", "client talk type (change/neutral/sustain)"),
    ("reflection_exists", "therapist", "reflection present (True/False)"),
    ("question_exists", "therapist", "question present (True/False)"),
    ("therapist_input_exists", "therapist", "therapist input present (True/False)"),
]


def package_alpha(matrix: pd.DataFrame) -> float:
    """The krippendorff package's nominal alpha: labels mapped to numbers, NaN for missing."""
    values = pd.unique(matrix.stack().dropna())
    lookup = {v: float(i) for i, v in enumerate(values)}
    numeric = matrix.apply(lambda col: col.map(lookup)).to_numpy(dtype=float)
    return float(krippendorff.alpha(reliability_data=numeric, level_of_measurement="nominal"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    df = pd.read_csv(args.csv)
    df["unit"] = df["transcript_id"].astype(str) + ":" + df["utterance_id"].astype(str)
    per_transcript = df.groupby("transcript_id")["annotator_id"].nunique()
    multi = per_transcript[per_transcript > 1]
    print(f"{args.csv}: {len(df)} rows, {df['unit'].nunique()} utterances, {df['annotator_id'].nunique()} annotators")
    print(
        f"transcripts with more than one annotator: {len(multi)} ({', '.join(map(str, multi.index))}), "
        f"{df[df['transcript_id'].isin(multi.index)]['unit'].nunique()} utterances"
    )
    print(f"bootstrap: {args.n_boot} resamples of utterances, seed {args.seed}, 95% percentile interval\n")
    header = (
        f"{'label':26} {'units':>5} {'pairable':>8} {'alpha':>7} {'package':>8} {'95% CI':>17} {'%agree':>7} {'AC1':>6}"
    )
    print(header)
    print("-" * len(header))
    worst = 0.0
    # Reliability is a property of the multiply-annotated sample: resample only those utterances.
    rated = df[df["transcript_id"].isin(multi.index)]
    for column, speaker, _description in LABELS:
        sub = rated[rated["interlocutor"] == speaker]
        labels = sub[["unit", "annotator_id", column]].rename(columns={"annotator_id": "coder", column: "label"})
        labels["label"] = labels["label"].astype(str).where(labels["label"].notna(), None)
        matrix = reliability_matrix(labels)
        pairable = int((matrix.notna().sum(axis=0) >= 2).sum())
        t0 = time.perf_counter()
        ours = krippendorff_alpha_nominal(matrix)
        pkg = package_alpha(matrix)
        ci = bootstrap_ci(krippendorff_alpha_nominal, matrix, n_boot=args.n_boot, seed=args.seed)
        elapsed = time.perf_counter() - t0
        worst = max(worst, abs(ours - pkg))
        everyone = df[df["interlocutor"] == speaker][["unit", "annotator_id", column]]
        everyone = everyone.rename(columns={"annotator_id": "coder", column: "label"})
        everyone["label"] = everyone["label"].astype(str).where(everyone["label"].notna(), None)
        worst = max(worst, abs(krippendorff_alpha_nominal(reliability_matrix(everyone)) - ours))
        print(
            f"{column:26} {matrix.shape[1]:5d} {pairable:8d} {ours:7.4f} {pkg:8.4f} "
            f"[{ci.low:6.4f}, {ci.high:6.4f}] {percent_agreement(matrix):7.4f} {gwet_ac1(matrix):6.3f}"
            f"   ({elapsed:.1f}s)"
        )
    print(f"\nlargest |ours - krippendorff package| (and |all utterances - multiply annotated|) = {worst:.2e}")
    if not math.isfinite(worst) or worst > 1e-9:
        print("MISMATCH with the krippendorff package", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
