"""Run a later stage's work for an item while an earlier stage is still busy with it.

For one item the Ray Data chain is sequential: the dub's and the source's speech (listen, about
11 s for a minute of dub) would wait for the face analysis (about 30 s) although neither needs the
other. ``overlapped(AnalyzeOperator, ListenOperator)`` is the analyze stage that, when its own
work will be long (``expects_long_work``), starts listen for the same row as a Ray task with
listen's declared resources, does its own work, then merges listen's output columns (or its
failure) into the row. The listen stage downstream then passes the row through. Outside Ray, or
when the main work is short (a cached analysis), nothing changes.
"""
from __future__ import annotations

import logging
from typing import Any

import ray

from lipdub.config import PipelineConfig
from lipdub.item_row import merge_placements
from operators.base import Operator, describe_error
from pipelines.ray_adapter import process_operator

log = logging.getLogger(__name__)


def _run_row(operator_cls: type[Operator], config: PipelineConfig, row: dict[str, Any]) -> dict[str, Any]:
    # The worker's cached operator: models stay loaded in the reused worker across items.
    (out,) = process_operator(operator_cls, config).run_row(row)
    return out


def _start(side_cls: type[Operator], config: PipelineConfig, row: dict[str, Any]) -> Any:
    resources = config.resources[side_cls.name]
    options: dict[str, Any] = {"num_cpus": resources.num_cpus, "num_gpus": resources.num_gpus, "max_retries": 1}
    if resources.memory_mb:
        options["memory"] = resources.memory_mb * 1024 * 1024
    if resources.custom_resources:
        options["resources"] = dict(resources.custom_resources)
    return ray.remote(_run_row).options(name=f"{side_cls.name}_overlapped", **options).remote(side_cls, config, row)


def overlapped(main_cls: type[Operator], side_cls: type[Operator]) -> type[Operator]:
    """``main_cls`` running ``side_cls`` alongside (see the module docstring).

    ``side_cls`` must declare ``output_columns`` and pass rows that already have them through.
    """
    side_columns = tuple(side_cls.output_columns) + (f"seconds_{side_cls.name}", f"cpu_seconds_{side_cls.name}")  # type: ignore[attr-defined]

    class Overlapped(main_cls):  # type: ignore[valid-type, misc]
        def process(self, row: dict[str, Any]) -> dict[str, Any]:
            pending = None
            if ray.is_initialized() and self.expects_long_work(row):
                pending = _start(side_cls, self.config, dict(row))
            # On a failure here the side task is left to finish, not cancelled: cancelling can
            # interrupt an import (torch) and leave the reused worker unable to import it again.
            out = super().process(row)
            if pending is None:
                return out
            try:
                side = ray.get(pending)
            except Exception as error:  # noqa: BLE001 - the side stage's worker or setup failed
                side = dict(row, status="failed", failed_stage=side_cls.name, error=describe_error(error))
            if side.get("status") == "failed":
                out.update(status="failed", failed_stage=side["failed_stage"], error=side["error"])
            out.update({column: side.get(column) for column in side_columns})
            out["placements"] = merge_placements([out.get("placements"), side.get("placements")])
            return out

    Overlapped.__name__ = f"{main_cls.__name__}With{side_cls.__name__}"
    Overlapped.__qualname__ = Overlapped.__name__
    return Overlapped
