"""Summarize stage: site-level (or any grouping) summaries built from confirmed codes only.

``summarize(con, by="site")`` returns a :class:`Summary` (framework matrix, quotes, keywords,
within- and across-group comparisons as DataFrames); ``Summary.write(folder)`` writes the
HTML report, Markdown, XLSX and CSV/Parquet tables; ``check_summary(con, folder)`` says
whether a written summary is out of date with the decision log.
"""

from .data import UNREVIEWED_SCORE, read_sites
from .matrix import ctfidf_keywords
from .summary import Freshness, Summary, check_summary, read_meta, summarize

__all__ = [
    "UNREVIEWED_SCORE",
    "Freshness",
    "Summary",
    "check_summary",
    "ctfidf_keywords",
    "read_meta",
    "read_sites",
    "summarize",
]
