"""Run the match stage over a project: segments in, ranked code suggestions out.

A run works in blocks of whole documents (``SuggestConfig.block_segments``), so a million
segments fit in a few GB: pass 1 embeds each block (cached) and keeps the labelled rows' features
and the matcher's unlabelled pool (every row up to :data:`POOL_ROWS`, else a seeded sample);
the matcher is fitted on the codebook, the codes people have confirmed so far and that pool;
pass 2 scores each block and appends its top ``k`` codes per segment to the running run. A
document is never split, so its neighbours, previous turns and smoothing are the same in any
block. The run is complete (and seen by readers) only at the end. A run killed half-way stays
'running'; the next run with the same configuration takes that row over and starts its rows
afresh (embeddings already computed are read from the cache).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from .codebook import load_stored_codebook
from .dask_cluster import dask_client, embed_on_dask
from .embed import DEFAULT_MODEL, Embedder, contrastive_pairs, fine_tune
from .match import discover_themes, make_matcher, matcher_name, top_k
from .match.context import context_name, parse_context, preceding_turns, speaker_or_role
from .match.themes import DEFAULT_REDUCTION, DISCOVER_ROWS
from .progress import bar as progress_bar
from .segment import Segmenter, project_segmenter, segment_documents
from .store.decisions import reviewed
from .store.documents import document_count, segment_order, segment_table, segment_texts
from .store.runs import (
    OPERATING_THRESHOLD,
    ProposalRows,
    RunSpec,
    add_suggestions,
    best_scores,
    claim_run,
    decision_mark,
    fail_run,
    find_run,
    finish_run,
    likely_per_code,
    require_run,
    run_counts,
    run_row,
    store_proposals,
)
from .store.schema import project_folder


@dataclass
class SuggestConfig:
    model: str = DEFAULT_MODEL
    matcher: str = "semisupervised"
    top_k: int = 5
    min_score: float = 0.01
    seed: int = 0
    include_interviewer: bool = False
    discover: bool = False  # also cluster unmatched segments into candidate themes (else: run_discover)
    reduction: str = DEFAULT_REDUCTION  # how discovery reduces them (match.themes.REDUCTIONS)
    batch_size: int = 64
    segmenter: Segmenter | None = None  # None: the project's (see segment.project_segmenter)
    matcher_params: dict = field(default_factory=dict)
    context: str = "all"  # what the matcher sees of a segment's place in its interview (match.context)
    fine_tune: float = 0.0  # seconds to fine-tune a copy of the encoder on confirmed segments (0: off)
    encoder: str = "auto"  # torch, onnx (int8 ONNX export) or auto (onnx when ONNX Runtime is installed)
    # a Dask scheduler's address (or "local": a LocalCluster made for the run) to embed on; the same
    # suggestions as without it (see dask_cluster), so it is no part of the run's identity
    dask: str | None = None
    # segments read, embedded and scored at a time (whole documents: a block may pass it by one
    # document): what bounds memory, no part of the run's identity. From the same cached vectors
    # every size gives the same rows; texts embedded fresh are chunked per block (see docs/scale.md)
    block_segments: int = 50_000

    def __post_init__(self) -> None:
        self.matcher = matcher_name(self.matcher)  # an alias ("zero-shot") names the same run
        self.context = context_name(parse_context(self.context))  # one spelling per setting


#: pairs of confirmed segments a fine-tuning run draws (it stops early at its time budget)
FINE_TUNE_PAIRS = 4000
#: rows of features the matcher's per-code column statistics (mean and spread of similarities)
#: are fitted on, beside the labelled rows: every row of a run up to this many, else a sample
#: drawn with the run's seed (the statistics of 50,000 rows move by well under 1%)
POOL_ROWS = 50_000


def tuned_encoder(con: sqlite3.Connection, config: SuggestConfig, scheme: str, mark: int,
                  progress: bool = False) -> str:
    """The encoder fine-tuned on the segments people confirmed up to decision ``mark``
    (SetFit-style pairs of segments that share a code), stored in the project under
    ``models/tuned-<mark>`` and reused while no new decision comes; the base model when too few
    codes have two confirmed segments. Every segment is then embedded with it (cached under its
    own id: nothing of the base model's is overwritten)."""
    folder = project_folder(con)
    if folder is None:
        return config.model
    out = folder / "models" / f"tuned-{mark}"
    if (out / "config.json").exists():
        return str(out)
    accepted = reviewed(con)
    accepted = accepted[accepted.applies]
    texts = dict(zip(*segment_table(con, scheme)[["segment_id", "text"]].to_numpy().T, strict=True))
    by_code = {code: [texts[s] for s in group.segment_id if s in texts]
               for code, group in accepted.groupby("code")}
    pairs = contrastive_pairs(by_code, FINE_TUNE_PAIRS, config.seed)
    if not pairs:
        return config.model
    return str(fine_tune(config.model, pairs, config.fine_tune, out, config.seed, progress=progress))


def rerun_config(con: sqlite3.Connection) -> SuggestConfig:
    """The configuration of the project's latest run (the defaults where there is none), to
    suggest again after new decisions: same model, matcher, context and settings."""
    from dataclasses import fields

    from .store.runs import latest_run, run_row

    run_id = latest_run(con)
    row = run_row(con, run_id) if run_id is not None else None
    stored = json.loads(row["params"] or "{}").get("config", {}) if row is not None else {}
    known = {f.name for f in fields(SuggestConfig)} - {"segmenter"}  # the project's segmenter, always
    return SuggestConfig(**{k: v for k, v in stored.items() if k in known})


@dataclass
class RunSummary:
    run_id: int
    status: str  # complete | up-to-date
    n_segments: int
    n_suggestions: int
    n_labeled: int
    n_proposals: int
    per_code: dict[str, int]
    seconds: float
    discovery_note: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    n_documents: int = 0
    likely_per_code: dict[str, int] = field(default_factory=dict)  # suggestions scoring >= the threshold
    warnings: list[str] = field(default_factory=list)  # documents left out of the run (cannot be segmented)
    encoder: str = ""  # torch or onnx: the mode the run's vectors were made in

    def lines(self) -> list[str]:
        """The run in a few lines: counts, then top-1 and likely suggestions per theme."""
        out = [
            f"run {self.run_id} ({self.status}): {self.n_documents} documents, {self.n_segments} segments, "
            f"{self.n_suggestions} suggestions, {self.n_proposals} candidate new themes"
            + (f", learned from {self.n_labeled} confirmed segments" if self.n_labeled else "")
            + (f", encoder {self.encoder}" if self.encoder else "")
            + f" [{self.seconds:.1f}s]"
        ]
        width = max((len(c) for c in self.per_code), default=10)
        out.append(f"  {'theme':<{width}}  top-1  score>={OPERATING_THRESHOLD}")
        for code, n in sorted(self.per_code.items(), key=lambda kv: -kv[1]):
            out.append(f"  {code:<{width}}  {n:>5}  {self.likely_per_code.get(code, 0):>10}")
        return out


def suggestable_roles(include_interviewer: bool = False) -> tuple[str, ...]:
    """The speaker roles a run suggests codes for."""
    return ("participant", "interviewer") if include_interviewer else ("participant",)


def suggestable_segments(con: sqlite3.Connection, scheme: str, include_interviewer: bool = False,
                         documents: list[int] | None = None) -> pd.DataFrame:
    """The segments a run scores: participant speech (and the interviewer's, when asked), in reading
    order, with ``previous_text``: the turn before each segment's own (for an answer, the question).
    ``documents``: only these documents' (ids), a block of a large project."""
    roles = suggestable_roles(include_interviewer)
    every = segment_table(con, scheme, document_ids=documents).sort_values(["document", "segment_idx"])
    every = every.reset_index(drop=True)
    # (a document attribute may be called "role" too: the speaker's is speaker_role)
    who = speaker_or_role(pd.DataFrame({"speaker": every.speaker, "role": every.speaker_role}))
    every["previous_text"] = preceding_turns(every.document, every.segment_idx, who, every.text)
    segs = every[every.speaker_role.isin(roles)]
    return segs.reset_index(drop=True)


def segment_digest(segment_ids) -> str:
    """A short digest of a run's segments (ids in reading order): part of its identity."""
    return hashlib.sha256(",".join(map(str, segment_ids)).encode()).hexdigest()[:16]


def blocks(index: pd.DataFrame, size: int) -> list[tuple[list[int], int, int]]:
    """``index`` (segment_id, document_id in reading order) cut into blocks of whole documents of
    about ``size`` segments: (document ids, first row, end row) each."""
    out: list[tuple[list[int], int, int]] = []
    docs = index.document_id.to_numpy()
    starts = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]]) if len(docs) else np.zeros(0, dtype=int)
    ends = np.r_[starts[1:], len(docs)]
    first, ids = 0, []
    for start, end in zip(starts, ends, strict=True):
        ids.append(int(docs[start]))
        if end - first >= max(int(size), 1):
            out.append((ids, first, int(end)))
            first, ids = int(end), []
    if ids:
        out.append((ids, first, len(docs)))
    return out


def context_units(segs: pd.DataFrame) -> pd.DataFrame:
    """The segments as :class:`~nlp_theming.match.context.ContextFeatures` reads units."""
    return pd.DataFrame({"document": segs.document.astype(str), "position": segs.segment_idx,
                         "role": segs.speaker_role, "speaker": segs.speaker, "text": segs.text,
                         "previous_text": segs.previous_text})


class Phases:
    """The phases of a step as lines on stderr (``suggest: fitting ...``), beside the embedding
    bar, so that no step is silent for long; nothing when ``progress`` is off."""

    def __init__(self, progress: bool, step: str = "suggest") -> None:
        self.progress = progress
        self.step = step

    def __call__(self, what: str) -> None:
        if self.progress:
            from tqdm import tqdm

            tqdm.write(f"{self.step}: {what}", file=sys.stderr)


def run_suggest(con: sqlite3.Connection, config: SuggestConfig | None = None, progress: bool = False) -> RunSummary:
    config = config or SuggestConfig()
    started = time.perf_counter()
    version, codebook = load_stored_codebook(con)
    codes = codebook.leaves
    segmenter = config.segmenter or project_segmenter(con)
    unsegmented = [f"{name}: {problem}; left out of this run"
                   for _, name, problem in segment_documents(con, segmenter, progress=progress)]
    index = segment_order(con, segmenter.scheme, suggestable_roles(config.include_interviewer))
    if index.empty:
        raise ValueError("no segments to suggest codes for: ingest some transcripts first")

    mark = decision_mark(con)
    model = tuned_encoder(con, config, segmenter.scheme, mark, progress) if config.fine_tune > 0 else config.model
    embedder = Embedder(model, batch_size=config.batch_size, con=con, progress=progress, encoder=config.encoder)
    params = {
        "encoder": embedder.mode,  # what auto chose: vectors (and so suggestions) of the two modes differ
        "top_k": config.top_k,
        "min_score": config.min_score,
        "include_interviewer": config.include_interviewer,
        "discover": config.discover,
        **({"reduction": config.reduction} if config.discover else {}),
        "matcher_params": config.matcher_params,
        "context": config.context,
        "segments": segment_digest(index.segment_id),
    }
    config_hash = hashlib.sha256(
        json.dumps(
            [embedder.model_id, version, config.matcher, segmenter.scheme, params, config.seed, mark],
            sort_keys=True,
        ).encode()
    ).hexdigest()
    done = find_run(con, config_hash, "complete")
    if done is not None:
        fresh = _summary(con, done, "up-to-date", time.perf_counter() - started)
        fresh.warnings = unsegmented
        fresh.encoder = embedder.mode
        return fresh
    cfg = asdict(config)
    cfg.pop("segmenter")
    cfg.pop("dask")  # where it ran, not what it computed: a rerun runs here unless asked again
    cfg["encoder"] = embedder.mode
    spec = RunSpec(embedder.model_id, version, config.matcher, segmenter.scheme, {**params, "config": cfg},
                   config_hash, config.seed, mark)
    run_id = claim_run(con, spec)
    try:
        summary = _complete_run(con, run_id, config, codes, segmenter.scheme, index, embedder, started)
    except Exception:
        # an error (not a kill) ends the run for good; a killed run stays 'running' to be taken over
        fail_run(con, run_id)
        raise
    summary.warnings = unsegmented
    summary.encoder = embedder.mode
    return summary


class _Block:
    """One block's segments, context units and features (pass 1 makes them; pass 2 remakes them
    from the cache, unless the run is one block)."""

    def __init__(self, con, scheme: str, config, context, embedder, documents: list[int], client=None) -> None:
        self.segs = suggestable_segments(con, scheme, config.include_interviewer, documents)
        self.units = context_units(self.segs)
        texts = self.segs.text.tolist()
        if client is not None:
            embed_on_dask(client, embedder, texts, embedder.progress)
        self.text_vectors = embedder.encode(texts)
        if client is not None and context.question:  # the turn before each segment, in the chunks of a local run
            embed_on_dask(client, embedder, [t for t in self.units.previous_text.fillna("") if t.strip()],
                          embedder.progress)
        self.X = context.transform(self.text_vectors, self.units, embedder.encode)


def _complete_run(con, run_id, config, codes, scheme, index, embedder, started) -> RunSummary:
    code_names = [c.code for c in codes]
    code_index = {c: j for j, c in enumerate(code_names)}
    phase = Phases(embedder.progress)
    n = len(index)
    parts = blocks(index, config.block_segments)
    in_blocks = f" in {len(parts)} blocks" if len(parts) > 1 else ""
    phase(f"embedding {n} segments{in_blocks} ({embedder.mode} encoder; cached vectors are reused)")
    clock = time.perf_counter()
    timings: dict[str, float] = {"prepare": clock - started}
    context = parse_context(config.context)
    labels = reviewed(con)
    labels = labels[labels.segment_id.isin(set(index.segment_id)) & labels.code.isin(code_names)]
    imported = set(labels.loc[labels.imported.astype(bool), "segment_id"])
    if n <= POOL_ROWS:
        pool_rows = np.arange(n)
    else:
        pool_rows = np.sort(np.random.default_rng(config.seed).choice(n, POOL_ROWS, replace=False))
        phase(f"the matcher's column statistics are fitted on a sample of {POOL_ROWS} of the {n} segments")

    def block_labels(block: _Block) -> tuple[list[int], np.ndarray]:
        mine = labels[labels.segment_id.isin(set(block.segs.segment_id))]
        rows = {sid: i for i, sid in enumerate(block.segs.segment_id)}
        return partial_labels(mine, imported, rows, code_index)

    # pass 1: embed block by block; keep the labelled rows and the pool
    labelled_X, labelled_Y, pool, kept = [], [], [], None
    bar = None
    if embedder.progress:  # one bar for the whole run; each block adds the texts it embeds
        bar = embedder.bar = progress_bar(0, "embed", "segment")
    try:
        with dask_client(config.dask) if config.dask else nullcontext() as client:
            if client is not None:
                phase(f"embedding on Dask ({config.dask}): the texts the cache lacks go out, vectors come back")
            for documents, first, end in parts:
                block = _Block(con, scheme, config, context, embedder, documents, client)
                if len(block.segs) != end - first:
                    raise RuntimeError("the project's segments changed while the run read them: run suggest again")
                rows, Y = block_labels(block)
                if rows:
                    labelled_X.append(block.X[rows])
                    labelled_Y.append(Y)
                mine = pool_rows[(pool_rows >= first) & (pool_rows < end)] - first
                pool.append(block.X[mine] if len(mine) < len(block.X) else block.X)
                kept = block if len(parts) == 1 else None  # one block: pass 2 needs nothing remade
                del block
    finally:
        embedder.bar = None
        if bar is not None:
            bar.close()
    X_labelled = np.vstack(labelled_X) if labelled_X else None
    Y = np.vstack(labelled_Y) if labelled_Y else None
    n_labelled = 0 if Y is None else len(Y)
    X_pool = pool[0] if len(pool) == 1 else np.vstack(pool)  # (one block: its features, not a copy)
    del pool, labelled_X
    timings["embed"] = time.perf_counter() - clock
    clock = time.perf_counter()

    matcher = make_matcher(config.matcher, random_state=config.seed, **config.matcher_params)
    phase(f"fitting the {config.matcher} matcher on {len(code_names)} codes and {n_labelled} confirmed segments")
    matcher.fit(codes, embedder.encode, X_labelled, Y, X_pool)
    del X_pool
    method = matcher.name if not n_labelled else f"{matcher.name}+{n_labelled}labels"

    # pass 2: score block by block, appending each block's rows to the running run
    phase(f"scoring {n} segments{in_blocks}")
    unmatched: list[np.ndarray] = []
    for documents, _, _ in parts:
        block = kept if kept is not None else _Block(con, scheme, config, context, embedder, documents)
        rows, Yb = block_labels(block)
        known = np.full((len(block.segs), len(code_names)), np.nan, dtype=np.float32)
        if rows:
            known[rows] = Yb
        scores = context.smooth(matcher.predict_proba(block.X), block.units, known)
        ranked = top_k(scores, config.top_k, config.min_score)
        add_suggestions(con, run_id, [
            (int(sid), code_names[j], round(float(s), 6), rank, method)
            for sid, pairs in zip(block.segs.segment_id, ranked, strict=True)
            for rank, (j, s) in enumerate(pairs, start=1)
        ])
        if config.discover:
            matched = scores.max(axis=1) >= matcher.threshold if len(scores) else np.zeros(0, dtype=bool)
            unmatched.append(block.segs.segment_id.to_numpy()[~matched])
        kept = block = None

    timings["match"] = time.perf_counter() - clock
    clock = time.perf_counter()
    discovery, proposals = None, []
    if config.discover:
        ids = np.concatenate(unmatched) if unmatched else np.zeros(0, dtype=int)
        discovery, proposals = _discover(con, embedder, ids, config.seed, config.reduction, phase)

    timings["discover"] = time.perf_counter() - clock
    clock = time.perf_counter()
    phase(f"storing {len(proposals)} candidate themes; the run is complete")
    finish_run(con, run_id, proposals, n)
    timings["store"] = time.perf_counter() - clock
    summary = _summary(con, run_id, "complete", time.perf_counter() - started)
    summary.timings = {k: round(v, 3) for k, v in timings.items()}
    summary.n_labeled = n_labelled
    summary.discovery_note = discovery.skipped if discovery is not None else "discovery off"
    return summary


def _discover(con, embedder, unmatched_ids: np.ndarray, seed: int, reduction: str, phase):
    """Candidate themes among the segments with these ids (unmatched, in reading order): all of
    them up to :data:`~nlp_theming.match.themes.DISCOVER_ROWS`, else a sample drawn with ``seed``.
    Returns (the discovery result, its proposals as rows)."""
    ids = np.asarray(unmatched_ids, dtype=np.int64)
    if len(ids) > DISCOVER_ROWS:
        ids = np.sort(np.random.default_rng(seed).choice(ids, DISCOVER_ROWS, replace=False))
        phase(f"discovering candidate themes among a sample of {DISCOVER_ROWS} of the {len(unmatched_ids)}"
              f" unmatched segments ({reduction} + HDBSCAN)")
    else:
        phase(f"discovering candidate themes among {len(ids)} unmatched segments ({reduction} + HDBSCAN)")
    by_id = segment_texts(con, ids.tolist())
    texts = [by_id[int(i)] for i in ids]
    result = _themes(texts, embedder.encode(texts), seed, reduction)
    return result, [ProposalRows(p.label, p.keywords, [int(ids[m]) for m in p.members]) for p in result.proposals]


def _themes(texts: list[str], vectors: np.ndarray, seed: int, reduction: str):
    """Candidate themes among unmatched segments (``texts``, ``vectors``: those only), as suggest
    --discover and discover find them."""
    no_prototypes = np.zeros((1, vectors.shape[1] if vectors.ndim == 2 else 1), dtype=np.float32)  # unused
    return discover_themes(texts, vectors, [], no_prototypes, 0.0, None, unmatched=np.ones(len(texts), dtype=bool),
                           random_state=seed, reduction=reduction)


@dataclass
class DiscoverySummary:
    run_id: int
    n_segments: int
    n_unmatched: int
    proposals: list[tuple[str, int]]  # (label, size), largest first
    note: str | None
    seconds: float

    def lines(self) -> list[str]:
        out = [f"run {self.run_id}: {len(self.proposals)} candidate new themes among {self.n_unmatched} of"
               f" {self.n_segments} segments that matched no code [{self.seconds:.1f}s]"]
        if self.note:
            out.append(f"  ({self.note})")
        out.extend(f"  {size:>5}  {label}" for label, size in self.proposals)
        return out


def run_discover(con: sqlite3.Connection, run_id: int | None = None, seed: int | None = None,
                 reduction: str = DEFAULT_REDUCTION, progress: bool = False) -> DiscoverySummary:
    """Cluster the segments a complete run (default: the latest) gave no code at the operating
    threshold into candidate new themes, and store them with that run (replacing any it had).

    Its own step because it is slow beside suggest (UMAP: tens of seconds) and its answer barely
    moves with each review decision. Reads the run's vectors from the cache; ``seed`` defaults
    to the run's, so the same run gives the same themes."""
    started = time.perf_counter()
    phase = Phases(progress, "discover")
    run_id = require_run(con, run_id)
    row = run_row(con, run_id)
    params = json.loads(row["params"] or "{}")
    index = segment_order(con, row["scheme"], suggestable_roles(bool(params.get("include_interviewer"))))
    if params.get("segments") not in (None, segment_digest(index.segment_id)):
        raise ValueError(f"the project's segments changed since run {run_id}: run suggest again, then discover")
    best = index.segment_id.map(best_scores(con, run_id)).fillna(0.0).to_numpy()
    unmatched = index.segment_id.to_numpy()[~(best >= OPERATING_THRESHOLD)]
    embedder = Embedder(row["model_id"], con=con, progress=progress)
    result, proposals = _discover(con, embedder, unmatched, int(row["seed"] if seed is None else seed), reduction,
                                  phase)
    phase(f"storing {len(proposals)} candidate themes with run {run_id}")
    store_proposals(con, run_id, proposals)
    return DiscoverySummary(run_id, len(index), len(unmatched), [(p.label, len(p.segment_ids)) for p in proposals],
                            result.skipped, time.perf_counter() - started)


def partial_labels(
    labels: pd.DataFrame, imported: set[int], index: dict[int, int], code_index: dict[str, int]
) -> tuple[list[int], np.ndarray]:
    """What people's decisions teach, as (rows of X, Y): Y is 1 where a code applies (by any
    coder), 0 where people decided it does not, and NaN where nobody decided. A rejection is a
    negative for that code only and an accept a positive for that code only; a segment with
    imported coding (a coder coded the whole passage) has every other code as a negative."""
    rows = sorted({index[s] for s in labels.segment_id})
    row_of = {r: i for i, r in enumerate(rows)}
    Y = np.full((len(rows), len(code_index)), np.nan, dtype=np.float32)
    for segment_id in imported & set(labels.segment_id):
        Y[row_of[index[segment_id]]] = 0.0
    for r in labels.itertuples(index=False):  # negatives first: one coder's accept outweighs a rejection
        if not r.applies:
            Y[row_of[index[r.segment_id]], code_index[r.code]] = 0.0
    for r in labels[labels.applies].itertuples(index=False):
        Y[row_of[index[r.segment_id]], code_index[r.code]] = 1.0
    return rows, Y


def _summary(con: sqlite3.Connection, run_id: int, status: str, seconds: float) -> RunSummary:
    n_segments, n_sugg, n_prop, per_code = run_counts(con, run_id)
    return RunSummary(run_id, status, n_segments, n_sugg, 0, n_prop, per_code, seconds,
                      n_documents=document_count(con), likely_per_code=likely_per_code(con, run_id))
