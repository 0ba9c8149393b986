#!/usr/bin/env bash
# The test command: set up if needed, then run the test suite but its long tier (tests marked
# `long`: fault injections and multi-process clusters, scripts/test_long.sh; CI runs both).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=disabled
.venv/bin/python -m pytest -q -m "not long" --durations=30 "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  # pytest's "no tests collected": the suite is never empty, so this means a broken selection.
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
