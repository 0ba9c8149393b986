"""`lipdub bench-render`: the render stage alone, per compositor and device, in one run.

For the bench clip (1280x720, 25 fps; jobs/bench.py) the stages before render run once, directly
(probe, analyze, listen, move, segment: no Ray), so every timed variant renders the same plan.
Each variant is timed twice:
- ``composite``: the compositor over frames already decoded into memory (the part a GPU can take;
  decode and encode stay on the CPU);
- ``stage``: the whole render stage on one segment holding every frame (decode, composite, the
  in-render QA measurement, encode), as the pipeline runs it.
Variants: OpenCV on the CPU (the default), torch on the CPU, and torch on CUDA where torch sees
a GPU. Output frames per second for each, the torch variants' ratio to OpenCV, and the machine.
"""
from __future__ import annotations

import logging
import os
import platform
import tempfile
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from jobs.bench import build_bench_clip
from lipdub.config import PipelineConfig, RenderConfig, StageResources
from lipdub.item_row import empty_row

log = logging.getLogger(__name__)


def _stage_rows(source: Path, dub: Path, config: PipelineConfig, out: Path) -> list[dict[str, Any]]:
    """The render stage's input rows for the clip: the stages before it, run in this process."""
    from operators.analyze import AnalyzeOperator
    from operators.listen import ListenOperator
    from operators.move import MoveOperator
    from operators.probe import ProbeOperator
    from operators.segment import SegmentOperator

    rows = [empty_row(item_id="bench/render", video_uri=str(source), audio_uri=str(dub), output_uri=str(out))]
    for operator in (ProbeOperator, AnalyzeOperator, ListenOperator, MoveOperator, SegmentOperator):
        rows = [result for row in rows for result in operator(config).run_row(row)]
        failed = [row for row in rows if row["status"] != "pending"]
        if failed:
            raise RuntimeError(f"{operator.name} failed: {failed[0]['error']}")
    return rows


def _variants() -> list[tuple[str, str, float]]:
    """(label, compositor, GPUs asked for) of each variant this machine can run."""
    import torch

    variants = [("opencv-cpu", "opencv", 0.0), ("torch-cpu", "torch", 0.0)]
    if torch.cuda.is_available():
        variants.append(("torch-cuda", "torch", 1.0))
    return variants


def _config_for(base: PipelineConfig, compositor: str, gpus: float) -> PipelineConfig:
    resources = dict(base.resources, render=replace(base.resources["render"], num_gpus=gpus))
    return replace(base, resources=resources, render=replace(base.render, compositor=compositor))


def _time_composite(row: dict[str, Any], config: PipelineConfig) -> tuple[float, int]:
    """Seconds the compositor takes over the segment's frames (decoded beforehand), and frames."""
    from lipdub.render.atlas import MouthAtlas
    from lipdub.render.plan import RenderPlan
    from lipdub.render.renderer import MouthCompositor
    from lipdub.render.source_frames import frames_for_timeline
    from lipdub.work_store import fetch_member
    from operators.render import RenderOperator

    plan = RenderPlan.from_npz(row["plan_uri"])
    atlas = MouthAtlas(str(fetch_member(row["atlas_uri"])))
    start, stop = int(row["segment_start"]), int(row["segment_stop"])
    fps = Fraction(row["fps_num"], row["fps_den"])
    # Decoded beforehand, in output order, so only the compositor is timed.
    frames = list(frames_for_timeline(row["video_uri"], plan.source_index[start:stop], fps, config.render.max_buffered_frames))
    operator = RenderOperator(config)
    operator.setup()
    compositor = MouthCompositor(atlas, plan, painter=operator.painter(atlas))
    compositor.render(start, frames[0])  # warm-up: crops to the device, kernels
    synchronise = _synchroniser(config)
    started = time.perf_counter()
    for t, frame in zip(range(start, stop), frames):
        compositor.render(t, frame)
    synchronise()
    return time.perf_counter() - started, stop - start


def _synchroniser(config: PipelineConfig):
    if config.resources["render"].num_gpus > 0:
        import torch

        return torch.cuda.synchronize
    return lambda: None


def _time_stage(row: dict[str, Any], config: PipelineConfig, folder: Path, label: str) -> float:
    from operators.render import RenderOperator

    segment = dict(row, segment_uri=str(folder / f"segment-{label}.mp4"))
    started = time.perf_counter()
    (result,) = RenderOperator(config).run_row(segment)
    if result["status"] != "pending":
        raise RuntimeError(f"render ({label}) failed: {result['error']}")
    return time.perf_counter() - started


def machine() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "torch": torch.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def run_render_bench(seconds: float, shared_media: Path | None, out_dir: Path | None, render_cpus: float = 1.0) -> dict[str, Any]:
    folder = Path(out_dir or tempfile.mkdtemp(prefix="lipdub-bench-render-"))
    source, dub = build_bench_clip(folder / "clip", seconds, shared_media)
    base = PipelineConfig(work_root=str(folder / "work"), render=RenderConfig(segment_seconds=seconds + 60.0))
    base = replace(base, resources=dict(base.resources, render=StageResources(num_cpus=render_cpus, memory_mb=1500)))
    (row,) = _stage_rows(source, dub, base, folder / "out.mp4")
    report: dict[str, Any] = {"clip_seconds": seconds, "frames": int(row["segment_stop"]) - int(row["segment_start"]),
                              "render_cpus": render_cpus, "machine": machine(), "variants": {}}
    for label, compositor, gpus in _variants():
        config = _config_for(base, compositor, gpus)
        composite_s, frames = _time_composite(row, config)
        stage_s = _time_stage(row, config, folder, label)
        report["variants"][label] = {"composite_fps": frames / composite_s, "composite_ms_per_frame": 1000 * composite_s / frames,
                                     "stage_fps": frames / stage_s, "stage_seconds": stage_s}
        log.info("%s: composite %.1f fps, render stage %.1f fps", label, frames / composite_s, frames / stage_s)
    opencv = report["variants"]["opencv-cpu"]
    for label, figures in report["variants"].items():
        figures["composite_vs_opencv"] = figures["composite_fps"] / opencv["composite_fps"]
        figures["stage_vs_opencv"] = figures["stage_fps"] / opencv["stage_fps"]
    report["frames_kept_in"] = str(folder)
    return report
