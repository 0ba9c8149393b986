#!/usr/bin/env bash
# Create .venv and install lipdub with the exact versions that work together (CPU torch).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.lipdub-installed
want=$(cat requirements.lock.txt requirements-dev.txt requirements.constraints.txt pyproject.toml | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # torch first, pinned, so nothing else can pull a multi-GB CUDA build.
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q torch==2.13.0
  .venv/bin/pip install -q -r requirements.lock.txt -r requirements-dev.txt -c requirements.constraints.txt
  .venv/bin/pip install -q --no-deps -e .
  .venv/bin/pip check
  echo "$want" > "$stamp"
fi
echo "lipdub is set up in $(pwd)/.venv (run: .venv/bin/lipdub --help)"
