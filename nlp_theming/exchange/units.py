"""Coded units from span coding: the long format ``evaluate`` reads.

Each document is segmented with the project's own segmenter; a unit carries a coder's code
when one of that coder's spans covers it (the rule of :func:`nlp_theming.review.span_segments`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..ingest.text import parse_labelled_text
from ..match.context import preceding_turns, speaker_or_role
from ..review.imports import span_segments
from ..segment import Segmenter
from ..store.documents import segment_role


def units_from_spans(
    documents: pd.DataFrame, spans: pd.DataFrame, segmenter: Segmenter | None = None
) -> pd.DataFrame:
    """documents: document, name, text; spans: document, start, end, code, coder (char offsets).

    Returns unit_id, document, coder, text, codes (list), one row per unit and coder, and the
    unit's context (speaker, role, position, previous_text) where the text names speakers. A coder gets
    a row for every unit of each document they highlighted something in (an empty list: coded, no
    code applied), and none for documents they never highlighted: those they may not have read.
    """
    segmenter = segmenter or Segmenter()
    coders = list(dict.fromkeys(spans.coder))
    rows = []
    for doc in documents.itertuples(index=False):
        name = Path(str(doc.name)).stem
        transcript = parse_labelled_text(doc.text, "text")
        segments = segmenter.segment(transcript)
        frame = pd.DataFrame(
            {"segment_id": range(len(segments)), "start": [s.start for s in segments], "end": [s.end for s in segments]}
        )
        labelled = any(s.speaker for s in segments)
        texts = [doc.text[s.start : s.end] for s in segments]
        roles = [segment_role(s.is_interviewer, s.speaker, s.turn_idx, labelled) for s in segments]
        who = speaker_or_role(pd.DataFrame({"speaker": [s.speaker for s in segments], "role": roles}))
        previous = preceding_turns([name] * len(segments), range(len(segments)), who, texts)
        doc_spans = spans[spans.document == doc.document]
        for coder in coders:
            mine = doc_spans[doc_spans.coder == coder]
            if mine.empty:
                continue  # not "no code applies": this coder did not code this document
            codes: list[set[str]] = [set() for _ in segments]
            for span in mine.itertuples(index=False):
                for i in span_segments(frame, int(span.start), int(span.end)):
                    codes[i].add(str(span.code))
            for i, s in enumerate(segments):
                rows.append((f"{name}-{i:04d}", name, coder, texts[i], sorted(codes[i]),
                             s.speaker, roles[i], i, previous[i] or None))
    return pd.DataFrame(rows, columns=["unit_id", "document", "coder", "text", "codes", "speaker", "role",
                                       "position", "previous_text"])
