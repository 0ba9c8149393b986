"""The learned motion model's networks: LipSyncGenerator and a temporal MotionDiscriminator.

Generator (the seed design): a 1-D convolutional audio encoder over time, an identity branch fed
with the speaker's reference lip shape, a transformer over time, and a landmark decoder whose
Tanh output (times ``motion_scale``) is the lips' displacement from the reference. The
discriminator scores whole motion sequences (shape and velocity), so the adversarial loss
punishes what a per-frame loss cannot see: jitter, frozen stretches, implausible timing.

Importing this module builds nothing and loads nothing; weights come only from
``models.motion_checkpoint``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from models.lip_shapes import N_LIPS

__all__ = ["NetConfig", "LipSyncGenerator", "MotionDiscriminator"]


@dataclass(frozen=True)
class NetConfig:
    n_features: int
    n_lips: int = N_LIPS
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    ff_dim: int = 128
    kernel: int = 5
    dropout: float = 0.2
    # Largest lip displacement from the reference (inter-ocular units): a wide-open mouth
    # moves the lower lip by about 0.25.
    motion_scale: float = 0.4

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NetConfig":
        return cls(**data)


def _positions(length: int, dim: int, device: torch.device) -> torch.Tensor:
    """Sinusoidal position codes ``(length, dim)`` (relative order within a window)."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    codes = torch.zeros(length, dim, device=device)
    codes[:, 0::2] = torch.sin(position * rate)
    codes[:, 1::2] = torch.cos(position * rate[: dim // 2])
    return codes


class LipSyncGenerator(nn.Module):
    """``(B, T, n_features)`` speech + ``(B, n_lips, 2)`` reference -> ``(B, T, n_lips, 2)`` motion."""

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config = config
        d, pad = config.d_model, config.kernel // 2
        self.audio_encoder = nn.Sequential(
            nn.Conv1d(config.n_features, d, config.kernel, padding=pad),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Conv1d(d, d, config.kernel, padding=pad),
            nn.GELU(),
        )
        self.identity = nn.Sequential(nn.Linear(config.n_lips * 2, d), nn.GELU(), nn.Linear(d, d))
        layer = nn.TransformerEncoderLayer(
            d, config.n_heads, config.ff_dim, config.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.temporal = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.decoder = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.GELU(), nn.Linear(d, config.n_lips * 2))

    def forward(self, features: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        batch, steps, _ = features.shape
        tokens = self.audio_encoder(features.transpose(1, 2)).transpose(1, 2)
        tokens = tokens + self.identity(reference.reshape(batch, -1))[:, None, :]
        tokens = tokens + _positions(steps, self.config.d_model, features.device)
        hidden = self.temporal(tokens)
        motion = torch.tanh(self.decoder(hidden)) * self.config.motion_scale
        return motion.reshape(batch, steps, self.config.n_lips, 2)


class MotionDiscriminator(nn.Module):
    """``(B, T, n_lips, 2)`` motion -> ``(B,)`` realness score (least-squares GAN, no sigmoid)."""

    def __init__(self, n_lips: int = N_LIPS, width: int = 64) -> None:
        super().__init__()
        channels = n_lips * 4  # displacement and its frame-to-frame velocity
        self.body = nn.Sequential(
            nn.Conv1d(channels, width, 5, padding=2),
            nn.LeakyReLU(0.2),
            nn.Conv1d(width, width, 5, stride=2, padding=2),
            nn.LeakyReLU(0.2),
            nn.Conv1d(width, width, 5, stride=2, padding=2),
            nn.LeakyReLU(0.2),
        )
        self.head = nn.Linear(width, 1)

    def forward(self, motion: torch.Tensor) -> torch.Tensor:
        flat = motion.flatten(2)
        velocity = torch.diff(flat, dim=1, prepend=flat[:, :1])
        hidden = self.body(torch.cat([flat, velocity], dim=2).transpose(1, 2))
        return self.head(hidden.mean(dim=2)).squeeze(1)
