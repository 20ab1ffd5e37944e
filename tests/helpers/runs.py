"""A suggestion run written through the store's own run functions: tests of what happens after
``suggest`` (review, export, the formula guard) need scores, not an embedding model."""

from __future__ import annotations

from collections.abc import Iterable

from nlp_theming import Project
from nlp_theming.store.runs import ProposalRows, RunSpec, claim_run, complete_run


def store_run(p: Project, suggestions: Iterable[tuple[int, str, float]], name: str = "test") -> int:
    """Store a complete run of (segment_id, code, score) suggestions, ranked per segment by score."""
    rows = sorted(suggestions, key=lambda r: (r[0], -r[2]))
    ranked, rank, last = [], 0, None
    for segment_id, code, score in rows:
        rank = rank + 1 if segment_id == last else 1
        last = segment_id
        ranked.append((int(segment_id), code, float(score), rank, name))
    spec = RunSpec("test-vectors", 1, "semisupervised", p.segmenter().scheme, {}, name, 0, 0)
    run_id = claim_run(p.con, spec)
    complete_run(p.con, run_id, ranked, [ProposalRows("-", [], [])], len({r[0] for r in ranked}))
    return run_id
