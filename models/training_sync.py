"""Honest training pairs: each training video's own audio-video offset, and what to do about it.

A video whose audio runs late teaches the model to move the mouth before the sound; one whose
mouth does not follow its audio at all (dubbed, voice-over, a different take) teaches noise.
Before training, every video's own sync is measured with the QA gate's measure
(``lipdub.evaluation.metrics.syllable_sync``: the mouth opening against the loudness, both at
the syllable rate, searched ``SYNC_SEARCH_S`` either way), then the video is

- kept as it is (offset 0 frames, or an offset whose correlation does not beat zero's by
  ``min_offset_gain``, as the QA gate judges offsets),
- shifted: its lips are read ``offset`` later/earlier so they line up with the sound, or
- dropped: its own sync is too weak to trust (correlation at the best offset below
  ``min_corr``, or below what chance reaches on a clip that short: ``chance_z / sqrt(frames)``), or the best offset is at the edge of the search or beyond ``max_offset_ms``
  (the true offset may be larger than we can see).

Offsets follow the QA convention: positive = the mouth lags the sound (audio early); a clip whose
audio runs 280 ms late measures about -7 frames at 25 fps.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from lipdub.evaluation.metrics import syllable_sync

__all__ = ["SyncPolicy", "OwnSync", "measure_own_sync", "decide"]

SYNC_SEARCH_S = 0.4  # the QA gate's search (lipdub.qa.measure.SYNC_SEARCH_S)


@dataclass(frozen=True)
class SyncPolicy:
    min_corr: float = 0.15  # correlation at the best offset below this: too weak to train on
    # ... and below chance_z / sqrt(frames): the best of 2*search+1 lags of unrelated signals reaches
    # about 2.5/sqrt(n) (syllable-rate signals are smooth), so a short clip needs a stronger r.
    chance_z: float = 3.0
    # An offset counts only where its correlation beats the one at zero by this much (the QA gate's
    # ``min_offset_gain``): on a 3 s clip the best of 21 offsets is often noise a little above zero's.
    min_offset_gain: float = 0.1
    max_offset_ms: float = 320.0  # offsets beyond this (or at the search edge): dropped, not shifted
    search_s: float = SYNC_SEARCH_S
    enabled: bool = True  # False: every video kept unshifted (the old behaviour)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OwnSync:
    """One video's measured own sync and the decision taken on it."""

    offset_frames: int  # positive: the mouth lags the sound
    offset_ms: float
    corr_at_offset: float
    corr_at_zero: float
    fps: float
    action: str  # "keep" | "shift" | "drop"
    reason: str

    @property
    def offset_s(self) -> float:
        """Seconds to add to a sound's time to find the frame showing it (0 unless shifted)."""
        return self.offset_frames / self.fps if self.action == "shift" else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "offset_s": self.offset_s}


def measure_own_sync(opening: np.ndarray, loudness_db: np.ndarray | None, fps: float,
                     search_s: float = SYNC_SEARCH_S) -> tuple[int, float, float, int]:
    """(offset frames, corr there, corr at zero, max lag searched) of a video's own mouth vs sound."""
    max_lag = max(1, int(round(search_s * fps)))
    if loudness_db is None or len(loudness_db) == 0 or np.isfinite(opening).sum() < 3:
        return 0, float("nan"), float("nan"), max_lag
    n = min(len(opening), len(loudness_db))
    lag, corr, zero = syllable_sync(np.asarray(opening[:n], np.float64), np.asarray(loudness_db[:n], np.float64), fps, max_lag)
    return int(lag), float(corr), float(zero), max_lag


def decide(opening: np.ndarray, loudness_db: np.ndarray | None, fps: float, policy: SyncPolicy = SyncPolicy()) -> OwnSync:
    """Measure one video's own sync and keep, shift or drop it by ``policy``."""
    lag, corr, zero, max_lag = measure_own_sync(opening, loudness_db, fps, policy.search_s)
    ms = 1000.0 * lag / fps if fps > 0 else float("nan")
    if not policy.enabled:
        return OwnSync(lag, ms, corr, zero, fps, "keep", "sync check off")
    if not np.isfinite(corr):
        return OwnSync(lag, ms, corr, zero, fps, "drop", "own sync not measurable (no audio or no mouth)")
    needed = max(policy.min_corr, policy.chance_z / np.sqrt(max(np.isfinite(opening).sum(), 1)))
    if corr < needed:
        return OwnSync(lag, ms, corr, zero, fps, "drop", f"own sync too weak (r {corr:.2f} < {needed:.2f} at its best offset)")
    if lag != 0 and not corr - zero >= policy.min_offset_gain:
        return OwnSync(lag, ms, corr, zero, fps, "keep",
                       f"in sync: best offset {ms:+.0f} ms not clearly better than zero (r {corr:.2f} vs {zero:.2f})")
    if abs(lag) >= max_lag or abs(ms) > policy.max_offset_ms:
        return OwnSync(lag, ms, corr, zero, fps, "drop", f"offset {ms:+.0f} ms beyond the bound ({policy.max_offset_ms:.0f} ms) or the search")
    if lag == 0:
        return OwnSync(lag, ms, corr, zero, fps, "keep", "in sync")
    late = "audio late" if lag < 0 else "audio early"
    return OwnSync(lag, ms, corr, zero, fps, "shift", f"{late} by {abs(ms):.0f} ms: lips shifted {lag:+d} frames")
