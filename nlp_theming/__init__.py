"""nlp-theming: local-first, machine-assisted theming of interview transcripts.

Stages: ingest -> segment -> embed -> match -> review -> summarize. Nothing becomes a code
until a person confirms it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .version import __version__

if TYPE_CHECKING:
    from .api import Project
    from .codebook import Codebook, load_codebook
    from .ingest import read_transcript
    from .segment import Segmenter
    from .suggest import SuggestConfig

# Each name is imported on first use (PEP 562): ``import nlp_theming.embed`` (a Dask worker, the
# CLI's --help, the segmenter) then does not load the whole package, pandas and scikit-learn.
_LAZY = {
    "Codebook": "codebook",
    "Project": "api",
    "Segmenter": "segment",
    "SuggestConfig": "suggest",
    "load_codebook": "codebook",
    "read_transcript": "ingest",
}

__all__ = ["Codebook", "Project", "Segmenter", "SuggestConfig", "__version__", "load_codebook", "read_transcript"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
