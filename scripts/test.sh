#!/usr/bin/env bash
# The test command: install what is missing, check style, run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check nlp_theming tests scripts
exec .venv/bin/python -m pytest -q "$@"
