"""One typed configuration for the whole pipeline, with a section per stage.

The CLI and the jobs only pick a config and apply overrides; operators receive the section they
need. Resources for every stage live in one table (``StageResources``) that the Ray adapter in
``pipelines/ray_adapter.py`` turns into ``map_batches`` arguments.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path


@dataclass(frozen=True)
class StageResources:
    """What one operator asks Ray for.

    ``pool_size`` None runs the stage as tasks; a number runs it on an actor pool of that size
    (model-holding stages load their models once per actor).
    """

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory_mb: int | None = None
    pool_size: int | None = None
    max_pool_size: int | None = None


def default_stage_resources() -> dict[str, StageResources]:
    # Fractional CPUs keep every stage schedulable on a 2-core laptop (an actor pool holding whole
    # CPUs can starve the read and task stages there); on a cluster raise them in a config file.
    return {
        "probe": StageResources(num_cpus=0.25),
        "analyze": StageResources(num_cpus=1.0, memory_mb=1500, pool_size=1),
        "listen": StageResources(num_cpus=0.5, memory_mb=1000, pool_size=1),
        "move": StageResources(num_cpus=0.5, memory_mb=500, pool_size=1),
        "segment": StageResources(num_cpus=0.1),
        "render": StageResources(num_cpus=1.0, memory_mb=1500),
        "assemble": StageResources(num_cpus=0.5, memory_mb=500),
        "qa": StageResources(num_cpus=0.5, memory_mb=800, pool_size=1),
    }


@dataclass(frozen=True)
class EncodeConfig:
    crf: int = 18
    preset: str = "veryfast"
    audio_bitrate: int = 128_000


@dataclass(frozen=True)
class AnalyzeConfig:
    # Longest side for face detection; Face Mesh always runs on a full-resolution crop.
    detect_max_side: int = 640
    atlas_max_entries: int = 3000


@dataclass(frozen=True)
class ListenConfig:
    # The motion model calibrates on at most this much of the source's own speech: half a
    # minute pins a speaker's range and style, and recognition time grows with length.
    calibration_seconds: float = 30.0


@dataclass(frozen=True)
class RenderConfig:
    segment_seconds: float = 8.0
    fade_frames: int = 4
    # Reversed (bounce) runs are decoded forward and buffered: bound that buffer.
    max_buffered_frames: int = 96


@dataclass(frozen=True)
class PipelineConfig:
    work_root: str = field(default_factory=lambda: os.environ.get("LIPDUB_WORK_ROOT", str(Path.home() / ".cache" / "lipdub" / "work")))
    resources: dict[str, StageResources] = field(default_factory=default_stage_resources)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    analyze: AnalyzeConfig = field(default_factory=AnalyzeConfig)
    listen: ListenConfig = field(default_factory=ListenConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    # "default" (rules + speaker calibration), "rules", "loudness" (naive baseline) or
    # "oracle:<npy of [opening, width] per output frame>" (evaluation only).
    motion_model: str = "default"
    motion_checkpoint: str | None = None

    def with_overrides(self, **changes: object) -> "PipelineConfig":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def analysis_fingerprint_salt(self) -> str:
        """What invalidates cached analyses: the analysis settings and the code version."""
        from lipdub import __version__

        payload = json.dumps({"analyze": asdict(self.analyze), "version": __version__}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
