"""One training step, validation and resumable state of the learned motion model.

Used inside Ray Train's worker loop (``pipelines.training_run``) and directly by tests; it knows
nothing about Ray. Losses (generator): L1 on lip displacements over measured steps; L1 on the
mouth opening and width the lips imply (the figures the product is judged by); one minus the
per-window Pearson correlation of opening (timing matters more than amplitude, which speaker
calibration sets at dub time anyway), and the same for width with its own weight (width moves by
a few hundredths of the inter-ocular distance, so the L1 terms hardly see its timing: rounding and
spreading were what the people evaluation missed); L1 on velocities; and, after a warm-up, a least-squares
adversarial term from the temporal discriminator.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from models.generator_inference import predict_motion
from models.lip_shapes import lip_metrics
from models.lipsync_net import LipSyncGenerator, MotionDiscriminator, NetConfig

log = logging.getLogger(__name__)

__all__ = ["TrainSettings", "MotionTrainer", "opening_correlation", "masked_pearson"]


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    metric_weight: float = 4.0
    correlation_weight: float = 0.5
    width_correlation_weight: float = 0.0
    velocity_weight: float = 1.0
    adversarial_weight: float = 0.02
    adversarial_start_epoch: int = 10
    feature_noise: float = 0.1
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def masked_pearson(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-row Pearson r over masked steps: ``(B, T)`` -> ``(B,)``."""
    count = mask.sum(dim=1).clamp(min=1.0)
    p_mean = (prediction * mask).sum(dim=1, keepdim=True) / count[:, None]
    t_mean = (target * mask).sum(dim=1, keepdim=True) / count[:, None]
    p, t = (prediction - p_mean) * mask, (target - t_mean) * mask
    return (p * t).sum(dim=1) / (p.pow(2).sum(dim=1).sqrt() * t.pow(2).sum(dim=1).sqrt() + 1e-6)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    while mask.dim() < values.dim():
        mask = mask.unsqueeze(-1)
    expanded = mask.expand_as(values)
    return (values * expanded).sum() / expanded.sum().clamp(min=1.0)


class MotionTrainer:
    """Generator + discriminator, their optimisers, and the epoch counter."""

    def __init__(self, net_config: NetConfig, settings: TrainSettings, device: str = "cpu") -> None:
        torch.manual_seed(settings.seed)
        self.net_config, self.settings, self.device = net_config, settings, torch.device(device)
        self.generator = LipSyncGenerator(net_config).to(self.device)
        self.discriminator = MotionDiscriminator(net_config.n_lips).to(self.device)
        self.optim_g = torch.optim.AdamW(self.generator.parameters(), settings.learning_rate, weight_decay=settings.weight_decay)
        self.optim_d = torch.optim.AdamW(self.discriminator.parameters(), settings.learning_rate, weight_decay=settings.weight_decay)
        self.epoch = 0
        self.history: list[dict[str, float]] = []
        # Wrapped models (DistributedDataParallel under Ray Train) are used for the steps.
        self.train_generator: nn.Module = self.generator
        self.train_discriminator: nn.Module = self.discriminator

    def _tensors(self, batch: dict[str, Any]) -> tuple[torch.Tensor, ...]:
        names = ("features", "motion", "valid", "reference")
        return tuple(torch.as_tensor(np.asarray(batch[n]) if not torch.is_tensor(batch[n]) else batch[n], dtype=torch.float32).to(self.device) for n in names)

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        features, motion, valid, reference = self._tensors(batch)
        s = self.settings
        if s.feature_noise:
            features = features + s.feature_noise * torch.randn_like(features)
        adversarial = self.epoch >= s.adversarial_start_epoch and s.adversarial_weight > 0
        self.train_generator.train()
        predicted = self.train_generator(features, reference)
        rec = _masked_mean((predicted - motion).abs(), valid)
        pred_metrics = lip_metrics(predicted + reference[:, None])
        true_metrics = lip_metrics(motion + reference[:, None])
        metric = _masked_mean((pred_metrics - true_metrics).abs(), valid)
        corr = (1.0 - masked_pearson(pred_metrics[..., 0], true_metrics[..., 0], valid)).mean()
        width_corr = (1.0 - masked_pearson(pred_metrics[..., 1], true_metrics[..., 1], valid)).mean()
        both = valid[:, 1:] * valid[:, :-1]
        velocity = _masked_mean((torch.diff(predicted, dim=1) - torch.diff(motion, dim=1)).abs(), both)
        loss = rec + s.metric_weight * metric + s.correlation_weight * corr + s.velocity_weight * velocity
        if s.width_correlation_weight:
            loss = loss + s.width_correlation_weight * width_corr
        adv_g = torch.zeros(())
        if adversarial:
            adv_g = (self.train_discriminator(predicted) - 1.0).pow(2).mean()
            loss = loss + s.adversarial_weight * adv_g
        self.optim_g.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.generator.parameters(), 1.0)
        self.optim_g.step()
        adv_d = torch.zeros(())
        if adversarial:
            # Real sequences only where the speaker was measured throughout the window.
            whole = valid.min(dim=1).values > 0.5
            real = self.train_discriminator(motion[whole]) if whole.any() else None
            fake = self.train_discriminator(predicted.detach())
            adv_d = fake.pow(2).mean() + ((real - 1.0).pow(2).mean() if real is not None else 0.0)
            self.optim_d.zero_grad(set_to_none=True)
            adv_d.backward()
            self.optim_d.step()
        values = {"loss": loss, "rec": rec, "metric": metric, "corr": corr, "width_corr": width_corr, "adv_g": adv_g, "adv_d": adv_d}
        return {key: float(value.detach()) for key, value in values.items()}

    def train_epoch(self, batches: Iterable[dict[str, Any]]) -> dict[str, float]:
        sums: dict[str, float] = {}
        count = examples = 0
        for batch in batches:
            losses = self.train_step(batch)
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value
            count += 1
            examples += len(batch["valid"])
        self.epoch += 1
        out = {key: value / max(count, 1) for key, value in sums.items()}
        out.update(epoch=float(self.epoch), examples=float(examples))
        return out

    def state(self) -> dict[str, Any]:
        return {
            "net_config": self.net_config.to_dict(),
            "settings": self.settings.to_dict(),
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "optim_g": self.optim_g.state_dict(),
            "optim_d": self.optim_d.state_dict(),
            "epoch": self.epoch,
            "history": self.history,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.optim_g.load_state_dict(state["optim_g"])
        self.optim_d.load_state_dict(state["optim_d"])
        self.epoch = int(state["epoch"])
        self.history = list(state.get("history", []))


def opening_correlation(generator: LipSyncGenerator, windows: Iterable[dict[str, Any]]) -> float:
    """Validation score: Pearson r of predicted vs measured opening over every measured step."""
    predicted, measured = [], []
    for window in windows:
        reference = np.asarray(window["reference"])
        valid = np.asarray(window["valid"]) > 0.5
        motion = predict_motion(generator, np.asarray(window["features"]), reference)
        predicted.append(lip_metrics(motion + reference)[valid, 0])
        measured.append(lip_metrics(np.asarray(window["motion"]) + reference)[valid, 0])
    if not predicted:
        return float("nan")
    p, m = np.concatenate(predicted), np.concatenate(measured)
    if len(p) < 3 or p.std() < 1e-9 or m.std() < 1e-9:
        return 0.0
    return float(np.corrcoef(p, m)[0, 1])
