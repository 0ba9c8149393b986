"""MotionModel backed by a trained LipSyncGenerator checkpoint, adapted to the speaker at dub time.

``fit_speaker`` (bounded in time): the source's median lip shape becomes the identity input; the
generator's decoder is fine-tuned for a few steps on the source's own speech and measured lips
(speaker adaptation, at most ``adapt_seconds`` of wall time); the adapted model's predictions on
the source then fix a linear map onto the speaker's measured opening and width distribution,
exactly as the rules model is calibrated. ``predict`` runs the adapted generator over the dub
in overlapping windows, maps, clips to the speaker's range and rests the mouth in long pauses.
"""
from __future__ import annotations

import copy
import logging
import time
from typing import Any

import numpy as np
import torch

from lipdub.audio.features import SpeechFeatures
from models.generator_inference import predict_motion
from models.lip_shapes import canonical_lips, lip_metrics, reference_lips
from models.lipsync_net import LipSyncGenerator, NetConfig
from models.motion import SpeakerRange, valid_measured
from models.motion_checkpoint import cached_checkpoint
from models.motion_inputs import MODEL_RATE, model_inputs, model_steps, to_video_frames
from models.motion_training import masked_pearson
from models.speaker_calibration import rest_frames

log = logging.getLogger(__name__)

__all__ = ["LearnedMotionModel"]


class LearnedMotionModel:
    """``checkpoint``: what ``models.motion_checkpoint.cached_checkpoint`` loads from a file
    ``lipdub train`` wrote (``from_uri`` does both)."""

    def __init__(
        self,
        checkpoint: dict[str, Any],
        *,
        adapt_steps: int = 30,
        adapt_seconds: float = 5.0,
        adapt_learning_rate: float = 3e-4,
        min_pause_s: float = 0.3,
    ) -> None:
        state = checkpoint
        self.feature_kind = str(state["features"]["kind"])
        self.generator = LipSyncGenerator(NetConfig.from_dict(state["net_config"]))
        self.generator.load_state_dict(state["generator"])
        self.generator.eval()
        self.reference = np.asarray(state["template_reference"], dtype=np.float32)
        self.adapt_steps, self.adapt_seconds, self.adapt_learning_rate = adapt_steps, adapt_seconds, adapt_learning_rate
        self.min_pause_s = min_pause_s
        self.speaker = SpeakerRange.typical()
        self._map = np.array([[1.0, 0.0], [1.0, 0.0]])  # per column: target = a * prediction + b
        self.adapted_steps = 0

    @classmethod
    def from_uri(cls, uri: str, **options: Any) -> "LearnedMotionModel":
        return cls(cached_checkpoint(uri), **options)

    def _metrics_per_frame(self, speech: SpeechFeatures, n_frames: int, fps: float) -> np.ndarray:
        """Raw generator [opening, width] on video frames (before the speaker map)."""
        n_steps = max(model_steps(n_frames / fps), 1)
        motion = predict_motion(self.generator, model_inputs(speech, n_steps, self.feature_kind), self.reference)
        return to_video_frames(lip_metrics(motion + self.reference), n_frames, fps).astype(np.float64)

    def fit_speaker(self, source: SpeechFeatures, measured: np.ndarray, fps: float, landmarks: np.ndarray | None = None) -> None:
        values, rows = valid_measured(measured)
        self.speaker = SpeakerRange.from_measured(values)
        if landmarks is not None:
            self.reference = reference_lips(canonical_lips(np.asarray(landmarks)[rows]))
            self._adapt(source, np.asarray(landmarks), rows, fps)
        n_audio = int(np.floor(source.duration_s * fps))
        if np.count_nonzero(rows < n_audio) >= 3:
            rows, values = rows[rows < n_audio], values[rows < n_audio]
        raw = self._metrics_per_frame(source, len(measured), fps)[rows]
        for j in range(2):
            p_mean, p_std = raw[:, j].mean(), raw[:, j].std()
            t_mean, t_std = values[:, j].mean(), values[:, j].std()
            scale = t_std / p_std if p_std > 1e-9 else 0.0
            self._map[j] = (scale, t_mean - scale * p_mean)

    def _adapt(self, source: SpeechFeatures, landmarks: np.ndarray, rows: np.ndarray, fps: float) -> None:
        """Fine-tune the decoder on the source's own speech and lips, within the time budget."""
        if self.adapt_steps <= 0 or self.adapt_seconds <= 0:
            return
        n_frames = len(landmarks)
        n_steps = model_steps(min(n_frames / fps, source.duration_s))
        if n_steps < 16:
            return
        frame = np.minimum(((np.arange(n_steps) + 0.5) / MODEL_RATE * fps).astype(int), n_frames - 1)
        valid_frame = np.zeros(n_frames, bool)
        valid_frame[rows] = True
        valid = torch.as_tensor(valid_frame[frame], dtype=torch.float32)[None]
        lips = np.where(valid_frame[frame][:, None, None], np.nan_to_num(canonical_lips(np.nan_to_num(landmarks[frame]))), 0.0)
        lips = torch.as_tensor(lips, dtype=torch.float32)[None]
        features = torch.as_tensor(model_inputs(source, n_steps, self.feature_kind))[None]
        reference = torch.as_tensor(self.reference)[None]
        generator = copy.deepcopy(self.generator)
        generator.eval()  # no dropout: a few small steps, not a new training run
        params = list(generator.decoder.parameters())
        for parameter in generator.parameters():
            parameter.requires_grad_(False)
        for parameter in params:
            parameter.requires_grad_(True)
        optimiser = torch.optim.Adam(params, self.adapt_learning_rate)
        true = lip_metrics(lips)
        started = time.perf_counter()
        steps = 0
        while steps < self.adapt_steps and time.perf_counter() - started < self.adapt_seconds:
            predicted = lip_metrics(generator(features, reference) + reference[:, None])
            error = ((predicted - true).abs() * valid[..., None]).sum() / valid.sum().clamp(min=1.0)
            loss = error + 0.1 * (1.0 - masked_pearson(predicted[..., 0], true[..., 0], valid)).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            steps += 1
        generator.eval()
        self.generator = generator
        self.adapted_steps = steps
        log.debug("speaker adaptation: %d steps in %.2f s", steps, time.perf_counter() - started)

    def predict(self, dub: SpeechFeatures, n_frames: int, fps: float) -> np.ndarray:
        if n_frames <= 0:
            return np.zeros((0, 2), np.float32)
        raw = self._metrics_per_frame(dub, n_frames, fps)
        out = (raw * self._map[:, 0] + self._map[:, 1]).astype(np.float32)
        out = self.speaker.clip(out)
        rest = rest_frames(dub, n_frames, fps, self.min_pause_s)
        out[rest, 0] = self.speaker.rest_opening
        out[rest, 1] = self.speaker.rest_width
        return out
