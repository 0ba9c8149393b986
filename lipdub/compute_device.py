"""Which torch device a stage computes on: the GPU Ray granted it, else the CPU.

A stage uses a GPU only where its config asks Ray for one (``resources.<stage>.num_gpus``), so the
CPU path stays the default everywhere. A stage that asked but finds no CUDA device (a node without
drivers, or the fake GPU resources of the autoscaler tests) computes on the CPU and says so once.
"""
from __future__ import annotations

import functools
import logging

from lipdub.config import PipelineConfig

log = logging.getLogger(__name__)

__all__ = ["stage_device", "cuda_available"]


@functools.lru_cache(maxsize=1)
def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@functools.lru_cache(maxsize=16)
def _warn_no_cuda(stage: str) -> None:
    log.warning("%s: the config asks Ray for a GPU but torch sees no CUDA device here; computing on the CPU", stage)


def stage_device(config: PipelineConfig, stage: str) -> str:
    """``"cuda"`` when ``stage`` asks Ray for GPUs and one is visible, else ``"cpu"``."""
    if config.resources[stage].num_gpus <= 0:
        return "cpu"
    if cuda_available():
        return "cuda"
    _warn_no_cuda(stage)
    return "cpu"
