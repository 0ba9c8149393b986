"""Lip landmarks in the face-aligned frame: what the learned motion model predicts.

The generator works on the 40 Face Mesh lip points expressed in the canonical frame of
``lipdub.face.geometry`` (eye-corner midpoint at the origin, eyes on the x axis, inter-ocular
distance 1). In that frame the evaluation's mouth metrics are plain distances: opening is
|p13 - p14| and width |p78 - p308|, so predicted lips give [opening, width] directly, and a loss
on them is a loss on the figures we are judged by.
"""
from __future__ import annotations

import numpy as np

from lipdub.face import geometry

__all__ = ["N_LIPS", "canonical_lips", "reference_lips", "lip_metrics", "OPENING_PAIR", "WIDTH_PAIR"]

N_LIPS = len(geometry.LIP_POINTS)
OPENING_PAIR = (geometry.LIP_POINTS.index(geometry.UPPER_INNER_LIP), geometry.LIP_POINTS.index(geometry.LOWER_INNER_LIP))
WIDTH_PAIR = (geometry.LIP_POINTS.index(geometry.INNER_MOUTH_LEFT), geometry.LIP_POINTS.index(geometry.INNER_MOUTH_RIGHT))


def canonical_lips(landmarks: np.ndarray) -> np.ndarray:
    """``(T, 468, 2)`` pixel landmarks -> ``(T, N_LIPS, 2)`` float32 lips in the canonical frame."""
    points = np.asarray(landmarks, dtype=np.float64)
    aligned = geometry.apply_affine(geometry.eye_aligned_similarity(points), points[..., geometry.LIP_POINTS, :])
    return aligned.astype(np.float32)


def reference_lips(lips: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """The speaker's typical lip shape: per-point median over valid frames, ``(N_LIPS, 2)``.

    The median of each coordinate is a half-open mouth for a talker: the identity the model's
    motion is relative to. Raises ValueError when no frame is valid.
    """
    values = np.asarray(lips, dtype=np.float64)
    if valid is not None:
        values = values[np.asarray(valid, dtype=bool)]
    if len(values) == 0:
        raise ValueError("no valid frame to take a reference lip shape from")
    return np.median(values, axis=0).astype(np.float32)


def lip_metrics(lips: np.ndarray) -> np.ndarray:
    """``(..., N_LIPS, 2)`` canonical lips -> ``(..., 2)`` [opening, width] (numpy or torch)."""
    upper, lower = lips[..., OPENING_PAIR[0], :], lips[..., OPENING_PAIR[1], :]
    left, right = lips[..., WIDTH_PAIR[0], :], lips[..., WIDTH_PAIR[1], :]
    if isinstance(lips, np.ndarray):
        return np.stack([np.linalg.norm(upper - lower, axis=-1), np.linalg.norm(left - right, axis=-1)], axis=-1)
    import torch  # noqa: PLC0415  (numpy callers never pay for torch)

    return torch.stack([torch.linalg.vector_norm(upper - lower, dim=-1), torch.linalg.vector_norm(left - right, dim=-1)], dim=-1)
