"""What earlier catalog runs finished: the basis of resumable and nightly runs.

Every run writes its result rows under ``<state_root>/runs/<run_id>/`` as they arrive (see
`lipdub.results`). Before a run, the newest result per item across all earlier runs decides
what to do with each catalog row:

- ``skip``: the last result was ok, for the same inputs and settings (same item fingerprint),
  and its output still exists; or there is no record but the output itself carries the same
  fingerprint in its container tags (finished just before the driver died, never recorded);
- ``new`` (never seen), ``changed`` (inputs or settings differ), ``retry`` (it failed, was
  interrupted, or its output has gone): run it.

A run whose driver died (killed, out of memory, machine lost) leaves only its result parts, no
results manifest: its records count like any other (its ok items are skipped, the rest rerun),
and the next run logs a warning naming it (`RunRecords.unfinished`).

The item fingerprint uses the inputs' metadata stamps (ETag or size + mtime), not their bytes,
so checking a large catalog reads no media.
"""
from __future__ import annotations

import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from lipdub.config import PipelineConfig
from lipdub.errors import MissingInputError
from lipdub.fingerprint import OUTPUT_TAG_PREFIX, combine, input_stamp
from lipdub.storage import filesystem_for, join_uri, open_uri, uri_exists

log = logging.getLogger(__name__)

RUNS_DIR = "runs"
PART_PREFIX = "part-"
RESULTS_FILE = "results.parquet"  # written at a run's end (`lipdub.results`): its absence means the run stopped early
_THREADS = 16  # metadata calls to object stores are latency-bound


STATE_DIR = "_lipdub"  # run records beside the outputs: <output_root>/_lipdub


def default_state_root(catalog_uri: str, output_root: str | None, config: PipelineConfig) -> str:
    """Run records live beside the outputs (``<output_root>/_lipdub``), else in the work store."""
    if output_root:
        return join_uri(output_root, STATE_DIR)
    return join_uri(config.work_root, "state", combine(catalog_uri))


def item_fingerprint(row: dict[str, Any], config: PipelineConfig) -> str:
    """What makes an item's output what it is: its inputs, its options and the output settings."""
    return combine(
        input_stamp(row["video_uri"]),
        input_stamp(row["audio_uri"]),
        row.get("output_uri"),
        row.get("sync_mode"),
        row.get("speaker_point"),
        row.get("transcript"),
        row.get("video_codec"),
        row.get("language"),  # the dub track's language tag
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


def list_parts(fs: fsspec.AbstractFileSystem, folder: str) -> list[str]:
    """Result part files anywhere under ``folder`` (a path of ``fs``), sorted: part names carry
    their order. Listing caches are dropped first: a run may have just written a part."""
    fs.invalidate_cache(folder)
    if not fs.exists(folder):
        return []
    return sorted(path for path in fs.find(folder) if _is_part(path))


def read_parts(fs: fsspec.AbstractFileSystem, paths: list[str]) -> list[tuple[str, pa.Table]]:
    """(path, table) of each of ``paths``, in their order, in parallel; a part that cannot be read
    is left out with a warning."""

    def read(path: str) -> pa.Table | None:
        try:
            return pq.read_table(path, filesystem=fs)
        except Exception as error:  # noqa: BLE001 - one unreadable part must not block a run
            log.warning("ignoring unreadable results part %s: %s", path, error)
            return None

    with ThreadPoolExecutor(_THREADS) as pool:
        return [(path, table) for path, table in zip(paths, pool.map(read, paths)) if table is not None]


def _is_part(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.startswith(PART_PREFIX) and name.endswith(".parquet")


def _modified(info: dict[str, Any]) -> float:
    """A listed file's modification time (seconds since the epoch; 0.0 when the store gives none).
    Each fsspec backend names it its own way: local ``mtime``, s3 ``LastModified``, ..."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, dt.datetime):
            return value.timestamp()
        if isinstance(value, str):
            try:
                return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0


@dataclass
class RecordedRun:
    """One run folder under the state root, as its files show it."""

    run_id: str
    folder: str  # path within its filesystem
    parts: list[str] = field(default_factory=list)
    finished: bool = False  # its results manifest was written: the run reached its end
    modified: float = 0.0  # its newest file's time (seconds since the epoch; 0.0: unknown)
    ok: int = 0  # recorded ok items
    not_ok: int = 0  # recorded failed items


@dataclass
class RunRecords:
    """Every earlier run's records: the newest result per item, and the runs they came from."""

    newest: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, RecordedRun] = field(default_factory=dict)

    def unfinished(self) -> list[RecordedRun]:
        """Runs with result parts but no results manifest, newer than the newest finished run:
        the runs before this one whose driver stopped early (or that are still going). Older
        ones were followed by a run that finished, which already redid what they left."""
        last_finished = max((run.modified for run in self.runs.values() if run.finished), default=0.0)
        return sorted(
            (run for run in self.runs.values() if run.parts and not run.finished and run.modified >= last_finished),
            key=lambda run: run.modified,
        )


def read_run_records(state_root: str) -> RunRecords:
    """Read every result part under ``state_root`` (one listing, then the parts in parallel)."""
    fs = filesystem_for(state_root)
    runs_root = fs._strip_protocol(join_uri(state_root, RUNS_DIR))
    fs.invalidate_cache(runs_root)
    if not fs.exists(runs_root):
        return RunRecords()
    records = RunRecords()
    run_of: dict[str, RecordedRun] = {}
    for path, info in sorted(fs.find(runs_root, detail=True).items()):
        folder, name = path.rsplit("/", 1)
        run = records.runs.setdefault(folder, RecordedRun(run_id=folder.rsplit("/", 1)[-1], folder=folder))
        run.modified = max(run.modified, _modified(info))
        run.finished = run.finished or name == RESULTS_FILE
        if _is_part(path):
            run.parts.append(path)
            run_of[path] = run
    for path, table in read_parts(fs, list(run_of)):
        _add_rows(records, run_of[path], table.to_pylist())
    return records


def _add_rows(records: RunRecords, run: RecordedRun, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        item = row.get("item_id")
        if item is None or row.get("status") == "skipped":
            continue
        if row.get("status") == "ok":
            run.ok += 1
        else:
            run.not_ok += 1
        newest = records.newest.get(item)
        if newest is None or (row.get("finished_at") or "") > (newest.get("finished_at") or ""):
            records.newest[item] = row


def read_previous_results(state_root: str) -> dict[str, dict[str, Any]]:
    """The newest recorded result per item_id over every earlier run under ``state_root``."""
    return read_run_records(state_root).newest


def _log_unfinished(runs: list[RecordedRun]) -> None:
    for run in runs:
        log.warning(
            "the earlier run %s did not finish (no %s in %s: its driver was stopped, or it is still running); "
            "its %d ok items count as done (skipped unless changed or their output is gone); "
            "its %d other recorded items, and any it never reached, are run again",
            run.run_id, RESULTS_FILE, run.folder, run.ok, run.not_ok,
        )


@dataclass
class RunPlan:
    """Catalog rows sorted into what to run and what to skip, with the reason for each."""

    to_run: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed_early: list[dict[str, Any]] = field(default_factory=list)  # bad catalog rows, missing inputs
    reasons: dict[str, int] = field(default_factory=dict)
    unfinished_runs: list[str] = field(default_factory=list)  # earlier runs that stopped before their end

    def count(self, reason: str) -> None:
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


def plan_run(rows: list[dict[str, Any]], config: PipelineConfig, state_root: str, *, force: bool = False) -> RunPlan:
    """Decide for each catalog row whether it runs, and give every runnable row its fingerprint."""
    plan = RunPlan()
    if force:
        previous: dict[str, dict[str, Any]] = {}
    else:
        records = read_run_records(state_root)
        previous = records.newest
        unfinished = records.unfinished()
        _log_unfinished(unfinished)
        plan.unfinished_runs = [run.run_id for run in unfinished]

    def decide(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if row.get("status") == "failed":
            return "bad_row", row
        try:
            row["output_fingerprint"] = item_fingerprint(row, config)
        except MissingInputError as error:
            return "bad_row", dict(row, status="failed", failed_stage="catalog", error=str(error))
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
