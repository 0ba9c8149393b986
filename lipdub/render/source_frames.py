"""Source frames in output order: the frames a timeline asks for, decoded in forward passes.

Loops and bounces revisit the source; remap skips or repeats frames. The timeline is cut into
runs that one forward decode can serve (``lipdub.timeline.monotonic_runs``); a backward run
(the return leg of a bounce) is decoded forward into a bounded buffer and played in reverse.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Iterator

import numpy as np

from lipdub.media.frame_range import iter_frame_range
from lipdub.timeline import monotonic_runs


def frames_for_timeline(video_path: str, source_index: np.ndarray, fps: Fraction, max_buffered: int,
                        native: bool = False) -> Iterator:
    """Yield the source frame ``source_index[t]`` for each t, holding at most ``max_buffered`` frames
    (upright RGB arrays; with `native`, `SourceFrame`s that also hold the decoder's picture). A
    frame shown several times (loops, holds) is the same object each time: never modify it."""
    for start, stop in monotonic_runs(np.asarray(source_index), max_buffered):
        wanted = source_index[start:stop]
        low, high = int(wanted.min()), int(wanted.max())
        if len(wanted) > 1 and wanted[-1] < wanted[0]:
            decoded = list(iter_frame_range(video_path, low, high + 1, fps, native))
            for index in wanted:
                yield decoded[int(index) - low]
            continue
        frames = iter_frame_range(video_path, low, high + 1, fps, native)
        current_index, current = low - 1, None
        for index in wanted:
            while current_index < index:
                current = next(frames)
                current_index += 1
            yield current
