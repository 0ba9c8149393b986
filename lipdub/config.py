"""One typed configuration for the whole pipeline, with a section per stage.

The CLI and the jobs only pick a config and apply overrides; operators receive the section they
need. Resources for every stage live in one table (``StageResources``) that the Ray adapter in
``pipelines/ray_adapter.py`` turns into ``map_batches`` arguments.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from lipdub.api_settings import ApiConfig

# Changed whenever code (not settings) changes what an output video looks like, so that resumed
# and nightly runs redo outputs made before the change; analyses are keyed apart and stay cached.
# 2026-12-07: mouth width follows the speaker's own opening-width coupling (models.motion.WidthCoupling).
# 2026-12-08: pauses rest the mouth at the width the speaker's closed mouth has (models.motion.closed_mouth_width).
# 2026-12-08: the mouth starts moving 0.24 s before speech resumes after a pause (models.speaker_calibration.rest_mouth).
# 2026-12-08: predicted targets pass a 3-tap Hann window (models.motion.smooth_track).
OUTPUT_REVISION = "2026-12-08.smoothed-targets"


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
    # Custom Ray resources (e.g. {"render_node": 1}): pin a stage to a node type of the cluster.
    custom_resources: dict[str, float] | None = None


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
        # One actor holding segments until their item is complete (see operators/gather.py).
        "gather": StageResources(num_cpus=0.1, pool_size=1),
        "assemble": StageResources(num_cpus=0.5, memory_mb=500),
        "qa": StageResources(num_cpus=0.5, memory_mb=800, pool_size=1),
    }


@dataclass(frozen=True)
class EncodeConfig:
    """How outputs are delivered (lipdub/media/delivery.py); the container follows the output's
    extension (.mp4, .mov, .mkv)."""

    # "h264", "h265" or "prores" (ProRes 422 HQ, .mov/.mkv); a catalog's video_codec column wins.
    video_codec: str = "h264"
    crf: int = 18  # H.264/H.265 quality (lower is better); ProRes has none
    preset: str = "veryfast"
    audio_bitrate: int = 192_000  # AAC, per channel of the dub: mono 192 kb/s, stereo 384, 5.1 1152
    # "auto": the dub is copied as it is when its codec fits the container and it is delivered
    # whole (else PCM/FLAC re-encoded losslessly, others AAC); "aac": always AAC.
    audio: str = "auto"
    # Add the source's own audio as a second track, not played by default, with its language tag.
    keep_original_audio: bool = False


@dataclass(frozen=True)
class AnalyzeConfig:
    # Longest side for face detection; Face Mesh always runs on a full-resolution crop.
    detect_max_side: int = 640
    atlas_max_entries: int = 3000
    # Local disk for the full-resolution face regions the analysis keeps for the atlas (one decode).
    # Past this, or past atlas_max_entries regions, it keeps the half the atlas would choose.
    spool_max_mb: int = 2000


@dataclass(frozen=True)
class ListenConfig:
    # The motion model calibrates on at most this much of the source's own speech: half a
    # minute pins a speaker's range and style, and recognition time grows with length.
    calibration_seconds: float = 30.0
    # A wav2vec2 checkpoint directory (save_pretrained: config.json + model.safetensors, local
    # path or fsspec URI) whose embeddings join the speech features; None = log-mel features only.
    wav2vec2_checkpoint: str | None = None


COMPOSITORS = ("auto", "opencv", "torch")


@dataclass(frozen=True)
class RenderConfig:
    segment_seconds: float = 8.0
    fade_frames: int = 4
    # Reversed (bounce) runs are decoded forward and buffered: bound that buffer.
    max_buffered_frames: int = 96
    # Who composites the mouth (lipdub/render/painter.py): "auto" = torch on the GPU when the render
    # stage asks Ray for one (resources.render.num_gpus) and CUDA is there, else OpenCV on the CPU;
    # "opencv"; "torch" (on the stage's GPU, else torch on the CPU). OpenCV and torch outputs agree
    # within 45 dB PSNR in the changed box (about 60 measured), not bit for bit.
    compositor: str = "auto"

    def __post_init__(self) -> None:
        if self.compositor not in COMPOSITORS:
            raise ValueError(f"unknown render.compositor {self.compositor!r}: use one of {', '.join(COMPOSITORS)}")


@dataclass(frozen=True)
class QAConfig:
    """The review gate's thresholds (lipdub/qa/gate.py): an item crossing any needs a person.

    Not part of the output fingerprint: thresholds change the verdict, not the video.
    """

    # Correlation of the output's mouth opening with the dub's loudness at the syllable rate
    # (lipdub.evaluation.metrics.syllable_sync), as shown (zero offset). Real sources with their
    # own speech measure 0.1-0.4 on ../shared/media: this is a floor, not a quality target.
    min_sync_corr: float = 0.2
    # |audio-visual offset| above which the mouth counts as out of sync with the dub, in
    # milliseconds (a frame is 40 ms at 25 fps: one frame passes, two do not) ...
    max_av_offset_ms: float = 60.0
    # Shorter outputs are not judged on sync (a handful of syllables gives no stable correlation):
    # they get one reason, "too short to judge".
    min_sync_seconds: float = 2.0
    # ... judged only where the correlation at that offset beats the one at zero by this much:
    # on short clips the best of 21 offsets is often noise a few hundredths above zero's.
    min_offset_gain: float = 0.1
    min_speaker_found_share: float = 0.5
    min_edited_share: float = 0.5
    # Share of frames in which the output's mouth could be measured at all.
    min_mouth_measured_share: float = 0.5
    # Everything outside the lower face must stay the source's (H.264 at crf 18 gives ~40-45 dB).
    min_outside_psnr_db: float = 35.0
    # Extra edge energy on the blend rim against the source's own (0.1 = 10% more edges; a
    # hard-edged paste 40 levels brighter measures about 0.14, our renders -0.06 to -0.02).
    max_seam_score: float = 0.1
    # Mouth-crop change frame to frame, and landmark jitter, against the source's own.
    max_flicker_ratio: float = 2.0
    max_jitter_ratio: float = 2.5
    # The source's own speech: judged only where its mouth follows its audio at least this well
    # (at the best offset); flagged beyond 125 ms (ITU-R BT.1359's detectability for late sound).
    source_sync_min_corr: float = 0.3
    max_source_av_offset_ms: float = 125.0
    # Audio and video track lengths of the output may differ by at most this.
    max_track_gap_s: float = 0.1
    # True: the render stage measures the frames it composites against their source frames (in
    # parallel, no extra decode) and qa merges that with checks of the written file. False: qa
    # decodes the written output and the source again (as `lipdub qa` does).
    measure_in_render: bool = True


@dataclass(frozen=True)
class PipelineConfig:
    work_root: str = field(default_factory=lambda: os.environ.get("LIPDUB_WORK_ROOT", str(Path.home() / ".cache" / "lipdub" / "work")))
    resources: dict[str, StageResources] = field(default_factory=default_stage_resources)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    analyze: AnalyzeConfig = field(default_factory=AnalyzeConfig)
    listen: ListenConfig = field(default_factory=ListenConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    qa: QAConfig = field(default_factory=QAConfig)
    # The HTTP API's settings (`lipdub serve`); no effect on outputs.
    api: ApiConfig = field(default_factory=ApiConfig)
    # "default" (the learned model of motion_checkpoint, else rules + speaker calibration), "rules",
    # "loudness" (naive baseline) or
    # "oracle:<npy of [opening, width] per output frame>" (evaluation only).
    motion_model: str = "default"
    # Reuse a source's analysis across its dubs (the default). Off: every item analyses afresh
    # (for benchmarks of the cache, or to rule the cache out when debugging).
    analysis_cache: bool = True
    # The learned motion model (a `lipdub train` checkpoint: path, fsspec URI or "builtin:<name>"
    # for one shipped in models/checkpoints/), blended with the calibrated rules; None: rules alone.
    motion_checkpoint: str | None = "builtin:lipdub-motion-v2"

    def with_overrides(self, **changes: object) -> "PipelineConfig":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def output_fingerprint_salt(self) -> str:
        """Every setting that changes an output video: a rerun with other settings redoes items."""
        from lipdub import __version__

        payload = {
            "analyze": asdict(self.analyze),
            "listen": asdict(self.listen),
            # Not the compositor: its two kinds differ by less than a level (see RenderConfig).
            "render": {k: v for k, v in asdict(self.render).items() if k != "compositor"},
            "encode": asdict(self.encode),
            "motion_model": self.motion_model,
            "motion_checkpoint": self.motion_checkpoint,
            # A checkpoint retrained in place is another model: its file stamp is part of the salt.
            "motion_checkpoint_stamp": _checkpoint_stamp(self.motion_checkpoint),
            "version": __version__,
            "output_revision": OUTPUT_REVISION,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def analysis_fingerprint_salt(self) -> str:
        """What invalidates cached analyses: the analysis settings and the code version."""
        from lipdub import __version__

        payload = json.dumps({"analyze": asdict(self.analyze), "version": __version__}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=8)
def _checkpoint_stamp(uri: str | None) -> str | None:
    """Once per process and checkpoint: a run's plan fingerprints every item with it."""
    if not uri:
        return None
    from lipdub.errors import InputError
    from lipdub.fingerprint import input_stamp, uri_sha256
    from lipdub.checkpoint_uri import BUILTIN_PREFIX, resolve_checkpoint_uri

    try:
        path = resolve_checkpoint_uri(uri)
        # A shipped file's mtime differs per clone; its bytes do not.
        return uri_sha256(path) if uri.startswith(BUILTIN_PREFIX) else input_stamp(path)
    except (InputError, FileNotFoundError):
        return "missing"  # the move stage then fails each item, naming the checkpoint


_SECTIONS = {"encode": EncodeConfig, "analyze": AnalyzeConfig, "listen": ListenConfig, "render": RenderConfig,
             "qa": QAConfig, "api": ApiConfig}


def config_from_mapping(data: dict[str, Any], base: PipelineConfig | None = None) -> PipelineConfig:
    """A config from a nested mapping (a YAML/JSON config file): only the keys given change.

    ``resources`` entries are merged per stage, so a cluster file can say just
    ``resources: {render: {num_gpus: 1}}``. Unknown keys are an error, not silently ignored.
    """
    base = base or PipelineConfig()
    known = {f.name for f in fields(PipelineConfig)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown config keys: {sorted(unknown)} (known: {sorted(known)})")
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS:
            changes[key] = replace(getattr(base, key), **dict(value or {}))
        elif key == "resources":
            resources = dict(base.resources)
            for stage, stage_values in (value or {}).items():
                if stage not in resources:
                    raise ValueError(f"unknown stage {stage!r} in resources (stages: {sorted(resources)})")
                resources[stage] = replace(resources[stage], **dict(stage_values or {}))
            changes[key] = resources
        else:
            changes[key] = value
    return replace(base, **changes)


def load_config(uri: str | None, base: PipelineConfig | None = None) -> PipelineConfig:
    """The config in a YAML or JSON file (local or fsspec URI) over the defaults; None -> defaults."""
    if not uri:
        return base or PipelineConfig()
    import yaml

    from lipdub.storage import open_uri

    with open_uri(uri, "rb") as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {uri} must hold a mapping, got {type(data).__name__}")
    return config_from_mapping(data, base)
