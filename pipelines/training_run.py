"""`lipdub train CATALOG --output CKPT_URI`: train the learned mouth-motion model on a catalog.

Every distinct source video of the catalog is a self-supervised example (its own speech -> its
measured lips). Steps: read the catalog -> probe/analyze/listen on Ray Data (cached in the work
store, shared with dubbing) -> training windows (Ray Data) -> Ray Train's TorchTrainer (one or
several workers, CPU or GPU) -> the checkpoint at CKPT_URI (any fsspec URI), rewritten every few
epochs, and a card beside it (CKPT_URI + ".json": command, videos seen by name, skipped videos
and why, settings, size, losses, validation score, throughput). Run it again with the same
output and it resumes from the checkpoint's epoch; ``restart`` starts over.

Honest pairs (``models.training_sync``): before windows are cut, every video's own audio-video
offset is measured (the QA gate's syllable-rate sync measure); a video is kept, shifted (its lips
read at the measured offset) or dropped (own sync too weak, or offset beyond the bound), and the
card records each decision and its reason (``sync``). ``lipdub train --show-dropped`` lists the
decisions without training.

Balance: windows are capped per *person* (``max_windows_per_person``; people from ``people``,
e.g. the shared catalog's ``person`` column or ``models/splits/people_split.json``; a video not
named there is its own person), the windows kept chosen evenly over that person's videos.

On a cluster: ``ray job submit --working-dir . -- python -m jobs.train_motion CATALOG --output s3://...``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
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
from models.training_sync import SyncPolicy
from pipelines.training_pipeline import video_name, windows_dataset

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
    phones: bool = True  # False: the recognised (English) phones are left out of the inputs
    workers: int = 1  # Ray Train workers; 0: Ray Train's local mode (the loop runs in this process)
    use_gpu: bool = False
    validation_videos: int = 1
    window_stride: int = 16
    checkpoint_every: int = 10
    restart: bool = False
    exclude: tuple[str, ...] = ()  # video names (file stems) left out, e.g. for leave-one-out
    command: str = ""
    sync: SyncPolicy = field(default_factory=SyncPolicy)  # own-sync check: keep, shift or drop each video
    people: dict[str, str] = field(default_factory=dict)  # video name -> person (absent: its own person)
    max_windows_per_person: int = 0  # 0: no cap
    max_videos_per_person: int = 0  # 0: no cap; else evenly spaced (by name) videos kept, before analysis
    licences: dict[str, str] = field(default_factory=dict)  # video name -> licence, copied to the card


@dataclass
class TrainReport:
    output_uri: str
    epochs_done: int
    videos: list[str]
    validation: list[str]
    skipped: list[dict[str, str]]
    final: dict[str, float]


CLIPS_LICENCES = {  # ../shared/media/SOURCES.md: the evaluation clips' own sources
    "real": "VideoReTalking examples/face (OpenTalker), Apache-2.0 (repo)",
    "gen": "V-Express test_samples/vasa-1 (Tencent AI Lab), generated; no licence file: test use only",
}


def people_and_licences(media: str) -> tuple[dict[str, str], dict[str, str]]:
    """video name -> person and -> licence, from the shared media folder's train/catalog.csv and
    the people split (each clips/ file its own person)."""
    import csv

    from models.people_split import load_split

    people: dict[str, str] = {}
    licences: dict[str, str] = {}
    for members in load_split()["groups"].values():
        for person, entry in members.items():
            for clip in entry["clips"]:
                people[os.path.splitext(os.path.basename(clip))[0]] = person
    catalog = os.path.join(media, "train", "catalog.csv")
    if os.path.exists(catalog):
        with open(catalog, newline="") as handle:
            for row in csv.DictReader(handle):
                name = os.path.splitext(row["file"])[0]
                people.setdefault(name, row["person"])
                licences[name] = row.get("license", "")
    for name in list(people):
        if name.startswith(("gen_", "real_")) and name not in licences:
            licences[name] = CLIPS_LICENCES["gen" if name.startswith("gen_") else "real"]
    return people, licences


def split_videos(group: str, media: str) -> list[str]:
    """The video files of one group of the people split (``lipdub train --split train``)."""
    from pathlib import Path

    from models.people_split import clips_of

    videos = [str(path) for _, _, path in clips_of(group, Path(media))]
    missing = [v for v in videos if not os.path.exists(v)]
    if missing:
        raise InputError(f"{missing[0]}: file does not exist ({len(missing)} of the {group} group's videos missing under {media})")
    return videos


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
    sync: list[dict[str, Any]] = field(default_factory=list)  # per video: measured offset, action, reason
    windows_per_person: dict[str, dict[str, int]] = field(default_factory=dict)  # person -> made / kept


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
    if bool(previous["features"].get("phones", True)) != request.phones:
        with_or_without = "with" if previous["features"].get("phones", True) else "without"
        raise ValueError(f"{request.output_uri} was trained {with_or_without} phones; use --restart to replace it")
    # The shape asked for, checked before any analysis (the input width is checked once known).
    asked = NetConfig(n_features=previous["net_config"]["n_features"], **request.net).to_dict()
    if asked != previous["net_config"]:
        raise ValueError(f"{request.output_uri} has another network shape; use --restart to replace it")
    return previous


def own_sync_decisions(rows: list[dict[str, Any]], policy: SyncPolicy) -> dict[str, Any]:
    """video URI -> ``OwnSync`` for analysed rows: the video's own offset, and keep/shift/drop."""
    from lipdub.audio.frame_loudness import loudness_per_frame_or_none
    from lipdub.face.analysis_record import FaceAnalysis
    from lipdub.storage import local_path
    from lipdub.work_store import fetch_member
    from models.training_sync import decide

    decisions = {}
    for row in rows:
        faces = FaceAnalysis.from_npz(str(fetch_member(row["analysis_uri"])))
        opening = faces.mouth_measurements(missing=np.nan)[:, 0].astype(np.float64)
        with local_path(row["video_uri"]) as video_path:
            loud = loudness_per_frame_or_none(video_path, faces.n_frames, faces.fps)
        decisions[row["video_uri"]] = decide(opening, loud, faces.fps, policy)
    return decisions


def capped_videos(names: list[str], people: dict[str, str], cap: int) -> tuple[list[str], list[str]]:
    """(kept, left out) video names when a person may bring at most ``cap`` videos: evenly spaced
    over that person's videos sorted by name (deterministic); a video not in ``people`` is its own person."""
    if cap <= 0:
        return list(names), []
    by_person: dict[str, list[str]] = {}
    for name in sorted(names):
        by_person.setdefault(people.get(name, name), []).append(name)
    kept: set[str] = set()
    for videos in by_person.values():
        picks = range(len(videos)) if len(videos) <= cap else np.unique(np.floor(np.arange(cap) * len(videos) / cap).astype(int))
        kept.update(videos[i] for i in picks)
    return [n for n in names if n in kept], [n for n in names if n not in kept]


def capped_windows(tags: list[tuple[str, str, int]], cap: int) -> set[tuple[str, int]]:
    """(clip, index) of the windows kept when each person may have at most ``cap`` windows.

    ``tags``: (person, clip, window index) of every window. A person over the cap keeps windows
    spread evenly over all of its windows in (clip, index) order, so every clip keeps its share.
    """
    by_person: dict[str, list[tuple[str, int]]] = {}
    for person, clip, index in tags:
        by_person.setdefault(person, []).append((clip, index))
    kept: set[tuple[str, int]] = set()
    for windows in by_person.values():
        windows.sort()
        if cap <= 0 or len(windows) <= cap:
            kept.update(windows)
            continue
        picks = np.unique(np.floor(np.arange(cap) * len(windows) / cap).astype(int))
        kept.update(windows[i] for i in picks)
    return kept


def _training_data(request: TrainRequest, config: PipelineConfig, source_rows: list[dict[str, Any]]) -> _TrainingData:
    """Analyse the videos (cached), check each one's own sync, and cut training and validation
    windows (capped per person) as Ray Datasets."""
    from pipelines.training_pipeline import analyse_videos, video_rows

    rows, rejected = video_rows(source_rows)
    rows = [row for row in rows if video_name(row["video_uri"]) not in request.exclude]
    _, capped = capped_videos([video_name(r["video_uri"]) for r in rows], request.people, request.max_videos_per_person)
    rows = [row for row in rows if video_name(row["video_uri"]) not in set(capped)]
    analysed = analyse_videos(rows, config)
    ok = [row for row in analysed if row.get("status") != "failed"]
    skipped = [{"video": r["video_uri"], "error": r.get("error") or "failed"} for r in analysed if r.get("status") == "failed"]
    skipped += [{"video": r.get("video_uri") or r["item_id"], "error": r.get("error") or "bad catalog row"} for r in rejected]
    if capped:
        log.info("balance: %d videos left out (over %d per person)", len(capped), request.max_videos_per_person)
    decisions = own_sync_decisions(ok, request.sync)
    sync = [{"video": video_name(uri), "person": request.people.get(video_name(uri), video_name(uri)), **d.to_dict()}
            for uri, d in sorted(decisions.items(), key=lambda item: video_name(item[0]))]
    for uri, decision in decisions.items():
        if decision.action == "drop":
            skipped.append({"video": uri, "error": f"dropped: {decision.reason}"})
        elif decision.action == "shift":
            log.info("shifting %s: %s", video_name(uri), decision.reason)
    ok = [row for row in ok if decisions[row["video_uri"]].action != "drop"]
    for entry in skipped:
        log.warning("not training on %s: %s", entry["video"], entry["error"])
    validation = _validation_names(sorted(video_name(row["video_uri"]) for row in ok), request.validation_videos)
    train_rows = [row for row in ok if video_name(row["video_uri"]) not in validation]
    if not train_rows:
        raise ValueError("no usable training video in the catalog: " + "; ".join(f"{s['video']}: {s['error']}" for s in skipped[:5]))
    offsets = {uri: d.offset_s for uri, d in decisions.items()}
    train_ds = windows_dataset(train_rows, request.feature_kind, request.window_stride, offsets, request.people, request.phones)
    tags = [(r["person"], r["clip"], int(r["index"])) for r in train_ds.select_columns(["person", "clip", "index"]).take_all()]
    kept = capped_windows(tags, request.max_windows_per_person)
    per_person: dict[str, dict[str, int]] = {}
    for person, clip, index in tags:
        counts = per_person.setdefault(person, {"windows": 0, "kept": 0})
        counts["windows"] += 1
        counts["kept"] += int((clip, index) in kept)
    if len(kept) < len(tags):
        train_ds = train_ds.filter(lambda r, kept=kept: (r["clip"], int(r["index"])) in kept).materialize()
    train_ds = train_ds.drop_columns(["person", "index"])
    n_windows = len(kept)
    if n_windows == 0:
        raise ValueError("the training videos are too short for one training window (2.56 s with the speaker)")
    datasets = {"train": train_ds}
    if validation:
        val_rows = [row for row in ok if video_name(row["video_uri"]) in validation]
        datasets["validation"] = windows_dataset(val_rows, request.feature_kind, 10**6, offsets, request.people, request.phones).drop_columns(["person", "index"])
    references = np.stack([row["reference"] for row in train_ds.select_columns(["reference"]).take_all()])
    n_features = int(train_ds.take(1)[0]["features"].shape[1])
    return _TrainingData(datasets, sorted(video_name(r["video_uri"]) for r in train_rows), validation, skipped, n_windows,
                         n_features - n_input_features("logmel"), references.mean(axis=0), sync, per_person)


def sync_report(request: TrainRequest, config: PipelineConfig, ray_address: str | None = None) -> list[dict[str, Any]]:
    """What ``lipdub train`` would keep, shift and drop (``--show-dropped``), without training."""
    from pipelines.ray_adapter import ensure_ray
    from pipelines.training_pipeline import analyse_videos, video_rows

    rows, rejected = video_rows(_source_rows(request.catalog_uri))
    kept, _ = capped_videos([video_name(r["video_uri"]) for r in rows], request.people, request.max_videos_per_person)
    ensure_ray(ray_address)
    analysed = analyse_videos([r for r in rows if video_name(r["video_uri"]) in set(kept) - set(request.exclude)], config)
    ok = [row for row in analysed if row.get("status") != "failed"]
    out = [{"video": video_name(r["video_uri"]), "action": "drop", "reason": r.get("error") or "failed"}
           for r in analysed if r.get("status") == "failed"]
    out += [{"video": r.get("video_uri") or r["item_id"], "action": "drop", "reason": r.get("error") or "bad catalog row"}
            for r in rejected]
    for uri, decision in own_sync_decisions(ok, request.sync).items():
        out.append({"video": video_name(uri), "person": request.people.get(video_name(uri), video_name(uri)), **decision.to_dict()})
    return sorted(out, key=lambda entry: entry["video"])


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
    features = {"kind": request.feature_kind, "embedding_dim": data.embedding_dim, "phones": request.phones,
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
        "meta": {"videos": data.videos, "validation_videos": data.validation, "command": request.command,
                 "shifted": {e["video"]: e["offset_ms"] for e in data.sync if e["action"] == "shift"},
                 "dropped": {e["video"]: e["reason"] for e in data.sync if e["action"] == "drop"}},
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
        "sync_policy": request.sync.to_dict(),
        "sync": data.sync,
        "shifted": [e["video"] for e in data.sync if e["action"] == "shift"],
        "dropped": [e["video"] for e in data.sync if e["action"] == "drop"],
        "people": sorted({request.people.get(v, v) for v in data.videos}),
        "max_windows_per_person": request.max_windows_per_person,
        "max_videos_per_person": request.max_videos_per_person,
        "windows_per_person": data.windows_per_person,
        "licences": {v: request.licences[v] for v in data.videos if v in request.licences},
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
