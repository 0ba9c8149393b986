"""`lipdub bench-memory`: does memory stay flat as videos get longer? Measured in one run.

Dubs a short and a long 1280x720 clip (built like `lipdub bench`'s) one after the other, each on a
fresh local Ray, and reports the peak memory of the whole process tree (driver, raylet, workers,
actors) for both and their ratio. Streaming means the long clip should need little more than the
short one (issue 8: at most 1.5x for 10 minutes against 1 minute).
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from jobs.bench import build_bench_clip, timed_dub
from jobs.tree_memory import PeakTreeMemory

log = logging.getLogger(__name__)

TARGET_RATIO = 1.5


def _measure(seconds: float, shared_media: Path | None, folder: Path) -> dict[str, Any]:
    import ray

    source, dub = build_bench_clip(folder, seconds, shared_media)
    try:
        result, pipeline_s, memory = timed_dub(source, dub, folder, PeakTreeMemory(interval_s=0.5, pss=True))
    finally:
        ray.shutdown()  # the next clip starts from a fresh tree, not from warm workers
    log.info("%.0f s clip: %.1f s, peak tree PSS %.0f MiB, RSS %.0f MiB", seconds, pipeline_s, memory.pss_mib, memory.mib)
    return {
        "clip_seconds": seconds,
        "pipeline_s": pipeline_s,
        "peak_tree_pss_mib": memory.pss_mib,
        "peak_tree_rss_mib": memory.mib,
        "edited_frames": result.get("edited_frames"),
    }


def run_memory_bench(short_s: float = 60.0, long_s: float = 600.0, shared_media: Path | None = None, folder: Path | None = None) -> dict[str, Any]:
    if not PeakTreeMemory.supported():
        raise RuntimeError("bench-memory reads /proc: it needs Linux")
    folder = folder or Path(tempfile.mkdtemp(prefix="lipdub-bench-memory-"))
    short = _measure(short_s, shared_media, folder / f"{short_s:g}s")
    long = _measure(long_s, shared_media, folder / f"{long_s:g}s")
    pss_ratio = long["peak_tree_pss_mib"] / short["peak_tree_pss_mib"]
    return {
        "short": short,
        "long": long,
        # PSS counts each shared page once (the fair figure); RSS summed per process is an upper bound.
        "pss_ratio": pss_ratio,
        "rss_ratio": long["peak_tree_rss_mib"] / short["peak_tree_rss_mib"],
        "target_ratio": TARGET_RATIO,
        "meets_target": pss_ratio <= TARGET_RATIO,
        "folder": str(folder),
    }
