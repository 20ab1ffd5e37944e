"""Benchmark: do suggestions update quickly as people review?

Builds (or reuses) a project of about N participant segments, suggests once (the baseline),
records 50 new review decisions, suggests again, and prints the matcher's time ("match" in
the run's timings) for both runs and the size of the embedding cache before and after the
re-suggest (it must not grow: nothing is embedded twice).

    python scripts/bench_resuggest.py                      # 100,000 segments (builds in a few minutes)
    python scripts/bench_resuggest.py --segments 2000      # seconds
    python scripts/bench_resuggest.py --profile            # also where the re-suggest's time goes

The transcripts are SYNTHETIC (random words, clearly labelled as such in every file), and
their segment vectors are random unit vectors written straight into the project's embedding
cache under the model's id and each text's hash, exactly where the Embedder looks, so the
benchmark does not spend an hour embedding. The codebook is the sample corpus's (its
prototypes are embedded by the real model while the project is built). Theme discovery is off
by default (``--discover`` to include it): it is not part of the matcher's time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPUS = ROOT / "corpora" / "nhs-medical-leadership"
TURNS_PER_DOCUMENT = 200  # participant turns; each is one coding unit (1-2 short sentences)
NOTE = "SYNTHETIC transcript for the re-suggest benchmark; random words, no real speech."
TARGET_S = 5.0


def _words(rng: random.Random) -> list[str]:
    # a synthetic vocabulary of pronounceable nonsense words (no real text is needed: vectors are random)
    syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "de", "va", "shi", "gu", "fe", "zo", "ba", "ly"]
    return sorted({"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(3000)})


def write_transcripts(folder: Path, n_segments: int, seed: int) -> int:
    """SYNTHETIC .txt transcripts with about ``n_segments`` participant turns in all."""
    rng = random.Random(seed)
    vocab = _words(rng)
    folder.mkdir(parents=True, exist_ok=True)
    n_docs = max(1, -(-n_segments // TURNS_PER_DOCUMENT))
    left = n_segments
    for d in range(n_docs):
        turns = min(TURNS_PER_DOCUMENT, left)
        left -= turns
        lines = [f"# {NOTE}"]
        for t in range(turns):
            lines.append(f"Interviewer: Question {t + 1}?")
            sentences = [
                " ".join(rng.choice(vocab) for _ in range(rng.randint(5, 12))).capitalize() + "."
                for _ in range(rng.randint(1, 2))
            ]
            lines.append(f"P{d + 1}: " + " ".join(sentences))
        (folder / f"synthetic-{d + 1:05d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return n_docs


def build(project: Path, n_segments: int, seed: int, model: str) -> None:
    from nlp_theming import Project
    from nlp_theming.embed import Embedder, text_hash
    from nlp_theming.match.prototypes import prototype_texts
    from nlp_theming.segment import project_segmenter, segment_documents
    from nlp_theming.store.embeddings import store_vectors
    from nlp_theming.suggest import suggestable_segments

    files = project.parent / f"{project.name}-transcripts"
    started = time.perf_counter()
    n_docs = write_transcripts(files, n_segments, seed)
    with Project.init(project) as p:
        report = p.ingest([files])
        if report.failed:
            raise SystemExit(f"ingest failed: {report.failed[:3]}")
        p.load_codebook(CORPUS / "codebook.csv")
        segmenter = project_segmenter(p.con)
        segment_documents(p.con, segmenter)
        segs = suggestable_segments(p.con, segmenter.scheme)
        # the segments and the turns before them (the matcher's context reads both)
        texts = segs.text.tolist() + [t for t in segs.previous_text if t]
        embedder = Embedder(model, con=p.con)
        hashes = list(dict.fromkeys(text_hash(t) for t in texts))
        rng = np.random.default_rng(seed)
        dim = 384 if "MiniLM-L6" in embedder.model_id else embedder.dimension
        for start in range(0, len(hashes), 20_000):
            chunk = hashes[start : start + 20_000]
            vectors = rng.standard_normal((len(chunk), dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            store_vectors(p.con, embedder.model_id, chunk, vectors)
        # the codebook's prototype texts with the real model (a few seconds), so that no run pays for loading it
        embedder.encode(prototype_texts(_leaves(p.con)))
    print(f"built {project}: {n_docs} SYNTHETIC documents, {len(texts)} participant segments,"
          f" random vectors cached [{time.perf_counter() - started:.0f}s]")


def _leaves(con) -> list:
    from nlp_theming.codebook import load_stored_codebook

    return load_stored_codebook(con)[1].leaves


def decide(con, run_id: int, n: int, seed: int, coder: str) -> None:
    """``n`` new decisions on the latest run's suggestions: accept the top code of half the
    chosen segments, reject it on the others (a reviewer working through a queue)."""
    from nlp_theming.review.actions import accept, reject
    from nlp_theming.store.runs import suggestion_table

    table = suggestion_table(con, run_id)
    top = table[table["rank"] == 1]
    rng = np.random.default_rng(seed)
    picked = top.iloc[rng.choice(len(top), size=min(n, len(top)), replace=False)]
    for i, row in enumerate(picked.itertuples(index=False)):
        (accept if i % 2 == 0 else reject)(con, coder, int(row.segment_id), row.code, run_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--segments", type=int, default=100_000, help="participant segments (default: %(default)s)")
    parser.add_argument("--decisions", type=int, default=50, help="new decisions before the re-suggest")
    parser.add_argument("--prior-decisions", type=int, default=0,
                        help="decisions made (and suggested on) before the baseline run")
    parser.add_argument("--project", type=Path, default=None,
                        help="project folder (default: a folder per size under the system temp folder); reused"
                        " when it exists")
    parser.add_argument("--rebuild", action="store_true", help="build the project even when it exists")
    parser.add_argument("--matcher", default="semisupervised")
    parser.add_argument("--discover", action="store_true", help="also cluster unmatched segments (BERTopic)")
    parser.add_argument("--profile", action="store_true",
                        help="after the re-suggest, time the parts of the match stage again one by one")
    parser.add_argument("--cprofile", action="store_true",
                        help="run the re-suggest under cProfile (its overhead inflates Python-heavy parts)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import shutil
    import tempfile

    from nlp_theming import Project, SuggestConfig
    from nlp_theming.store.embeddings import cache_size

    project = args.project or Path(tempfile.gettempdir()) / f"bench-resuggest-{args.segments}-s{args.seed}"
    if args.rebuild and project.exists():
        shutil.rmtree(project)
    if not (project / "project.db").exists():
        build(project, args.segments, args.seed, args.model)
    else:
        print(f"reusing {project}")
    # a fresh copy of the review log each time: the decisions of an earlier benchmark run would change the baseline
    work = project.parent / f"{project.name}-run"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(project, work)

    config = SuggestConfig(model=args.model, matcher=args.matcher, seed=args.seed, discover=args.discover)
    with Project(work) as p:
        if args.prior_decisions:
            first = p.suggest(config)
            decide(p.con, first.run_id, args.prior_decisions, args.seed + 1, "bench-earlier")
        baseline = p.suggest(config)
        decide(p.con, baseline.run_id, args.decisions, args.seed, "bench")
        before = cache_size(p.con)
        profiler = cProfile.Profile() if args.cprofile else None
        if profiler:
            profiler.enable()
        again = p.suggest(config)
        if profiler:
            profiler.disable()
        after = cache_size(p.con)
        parts = match_parts(p.con, config) if args.profile else None

    match_base, match_again = baseline.timings.get("match", float("nan")), again.timings.get("match", float("nan"))
    print(f"{again.n_segments} segments (SYNTHETIC text, random vectors), {len(_codes(work))} codes,"
          f" matcher {args.matcher}, discovery {'on' if args.discover else 'off'}")
    print(f"baseline suggest ({baseline.n_labeled} labelled segments): match {match_base:.2f}s,"
          f" total {baseline.seconds:.2f}s, timings {baseline.timings}")
    print(f"re-suggest after {args.decisions} new decisions ({again.n_labeled} labelled segments):"
          f" match {match_again:.2f}s, total {again.seconds:.2f}s, timings {again.timings}")
    print(f"embedding cache: {before} vectors before the re-suggest, {after} after"
          f" ({'nothing new embedded' if after == before else f'{after - before} NEW VECTORS'})")
    verdict = "within" if match_again < TARGET_S else "OVER"
    print(f"re-suggest matcher time {match_again:.2f}s: {verdict} the {TARGET_S:.0f}s target"
          f" ({match_again / match_base:.2f}x the baseline's)")
    if parts:
        print("the re-suggest's match stage again, part by part (wall clock, no profiler):")
        for name, seconds in parts.items():
            print(f"  {name:<40} {seconds:7.2f}s")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue())
    return 0 if after == before else 1


def match_parts(con, config) -> dict[str, float]:
    """What the match stage of ``run_suggest`` does, step by step with the same public functions,
    each timed: where a re-suggest's matcher time goes."""
    from nlp_theming.embed import Embedder
    from nlp_theming.match import make_matcher, top_k
    from nlp_theming.match.context import parse_context
    from nlp_theming.segment import project_segmenter
    from nlp_theming.store.decisions import reviewed
    from nlp_theming.suggest import context_units, partial_labels, suggestable_segments

    segs = suggestable_segments(con, project_segmenter(con).scheme, config.include_interviewer)
    embedder = Embedder(config.model, con=con)
    context = parse_context(config.context)
    X = context.transform(embedder.encode(segs.text.tolist()), context_units(segs), embedder.encode)
    codes = _leaves(con)
    names = [c.code for c in codes]
    parts: dict[str, float] = {}
    clock = time.perf_counter()
    labels = reviewed(con)
    labels = labels[labels.segment_id.isin(segs.segment_id) & labels.code.isin(names)]
    index = {sid: i for i, sid in enumerate(segs.segment_id)}
    imported = set(labels.loc[labels.imported.astype(bool), "segment_id"])
    rows, Y = partial_labels(labels, imported, index, {c: j for j, c in enumerate(names)})
    parts[f"read decisions, partial labels ({len(rows)} rows)"] = time.perf_counter() - clock
    clock = time.perf_counter()
    matcher = make_matcher(config.matcher, random_state=config.seed)
    matcher.fit(codes, embedder.encode, X[rows] if rows else None, Y if rows else None, X)
    stacked = getattr(matcher, "stacker_", None) is not None
    parts[f"matcher.fit ({'with' if stacked else 'no'} cross-validated stacker)"] = time.perf_counter() - clock
    clock = time.perf_counter()
    scores = matcher.predict_proba(X)
    parts["matcher.predict_proba"] = time.perf_counter() - clock
    clock = time.perf_counter()
    known = np.full(scores.shape, np.nan, dtype=np.float32)
    if rows:
        known[rows] = Y
    scores = context.smooth(scores, context_units(segs), known)
    parts["neighbour codes"] = time.perf_counter() - clock
    clock = time.perf_counter()
    ranked = top_k(scores, config.top_k, config.min_score)
    parts["top_k (a Python loop over segments)"] = time.perf_counter() - clock
    clock = time.perf_counter()
    _ = [(int(sid), names[j], round(float(v), 6), r) for sid, pairs in zip(segs.segment_id, ranked, strict=True)
         for r, (j, v) in enumerate(pairs, start=1)]
    parts["suggestion rows"] = time.perf_counter() - clock
    return parts


def _codes(project: Path) -> list[str]:
    from nlp_theming import Project

    with Project(project) as p:
        return [c.code for c in _leaves(p.con)]


if __name__ == "__main__":
    sys.exit(main())
