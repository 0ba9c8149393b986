"""Run a LipSyncGenerator over a whole track in overlapping windows.

Training sees windows of ``WINDOW_STEPS``; predicting a 10-minute dub in one pass would show the
transformer sequence lengths (and position codes) it never saw, and attention memory grows with
the square of the length. Windows overlap by half and are cross-faded with triangular weights,
so there are no seams and memory stays flat.
"""
from __future__ import annotations

import numpy as np
import torch

from models.lipsync_net import LipSyncGenerator
from models.training_pairs import WINDOW_STEPS

__all__ = ["predict_motion"]


def _window_starts(n_steps: int, length: int, hop: int) -> list[int]:
    if n_steps <= length:
        return [0]
    starts = list(range(0, n_steps - length + 1, hop))
    if starts[-1] != n_steps - length:
        starts.append(n_steps - length)
    return starts


@torch.inference_mode()
def predict_motion(
    generator: LipSyncGenerator,
    features: np.ndarray,
    reference: np.ndarray,
    *,
    length: int = WINDOW_STEPS,
    batch_size: int = 32,
) -> np.ndarray:
    """``(T, F)`` inputs + ``(N_LIPS, 2)`` reference -> ``(T, N_LIPS, 2)`` float32 motion."""
    n_steps = len(features)
    n_lips = generator.config.n_lips
    if n_steps == 0:
        return np.zeros((0, n_lips, 2), np.float32)
    was_training = generator.training
    generator.eval()
    starts = _window_starts(n_steps, length, max(length // 2, 1))
    weight = np.minimum(np.arange(1, length + 1), np.arange(length, 0, -1)).astype(np.float64)
    total = np.zeros((n_steps, n_lips, 2))
    weights = np.zeros(n_steps)
    device = next(generator.parameters()).device  # CPU at dub time, the GPU while validating there
    ref = torch.as_tensor(reference, dtype=torch.float32, device=device)
    for first in range(0, len(starts), batch_size):
        chunk = starts[first : first + batch_size]
        windows = np.stack([features[s : s + length] for s in chunk])
        inputs = torch.as_tensor(windows, dtype=torch.float32, device=device)
        motion = generator(inputs, ref.expand(len(chunk), -1, -1)).cpu().numpy()
        for start, values in zip(chunk, motion):
            w = weight[: len(values)]
            total[start : start + len(values)] += values * w[:, None, None]
            weights[start : start + len(values)] += w
    generator.train(was_training)
    return (total / weights[:, None, None]).astype(np.float32)
