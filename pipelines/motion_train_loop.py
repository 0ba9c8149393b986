"""Ray Train worker loop for the motion model (run by TorchTrainer on every training worker).

Each worker reads its shard of the training windows from Ray Data, wraps the networks for
distributed data parallel when there are several workers, and trains epoch by epoch. Worker 0
measures the validation score, writes the checkpoint (the full training state, so a stopped job
resumes where it was) to the output URI every ``checkpoint_every`` epochs and at the end, and
every worker reports the epoch's metrics to Ray Train.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import ray.train
import ray.train.torch

from models.lipsync_net import NetConfig
from models.motion_checkpoint import checkpoint_exists, load_checkpoint, save_checkpoint
from models.motion_training import MotionTrainer, TrainSettings, opening_correlation

log = logging.getLogger(__name__)

__all__ = ["train_loop_per_worker"]

_BATCH_COLUMNS = ["features", "motion", "valid", "reference"]


def _checkpoint_state(trainer: MotionTrainer, config: dict[str, Any]) -> dict[str, Any]:
    return {**trainer.state(), "features": config["features"], "template_reference": config["template_reference"],
            "meta": config.get("meta", {})}


def train_loop_per_worker(config: dict[str, Any]) -> None:
    settings = TrainSettings(**config["settings"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = str(ray.train.torch.get_device())
    trainer = MotionTrainer(NetConfig.from_dict(config["net_config"]), settings, device=device)
    output_uri = config["output_uri"]
    if config.get("resume") and checkpoint_exists(output_uri):
        trainer.load_state(load_checkpoint(output_uri))
        log.info("resuming from %s at epoch %d", output_uri, trainer.epoch)
    if world > 1:
        trainer.train_generator = ray.train.torch.prepare_model(trainer.generator, move_to_device=False)
        trainer.train_discriminator = ray.train.torch.prepare_model(trainer.discriminator, move_to_device=False)
    shard = ray.train.get_dataset_shard("train")
    validation = ray.train.get_dataset_shard("validation") if config.get("has_validation") else None
    checkpoint_every = int(config.get("checkpoint_every", 10))
    while trainer.epoch < settings.epochs:
        started = time.perf_counter()
        batches = shard.iter_batches(batch_size=settings.batch_size, batch_format="numpy",
                                     local_shuffle_buffer_size=4 * settings.batch_size,
                                     local_shuffle_seed=settings.seed + trainer.epoch)
        metrics = trainer.train_epoch({name: batch[name] for name in _BATCH_COLUMNS} for batch in batches)
        seconds = time.perf_counter() - started
        metrics["examples_per_second"] = metrics["examples"] * world / max(seconds, 1e-9)
        metrics["epoch_seconds"] = seconds
        if rank == 0:
            if validation is not None:
                windows = list(validation.iter_rows())
                metrics["validation_opening_r"] = opening_correlation(trainer.generator, windows)
            trainer.history.append({k: float(v) for k, v in metrics.items()})
            last = trainer.epoch >= settings.epochs
            if last or trainer.epoch % checkpoint_every == 0:
                save_checkpoint(output_uri, _checkpoint_state(trainer, config))
        log.info("epoch %d: %s", trainer.epoch, {k: round(float(v), 4) for k, v in metrics.items()})
        ray.train.report({k: float(v) for k, v in metrics.items() if np.isfinite(v)})
