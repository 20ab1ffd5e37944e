"""The framework matrix: groups x themes, with meta-theme roll-ups, quotes and keywords.

A cell is the set of confirmed coded segments of one theme (or, for a roll-up, of any theme
under one meta-theme) in one group. Counts are of distinct segments, participants and
roles, so a segment two coders coded, or one coded with two themes of the same meta-theme,
counts once.
"""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from ..embed import Embedder, ModelNotFound
from .data import Inputs, natural_key

# Spoken-language filler that c-TF-IDF would otherwise rank as "distinctive" of talkative cells.
SPOKEN_STOP_WORDS = {
    "um", "uh", "er", "erm", "ah", "oh", "hmm", "mm", "yeah", "yes", "no", "ok", "okay", "know", "like", "mean",
    "think", "really", "just", "sort", "kind", "lot", "bit", "actually", "right", "well", "thing", "things", "got",
    "get", "getting", "say", "said", "saying", "going", "go", "gone", "way", "quite", "sure", "honest", "honestly",
    "basically", "probably", "suppose", "guess", "stuff", "obviously", "course", "maybe", "pretty", "tell", "don",
    "didn", "doesn", "isn", "wasn", "ve", "ll", "re", "im", "dont", "ive", "theyre", "youre", "thats", "theres",
    "gonna", "wanna", "want", "come", "came", "lots", "little", "bits", "fair", "does", "did", "make", "makes",
}
STOP_WORDS = sorted(ENGLISH_STOP_WORDS | SPOKEN_STOP_WORDS)
TOKEN_PATTERN = r"(?u)\b[^\W\d_][^\W\d_'’]+\b"
QUOTE_CHARS = 600


def segment_vectors(con: sqlite3.Connection | None, model: str, texts: list[str]) -> tuple[np.ndarray, str]:
    """L2-normalised vectors of texts: the embedding model (cache first), else TF-IDF.

    The fallback keeps a summary possible on a machine without the model; it is recorded in
    the summary so quotes chosen that way are not mistaken for embedding-based ones.
    """
    if not texts:
        return np.zeros((0, 1), dtype=np.float32), "none"
    try:
        return Embedder(model, con=con).encode(texts), f"embedding:{Embedder(model).model_id}"
    except ModelNotFound:
        from sklearn.feature_extraction.text import TfidfVectorizer

        try:
            matrix = TfidfVectorizer(stop_words=STOP_WORDS, token_pattern=TOKEN_PATTERN).fit_transform(texts)
        except ValueError:  # only stop words
            return np.zeros((len(texts), 1), dtype=np.float32), "none"
        return np.asarray(matrix.todense(), dtype=np.float32), "tfidf"


def ctfidf_keywords(docs: list[str], top_n: int = 8) -> list[list[str]]:
    """Distinctive words of each class document against all the others (c-TF-IDF).

    tf is normalised by class size, idf is log(1 + A / f_t) with A the mean number of words per
    class and f_t the term's frequency across all classes (Grootendorst 2022, as in BERTopic).
    """
    out: list[list[str]] = [[] for _ in docs]
    if not any(d.strip() for d in docs):
        return out
    vectorizer = CountVectorizer(stop_words=STOP_WORDS, token_pattern=TOKEN_PATTERN, ngram_range=(1, 2), lowercase=True)
    try:
        counts = vectorizer.fit_transform(docs).astype(np.float64)
    except ValueError:  # nothing but stop words
        return out
    dense = np.asarray(counts.todense())
    sizes = dense.sum(axis=1, keepdims=True)
    tf = np.divide(dense, sizes, out=np.zeros_like(dense), where=sizes > 0)
    freq = dense.sum(axis=0)
    avg = dense.sum() / max(len(docs), 1)
    idf = np.log(1 + avg / np.maximum(freq, 1))
    weights = tf * idf
    vocab = vectorizer.get_feature_names_out()
    for i in range(len(docs)):
        row = weights[i]
        # ties (every word once in a small cell) go to the more frequent word, then alphabetically
        order = np.lexsort((vocab, -dense[i], -row))
        picked: list[str] = []
        for j in order:
            if row[j] <= 0 or len(picked) >= top_n:
                break
            term = str(vocab[j])
            # a bigram is only a phrase when it recurs (stop-word removal glues chance neighbours
            # together) and says more than the words already listed
            if " " in term and (dense[i, j] < 2 or all(w in picked for w in term.split())):
                continue
            picked.append(term)
        out[i] = picked
    return out


def contrast_keywords(docs: list[str], top_n: int = 5, min_z: float = 1.0) -> list[list[str]]:
    """Words each document uses more than the others do: weighted log-odds with an informative
    Dirichlet prior (Monroe, Colaresi and Quinn 2008, "Fightin' words").

    c-TF-IDF needs many classes to tell them apart; comparing two or three kinds of site within
    one theme, it mostly returns the theme's own vocabulary. The log-odds z-score instead
    measures over-use against the other classes, and shrinks words seen only once or twice.
    """
    out: list[list[str]] = [[] for _ in docs]
    if len(docs) < 2 or not any(d.strip() for d in docs):
        return out
    vectorizer = CountVectorizer(stop_words=STOP_WORDS, token_pattern=TOKEN_PATTERN, ngram_range=(1, 2))
    try:
        counts = np.asarray(vectorizer.fit_transform(docs).todense(), dtype=np.float64)
    except ValueError:
        return out
    vocab = vectorizer.get_feature_names_out()
    total = counts.sum(axis=0)
    # the prior: the pooled documents' word rates, worth about as many words as half the data
    a0 = max(total.sum() * 0.5, 50.0)
    alpha = a0 * total / total.sum()
    for i in range(len(docs)):
        y_i, y_j = counts[i], total - counts[i]
        n_i, n_j = y_i.sum(), y_j.sum()
        if n_i == 0 or n_j == 0:
            continue
        delta = np.log((y_i + alpha) / (n_i + a0 - y_i - alpha)) - np.log((y_j + alpha) / (n_j + a0 - y_j - alpha))
        z = delta / np.sqrt(1.0 / (y_i + alpha) + 1.0 / (y_j + alpha))
        picked: list[str] = []
        for j in np.lexsort((vocab, -z)):
            if z[j] < min_z or len(picked) >= top_n:
                break
            term = str(vocab[j])
            if " " in term and (y_i[j] < 2 or all(w in picked for w in term.split())):
                continue
            picked.append(term)
        out[i] = picked
    return out


def trim_quote(text: str, limit: int = QUOTE_CHARS) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit] + " …"


def tidy_table(inp: Inputs) -> pd.DataFrame:
    """One row per confirmed (segment, theme): the coded text with its document metadata."""
    segs = inp.segments.rename(columns={"start": "segment_start", "end": "segment_end"})
    tidy = inp.coded.rename(columns={"code": "theme"}).merge(segs, on="segment_id", how="inner")
    tidy = tidy.merge(inp.documents, on="document_id", how="inner")
    tidy = tidy.merge(inp.themes[["theme", "meta_theme", "position"]], on="theme", how="left")
    for column, start, end in (("text", "start", "end"), ("segment_text", "segment_start", "segment_end")):
        tidy[column] = [
            inp.texts[d][a:b] for d, a, b in zip(tidy.document_id, tidy[start], tidy[end], strict=True)
        ] if not tidy.empty else pd.Series(dtype=str)
    first = ["group", "meta_theme", "theme", "document", "participant", "role", "segment_id", "segment_idx", "speaker",
             "speaker_role", "start", "end", "text", "coders", "n_coders", "decision_ids", "segment_start",
             "segment_end", "start_time", "end_time", "segment_text"]
    rest = [c for c in tidy.columns if c not in first and c not in ("position", "turn_idx")]
    if tidy.empty:
        return pd.DataFrame(columns=first + rest)
    tidy["_g"] = tidy.group.map(natural_key)
    tidy = tidy.sort_values(["_g", "position", "document", "start"]).drop(columns="_g")
    return tidy[first + rest].reset_index(drop=True)


def coded_text(tidy: pd.DataFrame, group: str | None, level: str, name: str | None) -> str:
    """The text people marked for a cell (each coded span once), for keywords.

    Spans, not segments: an imported span is the passage the coder chose, while the segment
    around it may run on into talk of something else.
    """
    sub = tidy if group is None else tidy[tidy.group == group]
    if name is not None:
        sub = sub[sub["theme" if level == "theme" else "meta_theme"] == name]
    return " ".join(sub.drop_duplicates(["document_id", "start", "end"]).text)


def row_spec(themes: pd.DataFrame) -> list[tuple[str, str, str]]:
    """Matrix rows (level, meta_theme, theme): each meta-theme's roll-up, then its themes."""
    blocks: dict[str, list[str]] = {}
    for t in themes.sort_values("position").itertuples(index=False):
        blocks.setdefault(t.meta_theme, []).append(t.theme)
    rows: list[tuple[str, str, str]] = []
    for meta, members in blocks.items():
        if meta:
            rows.append(("meta", meta, meta))
        rows.extend(("theme", meta, theme) for theme in members)
    return rows


class CellBuilder:
    """Computes cells, quotes and within-group divergence from the tidy table and vectors.

    Works on plain records: a few hundred cells each filtering a wide DataFrame (every site
    attribute is a column) cost more than the rest of a summary together.
    """

    def __init__(self, inp: Inputs, tidy: pd.DataFrame, vectors: dict[int, np.ndarray], n_quotes: int = 3) -> None:
        self.vectors = vectors
        self.n_quotes = n_quotes
        self.groups = sorted(inp.documents.group.unique(), key=natural_key)
        self.rows = row_spec(inp.themes)
        docs = inp.documents.drop_duplicates(["group", "participant"])
        self.people = {g: sorted(((p, r) for p, r, gg in zip(docs.participant, docs.role, docs.group, strict=True)
                                  if gg == g), key=lambda x: natural_key(x[0])) for g in self.groups}
        meta_of = dict(zip(inp.themes.theme, inp.themes.meta_theme, strict=True))
        group_of_doc = dict(zip(inp.documents.document_id, inp.documents.group, strict=True))
        doc_of_seg = dict(zip(inp.segments.segment_id, inp.segments.document_id, strict=True))
        self.unreviewed: dict[tuple[str, str, str], set[int]] = {}
        for sid, code in zip(inp.unreviewed.segment_id, inp.unreviewed.code, strict=True):
            g = group_of_doc.get(doc_of_seg.get(sid))
            if g is None:
                continue
            self.unreviewed.setdefault(("theme", g, code), set()).add(int(sid))
            if meta_of.get(code):
                self.unreviewed.setdefault(("meta", g, meta_of[code]), set()).add(int(sid))
        fields = [c for c in CELL_FIELDS if c in tidy.columns]
        self.cell_rows: dict[tuple[str, str, str], list[dict]] = {}
        for rec in tidy[fields].to_dict("records"):
            self.cell_rows.setdefault(("theme", rec["group"], rec["theme"]), []).append(rec)
            if rec["meta_theme"]:
                self.cell_rows.setdefault(("meta", rec["group"], rec["meta_theme"]), []).append(rec)

    def build(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        cells, quotes, divergence = [], [], []
        for g in self.groups:
            n_people = len(self.people[g])
            for level, meta, name in self.rows:
                rows = self.cell_rows.get((level, g, name), [])
                sub = list({r["segment_id"]: r for r in reversed(rows)}.values())[::-1]  # one per segment
                people = {r["participant"]: r["role"] for r in sub}
                role_counts: dict[str, int] = {}
                for role in people.values():
                    role_counts[role] = role_counts.get(role, 0) + 1
                roles = sorted(role_counts, key=natural_key)
                spans = {(r["document_id"], r["start"], r["end"]): r["text"] for r in rows}
                cells.append({
                    "group": g, "level": level, "meta_theme": meta, "theme": name,
                    "n_segments": len(sub),
                    "n_documents": len({r["document_id"] for r in sub}),
                    "n_participants": len(people),
                    "participants": "; ".join(sorted(people, key=natural_key)),
                    "roles": "; ".join(f"{r} {role_counts[r]}" for r in roles),
                    "n_roles": len(roles),
                    "present": int(bool(sub)),
                    "coverage": round(len(people) / n_people, 4) if n_people else 0.0,
                    "group_participants": n_people,
                    "n_unreviewed": len(self.unreviewed.get((level, g, name), ())),
                    "text": " ".join(spans.values()),
                })
                if not sub:
                    continue
                quotes.extend(self._quotes(g, level, meta, name, sub))
                if level == "theme":
                    divergence.append(self._divergence(g, meta, name, sub))
        cell_cols = ["group", "level", "meta_theme", "theme", "n_segments", "n_documents", "n_participants",
                     "participants", "roles", "n_roles", "present", "coverage", "group_participants", "n_unreviewed"]
        cells_df = pd.DataFrame(cells, columns=[*cell_cols, "text"])
        quotes_df = pd.DataFrame(quotes, columns=QUOTE_COLUMNS)
        return cells_df, quotes_df, pd.DataFrame(divergence, columns=DIVERGENCE_COLUMNS)

    def _matrix(self, sub: list[dict]) -> np.ndarray:
        return np.stack([self.vectors[int(r["segment_id"])] for r in sub])

    def _quotes(self, g: str, level: str, meta: str, name: str, sub: list[dict]) -> list[dict]:
        X = self._matrix(sub)
        centroid = X.mean(axis=0)
        norm = float(np.linalg.norm(centroid))
        sims = X @ (centroid / norm) if norm > 0 else np.zeros(len(sub))
        # stable order: most central first, then reading order, so reruns pick the same quotes
        order = sorted(range(len(sub)), key=lambda i: (-round(float(sims[i]), 6), i))
        out, seen = [], set()
        for i in order:
            row = sub[i]
            span = (int(row["document_id"]), int(row["start"]), int(row["end"]))
            if span in seen:  # one coded span covering several segments is one quote
                continue
            seen.add(span)
            out.append(quote_record(row, g, level, meta, name, rank=len(out) + 1, similarity=float(sims[i])))
            if len(out) >= self.n_quotes:
                break
        return out

    def _divergence(self, g: str, meta: str, name: str, sub: list[dict]) -> dict:
        said = {r["participant"] for r in sub}
        silent = [(p, r) for p, r in self.people[g] if p not in said]
        silent_roles = sorted({r for _, r in self.people[g]} - {r["role"] for r in sub}, key=natural_key)
        row = {
            "group": g, "meta_theme": meta, "theme": name,
            "silent_roles": "; ".join(silent_roles),
            "silent_people": "; ".join(f"{p} ({r})" for p, r in silent),
            "n_silent": len(silent),
        }
        kind, key = ("roles", "role") if len({r["role"] for r in sub}) >= 2 else ("people", "participant")
        labels = [r[key] for r in sub]
        names = sorted(set(labels), key=natural_key)
        if len(names) < 2:
            return {**row, "contrast": ""}
        X = self._matrix(sub)
        cents = {n: _unit(X[[i for i, lab in enumerate(labels) if lab == n]].mean(axis=0)) for n in names}
        # the two sides whose centroids are furthest apart are the sharpest contrast in the cell
        pairs = [(float(cents[a] @ cents[b]), a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
        sim, a, b = min(pairs)
        direction = cents[a] - cents[b]

        def pick(side: str, sign: float) -> dict:
            idx = [i for i, lab in enumerate(labels) if lab == side]
            # the quote that most separates this side from the other, not merely an outlier
            return sub[max(idx, key=lambda i: (sign * float(X[i] @ direction), -i))]

        qa, qb = pick(a, 1.0), pick(b, -1.0)
        return {
            **row, "contrast": kind, "contrast_a": a, "contrast_b": b, "similarity": round(sim, 4),
            **{f"a_{k}": v for k, v in quote_record(qa, g, "theme", meta, name, 1, 0.0).items() if k in SIDE_FIELDS},
            **{f"b_{k}": v for k, v in quote_record(qb, g, "theme", meta, name, 2, 0.0).items() if k in SIDE_FIELDS},
        }


CELL_FIELDS = ["group", "theme", "meta_theme", "segment_id", "document_id", "document", "participant", "role", "site",
               "speaker", "start", "end", "text", "coders"]
QUOTE_COLUMNS = ["group", "level", "meta_theme", "theme", "rank", "segment_id", "document_id", "document",
                 "participant", "role", "site", "speaker", "start", "end", "text", "similarity", "coders"]
SIDE_FIELDS = ["segment_id", "document_id", "document", "participant", "role", "site", "text"]
DIVERGENCE_COLUMNS = ["group", "meta_theme", "theme", "silent_roles", "silent_people", "n_silent", "contrast",
                      "contrast_a", "contrast_b", "similarity", *(f"a_{k}" for k in SIDE_FIELDS),
                      *(f"b_{k}" for k in SIDE_FIELDS)]


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def quote_record(row: dict, g: str, level: str, meta: str, name: str, rank: int, similarity: float) -> dict:
    site = row.get("site")
    return {
        "group": g, "level": level, "meta_theme": meta, "theme": name, "rank": rank,
        "segment_id": int(row["segment_id"]), "document_id": int(row["document_id"]), "document": row["document"],
        "participant": row["participant"], "role": row["role"], "site": None if pd.isna(site) else str(site),
        "speaker": row["speaker"], "start": int(row["start"]), "end": int(row["end"]),
        "text": trim_quote(row["text"]), "similarity": round(similarity, 4), "coders": row["coders"],
    }
