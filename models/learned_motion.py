"""MotionModel backed by a trained LipSyncGenerator checkpoint, calibrated to the speaker at dub time.

Speaker adaptation in ``fit_speaker`` (all bounded in time, about a second for a 30 s source):
the source's median lip shape becomes the generator's identity input; the rules model's
per-speaker ridge is fitted on the source's own speech and mouth (``CalibratedMotionModel``);
the speaker's measured opening and width distribution is kept. Optionally the generator's
decoder is also fine-tuned on the source for up to ``adapt_steps`` steps / ``adapt_seconds``;
that is off by default because in the leave-one-clip-out evaluation it lowered the mean
hold-out correlation (see README, "Learned model").

``predict``: the generator's opening/width over the dub (overlapping windows) and the calibrated
rules' are standardised and averaged (``learned_share`` of the learned one), the blend takes the
speaker's measured mean and spread, is clipped to the speaker's range, and long pauses rest the
mouth. The blend beat either model alone on the hold-out clips: the network has the timing of
sounds it saw often, the rules cover the phones and speakers it did not.
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
from models.motion import (
    DEFAULT_WIDTH_COUPLING, RANGE_PRIOR_FRAMES, SpeakerRange, WidthCoupling, smooth_track, spread_or_typical, standardize,
    valid_measured,
)
from models.motion_checkpoint import cached_checkpoint
from models.motion_inputs import MODEL_RATE, model_inputs, model_steps, to_video_frames, without_phones
from models.motion_training import masked_pearson
from models.speaker_calibration import CalibratedMotionModel, rest_in_pauses

log = logging.getLogger(__name__)

__all__ = ["LearnedMotionModel"]


class LearnedMotionModel:
    """``checkpoint``: what ``models.motion_checkpoint.cached_checkpoint`` loads from a file
    ``lipdub train`` wrote (``from_uri`` does both)."""

    def __init__(
        self,
        checkpoint: dict[str, Any],
        *,
        learned_share: float | None = None,
        width_coupling: float | None = None,
        adapt_steps: int = 0,
        adapt_seconds: float = 5.0,
        adapt_learning_rate: float = 3e-4,
        min_pause_s: float = 0.3,
        device: str = "cpu",
    ) -> None:
        # "cuda" where the move stage asks Ray for a GPU (lipdub.compute_device); windows of the
        # dub go through the network in batches either way (models.generator_inference).
        self.device = torch.device(device)
        self.feature_kind = str(checkpoint["features"]["kind"])
        # A phone-free checkpoint (``lipdub train --no-phones``): neither the network nor the
        # calibration sees the recognised phones.
        self.phones = bool(checkpoint["features"].get("phones", True))
        self.generator = LipSyncGenerator(NetConfig.from_dict(checkpoint["net_config"]))
        self.generator.load_state_dict(checkpoint["generator"])
        self.generator.to(self.device).eval()
        # The training speakers' mean lip shape: the identity input until fit_speaker gives one.
        self.reference = np.asarray(checkpoint["template_reference"], dtype=np.float32)
        self.adapt_steps, self.adapt_seconds, self.adapt_learning_rate = adapt_steps, adapt_seconds, adapt_learning_rate
        self.min_pause_s = min_pause_s
        # The blend share: given, else the checkpoint's own (``inference.learned_share``, chosen on
        # validation people when it was made), else an even blend.
        inference = checkpoint.get("inference") or {}
        self.learned_share = float(learned_share if learned_share is not None else inference.get("learned_share", 0.5))
        # The speaker's own opening-width coupling's gain on the blend's width (models.motion.
        # WidthCoupling): given, else the checkpoint's, else the default chosen on validation people.
        self.width_coupling = float(width_coupling if width_coupling is not None
                                    else inference.get("width_coupling", DEFAULT_WIDTH_COUPLING))
        # The coupling and the smoothing are applied once, to the blend: the rules inside it have neither.
        self.rules = CalibratedMotionModel(min_pause_s=min_pause_s, width_coupling=0.0, smoothing_frames=1)
        self.coupling = WidthCoupling()
        self.speaker = SpeakerRange.typical()
        # The speaker's measured [opening, width] mean and spread, which predictions take on.
        self._target = np.array([[0.1, 0.03], [0.47, 0.02]])
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
        source = source if self.phones else without_phones(source)
        values, rows = valid_measured(measured)
        self.speaker = SpeakerRange.from_measured(values)
        self.rules.fit_speaker(source, measured, fps)
        if landmarks is not None:
            self.reference = reference_lips(canonical_lips(np.asarray(landmarks)[rows]))
            self._adapt(source, np.asarray(landmarks), rows, fps)
        n_audio = int(np.floor(source.duration_s * fps))
        if np.count_nonzero(rows < n_audio) >= 3:
            values = values[rows < n_audio]  # frames past the source's audio say nothing about speech
        # A source of a few frames has no spread of its own: it takes a typical speaker's.
        self.coupling = WidthCoupling.from_measured(values)
        spread = [spread_or_typical(values[:, j], typical) for j, typical in enumerate(self.speaker.typical_spread)]
        self._target = np.stack([values.mean(axis=0), spread], axis=1)

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
        on = {"device": self.device}
        valid = torch.as_tensor(valid_frame[frame], dtype=torch.float32, **on)[None]
        lips = np.where(valid_frame[frame][:, None, None], np.nan_to_num(canonical_lips(np.nan_to_num(landmarks[frame]))), 0.0)
        lips = torch.as_tensor(lips, dtype=torch.float32, **on)[None]
        features = torch.as_tensor(model_inputs(source, n_steps, self.feature_kind), **on)[None]
        reference = torch.as_tensor(self.reference, **on)[None]
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
        dub = dub if self.phones else without_phones(dub)
        blend = self.learned_share * standardize(self._metrics_per_frame(dub, n_frames, fps))
        blend += (1.0 - self.learned_share) * standardize(self.rules.predict(dub, n_frames, fps))
        blend = self.coupling.apply(standardize(smooth_track(blend)), self.width_coupling)
        out = (self._target[:, 0] + self._target[:, 1] * blend).astype(np.float32)
        out = self.speaker.clip(out)
        return rest_in_pauses(out, dub, fps, self.min_pause_s, self.speaker.resting)
