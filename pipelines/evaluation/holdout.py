"""`lipdub eval holdout`: the lip-sync quality protocol every change is judged by.

For each clip that has its own speech: cut it into halves; dub the first half's video with the
second half's speech; measure the mouth opening (13-14 / 33-263) and width (78-308 / 33-263) on
the output with Face Mesh; report the Pearson correlation of each with the second half's real
values. Beside it, in the same run: the first half left untouched (about 0 by construction), a
naive loudness -> opening model, and optionally the oracle (the renderer driven by the real
shapes of the second half), which separates renderer error from motion error.
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from lipdub.audio.features import SAMPLE_RATE, frames_at, loudness
from lipdub.config import PipelineConfig
from lipdub.evaluation.metrics import mouth_jitter, pearson
from lipdub.face.analysis import analyze_faces
from lipdub.media.audio_io import load_audio, write_wav
from lipdub.media.mux import mux_segments
from lipdub.media.probe import probe_video
from lipdub.media.video_reader import iter_frames
from lipdub.media.video_writer import VideoWriter
from pipelines.dub_pipeline import run_items
from pipelines.ray_adapter import ensure_ray

log = logging.getLogger(__name__)

MUX_RATE = 48_000


@dataclass
class HalvedClip:
    name: str
    first_video: str  # first half's frames with its own audio
    second_audio: str  # second half's speech: the "dub"
    fps: float
    first_real: np.ndarray  # (n1, 2) real [opening, width] of the first half (NaN where no face)
    second_real: np.ndarray  # (n2, 2) real values of the second half


def measure_mouth(video: str, audio_for_speaker: np.ndarray | None = None) -> np.ndarray:
    """[opening, width] per frame of a video with Face Mesh; NaN where the speaker is not found."""
    info = probe_video(video)
    loud = None if audio_for_speaker is None else frames_at(loudness(audio_for_speaker), info.n_frames, float(info.fps))
    faces = analyze_faces(video, source_loudness=loud)
    return faces.mouth_measurements(missing=np.nan).astype(np.float64)


def halve_clip(clip: str, folder: Path) -> HalvedClip:
    """Write the first half (video + own audio) and the second half's audio; measure both halves."""
    info = probe_video(clip)
    fps = float(info.fps)
    half = info.n_frames // 2
    own_audio_16k = load_audio(clip, sample_rate=SAMPLE_RATE)
    real = measure_mouth(clip, own_audio_16k)
    name = Path(clip).stem
    frames_path = folder / f"{name}_first_frames.mp4"
    width, height = info.display_size
    with VideoWriter(str(frames_path), width, height, info.fps, crf=10, preset="veryfast") as writer:
        for index, frame in enumerate(iter_frames(clip)):
            if index >= half:
                break
            writer.write(frame)
    own_audio = load_audio(clip, sample_rate=MUX_RATE)
    cut = int(round(half / fps * MUX_RATE))
    first_video = folder / f"{name}_first.mp4"
    mux_segments([str(frames_path)], own_audio[:cut], MUX_RATE, str(first_video))
    second_audio = folder / f"{name}_second.wav"
    write_wav(str(second_audio), own_audio[cut:], MUX_RATE)
    return HalvedClip(name, str(first_video), str(second_audio), fps, real[:half], real[half:])


def correlations(measured: np.ndarray, real: np.ndarray) -> dict[str, float]:
    n = min(len(measured), len(real))
    return {"opening": pearson(measured[:n, 0], real[:n, 0]), "width": pearson(measured[:n, 1], real[:n, 1])}


def jitter_ratio(measured: np.ndarray, real: np.ndarray) -> float:
    """Mean absolute frame-to-frame change of the measured opening over the real one's (1.0: as
    jittery as the real mouth; above: shakier)."""
    n = min(len(measured), len(real))
    real_jitter = mouth_jitter(real[:n, 0])
    return mouth_jitter(measured[:n, 0]) / real_jitter if real_jitter > 0 else float("nan")


def _dub_variant(
    clips: list[HalvedClip], folder: Path, config: PipelineConfig, variant: str, checkpoints: dict[str, str] | None = None,
    label: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Dub every clip's first half with its second half's speech (one catalog run), then measure.

    Variant "learned" dubs each clip with its own checkpoint from ``checkpoints`` (leave-one-out).
    ``label`` names the output files (default: the variant), so several learned runs can share a folder.
    Figures per clip: opening and width r, jitter ratio (output vs the real second half) and the
    QA stage's PSNR outside the lower face against the source.
    """
    rows = []
    for clip in clips:
        row = {
            "item_id": clip.name,
            "video_uri": clip.first_video,
            "audio_uri": clip.second_audio,
            "output_uri": str(folder / f"{clip.name}_{label or variant}.mp4"),
        }
        if variant == "oracle":
            targets = folder / f"{clip.name}_oracle.npy"
            np.save(targets, clip.second_real.astype(np.float32))
            row["motion_targets_uri"] = str(targets)
        if variant == "learned":
            row["motion_checkpoint"] = (checkpoints or {})[clip.name]
        rows.append(row)
    # "rules", "oracle" and "learned" all run the default motion model: without a checkpoint
    # (the base config has none) that is the calibrated rules; oracle and learned rows override it.
    model = "default" if variant in ("rules", "oracle", "learned") else variant
    results = {row["item_id"]: row for row in run_items(rows, config.with_overrides(motion_model=model))}
    figures: dict[str, dict[str, Any]] = {}
    for clip in clips:
        result = results[clip.name]
        if result["status"] != "ok":
            figures[clip.name] = {"status": "failed", "error": result["error"]}
            continue
        measured = measure_mouth(result["output_uri"], load_audio(clip.second_audio, sample_rate=SAMPLE_RATE))
        figures[clip.name] = {"status": "ok", **correlations(measured, clip.second_real),
                              "jitter_ratio": jitter_ratio(measured, clip.second_real),
                              "outside_psnr_db": result.get("qa_outside_psnr_db"), "output": result["output_uri"]}
    return figures


def protocol_config(base_config: PipelineConfig | None, work_root: str | None) -> PipelineConfig:
    """The settings the protocol dubs with: the given ones (default: lipdub's) without a checkpoint
    (each variant names its own: "rules" must be the rules model, and a checkpoint trained on these
    very clips would not be a hold-out figure), encoded at crf 12 so the encoder blurs little of
    the mouth that is then measured."""
    base = replace(base_config or PipelineConfig(), motion_checkpoint=None)
    return base.with_overrides(work_root=work_root, encode=replace(base.encode, crf=12))


def run_holdout(
    clips: list[str],
    *,
    oracle_motion: bool = False,
    work_root: str | None = None,
    out_dir: str | None = None,
    checkpoints: dict[str, str] | None = None,
    base_config: PipelineConfig | None = None,
) -> dict[str, Any]:
    """Run the protocol over clips; returns per-clip figures and means per variant.

    ``checkpoints`` (clip name -> learned model) adds the "learned" variant; "rules" is the
    rules model with speaker calibration (no checkpoint), measured in the same run.
    """
    base = protocol_config(base_config, work_root)
    ensure_ray()
    folder = Path(out_dir or tempfile.mkdtemp(prefix="lipdub-holdout-"))
    folder.mkdir(parents=True, exist_ok=True)
    variants = ["rules", "loudness"] + (["learned"] if checkpoints else []) + (["oracle"] if oracle_motion else [])
    halves = [halve_clip(clip_path, folder) for clip_path in clips]
    per_clip: dict[str, dict[str, Any]] = {h.name: {"untouched": correlations(h.first_real, h.second_real)} for h in halves}
    for variant in variants:
        for name, figures in _dub_variant(halves, folder, base, variant, checkpoints).items():
            per_clip[name][variant] = figures
    means = {}
    for variant in ["untouched"] + variants:
        for metric in ("opening", "width"):
            values = [per_clip[c][variant].get(metric) for c in per_clip]
            finite = [v for v in values if v is not None and np.isfinite(v)]
            means[f"{variant}_{metric}"] = float(np.mean(finite)) if finite else float("nan")
    log.info("hold-out means: %s", means)
    return {"clips": per_clip, "mean": means, "outputs": str(folder)}
