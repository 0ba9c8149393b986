"""`lipdub bench-catalog`: catalog throughput, the analysis cache's saving, and CPU scaling.

On ../shared/media (its catalog.csv turned into a Parquet catalog) this runs:

1. the whole catalog as one catalog run: output frames per second, items per hour and each
   stage's share of the time;
2. one source dubbed into three languages, twice: with the analysis cache (analysed once) and
   with it turned off (analysed three times), in fresh work stores: the wall-time saving;
3. optionally (``--cpus 1,4,8,16``) the catalog again with the whole job confined to that many
   cores (CPU affinity, inherited by every Ray process) to show scaling.

Each measurement starts its own local Ray (start-up is part of what a user waits for), in a
subprocess so CPU affinity and Ray's resources can differ between runs.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lipdub.catalog import write_catalog
from pipelines.evaluation.shared_media import shared_catalog_rows

log = logging.getLogger(__name__)

CACHE_SOURCE = "gen_09"
CACHE_DUBS = (("de", "dub_audio/de_01.wav"), ("fr", "dub_audio/fr_01.wav"), ("ja", "dub_audio/ja_01.wav"))


def cache_catalog_rows(shared_media: Path) -> list[dict[str, str]]:
    video = str(shared_media / "clips" / f"{CACHE_SOURCE}.mp4")
    return [
        {"item_id": f"{CACHE_SOURCE}-{language}", "video_uri": video, "audio_uri": str(shared_media / dub), "language": language}
        for language, dub in CACHE_DUBS
    ]


def timed_catalog_run(catalog: Path, folder: Path, *, cpus: int | None = None, config_file: Path | None = None) -> dict[str, Any]:
    """One catalog run in a fresh process (fresh Ray, fresh work store); its summary plus wall time."""
    script = (
        "import json, os, sys\n"
        "cpus = int(sys.argv[3]) if sys.argv[3] != '0' else None\n"
        "if cpus: os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cpus]))\n"
        "from jobs.logging_setup import setup_logging\n"
        "from lipdub.config import load_config\n"
        "from pipelines.ray_adapter import ensure_ray\n"
        "from pipelines.catalog_run import run_catalog\n"
        "setup_logging(False)\n"
        # Logical CPUs: the cores given plus room for the mostly idle actor pools (see ensure_ray).
        "ensure_ray(num_cpus=(cpus + 3) if cpus else None)\n"
        "config = load_config(sys.argv[4] or None).with_overrides(work_root=sys.argv[2] + '/work')\n"
        "summary = run_catalog(sys.argv[1], output_root=sys.argv[2] + '/out', config=config)\n"
        "print('SUMMARY ' + summary.to_json().replace(chr(10), ' '))\n"
    )
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    process = subprocess.run(
        [sys.executable, "-c", script, str(catalog), str(folder), str(cpus or 0), str(config_file or "")],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    lines = [line for line in process.stdout.splitlines() if line.startswith("SUMMARY ")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"catalog run failed (exit {process.returncode}): {process.stderr[-2000:]}")
    summary = json.loads(lines[-1].removeprefix("SUMMARY "))
    summary["process_wall_seconds"] = round(wall, 2)
    return summary


def _figures(summary: dict[str, Any]) -> dict[str, Any]:
    wall = summary["process_wall_seconds"]
    processed = summary["ok"] + summary["failed"]
    return {
        "items": summary["items"],
        "ok": summary["ok"],
        "failed": summary["failed"],
        "wall_seconds": wall,
        "output_frames": summary["output_frames"],
        "output_fps": round(summary["output_frames"] / wall, 2),
        "items_per_hour": round(3600 * processed / wall, 1),
        "stage_share": summary["stage_share"],
        # Work, not wall time: the stages' seconds summed over items (what a cluster pays for).
        "stage_seconds_total": round(sum(summary["stage_seconds"].values()), 1),
        "analyze_seconds": round(summary["stage_seconds"].get("analyze", 0.0), 1),
        "analyses_from_cache": summary["analyses_from_cache"],
    }


def run_catalog_bench(shared_media: Path, out_dir: Path | None = None, cpus: list[int] | None = None) -> dict[str, Any]:
    folder = Path(out_dir or tempfile.mkdtemp(prefix="lipdub-bench-catalog-"))
    folder.mkdir(parents=True, exist_ok=True)
    catalog = folder / "catalog.parquet"
    write_catalog(shared_catalog_rows(shared_media), str(catalog))
    report: dict[str, Any] = {"machine": _machine(), "catalog": str(catalog)}

    log.info("catalog run over %s", catalog)
    report["catalog_run"] = _figures(timed_catalog_run(catalog, folder / "catalog"))

    cache_catalog = folder / "cache_catalog.parquet"
    write_catalog(cache_catalog_rows(shared_media), str(cache_catalog))
    no_cache = folder / "no_cache.yaml"
    no_cache.write_text("analysis_cache: false\n")
    log.info("one source in three languages, with and without the analysis cache")
    cached = _figures(timed_catalog_run(cache_catalog, folder / "cached"))
    uncached = _figures(timed_catalog_run(cache_catalog, folder / "uncached", config_file=no_cache))
    report["analysis_cache"] = {
        "with_cache": cached,
        "without_cache": uncached,
        "wall_seconds_saved": round(uncached["wall_seconds"] - cached["wall_seconds"], 2),
        "stage_seconds_saved": round(uncached["stage_seconds_total"] - cached["stage_seconds_total"], 1),
        "stage_seconds_saving_share": round(1 - cached["stage_seconds_total"] / uncached["stage_seconds_total"], 3),
    }
    if cpus:
        report["scaling"] = {}
        for count in cpus:
            log.info("catalog run on %d CPU core(s)", count)
            report["scaling"][str(count)] = _figures(timed_catalog_run(catalog, folder / f"cpus-{count}", cpus=count))
    return report


def _machine() -> dict[str, Any]:
    return {"cpus": len(os.sched_getaffinity(0)), "platform": sys.platform, "python": sys.version.split()[0]}
