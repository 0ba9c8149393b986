"""Per-speaker mouth shape model: canonical lip and jaw landmarks as a function of [opening, width].

Mouth targets only say how open and how wide the mouth should be. To place the lip and jaw
outline where a target says (the refinement warp) we need the full 57-point shape that this
speaker's mouth takes at that opening and width. A small ridge regression on the source's own
frames gives it: it captures the speaker's lip thickness, asymmetry and how the jaw drops as the
mouth opens, which no generic template would.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lipdub.face.geometry import MOUTH_SHAPE_POINTS

N_SHAPE_POINTS = len(MOUTH_SHAPE_POINTS)


def _features(z: np.ndarray) -> np.ndarray:
    """Design matrix [1, o, w, o^2, o*w] on standardised metrics (quadratic in opening: lips bulge)."""
    o, w = z[:, 0], z[:, 1]
    return np.stack([np.ones_like(o), o, w, o * o, o * w], axis=1)


@dataclass(frozen=True)
class MouthShapeBasis:
    """Ridge regression from standardised [opening, width] to flattened canonical shapes.

    Targets are clipped to the range seen in the source (plus a small margin) before prediction,
    so a target the speaker never made does not extrapolate the quadratic into a distorted mouth.
    """

    metric_mean: np.ndarray  # (2,)
    metric_scale: np.ndarray  # (2,)
    metric_low: np.ndarray  # (2,) smallest target honoured
    metric_high: np.ndarray  # (2,) largest target honoured
    coefficients: np.ndarray  # (5, N_SHAPE_POINTS * 2)

    @classmethod
    def fit(cls, shapes: np.ndarray, metrics: np.ndarray, ridge: float = 1e-2) -> "MouthShapeBasis":
        """Fit on canonical shapes ``(N, 57, 2)`` and their measured ``(N, 2)`` [opening, width]."""
        shapes = np.asarray(shapes, dtype=np.float64)
        metrics = np.asarray(metrics, dtype=np.float64)
        if shapes.ndim != 3 or shapes.shape[1:] != (N_SHAPE_POINTS, 2) or len(shapes) != len(metrics):
            raise ValueError(f"expected shapes (N, {N_SHAPE_POINTS}, 2) and metrics (N, 2), got {shapes.shape} and {metrics.shape}")
        if len(shapes) == 0:
            raise ValueError("cannot fit a mouth shape basis on zero frames")
        mean = metrics.mean(axis=0)
        scale = np.maximum(metrics.std(axis=0), 1e-3)
        z = (metrics - mean) / scale
        x = _features(z)
        y = shapes.reshape(len(shapes), -1)
        penalty = ridge * len(x) * np.eye(x.shape[1])
        penalty[0, 0] = 0.0  # never shrink the mean shape
        coefficients = np.linalg.solve(x.T @ x + penalty, x.T @ y)
        span = metrics.max(axis=0) - metrics.min(axis=0)
        return cls(
            metric_mean=mean,
            metric_scale=scale,
            metric_low=metrics.min(axis=0) - 0.1 * span,
            metric_high=metrics.max(axis=0) + 0.1 * span,
            coefficients=coefficients,
        )

    def shapes_for(self, targets: np.ndarray) -> np.ndarray:
        """Canonical lip and jaw landmarks ``(N, 57, 2)`` for mouth targets ``(N, 2)``."""
        targets = np.atleast_2d(np.asarray(targets, dtype=np.float64))
        clipped = np.clip(targets, np.maximum(self.metric_low, 0.0), self.metric_high)
        z = (clipped - self.metric_mean) / self.metric_scale
        flat = np.einsum("nf,fk->nk", _features(z), self.coefficients)  # no BLAS threads for a tiny product
        return flat.reshape(len(targets), N_SHAPE_POINTS, 2).astype(np.float32)

    def to_arrays(self, prefix: str = "basis_") -> dict[str, np.ndarray]:
        """Arrays for an ``.npz`` (the atlas stores the basis beside its crops)."""
        return {
            f"{prefix}metric_mean": self.metric_mean,
            f"{prefix}metric_scale": self.metric_scale,
            f"{prefix}metric_low": self.metric_low,
            f"{prefix}metric_high": self.metric_high,
            f"{prefix}coefficients": self.coefficients,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray] | np.lib.npyio.NpzFile, prefix: str = "basis_") -> "MouthShapeBasis":
        return cls(
            metric_mean=np.asarray(arrays[f"{prefix}metric_mean"], dtype=np.float64),
            metric_scale=np.asarray(arrays[f"{prefix}metric_scale"], dtype=np.float64),
            metric_low=np.asarray(arrays[f"{prefix}metric_low"], dtype=np.float64),
            metric_high=np.asarray(arrays[f"{prefix}metric_high"], dtype=np.float64),
            coefficients=np.asarray(arrays[f"{prefix}coefficients"], dtype=np.float64),
        )
