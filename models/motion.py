"""The motion model contract: speech features -> a mouth target [opening, width] per video frame.

Units are the evaluation's mouth metrics (``lipdub.face.geometry.mouth_opening`` /
``mouth_width``: inner-lip and inner-corner distances over the inter-ocular distance). A model
is first fitted on the source video's own speech and measured mouth (``fit_speaker``), so that
its output lives in that speaker's range, then predicts targets for the dub.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from lipdub.errors import InputError

if TYPE_CHECKING:
    from lipdub.audio.features import SpeechFeatures

__all__ = [
    "MotionModel", "SpeakerRange", "WidthCoupling", "valid_measured", "standardize", "spread_or_typical",
    "closed_mouth_width", "smooth_track", "TARGET_SMOOTHING_FRAMES", "RANGE_PRIOR_FRAMES", "MIN_SPREAD_FRAMES", "COUPLING_PRIOR_FRAMES", "DEFAULT_WIDTH_COUPLING",
]

# How many frames of evidence the typical adult's mouth range counts as when a speaker's own
# range is measured (one second at 25 fps): short sources lean on it, long ones outweigh it.
RANGE_PRIOR_FRAMES = 25.0
# How many frames of evidence "no coupling" counts as when a speaker's own opening-width
# correlation is measured (one second at 25 fps): a 1 s source keeps half of its measured
# coupling, a 5 s source 83%. With the gain below, chosen on the validation people (fast protocol,
# 2026-12-07: 25/100/300 frames x gains 0.5-100; v2's width r 0.363 -> 0.487, opening unchanged).
COUPLING_PRIOR_FRAMES = 25.0
# Gain of that coupling on predicted width (WidthCoupling.apply).
DEFAULT_WIDTH_COUPLING = 4.0
# Fewer measured frames than this (0.4 s at 25 fps) say nothing about how far a mouth moves.
MIN_SPREAD_FRAMES = 10
# Predicted targets pass a 3-tap Hann window (1/4, 1/2, 1/4) before they take the speaker's range:
# the models' frame-to-frame changes were 1.22x the real mouth's on the validation people (fast
# protocol, 2026-12-08; 1 / 3 / 5 taps: v2 opening r 0.660 / 0.665 / 0.665, width 0.595 / 0.607 /
# 0.617, jitter 1.22 / 1.04 / 0.90x). Three taps, not five: five moves less than a real mouth and
# halves one-frame closures.
TARGET_SMOOTHING_FRAMES = 3
# A speaker's closed mouth: frames whose opening is in the lowest this-many percent (the
# resting width is measured on them; SpeakerRange.from_measured), at least MIN_CLOSED_FRAMES.
CLOSED_OPENING_PERCENTILE = 10.0
MIN_CLOSED_FRAMES = 3


@runtime_checkable
class MotionModel(Protocol):
    """Fit on the source speaker, then predict mouth targets for a dub."""

    def fit_speaker(
        self, source: "SpeechFeatures", measured: np.ndarray, fps: float, landmarks: np.ndarray | None = None
    ) -> None:
        """Calibrate on the source's own speech and its measured mouth ``(T_src, 2)``.

        ``landmarks``: the speaker's Face Mesh points per source frame ``(T_src, 468, 2)``, for
        models that adapt to the lip shape itself (rows where ``measured`` is NaN are unusable).
        """
        ...

    def predict(self, dub: "SpeechFeatures", n_frames: int, fps: float) -> np.ndarray:
        """``(n_frames, 2)`` float32 [opening, width] for video frames at ``fps``."""
        ...


@dataclass(frozen=True)
class SpeakerRange:
    """Where a speaker's mouth rests and how far it moves, from measured [opening, width].

    Percentiles rather than min/max, because a few mis-tracked frames must not set the range.
    ``rest_*`` is the closed/neutral mouth; ``*_span`` the distance from rest to a wide vowel.
    """

    rest_opening: float
    open_span: float
    rest_width: float
    width_span: float
    low_opening: float
    high_opening: float
    low_width: float
    high_width: float

    @classmethod
    def from_measured(cls, measured: np.ndarray, prior_frames: float = RANGE_PRIOR_FRAMES) -> "SpeakerRange":
        """The range of a measured track ``(n, 2)``, shrunk toward the typical adult's.

        Each field is the frame-weighted mean of this speaker's percentile and the typical
        range's (moved to this speaker's median width, since mouth width in inter-ocular units
        differs between faces), the typical one counting as ``prior_frames`` frames: a one-frame
        source gets the typical range around its own mouth, a 2 s source mostly its own, a
        30 s source practically only its own.
        """
        opening, width = measured[:, 0].astype(np.float64), measured[:, 1].astype(np.float64)
        rest_opening = float(np.percentile(opening, 5))
        high_opening = float(np.percentile(opening, 97))
        low_width, high_width = (float(v) for v in np.percentile(width, [3, 97]))
        rest_width = closed_mouth_width(opening, width)
        own = cls(
            rest_opening=rest_opening,
            open_span=max(high_opening - rest_opening, 1e-3),
            rest_width=rest_width,
            width_span=max((high_width - low_width) / 2.0, 1e-3),
            low_opening=float(np.min(opening)),
            high_opening=high_opening,
            low_width=low_width,
            high_width=high_width,
        )
        if prior_frames <= 0:
            return own
        typical = cls.typical().moved_to_width(float(np.median(width)))
        share = len(opening) / (len(opening) + prior_frames)
        fields = {name: share * getattr(own, name) + (1.0 - share) * getattr(typical, name) for name in own.__dataclass_fields__}
        return cls(**fields)

    def moved_to_width(self, rest_width: float) -> "SpeakerRange":
        """The same spans around another resting width."""
        shift = rest_width - self.rest_width
        return replace(self, rest_width=rest_width, low_width=self.low_width + shift, high_width=self.high_width + shift)

    @property
    def resting(self) -> np.ndarray:
        """The resting mouth as a target row [opening, width]."""
        return np.array([self.rest_opening, self.rest_width], np.float32)

    @property
    def typical_spread(self) -> tuple[float, float]:
        """A speaking mouth's standard deviation of [opening, width] in this range (the rules'
        own assumption): what a source too short to measure a spread on takes."""
        return 0.3 * self.open_span, 0.5 * self.width_span

    @classmethod
    def typical(cls) -> "SpeakerRange":
        """A generic adult's range, used before (or without) a fit."""
        return cls(0.02, 0.2, 0.47, 0.05, 0.0, 0.22, 0.42, 0.56)

    def to_absolute(self, relative: np.ndarray) -> np.ndarray:
        """Relative [opening 0..1, width -1..1] -> the speaker's units."""
        out = np.empty_like(relative, dtype=np.float32)
        out[:, 0] = self.rest_opening + self.open_span * relative[:, 0]
        out[:, 1] = self.rest_width + self.width_span * relative[:, 1]
        return out

    def clip(self, targets: np.ndarray) -> np.ndarray:
        """Keep targets inside the measured range (with a small margin) of this speaker."""
        out = np.asarray(targets, dtype=np.float32).copy()
        margin_o = 0.1 * self.open_span
        margin_w = 0.1 * self.width_span
        out[:, 0] = np.clip(out[:, 0], max(self.low_opening - margin_o, 0.0), self.high_opening + margin_o)
        out[:, 1] = np.clip(out[:, 1], self.low_width - margin_w, self.high_width + margin_w)
        return out


def closed_mouth_width(opening: np.ndarray, width: np.ndarray) -> float:
    """The speaker's width with the mouth closed: the median width over the frames whose opening
    is in the lowest ``CLOSED_OPENING_PERCENTILE`` percent (at least ``MIN_CLOSED_FRAMES`` of
    them), else the width's 40th percentile.

    Why: a resting mouth is a closed one, and how wide a closed mouth is differs from speaker to
    speaker (the inner corners of some meet as the lips close, of others spread). The width's
    40th percentile, used before, set pauses to a width the speaker's closed mouth seldom had.
    Chosen on the validation people (fast protocol, 2026-12-08; lowest 10 / 20 / 33 percent):
    v2's width r 0.487 -> 0.576 / 0.568 / 0.547, on their longer clips 0.438 -> 0.502 / 0.498 /
    0.471; the rules' 0.362 -> 0.495 / 0.470 / 0.433; opening unchanged.
    """
    closed = opening <= np.percentile(opening, CLOSED_OPENING_PERCENTILE)
    if np.count_nonzero(closed) >= MIN_CLOSED_FRAMES:
        return float(np.median(width[closed]))
    return float(np.percentile(width, 40))


def smooth_track(values: np.ndarray, frames: int = TARGET_SMOOTHING_FRAMES) -> np.ndarray:
    """Each column of ``values`` (T, k) through a ``frames``-tap Hann window (edges held; 1 or
    less: unchanged). Three taps weigh a frame and its neighbours 1/4, 1/2, 1/4."""
    values = np.asarray(values, dtype=np.float64)
    if frames <= 1 or len(values) < 2:
        return values
    weights = np.hanning(frames + 2)[1:-1]
    weights /= weights.sum()
    pad = frames // 2
    columns = values.reshape(len(values), -1)
    out = np.stack([np.convolve(np.pad(columns[:, j], pad, mode="edge"), weights, mode="valid") for j in range(columns.shape[1])], axis=1)
    return out.reshape(values.shape)


def standardize(values: np.ndarray) -> np.ndarray:
    """Per-track z-score per column (float64): removes recording gain, microphone colour, speaker
    level, or a model's own scale; a constant column becomes 0."""
    values = np.asarray(values, dtype=np.float64)
    return (values - values.mean(axis=0)) / (values.std(axis=0) + 1e-6)


def valid_measured(measured: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate a measured mouth track (T, 2); returns (finite rows' values, their row indices).

    Frames without a measured face may be NaN; they are left out rather than guessed.
    """
    values = np.asarray(measured, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != 2:
        raise InputError(f"measured mouth track must be (frames, 2), got shape {values.shape}")
    rows = np.flatnonzero(np.isfinite(values).all(axis=1))
    if len(rows) == 0:
        raise InputError("the source has no frame with a measured mouth to calibrate on")
    return values[rows], rows


def spread_or_typical(values: np.ndarray, typical: float, min_frames: int = MIN_SPREAD_FRAMES) -> float:
    """Standard deviation of ``values``, or ``typical`` when there are too few to measure one (a
    one-frame source's own spread is 0: a frozen mouth). Not pooled: on the validation people even
    a few frames' worth of a typical spread made outputs jumpier than the real mouths, which
    move less than the typical range suggests."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.std()) if len(values) >= min_frames else float(typical)


@dataclass(frozen=True)
class WidthCoupling:
    """How this speaker's mouth width moves with its opening (Pearson r over the source's frames,
    shrunk toward 0 as the source gets shorter).

    Why: on people no model saw, predicted width timing (rounding, spreading) often runs against
    the speaker's own habit (for some the inner corners part as the jaw drops, for others they
    close in), while opening is predicted well. Width taken partly from the predicted opening, with
    the sign and size of the speaker's own coupling, carries that habit to the dub.
    """

    correlation: float = 0.0

    @classmethod
    def from_measured(cls, values: np.ndarray, prior_frames: float = COUPLING_PRIOR_FRAMES) -> "WidthCoupling":
        """``values``: the source's measured [opening, width] rows (finite)."""
        values = np.asarray(values, dtype=np.float64)
        if len(values) < MIN_SPREAD_FRAMES or values[:, 0].std() < 1e-9 or values[:, 1].std() < 1e-9:
            return cls(0.0)
        r = float(np.corrcoef(values[:, 0], values[:, 1])[0, 1])
        return cls(r * len(values) / (len(values) + prior_frames))

    def acts(self, gain: float) -> bool:
        """Whether ``apply`` with this gain changes anything (a gain and a measured coupling)."""
        return gain > 0.0 and self.correlation != 0.0

    def apply(self, targets_z: np.ndarray, gain: float) -> np.ndarray:
        """Standardised [opening, width] -> the same with ``gain x correlation x opening`` added
        to the width, restandardised (gain 0 or no measured coupling: unchanged; the shrunk
        correlation keeps a short source's width close to the model's own)."""
        out = np.array(targets_z, dtype=np.float64, copy=True)
        if not self.acts(gain) or len(out) == 0:
            return out
        out[:, 1] = standardize(out[:, 1] + gain * self.correlation * out[:, 0])
        return out
