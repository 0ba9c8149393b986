"""Quality figures shared by `lipdub eval`, the hold-out protocol and the QA stage."""
from __future__ import annotations

import numpy as np

from lipdub.face.geometry import JAW_POINTS

# Lower face: jaw line plus the points under the nose (subnasale and the nostril bases), the
# region the renderer may change. Everything outside it must stay as it was.
UNDER_NOSE_POINTS: tuple[int, ...] = (2, 98, 327, 129, 358, 203, 423, 206, 426)
LOWER_FACE_POINTS: tuple[int, ...] = JAW_POINTS + UNDER_NOSE_POINTS


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation over the positions where both are finite; nan if undefined."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else float("nan")


def av_offset(opening: np.ndarray, loudness: np.ndarray, max_lag: int = 10) -> tuple[int, float, float]:
    """Audio-visual offset in frames (positive: the mouth lags the sound), the correlation at that
    offset, and the correlation at zero offset."""
    best_lag, best_corr = 0, -np.inf
    for lag in range(-max_lag, max_lag + 1):
        if lag >= 0:
            corr = pearson(opening[lag:], loudness[: len(loudness) - lag] if lag else loudness)
        else:
            corr = pearson(opening[:lag], loudness[-lag:])
        if np.isfinite(corr) and corr > best_corr:
            best_lag, best_corr = lag, corr
    zero = pearson(opening, loudness)
    return best_lag, (float(best_corr) if np.isfinite(best_corr) else float("nan")), zero


def mouth_jitter(opening: np.ndarray) -> float:
    """Mean absolute frame-to-frame change of the mouth opening (finite frames only)."""
    steps = np.abs(np.diff(np.asarray(opening, dtype=np.float64)))
    steps = steps[np.isfinite(steps)]
    return float(steps.mean()) if len(steps) else float("nan")


def _minus_moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """``values`` minus their centred moving average over ``window`` samples (NaN kept as NaN)."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return values
    filled = np.where(finite, values, values[finite].mean())
    left = window // 2
    padded = np.pad(filled, (left, window - 1 - left), mode="edge")
    average = np.convolve(padded, np.ones(window) / window, mode="valid")
    return np.where(finite, filled - average, np.nan)


# Sync is judged at the syllable rate: phrase-level loudness trends (a speaker getting louder)
# have no counterpart in the mouth, and digital silence (-100 dB) would otherwise dominate.
SYLLABLE_WINDOW_S = 0.5
LOUDNESS_RANGE_DB = 45.0


def syllable_sync(opening: np.ndarray, loudness_db: np.ndarray, fps: float, max_lag: int) -> tuple[int, float, float]:
    """``av_offset`` on syllable-rate signals: the opening and the loudness (floored 45 dB under
    its loud frames) each minus their half-second moving average. Returns (offset frames,
    correlation there, correlation at zero); positive offsets: the mouth lags the sound."""
    loudness_db = np.asarray(loudness_db, dtype=np.float64)
    if len(loudness_db) == 0:
        return 0, float("nan"), float("nan")
    floored = np.maximum(loudness_db, np.percentile(loudness_db, 95) - LOUDNESS_RANGE_DB)
    window = max(3, int(round(SYLLABLE_WINDOW_S * fps)))
    return av_offset(_minus_moving_average(opening, window), _minus_moving_average(floored, window), max_lag=max_lag)
