"""segment: split an item's output timeline into render segments that render in parallel.

Input columns: n_output_frames, fps_num, fps_den, work_dir.
Output columns: segment_index, segment_count, segment_start, segment_stop, segment_uri.
Fan-out: 1 -> N (N = ceil(duration / render.segment_seconds)).
"""
from __future__ import annotations

import math
from typing import Any

from lipdub.media.delivery import segment_suffix
from lipdub.storage import join_uri
from operators.base import Operator


def segment_bounds(n_frames: int, frames_per_segment: int) -> list[tuple[int, int]]:
    """Even [start, stop) ranges of at most ``frames_per_segment`` frames covering all frames."""
    count = max(1, math.ceil(n_frames / max(1, frames_per_segment)))
    edges = [round(i * n_frames / count) for i in range(count + 1)]
    return [(edges[i], edges[i + 1]) for i in range(count)]


class SegmentOperator(Operator):
    name = "segment"

    def process(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        fps = row["fps_num"] / row["fps_den"]
        per_segment = max(1, int(round(self.config.render.segment_seconds * fps)))
        bounds = segment_bounds(int(row["n_output_frames"]), per_segment)
        suffix = segment_suffix(row.get("video_codec") or self.config.encode.video_codec)
        rows = []
        for index, (start, stop) in enumerate(bounds):
            segment = dict(row)
            segment.update(
                segment_index=index,
                segment_count=len(bounds),
                segment_start=start,
                segment_stop=stop,
                segment_uri=join_uri(row["work_dir"], "segments", f"{index:05d}{suffix}"),
            )
            rows.append(segment)
        return rows
