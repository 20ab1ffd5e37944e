"""Progress bars (tqdm, on stderr) for the steps that can take more than a few seconds: summarize,
writing spreadsheets, suggest's embedding. A bar appears only once its step has run for
``NLP_THEMING_PROGRESS_DELAY`` seconds (default 2), so a quick step stays silent."""

from __future__ import annotations

import os
import sys
from typing import Any


def bar(total: int, desc: str, unit: str = "step", enabled: bool = True) -> Any:
    """A tqdm bar on stderr (disabled when not ``enabled``: ``--quiet``); ``update`` it, then ``close`` it."""
    from tqdm import tqdm

    delay = float(os.environ.get("NLP_THEMING_PROGRESS_DELAY", "2"))
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, delay=delay, file=sys.stderr)
