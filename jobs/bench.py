"""`lipdub bench`: end-to-end speed against the physical floor, measured in one run.

Builds a 1280x720 25 fps talking-head clip of the requested length (from ../shared/media when
present, otherwise from the project's own animated face photo and synthesized speech), then times
(1) a plain decode + libx264 re-encode of the same frames with the dub muxed, and (2) the full
`lipdub dub` pipeline including Ray start-up, and reports both, their ratio, frames per second and
each stage's share of the pipeline's time.
"""
from __future__ import annotations

import logging
import os
import resource
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from jobs.machine_cpu import MachineCpu, TreeCpu
from jobs.tree_memory import PeakTreeMemory
from lipdub.config import PipelineConfig
from lipdub.item_row import STAGES
from lipdub.media.audio_io import load_audio, write_wav
from lipdub.media.mux import mux_segments
from lipdub.media.probe import probe_video
from lipdub.media.video_reader import iter_frames
from lipdub.media.video_writer import VideoWriter
from lipdub.timeline import bounce_indices

log = logging.getLogger(__name__)

BENCH_SIZE = (1280, 720)
BENCH_FPS = Fraction(25)
AUDIO_RATE = 48_000


def _letterbox(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale a frame to the canvas height and centre it on a blurred, stretched copy of itself."""
    width, height = size
    scale = height / frame.shape[0]
    inner = cv2.resize(frame, (round(frame.shape[1] * scale), height), interpolation=cv2.INTER_CUBIC)
    canvas = cv2.GaussianBlur(cv2.resize(frame, (width // 8, height // 8)), (0, 0), 3)
    canvas = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_LINEAR)
    x0 = (width - inner.shape[1]) // 2
    canvas[:, x0 : x0 + inner.shape[1]] = inner
    return canvas


def build_bench_clip(folder: Path, seconds: float, shared_media: Path | None) -> tuple[Path, Path]:
    """A 1280x720 25 fps source with its own speech, and a dub of the same length."""
    folder.mkdir(parents=True, exist_ok=True)
    n_frames = int(round(seconds * float(BENCH_FPS)))
    frames_only = folder / "bench_frames.mp4"
    if shared_media is not None and (shared_media / "clips" / "gen_05.mp4").exists():
        clip = shared_media / "clips" / "gen_05.mp4"
        frames = list(iter_frames(str(clip)))
        own_audio = load_audio(str(clip), sample_rate=AUDIO_RATE)
        order = bounce_indices(len(frames), n_frames)
        with VideoWriter(str(frames_only), *BENCH_SIZE, BENCH_FPS, crf=18) as writer:
            for index in order:
                writer.write(_letterbox(frames[index], BENCH_SIZE))
        own, own_rate = np.resize(own_audio, int(seconds * AUDIO_RATE)), AUDIO_RATE
        dub_source = shared_media / "dub_audio" / "en_long_60s.wav"
        dub = np.resize(load_audio(str(dub_source), sample_rate=AUDIO_RATE), int(seconds * AUDIO_RATE))
    else:
        from jobs.demo import speech_openings
        from lipdub.demo.speech import random_syllables, synthesize_speech
        from lipdub.demo.face import make_talking_face_video

        own_speech = synthesize_speech(random_syllables(seed=3, duration_s=seconds), seed=3, sample_rate=16_000)
        openings = speech_openings(own_speech.samples, n_frames, float(BENCH_FPS))
        make_talking_face_video(str(frames_only), seconds=seconds, fps=int(BENCH_FPS), openings=openings, size=BENCH_SIZE, seed=3)
        own, own_rate = own_speech.samples, 16_000
        dub = synthesize_speech(random_syllables(seed=4, duration_s=seconds), seed=4, sample_rate=AUDIO_RATE).samples
    source = folder / "bench_source.mp4"
    mux_segments([str(frames_only)], own, own_rate, str(source))
    frames_only.unlink()
    dub_path = folder / "bench_dub.wav"
    write_wav(str(dub_path), dub, AUDIO_RATE)
    return source, dub_path


def plain_reencode(source: Path, dub: Path, out: Path, crf: int = 18, preset: str = "veryfast") -> float:
    """The floor: decode every frame, re-encode with libx264, mux the dub. Returns seconds."""
    started = time.perf_counter()
    info = probe_video(str(source))
    frames_path = out.with_suffix(".frames.mp4")
    width, height = info.display_size
    with VideoWriter(str(frames_path), width, height, info.fps, crf=crf, preset=preset, rotation=info.rotation) as writer:
        for frame in iter_frames(str(source)):
            writer.write(frame)
    mux_segments([str(frames_path)], load_audio(str(dub), sample_rate=AUDIO_RATE), AUDIO_RATE, str(out))
    frames_path.unlink()
    return time.perf_counter() - started


def timed_dub(source: Path, dub: Path, folder: Path, memory: PeakTreeMemory) -> tuple[dict[str, Any], float, PeakTreeMemory]:
    """Run ``lipdub dub`` (Ray start-up included) with the process tree's memory sampled alongside
    by ``memory``. Returns the result row, the seconds it took and the memory peaks."""
    from jobs.dub_one import dub_one

    started = time.perf_counter()
    with memory:
        result = dub_one(video=str(source), audio=str(dub), output=str(folder / "dubbed.mp4"), work_root=str(folder / "work"), config=PipelineConfig())
    seconds = time.perf_counter() - started
    if result["status"] != "ok":
        raise RuntimeError(f"bench dub failed: {result['error']}")
    return result, seconds, memory


def run_bench(seconds: float = 60.0, shared_media: Path | None = None, folder: Path | None = None,
              warm: bool = False) -> dict[str, Any]:
    """Cold: ``lipdub dub`` of the clip, Ray's start-up included, against a plain re-encode in
    the same run. ``warm``: then the clip again through stages already up (`jobs.bench_warm`)."""
    folder = folder or Path(tempfile.mkdtemp(prefix="lipdub-bench-"))
    source, dub = build_bench_clip(folder, seconds, shared_media)
    n_frames = probe_video(str(source)).n_frames
    with MachineCpu() as plain_cpu:
        baseline_s = plain_reencode(source, dub, folder / "plain.mp4")
    with MachineCpu() as pipeline_cpu, TreeCpu() as tree_cpu:
        # RSS only, every 2 s: PSS sampling would slow the pipeline it times (see PeakTreeMemory);
        # `lipdub bench-memory` measures memory properly.
        result, pipeline_s, memory = timed_dub(source, dub, folder, PeakTreeMemory(interval_s=2.0, pss=False))
    warm_figures: dict[str, Any] = {}
    if warm:
        from jobs.bench_warm import warm_dub_seconds

        # 5 s (4 s if the bench clip is 5 s): another file, so the timed clip is analysed afresh.
        warmup = build_bench_clip(folder / "warmup", 5.0 if seconds != 5.0 else 4.0, shared_media)
        warm_figures = warm_dub_seconds(source, dub, warmup, folder)
        warm_figures["warm_ratio"] = warm_figures["warm_s"] / baseline_s
    stage_seconds = {stage: float(result.get(f"seconds_{stage}") or 0.0) for stage in STAGES}
    stage_cpu = {stage: float(result.get(f"cpu_seconds_{stage}") or 0.0) for stage in STAGES}
    total_stage = sum(stage_seconds.values()) or 1.0
    cores = os.cpu_count() or 1
    return {
        "frames": n_frames,
        "size": f"{BENCH_SIZE[0]}x{BENCH_SIZE[1]}",
        "plain_reencode_s": baseline_s,
        "pipeline_s": pipeline_s,
        "ratio": pipeline_s / baseline_s,
        "pipeline_fps": n_frames / pipeline_s,
        "plain_fps": n_frames / baseline_s,
        "realtime_factor": (n_frames / float(BENCH_FPS)) / pipeline_s,
        "stage_seconds": stage_seconds,
        "stage_share": {stage: seconds / total_stage for stage, seconds in stage_seconds.items()},
        # CPU seconds of each stage's process (all its threads), summed over segments.
        "stage_cpu_seconds": stage_cpu,
        # Core-seconds the whole machine was busy during each run, and the share of all cores.
        "cores": cores,
        "plain_busy_core_s": plain_cpu.busy_seconds,
        "pipeline_busy_core_s": pipeline_cpu.busy_seconds,
        "plain_busy_share": plain_cpu.busy_share,
        "pipeline_busy_share": pipeline_cpu.busy_share,
        # The pipeline's core-seconds by process: the driver, the actors, the task workers
        # (render, listen alongside analysis, probe, segment, assemble) and Ray's own processes.
        # An actor's or worker's CPU beyond its stages' is its start-up (imports, models).
        "pipeline_core_s_by_process": tree_cpu.by_group,
        # The ratio the pipeline would reach with every core busy all the time: below it only
        # less work helps, not more overlap.
        "ratio_if_all_cores_busy": pipeline_cpu.busy_seconds / (cores * baseline_s),
        "driver_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        # Driver + Ray's processes (raylet, workers, actors), RSS summed, sampled every 2 s.
        "pipeline_peak_tree_rss_mb": memory.mib if PeakTreeMemory.supported() else None,
        "folder": str(folder),
        **warm_figures,
    }
