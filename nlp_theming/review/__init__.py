"""Review stage: people confirm, reject or change suggestions; nothing is a code until they do.

The decision log itself is :mod:`nlp_theming.store.decisions`; its public names are re-exported here.
"""

from ..store.decisions import ACTIONS, Decision, DecisionError, coding, decisions_frame, effective, record, reviewed
from .actions import accept, add, adjust, bulk_accept, change, decide, reject, undo
from .imports import ImportReport, import_spans, span_segments
from .queue import QueueFilter, review_queue
from .sheet import SheetReport, export_sheet, import_sheet
from .status import ReviewStatus, review_status

__all__ = [
    "ACTIONS",
    "Decision",
    "DecisionError",
    "ImportReport",
    "QueueFilter",
    "ReviewStatus",
    "SheetReport",
    "accept",
    "add",
    "adjust",
    "bulk_accept",
    "change",
    "coding",
    "decide",
    "decisions_frame",
    "effective",
    "export_sheet",
    "import_sheet",
    "import_spans",
    "record",
    "reject",
    "review_queue",
    "review_status",
    "reviewed",
    "span_segments",
    "undo",
]
