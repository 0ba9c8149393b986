"""gather: bring an item's render segments back together as they stream in (N -> 1).

Why not ``groupby``: a groupby is a barrier. In a catalog run no item would be assembled (and no
result recorded) until every segment of every item had rendered, so a crash after hours would
record nothing and a nightly run would show no progress. The gatherer is one small stateful actor
that every segment row passes through: it holds an item's segments until all ``segment_count``
have arrived, then emits the merged item row at once. Rows that fail before the fan-out (one row,
no segments) pass straight through.

If the gatherer actor dies, the segments it held are lost: those items never come back to the
driver, which records them as pending, and the next run redoes them. Nothing partial is written.
"""
from __future__ import annotations

import logging
from typing import Any

import pyarrow as pa

from lipdub.item_row import merge_placements, rows_to_table
from operators.assemble import merge_segment_rows

log = logging.getLogger(__name__)


class SegmentGatherer:
    """Stateful ``map_batches`` callable; run it on an actor pool of exactly one actor."""

    def __init__(self) -> None:
        self.waiting: dict[str, list[dict[str, Any]]] = {}

    def add(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """Add one row; return the item's merged row once it is complete, else None."""
        count = row.get("segment_count")
        if not count or row.get("segment_index") is None:
            return row  # failed before the fan-out: nothing to wait for
        segments = self.waiting.setdefault(row["item_id"], [])
        segments.append(row)
        if len({segment["segment_index"] for segment in segments}) < count:
            return None
        del self.waiting[row["item_id"]]
        merged = merge_segment_rows(segments)
        merged["placements"] = merge_placements(segment.get("placements") for segment in segments)
        return merged

    def __call__(self, batch: pa.Table) -> pa.Table:
        done = [merged for row in batch.to_pylist() if (merged := self.add(row)) is not None]
        return rows_to_table(done)
