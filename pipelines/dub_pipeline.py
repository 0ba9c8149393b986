"""The dub pipeline: one streaming Ray Data plan over a catalog of items.

``lipdub dub`` runs it over a one-item catalog; catalog jobs run it over many. Stages (see
docs/ARCHITECTURE.md): probe -> analyze -> listen -> move -> segment (1 -> N) -> render ->
gather (N -> 1, streaming) -> assemble -> qa.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable

import ray
from ray.data import ActorPoolStrategy, Dataset

from lipdub.config import PipelineConfig
from lipdub.item_row import ROW_SCHEMA, empty_row, rows_to_table
from operators.analyze import AnalyzeOperator
from operators.gather import SegmentGatherer
from operators.assemble import AssembleOperator
from operators.listen import ListenOperator
from operators.move import MoveOperator
from operators.probe import ProbeOperator
from operators.qa import QAOperator
from operators.render import RenderOperator
from operators.segment import SegmentOperator
from pipelines.overlap import overlapped
from pipelines.ray_adapter import apply_operator, gpu_pool_requested, map_batches_arguments

log = logging.getLogger(__name__)


def build_dub_dataset(items: Dataset, config: PipelineConfig) -> Dataset:
    """Append every stage to a dataset of catalog rows (ROW_SCHEMA)."""
    # One row per block: a map task works through its block's rows one after another, so items
    # (and, after the fan-out, render segments) only run in parallel when they are separate blocks.
    ds = items.repartition(target_num_rows_per_block=1)
    # Listening does not need the faces: it runs alongside a long analysis (pipelines/overlap.py).
    for operator_cls in (ProbeOperator, overlapped(AnalyzeOperator, ListenOperator), ListenOperator, MoveOperator, SegmentOperator):
        ds = apply_operator(ds, operator_cls, config)
    ds = apply_operator(ds.repartition(target_num_rows_per_block=1), RenderOperator, config)
    # Segments of one item come back together as they stream in (N -> 1), item by item.
    gather_args = map_batches_arguments(config.resources["gather"])
    gather_args["compute"] = ActorPoolStrategy(size=1)  # all of an item's segments must meet in one actor
    ds = ds.map_batches(SegmentGatherer, **gather_args)
    for operator_cls in (AssembleOperator, QAOperator):
        ds = apply_operator(ds, operator_cls, config)
    return ds


def run_items(rows: Iterable[dict[str, Any]], config: PipelineConfig) -> list[dict[str, Any]]:
    """Run the pipeline over catalog rows on the current Ray and return one result row per item."""
    table = rows_to_table(empty_row(**row) for row in rows)
    if table.num_rows == 0:
        return []
    items = ray.data.from_arrow(table)
    with gpu_pool_requested(config):
        results = build_dub_dataset(items, config).take_all()
    return [{name: row.get(name) for name in ROW_SCHEMA.names} for row in results]


__all__ = ["build_dub_dataset", "run_items"]
