"""Context: where a segment stands in its interview, as features a matcher can learn from.

A segment's own embedding says what was said. Its place in the interview says more: who said it
(the interviewer's questions and the participant's answers take different codes), what was asked
just before (a semi-structured interview's question names the theme its answer speaks to), and
what the neighbouring segments of the same document say (one answer usually spans several
segments that share codes).

Features are one matrix, so every matcher keeps the scikit-learn shape ``fit(X)``/``predict(X)``:
the first ``dim`` columns are the segment's own embedding (the encoder's width), followed by the
context blocks of :class:`ContextFeatures`. Prototype similarity reads the text columns only
(:func:`text_part`); the learnt classifier reads them all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: roles with a feature of their own; any other role (or none known) has neither
ROLES = ("interviewer", "participant")
#: a question is at the end of its turn; the encoder reads a few hundred words at most
TURN_CHARS = 600


def text_part(X: np.ndarray, dim: int) -> np.ndarray:
    """The segment's own embedding: the first ``dim`` columns of a feature matrix."""
    return X if X.shape[1] == dim else X[:, :dim]


def with_neighbours(X: np.ndarray, dim: int) -> np.ndarray:
    """The segment's text plus its neighbours' (as :class:`ContextFeatures` weighted them): what
    prototype similarity reads, since one answer's segments usually speak to the same theme."""
    if X.shape[1] == dim:
        return X
    return X[:, :dim] + X[:, dim : 2 * dim]


def role_index(X: np.ndarray, dim: int) -> np.ndarray:
    """Per row, the index of its role in :data:`ROLES`, or ``len(ROLES)`` when unknown."""
    out = np.full(len(X), len(ROLES))
    if X.shape[1] == 3 * dim + len(ROLES):
        roles = X[:, -len(ROLES):]
        known = roles.max(axis=1) > 0
        out[known] = roles[known].argmax(axis=1)
    return out


def neighbour_rows(documents: Sequence[object], positions: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Row of the previous and the next unit of the same document in reading order (-1: none)."""
    frame = pd.DataFrame({"doc": list(map(str, documents)), "pos": np.asarray(positions, dtype=float)})
    order = frame.sort_values(["doc", "pos"], kind="stable").index.to_numpy()
    same = frame.doc.to_numpy()[order]
    prev, nxt = np.full(len(frame), -1), np.full(len(frame), -1)
    if len(order) > 1:
        linked = same[1:] == same[:-1]
        prev[order[1:][linked]] = order[:-1][linked]
        nxt[order[:-1][linked]] = order[1:][linked]
    return prev, nxt


def preceding_turns(
    documents: Sequence[object], positions: Sequence[float], speakers: Sequence[object], texts: Sequence[str]
) -> list[str]:
    """Per unit, the turn before the one it belongs to: the text of the previous speaker's last
    turn in the same document (for an answer, the question it answers), its last
    ``TURN_CHARS`` characters; "" where there is none or the speaker is unknown."""
    frame = pd.DataFrame({"doc": list(map(str, documents)), "pos": np.asarray(positions, dtype=float),
                          "speaker": [None if _blank(s) else str(s) for s in speakers], "text": list(texts)})
    out = [""] * len(frame)
    for _, group in frame.sort_values(["doc", "pos"], kind="stable").groupby("doc", sort=False):
        before, speaker_now, turn = "", None, []
        for i, speaker, text in zip(group.index, group.speaker, group.text, strict=True):
            if _blank(speaker):  # an unattributed unit breaks the chain of turns
                before, speaker_now, turn = "", None, []
                continue
            if speaker != speaker_now:
                before = " ".join(turn)[-TURN_CHARS:] if speaker_now is not None else ""
                speaker_now, turn = speaker, []
            out[i] = before
            turn.append(str(text))
    return out


def speaker_or_role(units: pd.DataFrame) -> list[object]:
    """Who said each unit, for telling turns apart: the speaker's label, else the role (text
    with no label between an interviewer's labelled lines is the participant's)."""
    n = len(units)
    speakers = units["speaker"].tolist() if "speaker" in units else [None] * n
    roles = units["role"].tolist() if "role" in units else [None] * n
    return [r if _blank(s) else s for s, r in zip(speakers, roles, strict=True)]


def _blank(v: object) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip())


@dataclass
class ContextFeatures:
    """Which context a matcher sees, and how loud each part is against the segment's own text.

    ``neighbours``: mean embedding of the previous and next unit of the same document;
    ``question``: embedding of the nearest earlier turn by another speaker; ``role``: one-hot of
    the speaker's role (:data:`ROLES`); ``neighbour_codes``: how far the codes decided or
    suggested for the neighbours pull a segment's scores (:meth:`smooth`, after the matcher). A
    weight of 0 leaves the part out.
    """

    neighbours: float = 0.5
    question: float = 0.5
    role: float = 1.0
    neighbour_codes: float = 0.25

    def smooth(self, scores: np.ndarray, units: pd.DataFrame, known: np.ndarray | None = None) -> np.ndarray:
        """Scores pulled towards the codes of the segment's neighbours of the same role in the same
        document (weight ``neighbour_codes``): what people decided there where they did (``known``:
        1, 0, or NaN for undecided, one row per unit), else what the matcher suggests there. One
        answer's segments usually share codes; a therapist's turn and the client's reply do not,
        hence the same role."""
        if not self.neighbour_codes or not len(scores):
            return scores
        units = units.reset_index(drop=True)
        positions = units["position"].to_numpy(dtype=float) if "position" in units else np.arange(len(units))
        roles = units["role"].map(lambda r: "" if _blank(r) else str(r)) if "role" in units else ""
        prev, nxt = neighbour_rows(units["document"].astype(str) + "\x1f" + roles, positions)
        labels = scores if known is None else np.where(np.isnan(known), scores, known)
        total, count = np.zeros_like(scores), np.zeros((len(scores), 1))
        for rows in (prev, nxt):
            has = rows >= 0
            total[has] += labels[rows[has]]
            count[has] += 1
        pulled = (1 - self.neighbour_codes) * scores + self.neighbour_codes * total / np.maximum(count, 1)
        return np.where(count > 0, pulled, scores)

    def transform(self, X: np.ndarray, units: pd.DataFrame, embed: Callable[[Sequence[str]], np.ndarray]) -> np.ndarray:
        """X with context columns appended. ``units`` (one row per row of X) has ``document`` and
        optionally ``position`` (reading order; default: row order), ``role``, ``speaker`` and
        ``previous_text`` (default: derived from the speakers)."""
        units = units.reset_index(drop=True)
        n = len(units)
        if not (self.neighbours or self.question or self.role):
            return X  # (neighbour_codes works on scores, not features)
        positions = units["position"].to_numpy(dtype=float) if "position" in units else np.arange(n, dtype=float)
        # One layout whatever the weights (a part weighted 0 is zeros), so the columns mean the
        # same in every matrix: text, neighbours, question (dim each), then the roles.
        neighbours = np.zeros_like(X)
        if self.neighbours:
            prev, nxt = neighbour_rows(units["document"], positions)
            count = np.zeros((n, 1), dtype=X.dtype)
            for rows in (prev, nxt):
                has = rows >= 0
                neighbours[has] += X[rows[has]]
                count[has] += 1
            neighbours *= self.neighbours / np.maximum(count, 1)
        question = self.question * self._question_vectors(X, units, positions, embed) if self.question else 0 * X
        onehot = np.zeros((n, len(ROLES)), dtype=X.dtype)
        if self.role and "role" in units:
            roles = units["role"].map(lambda r: "" if _blank(r) else str(r).strip().lower())
            for k, role in enumerate(ROLES):
                onehot[:, k] = self.role * (roles == role).to_numpy()
        return np.hstack([X, neighbours, question, onehot]).astype(X.dtype, copy=False)

    @staticmethod
    def _question_vectors(X, units, positions, embed) -> np.ndarray:
        if "previous_text" in units:
            previous = ["" if _blank(t) else str(t) for t in units["previous_text"]]
        else:
            previous = preceding_turns(units["document"], positions, speaker_or_role(units),
                                       units["text"].fillna("").astype(str))
        out = np.zeros_like(X)
        asked = [i for i, t in enumerate(previous) if t.strip()]
        if asked:
            out[asked] = embed([previous[i] for i in asked])
        return out


#: the parts of the context, in the order of their columns
CONTEXT_PARTS = ("neighbours", "question", "role", "neighbour_codes")


def parse_context(spec: str | ContextFeatures | None) -> ContextFeatures:
    """Context from what a user typed: ``all`` (the default weights), ``none``, or parts joined
    by commas (``neighbours,role``), each at its default weight."""
    if isinstance(spec, ContextFeatures):
        return spec
    text = "all" if spec is None else str(spec).strip().lower()
    if text in ("all", "default", ""):
        return ContextFeatures()
    if text in ("none", "off", "text"):
        return ContextFeatures(0.0, 0.0, 0.0, 0.0)
    parts = [p.strip() for p in text.replace("+", ",").split(",") if p.strip()]
    unknown = [p for p in parts if p not in CONTEXT_PARTS]
    if unknown:
        raise ValueError(f"unknown context part(s) {', '.join(map(repr, unknown))};"
                         f" choose all, none, or from {', '.join(CONTEXT_PARTS)}")
    default = ContextFeatures()
    return ContextFeatures(*(getattr(default, p) if p in parts else 0.0 for p in CONTEXT_PARTS))


def context_name(context: ContextFeatures) -> str:
    """A short name for a context: the parts it uses, or ``none``."""
    parts = [p for p in CONTEXT_PARTS if getattr(context, p)]
    return "+".join(parts) if parts else "none"
