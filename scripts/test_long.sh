#!/usr/bin/env bash
# The long tier: fault injections, an interrupted driver, `ray job submit`, a multi-node cluster,
# the S3 catalog run and the training job in its own process (1-3 minutes each, ~13 minutes in
# all on 2 cores). CI runs it after scripts/test.sh (.ci/run).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=disabled
.venv/bin/python -m pytest -q -m long --durations=15 "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "error: pytest collected no long tests" >&2
  exit 1
fi
exit "$rc"
