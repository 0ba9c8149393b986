"""Warm stages: one long-lived Ray Data execution of the dub pipeline that requests flow into.

`lipdub serve` would otherwise start a Ray Data execution per request: stage actors start, import
their libraries and load their models every time (most of an 8 s clip's wait). `WarmPipeline` is
a Ray actor that keeps one execution of `pipelines.dub_pipeline.build_dub_dataset` running over
an endless input: its read task asks the actor for newly submitted rows and hands them to the
stages as they come, so the stage actors (Face Mesh, the phone recogniser, the motion model) stay
loaded between requests and requests that arrive together interleave.

- `submit(rows)` queues catalog rows (ROW_SCHEMA) for the execution; `results(ids, timeout)`
  hands back the result rows that have arrived; `stream_through` does both for a catalog run
  (`pipelines.catalog_run.run_catalog(stream=...)`), so results are recorded exactly as in
  `lipdub run`.
- `cancel(ids)` drops queued rows and leaves a cancel marker for rows already in the execution
  (lipdub/cancel_marker.py): they stop at the next stage and never publish an output.
- When the execution itself fails (a stage actor lost beyond its restarts), the rows in it come
  back failed with the reason and a new execution starts for the next rows.
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import replace
from typing import Any, Callable, Iterator

import pyarrow as pa
import ray
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from lipdub.cancel_marker import item_work_dir, request_cancel
from lipdub.config import PipelineConfig
from lipdub.item_row import empty_row, rows_to_table
from operators.base import describe_error

log = logging.getLogger(__name__)

__all__ = ["WarmPipeline", "stream_through"]

# How long the read task waits for new rows before asking again (it also notices a close then).
TAKE_WAIT_S = 1.0


class _SubmittedRows(Datasource):
    """An endless input: one read task that yields each row the pipeline actor hands it, as a
    one-row block, until the actor closes."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline

    def estimate_inmemory_data_size(self) -> int | None:
        return None

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None) -> list[ReadTask]:
        pipeline = self.pipeline

        def read() -> Iterator[pa.Table]:
            while True:
                rows = ray.get(pipeline.take.remote(TAKE_WAIT_S))
                if rows is None:
                    return
                for row in rows:
                    yield rows_to_table([row])

        return [ReadTask(read, BlockMetadata(num_rows=None, size_bytes=None, exec_stats=None, input_files=None))]


# What an always-up stage actor asks Ray for, as a share of its stage's CPU request. In a
# per-run execution an actor pool gives its CPUs back once its stage is done, and render then
# runs three segments at a time on 4 logical CPUs; here no stage is ever done, so the actors'
# full requests (2.6 of 4) left render one segment at a time: a 60 s dub took 126 s warm
# against 101 s cold. Between requests the actors sit idle, and while they work they share the
# cores with render as they do in a per-run execution.
IDLE_ACTOR_CPU_SHARE = 0.25


def warm_config(config: PipelineConfig) -> PipelineConfig:
    """The settings the warm execution runs with: actor stages ask for a share of their CPUs."""
    resources = {
        stage: replace(wanted, num_cpus=wanted.num_cpus * IDLE_ACTOR_CPU_SHARE) if wanted.pool_size else wanted
        for stage, wanted in config.resources.items()
    }
    return config.with_overrides(resources=resources)


@ray.remote(num_cpus=0, max_concurrency=64)
class WarmPipeline:
    """The long-lived execution (see the module docstring). Threaded actor: `take` blocks its caller."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self._lock = threading.Condition()
        self._queue: collections.deque[dict[str, Any]] = collections.deque()
        self._in_flight: dict[str, dict[str, Any]] = {}
        self._results: dict[str, dict[str, Any]] = {}
        self._discard: set[str] = set()  # cancelled items whose results nobody collects
        self._closed = False
        self.executions = 0
        self._thread = threading.Thread(target=self._run, name="warm-pipeline", daemon=True)
        self._thread.start()

    # --- the execution ---------------------------------------------------------------------

    def _run(self) -> None:
        from ray.data import DataContext

        from pipelines.dub_pipeline import build_dub_dataset

        context = DataContext.get_current()
        # Stages would otherwise hold small output blocks back until 128 MiB gathered: with an
        # endless input that is never. Every block here is one item (or one segment) anyway.
        context.target_max_block_size = 1
        # Ray Data reserves a share of the cluster for each operator until that operator is done;
        # over an endless input none is ever done, and the reservations of the stages before
        # render left it no CPU at all (seen on 4 logical CPUs). Stages draw from one pool instead.
        context.op_resource_reservation_enabled = False
        context.enable_progress_bars = False
        me = ray.get_runtime_context().current_actor
        while not self._closed:
            self.executions += 1
            try:
                source = ray.data.read_datasource(_SubmittedRows(me), override_num_blocks=1, num_cpus=0)
                for batch in build_dub_dataset(source, warm_config(self.config)).iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=0):
                    for row in batch.to_pylist():
                        self._arrived(row)
            except Exception as error:  # noqa: BLE001 - the rows in it are failed, the next execution serves new ones
                log.exception("the warm pipeline's execution stopped")
                self._fail_in_flight(f"the pipeline stopped: {describe_error(error)}")
                time.sleep(1.0)

    def _arrived(self, row: dict[str, Any]) -> None:
        with self._lock:
            if self._in_flight.pop(row["item_id"], None) is not None and row["item_id"] not in self._discard:
                self._results[row["item_id"]] = row
                self._lock.notify_all()
            self._discard.discard(row["item_id"])

    def _fail_in_flight(self, reason: str) -> None:
        with self._lock:
            for item_id, row in self._in_flight.items():
                self._results[item_id] = {**row, "status": "failed", "failed_stage": "pipeline", "error": reason}
            self._in_flight.clear()
            self._lock.notify_all()

    def take(self, timeout: float) -> list[dict[str, Any]] | None:
        """Rows for the read task: what was submitted ([] after ``timeout``), None once closed."""
        with self._lock:
            self._lock.wait_for(lambda: self._queue or self._closed, timeout=timeout)
            if self._closed:
                return None
            rows = list(self._queue)
            self._queue.clear()
            return rows

    # --- requests ------------------------------------------------------------------------------

    def submit(self, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            busy = [row["item_id"] for row in rows if row["item_id"] in self._in_flight]
            if busy:
                raise ValueError(f"items already in the pipeline: {busy[:5]}")
            for row in rows:
                full = empty_row(**row)
                self._in_flight[full["item_id"]] = full
                self._queue.append(full)
            self._lock.notify_all()

    def results(self, item_ids: list[str], timeout: float) -> list[dict[str, Any]]:
        """The result rows of ``item_ids`` that have arrived (removed here), waiting up to ``timeout``
        for at least one."""
        wanted = set(item_ids)
        with self._lock:
            self._lock.wait_for(lambda: not wanted.isdisjoint(self._results), timeout=timeout)
            return [self._results.pop(item_id) for item_id in wanted & set(self._results)]

    def cancel(self, item_ids: list[str]) -> None:
        """Queued rows are dropped; rows in the execution stop at their next stage. Their results
        are not kept (the canceller records the items as cancelled itself)."""
        wanted = set(item_ids)
        with self._lock:
            for row in [row for row in self._queue if row["item_id"] in wanted]:
                self._queue.remove(row)
                self._in_flight.pop(row["item_id"], None)
            running = [item_id for item_id in wanted if item_id in self._in_flight]
            self._discard.update(running)
            for item_id in wanted:
                self._results.pop(item_id, None)
        for item_id in running:
            request_cancel(item_work_dir(self.config.work_root, item_id))

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"executions": self.executions, "queued": len(self._queue), "in_flight": len(self._in_flight)}

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._thread.join(timeout=60)


def stream_through(pipeline: Any, rows: list[dict[str, Any]], record: Callable[[dict[str, Any]], None], poll_s: float = 1.0) -> None:
    """Run catalog rows through a running `WarmPipeline`, calling ``record`` with each result row
    as it arrives; returns when every row has one."""
    remaining = {row["item_id"] for row in rows}
    ray.get(pipeline.submit.remote(rows))
    while remaining:
        for row in ray.get(pipeline.results.remote(sorted(remaining), poll_s)):
            remaining.discard(row["item_id"])
            record(row)
