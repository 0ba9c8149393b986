"""The output timeline: which source frame each output frame shows, and how long the dub runs.

The dub defines the output timeline unless the sync mode says otherwise:

- ``cut_off``: output as long as the shorter of video and dub; the longer one is cut.
- ``loop``: the video repeats from the start until the dub ends.
- ``bounce``: the video plays forward, then backward (ping-pong) until the dub ends.
- ``silence``: output as long as the video; a shorter dub is padded with silence (a longer one is cut).
- ``remap``: the video is time-stretched (frames repeated or dropped evenly) to the dub's length.

Default (``None``): ``bounce`` when the dub is longer than the video, ``cut_off`` otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lipdub.errors import InputError

SYNC_MODES: tuple[str, ...] = ("cut_off", "loop", "bounce", "silence", "remap")


@dataclass(frozen=True)
class Timeline:
    """Output frame -> source frame mapping plus the audio span that goes with it."""

    source_index: np.ndarray  # (n_output_frames,) int64 indices into the source frames
    sync_mode: str
    audio_seconds: float  # the output's audio length (== video length)

    @property
    def n_frames(self) -> int:
        return int(len(self.source_index))


def resolve_sync_mode(sync_mode: str | None, video_seconds: float, dub_seconds: float) -> str:
    if sync_mode in (None, "", "auto"):
        return "bounce" if dub_seconds > video_seconds else "cut_off"
    if sync_mode not in SYNC_MODES:
        raise InputError(f"unknown sync mode {sync_mode!r}: use one of {', '.join(SYNC_MODES)}")
    return sync_mode


def bounce_indices(n_source: int, n_out: int) -> np.ndarray:
    """0, 1, ..., n-1, n-2, ..., 1, 0, 1, ... (ping-pong without repeating the turning frames)."""
    if n_source == 1:
        return np.zeros(n_out, dtype=np.int64)
    period = 2 * n_source - 2
    phase = np.arange(n_out) % period
    return np.where(phase < n_source, phase, period - phase).astype(np.int64)


def plan_timeline(n_source_frames: int, fps: float, dub_seconds: float, sync_mode: str | None = None) -> Timeline:
    """Plan the output frames for a source of ``n_source_frames`` at ``fps`` and a dub of ``dub_seconds``."""
    if n_source_frames <= 0:
        raise InputError("the video has no frames")
    if dub_seconds <= 0:
        raise InputError("the dub audio is empty")
    video_seconds = n_source_frames / fps
    mode = resolve_sync_mode(sync_mode, video_seconds, dub_seconds)
    dub_frames = max(1, int(round(dub_seconds * fps)))
    if mode == "cut_off":
        n_out = min(n_source_frames, dub_frames)
        index = np.arange(n_out, dtype=np.int64)
    elif mode == "silence":
        n_out = n_source_frames
        index = np.arange(n_out, dtype=np.int64)
    elif mode == "loop":
        index = np.arange(dub_frames, dtype=np.int64) % n_source_frames
    elif mode == "bounce":
        index = bounce_indices(n_source_frames, dub_frames)
    else:  # remap: stretch the whole video evenly over the dub
        index = np.floor(np.arange(dub_frames) * (n_source_frames / dub_frames)).astype(np.int64)
        index = np.minimum(index, n_source_frames - 1)
    return Timeline(source_index=index, sync_mode=mode, audio_seconds=len(index) / fps)


def monotonic_runs(source_index: np.ndarray, max_len: int) -> list[tuple[int, int]]:
    """Split output frames into ``[start, stop)`` runs, each decodable in one forward pass of the
    source: source indices within a run only go forward (any step >= 0) or only backward one frame
    at a time (steps 0 or -1), and a run is at most ``max_len`` frames long."""
    runs: list[tuple[int, int]] = []
    start, n = 0, len(source_index)
    while start < n:
        stop, direction = start + 1, 0
        while stop < n and stop - start < max_len:
            step = int(source_index[stop] - source_index[stop - 1])
            if step < -1 or (step > 0 and direction < 0) or (step < 0 and direction > 0):
                break
            if step != 0:
                direction = 1 if step > 0 else -1
            stop += 1
        runs.append((start, stop))
        start = stop
    return runs
