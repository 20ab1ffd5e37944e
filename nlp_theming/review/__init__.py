"""Review stage: people confirm, reject or change suggestions; nothing is a code until they do."""

from .imports import ImportReport, import_spans, span_segments
from .log import ACTIONS, Decision, DecisionError, coding, decisions_frame, effective, record, reviewed

__all__ = [
    "ACTIONS",
    "Decision",
    "DecisionError",
    "ImportReport",
    "coding",
    "decisions_frame",
    "effective",
    "import_spans",
    "record",
    "reviewed",
    "span_segments",
]
