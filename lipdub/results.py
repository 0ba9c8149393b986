"""Results manifests: one row per catalog item per run, written as results arrive.

Layout under a run's folder ``<state_root>/runs/<run_id>/``:

- ``part-NNNNN.parquet``: result rows flushed every few items or seconds while the run goes on,
  so a driver that dies mid-run loses at most the last few records (those items are redone);
- ``results.parquet``: at the end (or on Ctrl-C), every catalog row of the run: ok, failed,
  skipped, or pending (never reached because the run was interrupted);
- ``summary.json``: counts, throughput and each stage's share of the time.

Every file is written atomically (temporary name, then a move or one complete upload).

Storage that is briefly unreachable (an object store restarting, a network blip) must not cost a
run its records: a part that cannot be written while the run goes on stays in memory and goes out
with the next flush, and the final writes keep retrying with backoff for `CLOSE_RETRY_SECONDS`.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow.parquet as pq

from lipdub.item_row import COLUMNS, STAGES, rows_to_table
from lipdub.run_state import PART_PREFIX, RUNS_DIR
from lipdub.storage import atomic_output, is_local, join_uri, open_uri

log = logging.getLogger(__name__)

RESULTS_FILE = "results.parquet"
SUMMARY_FILE = "summary.json"
#: How long the end of a run keeps trying to write its records to unreachable storage.
CLOSE_RETRY_SECONDS = 300.0
_MAX_RETRY_DELAY_S = 30.0


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_run_id(prefix: str = "run") -> str:
    import uuid

    return f"{prefix}-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def run_dir(state_root: str, run_id: str) -> str:
    return join_uri(state_root, RUNS_DIR, run_id)


def retry_storage_write(write: Callable[[], None], uri: str, *, retry_seconds: float) -> None:
    """Call ``write()`` (which writes `uri`); while it fails, retry with growing pauses for up to
    ``retry_seconds``, then raise its last error. Only remote URIs are retried: a local disk that
    refuses a write (full, read-only) will not change its mind. Storage clients raise their own
    types (botocore, aiohttp, OSError), so any Exception counts: keep only the write in ``write``."""
    if is_local(uri):
        retry_seconds = 0.0
    deadline = time.monotonic() + retry_seconds
    delay = 1.0
    while True:
        try:
            write()
            return
        except Exception as error:  # noqa: BLE001 - see the docstring
            if time.monotonic() + delay > deadline:
                raise
            log.warning("cannot write %s (%s: %s); retrying in %.0f s", uri, error.__class__.__name__, error, delay)
            time.sleep(delay)
            delay = min(2 * delay, _MAX_RETRY_DELAY_S)


def write_rows(rows: list[dict[str, Any]], uri: str, *, retry_seconds: float = 0.0) -> None:
    table = rows_to_table({name: row.get(name) for name in COLUMNS} for row in rows)

    def write() -> None:
        with atomic_output(uri, suffix=".parquet") as temporary:
            pq.write_table(table, temporary)

    retry_storage_write(write, uri, retry_seconds=retry_seconds)


@dataclass
class RunSummary:
    run_id: str
    catalog_uri: str
    results_uri: str
    items: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    pending: int = 0
    interrupted: bool = False
    wall_seconds: float = 0.0
    output_frames: int = 0
    output_fps: float = 0.0
    items_per_hour: float = 0.0
    analyses_from_cache: int = 0
    needs_review: int = 0
    stage_share: dict[str, float] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    plan_reasons: dict[str, int] = field(default_factory=dict)
    failures_by_stage: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def summarize(rows: list[dict[str, Any]], *, run_id: str, catalog_uri: str, results_uri: str, wall_seconds: float) -> RunSummary:
    summary = RunSummary(run_id=run_id, catalog_uri=catalog_uri, results_uri=results_uri, items=len(rows))
    processed = 0  # items that went through the pipeline in this run (not skipped, not bad rows)
    for row in rows:
        status = row.get("status")
        if status in ("ok", "failed", "skipped"):
            setattr(summary, status, getattr(summary, status) + 1)
        else:
            summary.pending += 1
        if status == "failed":
            stage = row.get("failed_stage") or "unknown"
            summary.failures_by_stage[stage] = summary.failures_by_stage.get(stage, 0) + 1
        if status == "ok" or (status == "failed" and row.get("failed_stage") != "catalog"):
            processed += 1
            if status == "ok":
                summary.output_frames += int(row.get("n_output_frames") or 0)
            summary.analyses_from_cache += int(bool(row.get("analysis_cached")))
            summary.needs_review += int(bool(row.get("needs_review")))
            for stage in STAGES:
                seconds = row.get(f"seconds_{stage}") or 0.0
                summary.stage_seconds[stage] = summary.stage_seconds.get(stage, 0.0) + float(seconds)
    total = sum(summary.stage_seconds.values())
    summary.stage_share = {stage: round(seconds / total, 4) for stage, seconds in summary.stage_seconds.items()} if total else {}
    summary.wall_seconds = round(wall_seconds, 2)
    if wall_seconds > 0:
        summary.output_fps = round(summary.output_frames / wall_seconds, 2)
        summary.items_per_hour = round(3600 * processed / wall_seconds, 1)
    return summary


class ResultsWriter:
    """Collects a run's result rows and writes them out in parts, then the full manifest."""

    def __init__(self, state_root: str, run_id: str, *, flush_rows: int = 20, flush_seconds: float = 30.0) -> None:
        self.state_root = state_root
        self.run_id = run_id
        self.dir = run_dir(state_root, run_id)
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.rows: list[dict[str, Any]] = []
        self._unflushed: list[dict[str, Any]] = []
        self._parts = 0
        self._last_flush = time.monotonic()

    @property
    def results_uri(self) -> str:
        return join_uri(self.dir, RESULTS_FILE)

    def add(self, row: dict[str, Any], *, record: bool = True) -> None:
        """Add a finished item's row; ``record=False`` for rows that need no part (skipped ones)."""
        row = {name: row.get(name) for name in COLUMNS}
        row["finished_at"] = row.get("finished_at") if row.get("status") == "skipped" else utc_now()
        self.rows.append(row)
        if record:
            self._unflushed.append(row)
            if len(self._unflushed) >= self.flush_rows or time.monotonic() - self._last_flush >= self.flush_seconds:
                self._flush_while_running()

    def _flush_while_running(self) -> None:
        """Flush, but never stop the run over storage: rows that cannot be written yet are kept
        for the next flush (at the latest, close; only a driver crash before then loses them)."""
        try:
            self.flush()
        except Exception as error:  # noqa: BLE001 - storage errors come in many types
            log.warning("cannot record %d results yet (%s: %s); keeping them for the next flush", len(self._unflushed), error.__class__.__name__, error)

    def flush(self, *, retry_seconds: float = 0.0) -> None:
        """Write the rows not yet recorded as the next part (retrying for up to ``retry_seconds``)."""
        if not self._unflushed:
            return
        self._last_flush = time.monotonic()
        write_rows(self._unflushed, join_uri(self.dir, f"{PART_PREFIX}{self._parts:05d}.parquet"), retry_seconds=retry_seconds)
        self._parts += 1
        self._unflushed = []
        self._last_flush = time.monotonic()

    def close(
        self, *, catalog_uri: str, pending: list[dict[str, Any]], wall_seconds: float, plan_reasons: dict[str, int],
        retry_seconds: float = CLOSE_RETRY_SECONDS,
    ) -> RunSummary:
        """Flush, then write the full results manifest (``pending`` rows: never finished) and summary,
        retrying each write for up to ``retry_seconds`` while storage is unreachable."""
        self.flush(retry_seconds=retry_seconds)
        done = {row["item_id"] for row in self.rows}
        unfinished = [
            dict({name: row.get(name) for name in COLUMNS}, status="pending", error="not finished: the run stopped before this item completed; rerun to finish it")
            for row in pending
            if row["item_id"] not in done
        ]
        all_rows = self.rows + unfinished
        write_rows(all_rows, self.results_uri, retry_seconds=retry_seconds)
        summary = summarize(all_rows, run_id=self.run_id, catalog_uri=catalog_uri, results_uri=self.results_uri, wall_seconds=wall_seconds)
        summary.interrupted = bool(unfinished)
        summary.plan_reasons = dict(plan_reasons)
        summary_uri = join_uri(self.dir, SUMMARY_FILE)

        def write_summary() -> None:
            with atomic_output(summary_uri, suffix=".json") as temporary, open(temporary, "w") as handle:
                handle.write(summary.to_json())

        retry_storage_write(write_summary, summary_uri, retry_seconds=retry_seconds)
        return summary


def read_results(uri: str) -> list[dict[str, Any]]:
    """Rows of a results manifest (a results.parquet URI, or a run folder holding one)."""
    if not uri.endswith(".parquet"):
        uri = join_uri(uri, RESULTS_FILE)
    with open_uri(uri, "rb") as handle:
        return pq.read_table(handle).to_pylist()
