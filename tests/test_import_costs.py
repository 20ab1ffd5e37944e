"""What gets imported when: the onnx encoder path never loads PyTorch, and the encoder's modules
load without the rest of the package. Each check runs in a fresh interpreter (real imports)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nlp_theming.onnx_encoder import onnx_available

ROOT = Path(__file__).resolve().parent.parent


def loaded_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter with this checkout first on the path; it prints JSON."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_default_segmenter_loads_spacy_without_torch_and_torch_still_imports_after() -> None:
    pytest.importorskip("torch")
    out = loaded_after(
        "import json, sys\n"
        "from nlp_theming.segment import Segmenter\n"
        "from nlp_theming.ingest import read_transcript\n"
        "import tempfile, pathlib\n"
        "p = pathlib.Path(tempfile.mkdtemp()) / 'a.txt'\n"
        "p.write_text('Interviewer: How was it?\\nP1: Hard at first. Then better. We coped.\\n')\n"
        "n = len(Segmenter(unit='sentence').segment(read_transcript(p)))\n"
        "during = 'torch' in sys.modules\n"
        "import torch\n"
        "print(json.dumps({'segments': n, 'torch_during': during, 'torch_after': torch.tensor([1]).item()}))"
    )
    assert out == {"segments": 4, "torch_during": False, "torch_after": 1}


def test_torch_already_loaded_is_left_to_spacy() -> None:
    """When torch is in the process first (the torch encoder), spaCy sees it as before."""
    pytest.importorskip("torch")
    out = loaded_after(
        "import json, sys, torch\n"
        "from nlp_theming.segment import Segmenter\n"
        "from nlp_theming.ingest import read_transcript\n"
        "import tempfile, pathlib\n"
        "p = pathlib.Path(tempfile.mkdtemp()) / 'a.txt'\n"
        "p.write_text('P1: One. Two.\\n')\n"
        "Segmenter().segment(read_transcript(p))\n"
        "import thinc.compat\n"
        "print(json.dumps({'has_torch': thinc.compat.has_torch}))"
    )
    assert out == {"has_torch": True}


def test_encoder_modules_load_without_pandas_sklearn_or_torch() -> None:
    out = loaded_after(
        "import json, sys\n"
        "import nlp_theming.embed, nlp_theming.onnx_encoder\n"
        "print(json.dumps(sorted(m for m in ('pandas', 'sklearn', 'torch', 'spacy', 'scipy') if m in sys.modules)))"
    )
    assert out == []


@pytest.mark.skipif(not onnx_available(), reason="needs onnxruntime and onnx")
def test_onnx_suggest_never_imports_torch(tmp_path: Path, fixture_files: dict[str, Path]) -> None:
    """Ingest, segment and suggest in onnx mode, the export already made: torch stays out."""
    from nlp_theming.embed import load_onnx_model

    load_onnx_model()  # the one-off export needs torch: made here, in the test's process
    codebook = ROOT / "corpora" / "nhs-medical-leadership" / "codebook.csv"
    out = loaded_after(
        "import json, sys\n"
        "from nlp_theming import Project, SuggestConfig\n"
        f"p = Project.init({str(tmp_path / 'project')!r})\n"
        f"p.ingest([__import__('pathlib').Path({str(fixture_files['typed.txt'])!r})])\n"
        f"p.load_codebook({str(codebook)!r})\n"
        "s = p.suggest(SuggestConfig(encoder='onnx'))\n"
        "print(json.dumps({'segments': s.n_segments > 0, 'torch': 'torch' in sys.modules}))"
    )
    assert out == {"segments": True, "torch": False}
