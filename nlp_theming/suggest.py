"""Run the match stage over a project: segments in, ranked code suggestions out.

A run embeds the suggestable segments (cached), fits the matcher on the codebook and on the
codes people have confirmed so far, stores the top ``k`` codes per segment and the candidate
new themes, all in one transaction. A run killed half-way leaves a 'running' row and no
suggestions; the next run with the same configuration takes that row over and completes it
(embeddings already computed are read from the cache).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from .codebook import load_stored_codebook
from .embed import DEFAULT_MODEL, Embedder
from .match import discover_themes, make_matcher, top_k
from .review import reviewed
from .segment import Segmenter, segment_documents
from .store import now, transaction


@dataclass
class SuggestConfig:
    model: str = DEFAULT_MODEL
    matcher: str = "semisupervised"
    top_k: int = 5
    min_score: float = 0.01
    seed: int = 0
    include_interviewer: bool = False
    discover: bool = True
    batch_size: int = 64
    segmenter: Segmenter = field(default_factory=Segmenter)
    matcher_params: dict = field(default_factory=dict)


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


def suggestable_segments(con: sqlite3.Connection, scheme: str, include_interviewer: bool = False) -> pd.DataFrame:
    roles = ("participant", "interviewer") if include_interviewer else ("participant",)
    sql = f"""
        SELECT s.id AS segment_id, s.document_id, d.name AS document, s.idx, s.start, s.end, s.speaker, s.role,
               substr(d.text, s.start + 1, s.end - s.start) AS text
        FROM segments s JOIN current_documents d ON d.id = s.document_id
        WHERE s.scheme = ? AND s.role IN ({",".join("?" * len(roles))})
        ORDER BY d.name, s.idx
    """
    return pd.read_sql_query(sql, con, params=[scheme, *roles])


def run_suggest(con: sqlite3.Connection, config: SuggestConfig | None = None, progress: bool = False) -> RunSummary:
    config = config or SuggestConfig()
    started = time.perf_counter()
    version, codebook = load_stored_codebook(con)
    codes = codebook.leaves
    segment_documents(con, config.segmenter)
    segs = suggestable_segments(con, config.segmenter.scheme, config.include_interviewer)
    if segs.empty:
        raise ValueError("no segments to suggest codes for: ingest some transcripts first")

    decision_mark = con.execute("SELECT COALESCE(MAX(id), 0) FROM decisions").fetchone()[0]
    embedder = Embedder(config.model, batch_size=config.batch_size, con=con, progress=progress)
    params = {
        "top_k": config.top_k,
        "min_score": config.min_score,
        "include_interviewer": config.include_interviewer,
        "discover": config.discover,
        "matcher_params": config.matcher_params,
        "segments": hashlib.sha256(",".join(map(str, segs.segment_id)).encode()).hexdigest()[:16],
    }
    config_hash = hashlib.sha256(
        json.dumps(
            [embedder.model_id, version, config.matcher, config.segmenter.scheme, params, config.seed, decision_mark],
            sort_keys=True,
        ).encode()
    ).hexdigest()
    done = con.execute(
        "SELECT id FROM runs WHERE config_hash = ? AND status = 'complete' ORDER BY id DESC LIMIT 1", (config_hash,)
    ).fetchone()
    if done is not None:
        return _summary(con, done["id"], "up-to-date", time.perf_counter() - started)
    run_id = _claim_run(con, config_hash, embedder.model_id, version, config, params, decision_mark)
    try:
        return _complete_run(con, run_id, config, codes, segs, embedder, started)
    except Exception:
        # an error (not a kill) ends the run for good; a killed run stays 'running' to be taken over
        con.execute("UPDATE runs SET status = 'failed', finished_at = ? WHERE id = ?", (now(), run_id))
        raise


def _complete_run(con, run_id, config, codes, segs, embedder, started) -> RunSummary:
    code_names = [c.code for c in codes]

    clock = time.perf_counter()
    timings: dict[str, float] = {"prepare": clock - started}
    X = embedder.encode(segs.text.tolist())
    timings["embed"] = time.perf_counter() - clock
    clock = time.perf_counter()
    labels = reviewed(con)
    labels = labels[labels.segment_id.isin(segs.segment_id) & labels.code.isin(code_names)]
    index = {sid: i for i, sid in enumerate(segs.segment_id)}
    code_index = {c: j for j, c in enumerate(code_names)}
    labeled_rows = sorted({index[s] for s in labels.segment_id})
    Y = np.zeros((len(labeled_rows), len(codes)), dtype=np.float32)
    row_of = {r: i for i, r in enumerate(labeled_rows)}
    for r in labels[labels.applies].itertuples(index=False):
        Y[row_of[index[r.segment_id]], code_index[r.code]] = 1.0

    matcher = make_matcher(config.matcher, random_state=config.seed, **config.matcher_params)
    matcher.fit(codes, embedder.encode, X[labeled_rows] if labeled_rows else None, Y if labeled_rows else None, X)
    scores = matcher.predict_proba(X)
    ranked = top_k(scores, config.top_k, config.min_score)
    method = matcher.name if not labeled_rows else f"{matcher.name}+{len(labeled_rows)}labels"
    rows = [
        (run_id, int(sid), code_names[j], round(float(s), 6), rank, method)
        for sid, pairs in zip(segs.segment_id, ranked, strict=True)
        for rank, (j, s) in enumerate(pairs, start=1)
    ]

    timings["match"] = time.perf_counter() - clock
    clock = time.perf_counter()
    discovery = None
    if config.discover:
        is_matched = scores.max(axis=1) >= matcher.threshold if len(scores) else np.zeros(0, dtype=bool)
        matched = float(is_matched.mean()) if len(scores) else 0.0
        y = np.full(len(segs), -1)
        for r in labels[labels.applies].itertuples(index=False):
            y[index[r.segment_id]] = code_index[r.code]
        prototypes = getattr(matcher, "prototypes_", None)
        if prototypes is not None:
            discovery = discover_themes(
                segs.text.tolist(),
                X,
                code_names,
                prototypes,
                matched,
                embedder.encode,
                y,
                unmatched=~is_matched,
                random_state=config.seed,
            )

    timings["discover"] = time.perf_counter() - clock
    clock = time.perf_counter()
    with transaction(con):
        con.execute("DELETE FROM suggestions WHERE run_id = ?", (run_id,))  # nothing, unless a crash left rows
        con.executemany(
            "INSERT INTO suggestions(run_id, segment_id, code, score, rank, method) VALUES (?, ?, ?, ?, ?, ?)", rows
        )
        if discovery is not None:
            for p_idx, proposal in enumerate(discovery.proposals):
                con.execute(
                    "INSERT INTO theme_proposals(run_id, proposal, label, keywords, size) VALUES (?, ?, ?, ?, ?)",
                    (run_id, p_idx, proposal.label, json.dumps(proposal.keywords), len(proposal.members)),
                )
                con.executemany(
                    "INSERT INTO proposal_members(run_id, proposal, segment_id) VALUES (?, ?, ?)",
                    [(run_id, p_idx, int(segs.segment_id.iloc[m])) for m in proposal.members],
                )
        con.execute(
            "UPDATE runs SET status = 'complete', finished_at = ?, n_segments = ? WHERE id = ?",
            (now(), len(segs), run_id),
        )
    timings["store"] = time.perf_counter() - clock
    summary = _summary(con, run_id, "complete", time.perf_counter() - started)
    summary.timings = {k: round(v, 3) for k, v in timings.items()}
    summary.n_labeled = len(labeled_rows)
    summary.discovery_note = discovery.skipped if discovery is not None else "discovery off"
    return summary


def _claim_run(con, config_hash, model_id, version, config, params, decision_mark) -> int:
    with transaction(con):
        row = con.execute(
            "SELECT id FROM runs WHERE config_hash = ? AND status = 'running' ORDER BY id DESC LIMIT 1", (config_hash,)
        ).fetchone()
        if row is not None:
            return int(row["id"])  # an interrupted run: take it over
        cfg = asdict(config)
        cfg.pop("segmenter")
        cur = con.execute(
            "INSERT INTO runs(started_at, status, model_id, codebook_version, matcher, scheme, params, config_hash,"
            " seed, decision_mark) VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                now(),
                model_id,
                version,
                config.matcher,
                config.segmenter.scheme,
                json.dumps({**params, "config": cfg}, sort_keys=True),
                config_hash,
                config.seed,
                decision_mark,
            ),
        )
        return int(cur.lastrowid)


def latest_run(con: sqlite3.Connection) -> int | None:
    row = con.execute("SELECT id FROM runs WHERE status = 'complete' ORDER BY id DESC LIMIT 1").fetchone()
    return None if row is None else int(row[0])


def _summary(con: sqlite3.Connection, run_id: int, status: str, seconds: float) -> RunSummary:
    run = con.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    per_code = dict(
        con.execute(
            "SELECT code, COUNT(*) FROM suggestions WHERE run_id = ? AND rank = 1 GROUP BY code ORDER BY COUNT(*) DESC",
            (run_id,),
        ).fetchall()
    )
    n_sugg = con.execute("SELECT COUNT(*) FROM suggestions WHERE run_id = ?", (run_id,)).fetchone()[0]
    n_prop = con.execute("SELECT COUNT(*) FROM theme_proposals WHERE run_id = ?", (run_id,)).fetchone()[0]
    return RunSummary(run_id, status, run["n_segments"] or 0, n_sugg, 0, n_prop, per_code, seconds)
