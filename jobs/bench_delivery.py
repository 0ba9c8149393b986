"""`lipdub bench-delivery`: what each delivery format costs, as ratios measured in one run.

For the bench clip (1280x720, 25 fps; lipdub/jobs/bench.py), each format is timed twice:
- transcode: decode every frame, encode it in the format, write the output with the dub (what
  the format changes in the pipeline: the render's encoder and the mux), against the plain
  H.264 .mp4 transcode timed in the same run;
- dub (``full``): the whole `lipdub dub` in that format (Ray start-up and analysis included,
  each in its own work root), against the H.264 .mp4 dub; a first, discarded dub warms the
  machine (file cache, model loading), and the baseline runs first and last, its mean the base.
Also the output's size in MB per minute.
"""
from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from jobs.bench import build_bench_clip
from lipdub.config import PipelineConfig
from lipdub.media.output_file import write_output
from lipdub.media.probe import probe_video
from lipdub.media.video_reader import iter_frames
from lipdub.media.video_writer import VideoWriter

log = logging.getLogger(__name__)

#: (label, video codec, container) in the order reported; the first is the baseline.
FORMATS = (("h264-mp4", "h264", ".mp4"), ("h265-mp4", "h265", ".mp4"), ("prores-mov", "prores", ".mov"), ("h264-mkv", "h264", ".mkv"))


def transcode(source: Path, dub: Path, out: Path, codec: str) -> float:
    """Decode, encode in `codec` with the source's picture format, write with the dub. Seconds."""
    started = time.perf_counter()
    info = probe_video(str(source))
    frames = out.with_name(out.stem + (".frames.mov" if codec == "prores" else ".frames.mp4"))
    width, height = info.display_size
    with VideoWriter(str(frames), width, height, info.fps, rotation=info.rotation, codec=codec, picture=info.picture) as writer:
        for frame in iter_frames(str(source)):
            writer.write(frame)
    write_output([str(frames)], str(dub), str(out), language="en", whole_dub=False)
    frames.unlink()
    return time.perf_counter() - started


def full_dub(source: Path, dub: Path, out: Path, codec: str, work: Path) -> float:
    from dataclasses import replace

    from jobs.dub_one import dub_one

    config = PipelineConfig()
    config = replace(config, encode=replace(config.encode, video_codec=codec))
    started = time.perf_counter()
    result = dub_one(video=str(source), audio=str(dub), output=str(out), work_root=str(work), config=config, language="en")
    if result["status"] != "ok":
        raise RuntimeError(f"{codec} dub failed: {result['error']}")
    return time.perf_counter() - started


def run_delivery_bench(seconds: float, shared_media: Path | None, folder: Path | None, full: bool) -> dict[str, Any]:
    folder = folder or Path(tempfile.mkdtemp(prefix="lipdub-bench-delivery-"))
    source, dub = build_bench_clip(folder / "clip", seconds, shared_media)
    report: dict[str, Any] = {"seconds": seconds, "size": "1280x720", "formats": {}}
    if full:
        full_dub(source, dub, folder / "warm-up.mp4", "h264", folder / "work-warm-up")
    for label, codec, suffix in FORMATS:
        out = folder / f"transcode-{label}{suffix}"
        figures: dict[str, Any] = {"transcode_s": transcode(source, dub, out, codec)}
        figures["mb_per_minute"] = out.stat().st_size / 1e6 / (seconds / 60)
        if full:
            figures["dub_s"] = full_dub(source, dub, folder / f"dub-{label}{suffix}", codec, folder / f"work-{label}")
        report["formats"][label] = figures
        log.info("%s: %s", label, figures)
    base = report["formats"][FORMATS[0][0]]
    if full:  # the baseline again, last: drift over the run shows as the two differing
        base["dub_s_again"] = full_dub(source, dub, folder / "dub-again.mp4", "h264", folder / "work-again")
        base["dub_s"] = (base["dub_s"] + base["dub_s_again"]) / 2
    for figures in report["formats"].values():
        figures["transcode_ratio"] = figures["transcode_s"] / base["transcode_s"]
        if full:
            figures["dub_ratio"] = figures["dub_s"] / base["dub_s"]
    report["folder"] = str(folder)
    return report
