"""A catalog run: read and validate the catalog (a broken catalog stops here, before any work) ->
sort its rows into run / skip using earlier runs' results (`lipdub.run_state`) -> probe the inputs
of those to run in the driver (`pipelines.input_check`: bad input fails its item before Ray
starts; with no item left, Ray is never started) -> stream the rest through the same Ray Data
plan as ``lipdub dub`` (`pipelines.dub_pipeline`) -> record each result as it arrives
(`lipdub.results`) -> write the run's results manifest, summary and the ``latest.json`` pointer,
also after Ctrl-C or a crash of the plan.

`run_nightly` is the same run under a lock in the state root, so overlapping schedules never dub
a catalog twice. The command lines (`lipdub run`, `lipdub nightly`, ``python -m jobs.*``) and the
HTTP API call these two.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import sys
import time
from typing import Any, Callable

from lipdub.catalog import Catalog, read_catalog
from lipdub.config import PipelineConfig
from lipdub.item_row import rows_to_table
from lipdub.results import CLOSE_RETRY_SECONDS, ResultsWriter, RunSummary, new_run_id, retry_storage_write
from lipdub.run_state import default_state_root, plan_run
from lipdub.storage import atomic_output, filesystem_for, join_uri, open_uri, uri_exists
from lipdub.store_gc import sweep_stale_temporaries
from pipelines.input_check import check_inputs

log = logging.getLogger(__name__)

LATEST_FILE = "latest.json"


RowCallback = Callable[[dict[str, Any]], None]


# Runs catalog rows somewhere and calls back with each result row as it arrives (the default
# starts a Ray Data execution for the run; the API passes its warm pipeline's, see
# pipelines/warm_pipeline.py).
RowStream = Callable[[list[dict[str, Any]], RowCallback], None]


def ray_data_stream(config: PipelineConfig, ray_address: str | None) -> RowStream:
    """A stream that runs the rows through a Ray Data execution of their own."""

    def stream(rows: list[dict[str, Any]], record: RowCallback) -> None:
        import ray

        from pipelines.dub_pipeline import build_dub_dataset
        from pipelines.ray_adapter import ensure_ray, gpu_pool_requested

        ensure_ray(ray_address)
        items = ray.data.from_arrow(rows_to_table(rows))
        with gpu_pool_requested(config):
            for batch in build_dub_dataset(items, config).iter_batches(batch_size=None, batch_format="pyarrow"):
                for row in batch.to_pylist():
                    record(row)

    return stream


def _run_items(
    rows: list[dict[str, Any]], config: PipelineConfig, writer: ResultsWriter, stream: RowStream, on_row: RowCallback | None
) -> None:
    """Check the items' inputs in the driver, record the failures at once, and stream the rest:
    Ray is started only when some item is left."""
    checked = check_inputs(rows, config)
    for row in checked.failed:
        writer.add(row)
        if on_row:
            on_row(row)
    if not checked.passed:
        return
    total = len(checked.passed)
    progress = _progress_bar(total)
    done = 0

    def record(row: dict[str, Any]) -> None:
        nonlocal done
        writer.add(row)
        if on_row:
            on_row(row)
        done += 1
        progress.update(1)
        log.info("[%d/%d] %s: %s%s", done, total, row["item_id"], row["status"], f" ({row['error']})" if row.get("error") else "")

    try:
        stream(checked.passed, record)
    finally:
        progress.close()


def _progress_bar(total: int):
    from tqdm import tqdm

    return tqdm(total=total, unit="item", desc="dubbing", disable=not sys.stderr.isatty())


def run_catalog(
    catalog_uri: str,
    *,
    output_root: str | None = None,
    config: PipelineConfig | None = None,
    state_root: str | None = None,
    force: bool = False,
    run_id: str | None = None,
    run_prefix: str = "run",
    ray_address: str | None = None,
    catalog: Catalog | None = None,
    on_row: RowCallback | None = None,
    stream: RowStream | None = None,
) -> RunSummary:
    """Dub a catalog; return the run's summary. Raises `CatalogError` for an unusable catalog.

    ``on_row`` sees each item's result row as it is recorded (the HTTP API updates its job
    records from it), skipped and early-failed items included. ``stream`` runs the items (default:
    a Ray Data execution of this run's own; the API passes its warm pipeline's).
    """
    config = config or PipelineConfig()
    started = time.perf_counter()
    catalog = catalog or read_catalog(catalog_uri, output_root)
    state_root = state_root or default_state_root(catalog_uri, output_root, config)
    run_id = run_id or new_run_id(run_prefix)
    sweep_stale_temporaries(output_root, state_root, config.work_root)  # of writers that died; never raises
    plan = plan_run(catalog.rows, config, state_root, force=force)
    log.info("catalog %s: %d items; plan %s; run %s", catalog_uri, len(catalog), json.dumps(plan.reasons, sort_keys=True), run_id)
    writer = ResultsWriter(state_root, run_id)
    for row in plan.failed_early:
        writer.add(row)
    for row in plan.skipped:
        writer.add(row, record=False)
    if on_row:
        for row in plan.failed_early + plan.skipped:
            on_row(row)
    try:
        if plan.to_run:
            _run_items(plan.to_run, config, writer, stream or ray_data_stream(config, ray_address), on_row)
    finally:
        # Also on Ctrl-C or a failed plan: what finished is recorded, the rest is marked pending.
        # Storage down for good: close raises ResultsKeptLocally (records in a local folder), and
        # latest.json is not written (it would point at results that are not there).
        summary = writer.close(
            catalog_uri=catalog_uri, pending=plan.to_run, wall_seconds=time.perf_counter() - started, plan_reasons=plan.reasons
        )
        _write_latest(state_root, summary)
        log.info(
            "run %s: %d ok, %d failed, %d skipped, %d pending; %.1f output fps, %.0f items/hour; results %s",
            run_id, summary.ok, summary.failed, summary.skipped, summary.pending, summary.output_fps, summary.items_per_hour, summary.results_uri,
        )
    return summary


def _write_latest(state_root: str, summary: RunSummary) -> None:
    uri = join_uri(state_root, LATEST_FILE)

    def write() -> None:
        with atomic_output(uri, suffix=".json") as temporary, open(temporary, "w") as handle:
            json.dump({"run_id": summary.run_id, "results_uri": summary.results_uri}, handle)

    retry_storage_write(write, uri, retry_seconds=CLOSE_RETRY_SECONDS)


# --- nightly: one run at a time per state root -------------------------------------------------

LOCK_FILE = "nightly.lock"


class NightlyLocked(RuntimeError):
    pass


def _lock_age_hours(lock_uri: str) -> tuple[float, dict]:
    with open_uri(lock_uri, "rb") as handle:
        holder = json.loads(handle.read() or b"{}")
    started = dt.datetime.fromisoformat(holder.get("started_at", "1970-01-01T00:00:00+00:00"))
    return (dt.datetime.now(dt.timezone.utc) - started).total_seconds() / 3600, holder


def acquire_lock(state_root: str, lock_hours: float) -> str:
    lock_uri = join_uri(state_root, LOCK_FILE)
    if uri_exists(lock_uri):
        age, holder = _lock_age_hours(lock_uri)
        if age < lock_hours:
            raise NightlyLocked(f"another nightly run holds {lock_uri} (started {age:.1f} h ago by {holder.get('host')} pid {holder.get('pid')})")
        log.warning("taking over a stale nightly lock (%.1f h old, held by %s)", age, holder)
    fs = filesystem_for(lock_uri)
    fs.makedirs(fs._parent(fs._strip_protocol(lock_uri)), exist_ok=True)
    holder = {"host": socket.gethostname(), "pid": os.getpid(), "started_at": dt.datetime.now(dt.timezone.utc).isoformat()}
    with open_uri(lock_uri, "wb") as handle:
        handle.write(json.dumps(holder).encode())
    return lock_uri


def release_lock(lock_uri: str) -> None:
    fs = filesystem_for(lock_uri)
    try:
        fs.rm(fs._strip_protocol(lock_uri))
    except FileNotFoundError:
        pass


def run_nightly(catalog_uri: str, *, config: PipelineConfig, output_root: str | None = None, state_root: str | None = None,
                lock_hours: float = 20.0, **options: Any) -> RunSummary:
    """A catalog run under the nightly lock (`NightlyLocked` when another run holds it)."""
    state_root = state_root or default_state_root(catalog_uri, output_root, config)
    lock_uri = acquire_lock(state_root, lock_hours)
    try:
        return run_catalog(catalog_uri, output_root=output_root, config=config, state_root=state_root, run_prefix="nightly", **options)
    finally:
        release_lock(lock_uri)
