"""`lipdub train CATALOG --output CKPT_URI`: train the learned mouth-motion model on a catalog.

Every distinct source video of the catalog is a self-supervised example (its own speech -> its
measured lips). Steps: read the catalog -> probe/analyze/listen on Ray Data (cached in the work
store, shared with dubbing) -> training windows (Ray Data) -> Ray Train's TorchTrainer (one or
several workers, CPU or GPU) -> the checkpoint at CKPT_URI (any fsspec URI), rewritten every few
epochs, and a card beside it (CKPT_URI + ".json": command, videos seen by name, skipped videos
and why, settings, size, losses, validation score, throughput). Run it again with the same
output and it resumes from the checkpoint's epoch; ``restart`` starts over.

On a cluster: ``ray job submit --working-dir . -- python -m jobs.train_motion CATALOG --output s3://...``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lipdub.catalog import read_catalog
from lipdub.config import PipelineConfig
from lipdub.errors import InputError
from lipdub.storage import atomic_output, is_local
from models.lipsync_net import NetConfig
from models.motion_checkpoint import checkpoint_exists, load_checkpoint
from models.motion_inputs import n_input_features
from models.motion_training import TrainSettings
from pipelines.training_pipeline import video_name

log = logging.getLogger(__name__)

__all__ = ["TrainRequest", "TrainReport", "run_training", "card_uri"]


def card_uri(checkpoint_uri: str) -> str:
    return checkpoint_uri + ".json"


@dataclass
class TrainRequest:
    catalog_uri: str | list[str]  # a catalog manifest, or video files
    output_uri: str
    settings: TrainSettings = field(default_factory=TrainSettings)
    net: dict[str, Any] = field(default_factory=dict)  # NetConfig overrides (d_model, n_layers, ...)
    feature_kind: str = "logmel"
    workers: int = 1  # Ray Train workers; 0: Ray Train's local mode (the loop runs in this process)
    use_gpu: bool = False
    validation_videos: int = 1
    window_stride: int = 16
    checkpoint_every: int = 10
    restart: bool = False
    exclude: tuple[str, ...] = ()  # video names (file stems) left out, e.g. for leave-one-out
    command: str = ""


@dataclass
class TrainReport:
    output_uri: str
    epochs_done: int
    videos: list[str]
    validation: list[str]
    skipped: list[dict[str, str]]
    final: dict[str, float]


def _validation_names(names: list[str], count: int) -> list[str]:
    """A fixed choice (by hash of the name, not by order): reruns hold out the same videos."""
    if count <= 0 or len(names) < 3:
        return []
    ranked = sorted(names, key=lambda name: hashlib.sha1(name.encode()).hexdigest())
    return sorted(ranked[: min(count, len(names) - 2)])


VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")


def _source_rows(sources: str | list[str]) -> list[dict[str, Any]]:
    """Catalog rows from a catalog manifest, or from video files named directly."""
    names = [sources] if isinstance(sources, str) else list(sources)
    if len(names) == 1 and not names[0].lower().endswith(VIDEO_SUFFIXES):
        return read_catalog(names[0]).rows
    return [{"item_id": video_name(uri), "video_uri": uri, "status": "pending"} for uri in names]


def _storage_path(config: PipelineConfig) -> str:
    """Ray Train's own run folder (its bookkeeping only; our checkpoint goes to the output URI)."""
    root = config.work_root if "://" not in config.work_root else tempfile.gettempdir()
    return os.path.join(root, "ray_train")


@dataclass
class _TrainingData:
    datasets: dict[str, Any]  # Ray Datasets: "train" (+ "validation")
    videos: list[str]  # trained on, by name
    validation: list[str]
    skipped: list[dict[str, str]]
    n_windows: int
    embedding_dim: int
    template_reference: np.ndarray  # mean reference lip shape of the training windows


def _previous_state(request: TrainRequest) -> dict[str, Any] | None:
    """The checkpoint to resume from, if any; errors name --restart as the way out."""
    if request.restart or not checkpoint_exists(request.output_uri):
        return None
    try:
        previous = load_checkpoint(request.output_uri)
    except InputError as error:
        raise InputError(f"{error}; it cannot be resumed: use --restart to replace it") from error
    if previous["features"]["kind"] != request.feature_kind:
        raise ValueError(f"{request.output_uri} was trained on {previous['features']['kind']} features; use --restart to replace it")
    # The shape asked for, checked before any analysis (the input width is checked once known).
    asked = NetConfig(n_features=previous["net_config"]["n_features"], **request.net).to_dict()
    if asked != previous["net_config"]:
        raise ValueError(f"{request.output_uri} has another network shape; use --restart to replace it")
    return previous


def _training_data(request: TrainRequest, config: PipelineConfig, source_rows: list[dict[str, Any]]) -> _TrainingData:
    """Analyse the videos (cached) and cut training and validation windows as Ray Datasets."""
    from pipelines.training_pipeline import analyse_videos, video_rows, windows_dataset

    rows, rejected = video_rows(source_rows)
    rows = [row for row in rows if video_name(row["video_uri"]) not in request.exclude]
    analysed = analyse_videos(rows, config)
    ok = [row for row in analysed if row.get("status") != "failed"]
    skipped = [{"video": r["video_uri"], "error": r.get("error") or "failed"} for r in analysed if r.get("status") == "failed"]
    skipped += [{"video": r.get("video_uri") or r["item_id"], "error": r.get("error") or "bad catalog row"} for r in rejected]
    for entry in skipped:
        log.warning("not training on %s: %s", entry["video"], entry["error"])
    validation = _validation_names(sorted(video_name(row["video_uri"]) for row in ok), request.validation_videos)
    train_rows = [row for row in ok if video_name(row["video_uri"]) not in validation]
    if not train_rows:
        raise ValueError("no usable training video in the catalog: " + "; ".join(f"{s['video']}: {s['error']}" for s in skipped[:5]))
    train_ds = windows_dataset(train_rows, request.feature_kind, request.window_stride)
    n_windows = train_ds.count()
    if n_windows == 0:
        raise ValueError("the training videos are too short for one training window (2.56 s with the speaker)")
    datasets = {"train": train_ds}
    if validation:
        val_rows = [row for row in ok if video_name(row["video_uri"]) in validation]
        datasets["validation"] = windows_dataset(val_rows, request.feature_kind, stride=10**6)
    references = np.stack([row["reference"] for row in train_ds.select_columns(["reference"]).take_all()])
    n_features = int(train_ds.take(1)[0]["features"].shape[1])
    return _TrainingData(datasets, sorted(video_name(r["video_uri"]) for r in train_rows), validation, skipped, n_windows,
                         n_features - n_input_features("logmel"), references.mean(axis=0))


def run_training(request: TrainRequest, config: PipelineConfig, ray_address: str | None = None) -> TrainReport:
    """Train (or resume) and write the checkpoint and its card; raises CatalogError/InputError early."""
    from ray.train import DataConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from pipelines.motion_train_loop import train_loop_per_worker
    from pipelines.ray_adapter import ensure_ray

    if request.use_gpu and request.workers < 1:
        raise ValueError("--gpu needs at least one Ray Train worker (--workers 1 or more)")
    if request.feature_kind == "wav2vec2" and not config.listen.wav2vec2_checkpoint:
        raise ValueError("wav2vec2 features need listen.wav2vec2_checkpoint (lipdub train --wav2vec2 PATH)")
    previous = _previous_state(request)
    if previous is not None and int(previous.get("epoch", 0)) >= request.settings.epochs:
        log.info("%s already has %d epochs: nothing to do (--epochs more, or --restart)", request.output_uri, previous["epoch"])
        meta, history = previous.get("meta", {}), previous.get("history", [])
        return TrainReport(request.output_uri, int(previous["epoch"]), list(meta.get("videos", [])),
                           list(meta.get("validation_videos", [])), [], history[-1] if history else {})
    source_rows = _source_rows(request.catalog_uri)  # an unusable catalog fails here, before Ray starts
    ensure_ray(ray_address)
    data = _training_data(request, config, source_rows)
    net_config = NetConfig(n_features=n_input_features(request.feature_kind, data.embedding_dim), **request.net)
    if previous is not None and previous["net_config"] != net_config.to_dict():
        raise ValueError(f"{request.output_uri} has another network shape; use --restart to replace it")
    features = {"kind": request.feature_kind, "embedding_dim": data.embedding_dim,
                "wav2vec2_checkpoint": config.listen.wav2vec2_checkpoint}
    loop_config = {
        "settings": request.settings.to_dict(),
        "net_config": net_config.to_dict(),
        # Absolute: Ray Train runs the worker loop in a folder of its own.
        "output_uri": os.path.abspath(request.output_uri) if is_local(request.output_uri) else request.output_uri,
        "resume": not request.restart,
        "has_validation": bool(data.validation),
        "checkpoint_every": request.checkpoint_every,
        "features": features,
        # Tensors, not numpy arrays: checkpoints load with weights_only=True.
        "template_reference": torch.as_tensor(data.template_reference, dtype=torch.float32),
        "meta": {"videos": data.videos, "validation_videos": data.validation, "command": request.command},
    }
    started = time.perf_counter()
    TorchTrainer(
        train_loop_per_worker,
        train_loop_config=loop_config,
        scaling_config=ScalingConfig(num_workers=request.workers, use_gpu=request.use_gpu),
        datasets=data.datasets,
        dataset_config=DataConfig(datasets_to_split=["train"]),
        run_config=RunConfig(name=f"lipdub-train-{hashlib.sha1(request.output_uri.encode()).hexdigest()[:10]}",
                             storage_path=_storage_path(config)),
    ).fit()
    state = load_checkpoint(request.output_uri)
    history = state.get("history", [])
    final = history[-1] if history else {}
    _write_card(request, data, state, features, time.perf_counter() - started)
    log.info("trained %s: %d epochs, final %s", request.output_uri, state["epoch"], {k: round(v, 4) for k, v in final.items()})
    return TrainReport(request.output_uri, int(state["epoch"]), data.videos, data.validation, data.skipped, final)


def _write_card(request: TrainRequest, data: _TrainingData, state: dict[str, Any], features: dict[str, Any], seconds: float) -> None:
    """``<checkpoint>.json``: what a person needs to trust (or reproduce) the checkpoint."""
    history = state.get("history", [])
    card = {
        "checkpoint": request.output_uri,
        "command": request.command,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "catalog": request.catalog_uri,
        "videos": data.videos,
        "validation_videos": data.validation,
        "excluded_videos": sorted(request.exclude),
        "skipped": data.skipped,
        "training_windows": data.n_windows,
        "epochs": int(state["epoch"]),
        "features": features,
        "settings": request.settings.to_dict(),
        "net_config": state["net_config"],
        "generator_parameters": int(sum(v.numel() for v in state["generator"].values())),
        "size_bytes": _size_of(request.output_uri),
        "workers": request.workers,
        "device": "gpu" if request.use_gpu else "cpu",
        "train_seconds_this_run": round(seconds, 1),
        "final": history[-1] if history else {},
        "history": history,
    }
    with atomic_output(card_uri(request.output_uri), ".json") as staging, open(staging, "w") as handle:
        json.dump(card, handle, indent=2, default=float)


def _size_of(uri: str) -> int:
    from lipdub.storage import filesystem_for

    fs = filesystem_for(uri)
    return int(fs.info(fs._strip_protocol(uri))["size"])


def main(argv: list[str] | None = None) -> None:
    """``python -m jobs.train_motion ...``: the same options as ``lipdub train``."""
    from jobs.cli import app

    sys.argv = ["lipdub", "train", *(sys.argv[1:] if argv is None else argv)]
    app()


if __name__ == "__main__":
    main()
