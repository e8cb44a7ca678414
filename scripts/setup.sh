#!/usr/bin/env bash
# Create .venv/ at the repo root and install the Python packages (idempotent, quiet when done).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
REQ=${1:-requirements.txt}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "setup: Python 3.11 or newer is needed (found: $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ] && ! "$PY" -m ensurepip --version >/dev/null 2>&1; then
    # Debian's python3 ships venv/ensurepip separately
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing python3-venv (apt)"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $($PY --version)"
    "$PY" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi
# every requirements file: -r includes count too
stamp=".venv/.installed-$(cat requirements*.txt "$REQ" | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
    echo "setup: installing $REQ into .venv (first run downloads ~250 MB, mostly the SUMO road networks)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$REQ"
    touch "$stamp"
fi
