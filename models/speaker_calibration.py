"""Per-speaker calibration: a strongly regularised ridge fitted on the source's own speech + mouth.

Why: how much and when a mouth opens for a given sound differs between people (and between
recordings), but the source video holds a few seconds of exactly this speaker talking with the
mouth measured on every frame. A ridge over a handful of robust, per-track normalised features
(viseme rules, a spectral "openness" index, loudness, voice activity, band energies, each with a
little temporal context) learns how this speaker's mouth follows the audio.

The source may be as short as 2.5 s (60 frames), so the ridge does not shrink towards zero but
towards a generic prior: the viseme rules plus a spectral "openness" index. The index comes from
phonetics (open vowels carry energy in the F2/F3 region, 1.5-4 kHz, while closures and nasals
leave only a low-frequency murmur); its band edges and the prior weights were then checked on
the hold-out clips (``models/eval_motion_holdout.py``), so treat them as lightly tuned. With
little data, or when blocked cross-validation on the source says the fit generalises clearly
worse than the prior, the prior alone is used. Predictions are mapped to the speaker's own
measured distribution, and long pauses give the resting mouth.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from lipdub.audio.features import FEATURE_RATE, SpeechFeatures, frames_at
from models.motion import (
    DEFAULT_WIDTH_COUPLING, RANGE_PRIOR_FRAMES, TARGET_SMOOTHING_FRAMES, SpeakerRange, WidthCoupling, smooth_track, spread_or_typical,
    standardize, valid_measured,
)
from models.viseme_rules import VisemeRulesModel, speech_gate

log = logging.getLogger(__name__)

__all__ = ["CalibratedMotionModel", "CalibrationFeatures", "SpeakerRidge", "long_pause_mask", "rest_frames", "rest_mouth", "rest_in_pauses", "SPEECH_LEAD_S"]

# Mel bands (80 bins over 0-8 kHz) grouped by what they say about the mouth.
_LOW_HZ = 500.0  # voice bar / nasal murmur: energy here without the rest means closed lips
_OPEN_HZ = (1500.0, 4000.0)  # F2/F3 region: strong in open vowels


def _mel_band_masks() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    import librosa  # noqa: PLC0415

    from lipdub.audio.features import N_MELS, SAMPLE_RATE  # noqa: PLC0415

    centres = librosa.mel_frequencies(N_MELS + 2, fmin=0.0, fmax=SAMPLE_RATE / 2)[1:-1]
    low = centres < _LOW_HZ
    mid = (centres >= _LOW_HZ) & (centres < _OPEN_HZ[0])
    open_band = (centres >= _OPEN_HZ[0]) & (centres < _OPEN_HZ[1])
    top = centres >= _OPEN_HZ[1]
    return low, mid, open_band, top


def _shift_rows(values: np.ndarray, frames: int) -> np.ndarray:
    """values[t + frames] with edge padding (positive: look ahead in time)."""
    if frames == 0:
        return values
    idx = np.clip(np.arange(len(values)) + frames, 0, len(values) - 1)
    return values[idx]


def long_pause_mask(gate: np.ndarray, min_pause_s: float, rate: float = FEATURE_RATE) -> np.ndarray:
    """(T,) bool: inside a run of non-speech (gate < 0.1) lasting at least ``min_pause_s``."""
    quiet = np.asarray(gate) < 0.1
    mask = np.zeros(len(quiet), bool)
    min_len = int(round(min_pause_s * rate))
    start = None
    for i, q in enumerate(np.append(quiet, False)):
        if q and start is None:
            start = i
        elif not q and start is not None:
            if i - start >= min_len:
                mask[start:i] = True
            start = None
    return mask


@dataclass
class CalibrationFeatures:
    """Feature columns of one speech track, standardised per track, with temporal context.

    ``names`` lists the base columns; each appears at the context offsets (seconds) in
    ``context_s`` order, so the design matrix is ``len(context_s) * len(names)`` wide.
    """

    names: tuple[str, ...] = (
        "openness", "rules_open", "rules_width", "gate", "loudness", "low", "mid", "open_band", "top",
    )
    context_s: tuple[float, ...] = (0.0, -0.04, 0.04, -0.12, 0.12)
    openness_low_weight: float = 0.75

    def __post_init__(self) -> None:
        self._rules = VisemeRulesModel()
        self._bands = _mel_band_masks()

    def base_track(self, speech: SpeechFeatures) -> np.ndarray:
        """(T, len(names)) at 100 Hz."""
        low, mid, open_band, top = self._bands
        mel = standardize(speech.mel)
        cols = {
            "low": mel[:, low].mean(axis=1),
            "mid": mel[:, mid].mean(axis=1),
            "open_band": mel[:, open_band].mean(axis=1),
            "top": mel[:, top].mean(axis=1),
        }
        cols["openness"] = cols["open_band"] - self.openness_low_weight * cols["low"]
        rules = self._rules.relative_track(speech)
        cols["rules_open"], cols["rules_width"] = rules[:, 0], rules[:, 1]
        cols["gate"] = speech_gate(speech)
        cols["loudness"] = standardize(speech.loudness_db)
        return np.stack([cols[name] for name in self.names], axis=1)

    def design(self, speech: SpeechFeatures, n_frames: int, fps: float) -> np.ndarray:
        """(n_frames, width) design matrix on video frames, standardised per track."""
        base = self.base_track(speech)
        shifted = [_shift_rows(base, int(round(c * FEATURE_RATE))) for c in self.context_s]
        on_frames = frames_at(np.concatenate(shifted, axis=1), n_frames, fps)
        return standardize(on_frames)

    def column(self, name: str, context_s: float = 0.0) -> int:
        return self.context_s.index(context_s) * len(self.names) + self.names.index(name)


@dataclass
class SpeakerRidge:
    """Ridge in standardised units that shrinks towards prior weights ``w0`` (not towards 0)."""

    prior: np.ndarray
    # The prior's weight in frames of source: a fixed amount of evidence, so the fit shrinks
    # toward the prior as the source gets shorter (2 s: mostly prior; 30 s: mostly the speaker).
    prior_frames: float

    def fit(self, design: np.ndarray, target_z: np.ndarray) -> np.ndarray:
        n, d = design.shape
        lam = self.prior_frames
        a = design.T @ design + lam * np.eye(d)
        b = design.T @ target_z + lam * self.prior
        return np.linalg.solve(a, b)


def _blocked_cv_corr(design: np.ndarray, target: np.ndarray, ridge: SpeakerRidge, folds: int = 4) -> tuple[float, float]:
    """Correlation of ridge vs prior predictions on held-out contiguous blocks of the source."""
    n = len(target)
    edges = np.linspace(0, n, folds + 1).astype(int)
    fit_pred = np.empty(n)
    for k in range(folds):
        test = np.zeros(n, bool)
        test[edges[k] : edges[k + 1]] = True
        train_y = target[~test]
        ys = (train_y - train_y.mean()) / (train_y.std() + 1e-9)
        w = ridge.fit(design[~test], ys)
        fit_pred[test] = design[test] @ w
    prior_pred = design @ ridge.prior
    return _corr(fit_pred, target), _corr(prior_pred, target)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() < 1e-12 or b.std() < 1e-12:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


class CalibratedMotionModel:
    """MotionModel: rules + spectral features through a per-speaker ridge, in the speaker's range.

    ``prior_frames``: the prior weights count as this many frames of source in the ridge (higher =
    trust the source less); ``range_prior_frames``: the typical adult's mouth range counts as this
    many frames when the speaker's range is measured, so a source of a frame or two moves like a
    typical speaker.
    ``min_fit_s``: sources shorter than this use the prior weights alone.
    ``min_pause_s``: non-speech runs at least this long in the dub give the resting mouth.
    """

    def __init__(
        self,
        *,
        prior_frames: float = 300.0,
        range_prior_frames: float = RANGE_PRIOR_FRAMES,
        min_fit_s: float = 1.5,
        min_pause_s: float = 0.3,
        cv_margin: float = 0.25,
        width_coupling: float | None = None,
        smoothing_frames: int = TARGET_SMOOTHING_FRAMES,
        features: CalibrationFeatures | None = None,
    ) -> None:
        self.features = features or CalibrationFeatures()
        self.cv_margin = cv_margin
        self.prior_frames = prior_frames
        self.range_prior_frames = range_prior_frames
        self.min_fit_s = min_fit_s
        self.min_pause_s = min_pause_s
        # Gain of the speaker's own opening-width coupling on predicted width (models.motion.WidthCoupling).
        self.width_coupling = DEFAULT_WIDTH_COUPLING if width_coupling is None else float(width_coupling)
        # Taps of the Hann window the predictions pass (models.motion.smooth_track; 1: none).
        self.smoothing_frames = smoothing_frames
        self.coupling = WidthCoupling()
        d = len(self.features.names) * len(self.features.context_s)
        self._prior = {"opening": np.zeros(d), "width": np.zeros(d)}
        self._prior["opening"][self.features.column("openness")] = 0.4
        self._prior["opening"][self.features.column("rules_open")] = 0.15
        self._prior["width"][self.features.column("rules_width")] = 0.3
        self._weights = dict(self._prior)
        self.speaker = SpeakerRange.typical()
        # Source prediction statistics, to map dub predictions into the measured distribution.
        self._pred_stats = {"opening": (0.0, 1.0), "width": (0.0, 1.0)}
        self._target_stats = {
            "opening": (self.speaker.rest_opening + 0.4 * self.speaker.open_span, 0.3 * self.speaker.open_span),
            "width": (self.speaker.rest_width, 0.5 * self.speaker.width_span),
        }
        self.used_fit = {"opening": False, "width": False}

    def fit_speaker(self, source: SpeechFeatures, measured: np.ndarray, fps: float, landmarks: np.ndarray | None = None) -> None:
        """Learn the speaker's range and, with enough source, the ridge weights (else the prior)."""
        values, rows = valid_measured(measured)
        self.speaker = SpeakerRange.from_measured(values, self.range_prior_frames)
        # Frames past the end of the source audio have no sound to learn from.
        n_audio = int(np.floor(source.duration_s * fps))
        if np.count_nonzero(rows < n_audio) >= 3:
            rows = rows[rows < n_audio]
        design_all = self.features.design(source, len(measured), fps)
        design = design_all[rows]
        target = np.asarray(measured, dtype=np.float64)[rows]
        typical_spread = self.speaker.typical_spread
        self.coupling = WidthCoupling.from_measured(target)
        for j, key in enumerate(("opening", "width")):
            y = target[:, j]
            self._target_stats[key] = (float(y.mean()), spread_or_typical(y, typical_spread[j]))
            weights = self._prior[key]
            use_fit = False
            if len(rows) >= self.min_fit_s * fps and y.std() > 1e-6:
                ridge = SpeakerRidge(self._prior[key], self.prior_frames)
                cv_fit, cv_prior = _blocked_cv_corr(design, y, ridge)
                # Keep the fit unless held-out blocks say it generalises clearly worse.
                if cv_fit >= cv_prior - self.cv_margin:
                    weights = ridge.fit(design, (y - y.mean()) / y.std())
                    use_fit = True
                log.debug("%s: cv r fit %.2f prior %.2f -> %s", key, cv_fit, cv_prior, "fit" if use_fit else "prior")
            self._weights[key] = weights
            self.used_fit[key] = use_fit
            pred = design @ weights
            self._pred_stats[key] = (float(pred.mean()), float(pred.std()) + 1e-9)

    def predict(self, dub: SpeechFeatures, n_frames: int, fps: float) -> np.ndarray:
        """Targets in the speaker's units: the dub's predictions take the source's mean and spread."""
        if n_frames <= 0:
            return np.zeros((0, 2), np.float32)
        design = self.features.design(dub, n_frames, fps)
        pred_z = np.empty((n_frames, 2), np.float64)
        for j, key in enumerate(("opening", "width")):
            p_mean, p_std = self._pred_stats[key]
            pred_z[:, j] = (design @ self._weights[key] - p_mean) / p_std
        pred_z = smooth_track(pred_z, self.smoothing_frames)
        if self.coupling.acts(self.width_coupling):
            # Restandardised: the coupled width keeps the spread the source's predictions had.
            width_level = pred_z[:, 1].mean(), pred_z[:, 1].std()
            pred_z[:, 1] = width_level[0] + width_level[1] * self.coupling.apply(pred_z, self.width_coupling)[:, 1]
        out = np.empty((n_frames, 2), np.float32)
        for j, key in enumerate(("opening", "width")):
            t_mean, t_std = self._target_stats[key]
            out[:, j] = t_mean + t_std * pred_z[:, j]
        out = self.speaker.clip(out)
        return rest_in_pauses(out, dub, fps, self.min_pause_s, self.speaker.resting)


# How long before speech resumes after a pause the mouth starts moving toward it. Speakers open
# their mouth before the sound (breath, preparing the first articulation): on the validation
# people the real mouth was seen opening 0.2-0.4 s before speech onsets where the targets still
# rested. Chosen on them (fast protocol, 2026-12-08; 0 / 0.12 / 0.24 / 0.36 / 0.48 s): v2 opening
# r 0.654 / 0.658 / 0.660 / 0.658 / 0.646, width 0.576 / 0.588 / 0.594 / 0.600 / 0.589. Relaxing
# into the pause slowly instead (0.12-0.24 s) lowered width and was left out.
SPEECH_LEAD_S = 0.24


def rest_mouth(targets: np.ndarray, rest: np.ndarray, resting: np.ndarray, lead_frames: int) -> np.ndarray:
    """``targets`` with the resting mouth ``resting`` ([opening, width]) on ``rest`` frames, except
    the last ``lead_frames`` of each pause that speech follows: those move in a straight line from
    rest to the first spoken frame's target. Every pause keeps at least one resting frame."""
    out = np.array(targets, dtype=np.float32, copy=True)
    n = len(out)
    edges = np.diff(np.concatenate([[0], np.asarray(rest, dtype=np.int8), [0]]))
    for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        core_end = end if end >= n else max(end - lead_frames, start + 1)
        out[start:core_end] = resting
        if core_end < end:
            weight = (np.arange(1, end - core_end + 1) / (end - core_end + 1))[:, None]
            out[core_end:end] = (1.0 - weight) * resting + weight * out[end]
    return out


def rest_in_pauses(targets: np.ndarray, dub: SpeechFeatures, fps: float, min_pause_s: float, resting: np.ndarray) -> np.ndarray:
    """The dub's ``targets`` with the resting mouth in its long pauses and after its audio, the
    mouth preparing ``SPEECH_LEAD_S`` before speech resumes (``rest_mouth``)."""
    rest = rest_frames(dub, len(targets), fps, min_pause_s)
    return rest_mouth(targets, rest, resting, int(round(SPEECH_LEAD_S * fps)))


def rest_frames(dub: SpeechFeatures, n_frames: int, fps: float, min_pause_s: float) -> np.ndarray:
    """(n_frames,) bool: video frames that get the resting mouth (long pauses, after the audio ends)."""
    pause = long_pause_mask(speech_gate(dub), min_pause_s).astype(np.float64)
    rest = frames_at(pause, n_frames, fps) > 0.5
    first_after = int(np.ceil(dub.duration_s * fps))
    rest[first_after:] = True
    return rest
