"""Where the tests find the sample corpus and the real data sets shared beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
CORPUS = ROOT / "corpora" / "nhs-medical-leadership"
# Real data sets shared beside the repository (a clean clone has them at ../shared).
SHARED = Path(os.environ.get("NLP_THEMING_SHARED", ROOT.parent / "shared"))
