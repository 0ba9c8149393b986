"""What earlier catalog runs finished: the basis of resumable and nightly runs.

Every run writes its result rows under ``<state_root>/runs/<run_id>/`` as they arrive (see
`lipdub.results`). Before a run, the newest result per item across all earlier runs decides
what to do with each catalog row:

- ``skip``: the last result was ok, for the same inputs and settings (same item fingerprint),
  and its output still exists; or there is no record but the output itself carries the same
  fingerprint in its container tags (finished just before the driver died, never recorded);
- ``new`` (never seen), ``changed`` (inputs or settings differ), ``retry`` (it failed, was
  interrupted, or its output has gone): run it.

The item fingerprint uses the inputs' metadata stamps (ETag or size + mtime), not their bytes,
so checking a large catalog reads no media.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lipdub.config import PipelineConfig
from lipdub.fingerprint import OUTPUT_TAG_PREFIX, combine, input_stamp
from lipdub.storage import filesystem_for, join_uri, open_uri, uri_exists

log = logging.getLogger(__name__)

RUNS_DIR = "runs"
PART_PREFIX = "part-"
_THREADS = 16  # metadata calls to object stores are latency-bound


def item_fingerprint(row: dict[str, Any], config: PipelineConfig) -> str:
    """What makes an item's output what it is: its inputs, its options and the output settings."""
    return combine(
        input_stamp(row["video_uri"]),
        input_stamp(row["audio_uri"]),
        row.get("output_uri"),
        row.get("sync_mode"),
        row.get("speaker_point"),
        row.get("transcript"),
        config.output_fingerprint_salt(),
    )


def recorded_in_output(output_uri: str | None) -> str | None:
    """The item fingerprint an output carries in its container tags (written by assemble), if any."""
    import av

    if not output_uri or not uri_exists(output_uri):
        return None
    try:
        with open_uri(output_uri, "rb") as handle, av.open(handle) as container:
            comment = container.metadata.get("comment", "")
    except Exception as error:  # noqa: BLE001 - an unreadable output is simply not finished
        log.warning("cannot read %s: %s", output_uri, error)
        return None
    return comment.removeprefix(OUTPUT_TAG_PREFIX) if comment.startswith(OUTPUT_TAG_PREFIX) else None


def read_previous_results(state_root: str) -> dict[str, dict[str, Any]]:
    """The newest recorded result per item_id over every earlier run under ``state_root``."""
    fs = filesystem_for(state_root)
    runs = fs._strip_protocol(join_uri(state_root, RUNS_DIR))
    fs.invalidate_cache(runs)
    if not fs.exists(runs):
        return {}
    files = [path for path in fs.find(runs) if path.rsplit("/", 1)[-1].startswith(PART_PREFIX) and path.endswith(".parquet")]

    def read(path: str) -> pa.Table | None:
        try:
            return pq.read_table(path, filesystem=fs)
        except Exception as error:  # noqa: BLE001 - one unreadable part must not block a run
            log.warning("ignoring unreadable results part %s: %s", path, error)
            return None

    with ThreadPoolExecutor(_THREADS) as pool:
        tables = [table for table in pool.map(read, files) if table is not None]
    newest: dict[str, dict[str, Any]] = {}
    for table in tables:
        for row in table.to_pylist():
            item = row.get("item_id")
            if item is None or row.get("status") == "skipped":
                continue
            if item not in newest or (row.get("finished_at") or "") > (newest[item].get("finished_at") or ""):
                newest[item] = row
    return newest


@dataclass
class RunPlan:
    """Catalog rows sorted into what to run and what to skip, with the reason for each."""

    to_run: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed_early: list[dict[str, Any]] = field(default_factory=list)  # bad catalog rows, missing inputs
    reasons: dict[str, int] = field(default_factory=dict)

    def count(self, reason: str) -> None:
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


def plan_run(rows: list[dict[str, Any]], config: PipelineConfig, state_root: str, *, force: bool = False) -> RunPlan:
    """Decide for each catalog row whether it runs, and give every runnable row its fingerprint."""
    previous = {} if force else read_previous_results(state_root)
    plan = RunPlan()

    def decide(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if row.get("status") == "failed":
            return "bad_row", row
        try:
            row["output_fingerprint"] = item_fingerprint(row, config)
        except FileNotFoundError as error:
            missing = error.filename or str(error)
            return "bad_row", dict(row, status="failed", failed_stage="catalog", error=f"input not found: {missing}")
        except Exception as error:  # noqa: BLE001 - an unreadable input fails only its item
            return "bad_row", dict(row, status="failed", failed_stage="catalog", error=f"cannot read input metadata: {error}")
        if force:
            return "forced", row
        last = previous.get(row["item_id"])
        if last is None:
            # Finished but never recorded (the driver died between the two): the output says so.
            if recorded_in_output(row["output_uri"]) == row["output_fingerprint"]:
                return "recovered", dict(row, status="skipped")
            return "new", row
        if last.get("output_fingerprint") != row["output_fingerprint"]:
            return "changed", row
        if last.get("status") != "ok":
            return "retry", row
        if not uri_exists(row["output_uri"]):
            return "output_missing", row
        return "unchanged", dict(last, status="skipped", error=None)

    with ThreadPoolExecutor(_THREADS) as pool:
        decisions = list(pool.map(decide, rows))
    for reason, row in decisions:
        plan.count(reason)
        if reason == "bad_row":
            plan.failed_early.append(row)
        elif reason in ("unchanged", "recovered"):
            plan.skipped.append(row)
        else:
            plan.to_run.append(row)
    return plan
