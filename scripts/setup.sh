#!/usr/bin/env bash
# Create .venv/ at the repo root and install the Python packages (idempotent, quiet when done).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
REQ=${1:-requirements.txt}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $($PY --version)"
    "$PY" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi
stamp=".venv/.installed-$(cat requirements.txt "$REQ" | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
    echo "setup: installing $REQ into .venv (first run downloads ~250 MB, mostly the SUMO road networks)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$REQ"
    touch "$stamp"
fi
