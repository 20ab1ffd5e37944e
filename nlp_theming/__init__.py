"""nlp-theming: local-first, machine-assisted theming of interview transcripts.

Stages: ingest -> segment -> embed -> match -> review -> summarize. Nothing becomes a code
until a person confirms it.
"""

from .api import Project
from .codebook import Codebook, load_codebook
from .ingest import read_transcript
from .segment import Segmenter
from .suggest import SuggestConfig
from .version import __version__

__all__ = ["Codebook", "Project", "Segmenter", "SuggestConfig", "__version__", "load_codebook", "read_transcript"]
