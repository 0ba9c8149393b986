"""A run folder the way a killed driver leaves it: result parts, no results.parquet, no summary.

A real process records the rows with `ResultsWriter` (one part per row, as a long run flushes
its parts) and is then killed with SIGKILL, so nothing of `ResultsWriter.close` or any
``finally`` runs: exactly what an out-of-memory kill or a lost driver machine leaves behind.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

_DRIVER = """
import json, os, signal, sys
from lipdub.results import ResultsWriter

state_root, run_id = sys.argv[1], sys.argv[2]
writer = ResultsWriter(state_root, run_id, flush_rows=1)
for row in json.load(sys.stdin):
    writer.add(row)
os.kill(os.getpid(), signal.SIGKILL)  # the driver dies here: close() never runs
"""


def kill_driver_after_recording(state_root: str, run_id: str, rows: list[dict[str, Any]]) -> Path:
    """Record ``rows`` in run ``run_id`` under ``state_root`` in a process that is then killed;
    returns the run folder (local state roots only)."""
    done = subprocess.run([sys.executable, "-c", _DRIVER, state_root, run_id], input=json.dumps(rows), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    return Path(state_root) / "runs" / run_id
