"""`lipdub bench --warm`: the same clip through stages that are already up (issue 20's warm case).

A running `lipdub serve` keeps one Ray Data execution whose stage actors have their models loaded
(`pipelines.warm_pipeline.WarmPipeline`). This measures what a new item costs there: Ray is up,
a short warm-up clip has gone through every stage, then the bench clip is submitted with an
empty work root of its own (no cached analysis) and timed from submit to its result row.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import ray

from lipdub.config import PipelineConfig
from pipelines.ray_adapter import ensure_ray
from pipelines.warm_pipeline import WarmPipeline


def _through(warm: Any, row: dict[str, Any], timeout_s: float = 3600.0) -> tuple[dict[str, Any], float]:
    """Submit one row to the warm pipeline; its result row and the seconds to it."""
    started = time.perf_counter()
    ray.get(warm.submit.remote([row]))
    deadline = started + timeout_s
    while time.perf_counter() < deadline:
        arrived = ray.get(warm.results.remote([row["item_id"]], 1.0))
        if arrived:
            return arrived[0], time.perf_counter() - started
    raise TimeoutError(f"{row['item_id']}: no result from the warm pipeline in {timeout_s:.0f} s")


def warm_dub_seconds(source: Path, dub: Path, warmup: tuple[Path, Path], folder: Path) -> dict[str, Any]:
    """Seconds from submit to result for ``source`` + ``dub`` on stages warmed by ``warmup`` first.

    Both items get their own output and are analysed from scratch (the work root is new and the
    warm-up is a different clip), so only start-up is saved, not work.
    """
    ensure_ray()
    config = PipelineConfig().with_overrides(work_root=str(folder / "warm_work"))
    warm = WarmPipeline.remote(config)
    try:
        first, first_s = _through(warm, {"item_id": "warmup", "video_uri": str(warmup[0]), "audio_uri": str(warmup[1]),
                                         "output_uri": str(folder / "warm_warmup.mp4")})
        if first["status"] != "ok":
            raise RuntimeError(f"warm-up dub failed: {first['error']}")
        result, seconds = _through(warm, {"item_id": "bench", "video_uri": str(source), "audio_uri": str(dub),
                                          "output_uri": str(folder / "warm_dubbed.mp4")})
        if result["status"] != "ok":
            raise RuntimeError(f"warm bench dub failed: {result['error']}")
        executions = ray.get(warm.stats.remote())["executions"]
    finally:
        ray.get(warm.close.remote())
        ray.kill(warm)
    stage_cpu = {key.removeprefix("cpu_seconds_"): float(value or 0.0) for key, value in result.items()
                 if key.startswith("cpu_seconds_")}
    return {"warm_s": seconds, "warmup_s": first_s, "executions": executions,
            "warm_analysis_cached": bool(result.get("analysis_cached")), "warm_stage_cpu_seconds": stage_cpu}
