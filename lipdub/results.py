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
Storage still down after that: the same files go to a local folder (`fallback_root`, by default
``~/.cache/lipdub/fallback/<run_id>/``) and `ResultsKeptLocally` says where.

A run whose driver died leaves only its parts: `read_results` reads those, flagged
``finished=False``.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow.parquet as pq

from lipdub.item_row import COLUMNS, STAGES, rows_to_table
from lipdub.run_state import PART_PREFIX, RESULTS_FILE, RUNS_DIR, list_parts, read_parts
from lipdub.storage import atomic_output, filesystem_for, is_local, join_uri, open_uri

log = logging.getLogger(__name__)

__all__ = ["RESULTS_FILE", "SUMMARY_FILE", "FALLBACK_NOTE", "ResultsKeptLocally", "ResultsWriter", "RunResults", "read_results"]

SUMMARY_FILE = "summary.json"
#: In a fallback folder: which run the records are of and where they belong.
FALLBACK_NOTE = "fallback.json"
#: Where records go when the state root cannot take them (default: ~/.cache/lipdub/fallback).
FALLBACK_ENV = "LIPDUB_FALLBACK_DIR"
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


def default_fallback_root() -> str:
    """``$LIPDUB_FALLBACK_DIR``, else ``lipdub/fallback`` in the user's cache folder."""
    configured = os.environ.get(FALLBACK_ENV)
    if configured:
        return configured
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "lipdub", "fallback")


class ResultsKeptLocally(RuntimeError):
    """A run's records could not be written to its state root, even after retrying; they are in
    the local folder ``folder`` instead (same layout as a run folder)."""

    def __init__(self, message: str, *, folder: str, run_dir: str, summary: RunSummary) -> None:
        super().__init__(message)
        self.folder = folder
        self.run_dir = run_dir
        self.summary = summary


class ResultsWriter:
    """Collects a run's result rows and writes them out in parts, then the full manifest."""

    def __init__(
        self, state_root: str, run_id: str, *, flush_rows: int = 20, flush_seconds: float = 30.0, fallback_root: str | None = None,
    ) -> None:
        self.state_root = state_root
        self.run_id = run_id
        self.dir = run_dir(state_root, run_id)
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.fallback_root = fallback_root or default_fallback_root()
        self.rows: list[dict[str, Any]] = []
        self._unflushed: list[dict[str, Any]] = []
        self._parts = 0
        self._last_flush = time.monotonic()

    @property
    def results_uri(self) -> str:
        return join_uri(self.dir, RESULTS_FILE)

    @property
    def fallback_dir(self) -> str:
        return os.path.join(self.fallback_root, self.run_id)

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
        self._write_part(self.dir, retry_seconds=retry_seconds)
        self._parts += 1
        self._unflushed = []
        self._last_flush = time.monotonic()

    def _write_part(self, folder: str, *, retry_seconds: float) -> None:
        write_rows(self._unflushed, join_uri(folder, f"{PART_PREFIX}{self._parts:05d}.parquet"), retry_seconds=retry_seconds)

    def close(
        self, *, catalog_uri: str, pending: list[dict[str, Any]], wall_seconds: float, plan_reasons: dict[str, int],
        retry_seconds: float = CLOSE_RETRY_SECONDS,
    ) -> RunSummary:
        """Flush, then write the full results manifest (``pending`` rows: never finished) and summary,
        retrying each write for up to ``retry_seconds`` while storage is unreachable. Storage still
        down after that: raises `ResultsKeptLocally`, having written the same files to a local folder."""
        done = {row["item_id"] for row in self.rows}
        unfinished = [
            dict({name: row.get(name) for name in COLUMNS}, status="pending", error="not finished: the run stopped before this item completed; rerun to finish it")
            for row in pending
            if row["item_id"] not in done
        ]
        all_rows = self.rows + unfinished
        summary = summarize(all_rows, run_id=self.run_id, catalog_uri=catalog_uri, results_uri=self.results_uri, wall_seconds=wall_seconds)
        summary.interrupted = bool(unfinished)
        summary.plan_reasons = dict(plan_reasons)
        try:
            self.flush(retry_seconds=retry_seconds)
            self._write_manifest(self.dir, all_rows, summary, retry_seconds=retry_seconds)
        except Exception as error:  # noqa: BLE001 - storage errors come in many types
            raise self._keep_locally(all_rows, summary, error) from error
        return summary

    def _write_manifest(self, folder: str, rows: list[dict[str, Any]], summary: RunSummary, *, retry_seconds: float) -> None:
        write_rows(rows, join_uri(folder, RESULTS_FILE), retry_seconds=retry_seconds)
        _write_json(summary.to_json(), join_uri(folder, SUMMARY_FILE), retry_seconds=retry_seconds)

    def _keep_locally(self, rows: list[dict[str, Any]], summary: RunSummary, error: Exception) -> Exception:
        """Write the run's files to the local fallback folder; the error to raise says where (or,
        when even that fails, the storage error itself: the records are then lost)."""
        folder = self.fallback_dir
        note = {"run_id": self.run_id, "belongs_at": self.dir, "error": f"{error.__class__.__name__}: {error}", "written_at": utc_now()}
        try:
            if self._unflushed:  # as the part it would have been, so the folder can be copied back as it is
                self._write_part(folder, retry_seconds=0.0)
            self._write_manifest(folder, rows, summary, retry_seconds=0.0)
            _write_json(json.dumps(note, indent=2), os.path.join(folder, FALLBACK_NOTE), retry_seconds=0.0)
        except Exception as local_error:  # noqa: BLE001 - a local disk refuses in many ways too
            log.error("cannot write the results of run %s to %s (%s), nor locally to %s (%s: %s): its records are lost",
                      self.run_id, self.dir, note["error"], folder, local_error.__class__.__name__, local_error)
            return error
        message = (
            f"cannot write the results of run {self.run_id} to {self.dir} ({note['error']}); "
            f"kept its {len(rows)} items locally in {folder} (same files as a run folder). "
            f"See them with `lipdub report {folder}`; once storage is back, copy that folder's files into {self.dir} "
            f"so that reruns skip what this run finished."
        )
        log.error("%s", message)
        return ResultsKeptLocally(message, folder=folder, run_dir=self.dir, summary=summary)


def _write_json(text: str, uri: str, *, retry_seconds: float) -> None:
    def write() -> None:
        with atomic_output(uri, suffix=".json") as temporary, open(temporary, "w") as handle:
            handle.write(text)

    retry_storage_write(write, uri, retry_seconds=retry_seconds)


class RunResults(list[dict[str, Any]]):
    """A run's result rows (a plain list of row dicts), with what they were read from.

    ``finished`` is False when the rows are not a run's whole manifest: they were read from the
    result parts of a run that has no results.parquet (its driver was stopped before the end, or
    it is still running), or from a single part. Such rows hold only the items the run recorded:
    items it skipped, and items it never reached or finished after its last part, are missing.
    """

    def __init__(self, rows: list[dict[str, Any]], *, uri: str, finished: bool, parts: int = 0) -> None:
        super().__init__(rows)
        self.uri = uri
        self.finished = finished
        self.parts = parts  # result parts read (0: a manifest was read)

    @property
    def note(self) -> str | None:
        """For people: why these rows may be incomplete; None for a finished run's manifest."""
        if self.finished:
            return None
        if self.uri.endswith(".parquet"):
            return f"{self.uri} is one result part of a run, not its whole results: items it did not record in this part are not listed"
        return (
            f"the run did not finish: no {RESULTS_FILE} in {self.uri} (its driver was stopped before the end, or it is still running); "
            f"these {len(self)} items come from its {self.parts} result part(s); items it skipped or never reached are not listed"
        )


def read_results(uri: str) -> RunResults:
    """Rows of a run: its results manifest (a results.parquet URI, or the run folder holding one),
    else, for a run that did not finish, its result parts (``finished`` is then False). A single
    part file's URI reads that part."""
    folder = uri
    if uri.endswith(".parquet"):
        try:
            return _read_manifest(uri)
        except FileNotFoundError:
            if _file_name(uri) != RESULTS_FILE:
                raise
            folder = _parent(uri)
    else:
        try:
            return _read_manifest(join_uri(uri, RESULTS_FILE))
        except FileNotFoundError:
            pass
    results = _read_parts(folder)
    log.warning("%s", results.note)
    return results


def _read_manifest(uri: str) -> RunResults:
    with open_uri(uri, "rb") as handle:
        rows = pq.read_table(handle).to_pylist()
    name = _file_name(uri)
    return RunResults(rows, uri=uri, finished=not name.startswith(PART_PREFIX), parts=int(name.startswith(PART_PREFIX)))


def _read_parts(folder: str) -> RunResults:
    """The rows of a run folder's parts, one per item (the newest, should a part repeat one)."""
    fs = filesystem_for(folder)
    paths = list_parts(fs, fs._strip_protocol(folder))
    if not paths:
        raise FileNotFoundError(f"no {RESULTS_FILE} and no result parts in {folder}: not a run folder, or the run recorded nothing")
    newest: dict[str, dict[str, Any]] = {}
    for _, table in read_parts(fs, paths):
        for row in table.to_pylist():
            known = newest.get(row.get("item_id"))
            if known is None or (row.get("finished_at") or "") >= (known.get("finished_at") or ""):
                newest[row.get("item_id")] = row
    return RunResults(list(newest.values()), uri=folder, finished=False, parts=len(paths))


def _file_name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _parent(uri: str) -> str:
    return os.path.dirname(uri) if is_local(uri) else uri.rstrip("/").rsplit("/", 1)[0]
