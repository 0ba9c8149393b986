"""The operator contract: config fields, declared resources, ``setup()`` once, ``process(row)`` per item.

An operator never raises for a bad item: ``__call__`` turns any error from ``process`` into a row
with ``status="failed"``, the failing stage and a one-line message, and passes rows that already
failed through untouched. That keeps every item in the results manifest and lets the rest of the
catalog finish (Ray Data would otherwise fail the whole dataset, or drop the block silently).
"""
from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

import pyarrow as pa

from lipdub.cancel_marker import raise_if_cancelled
from lipdub.config import PipelineConfig
from lipdub.errors import InputError
from lipdub.item_row import ROW_SCHEMA, record_placement, rows_to_table

log = logging.getLogger(__name__)


def describe_error(error: BaseException) -> str:
    """One line a person can act on: our InputError messages as they are, others with their type."""
    text = " ".join(str(error).split()) or error.__class__.__name__
    if isinstance(error, InputError):
        return text
    return f"{error.__class__.__name__}: {text}"[:500]


def current_node() -> str | None:
    """Id of the Ray node running this code (as `ray.nodes()` lists it), or None outside Ray.

    The whole id: a prefix is not unique everywhere (Ray's fake multi-node provider numbers its
    nodes in the last digits)."""
    import ray

    if not ray.is_initialized():
        return None
    return ray.get_runtime_context().get_node_id()


class Operator:
    """Base class for pipeline stages. Subclasses set ``name`` and implement ``process``."""

    name: ClassVar[str] = "operator"

    def __init__(self, config: PipelineConfig | None = None) -> None:
        self.config = config or PipelineConfig()
        self._ready = False

    def setup(self) -> None:
        """Load models or other heavy state; called once per worker before the first item."""

    def expects_long_work(self, row: dict[str, Any]) -> bool:
        """Whether ``process(row)`` will take long enough to run later stages' work alongside it
        (pipelines/overlap.py). Cheap to ask; default no."""
        return False

    def process(self, row: dict[str, Any]) -> dict[str, Any] | list[dict[str, Any]]:
        """Transform one item. Fan-out stages return a list of rows."""
        raise NotImplementedError

    def run_row(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        """Process one row, recording time spent and turning errors into a failed status."""
        if row.get("status") in ("failed", "skipped"):
            return [row]
        if not self._ready:
            self.setup()
            self._ready = True
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            raise_if_cancelled(row)  # a cancelled item stops at the next stage (lipdub/cancel_marker.py)
            out = self.process(dict(row))
        except Exception as error:  # noqa: BLE001 - every item must end in a recorded state
            log.warning("%s failed for item %s: %s", self.name, row.get("item_id"), error, exc_info=not isinstance(error, InputError))
            out = dict(row)
            out.update(status="failed", failed_stage=self.name, error=describe_error(error))
        seconds_key = f"seconds_{self.name}"
        seconds = (row.get(seconds_key) or 0.0) + time.perf_counter() - started
        cpu_key = f"cpu_seconds_{self.name}"
        cpu_seconds = (row.get(cpu_key) or 0.0) + time.process_time() - cpu_started
        rows = out if isinstance(out, list) else [out]
        node = current_node()
        for item in rows:
            item[seconds_key] = seconds
            item[cpu_key] = cpu_seconds
            if node:
                item["placements"] = record_placement(item.get("placements"), self.name, node)
        return rows

    def __call__(self, batch: pa.Table) -> pa.Table:
        return rows_to_table([out for row in batch.to_pylist() for out in self.run_row(row)])


__all__ = ["Operator", "describe_error", "ROW_SCHEMA"]
