"""POST /v1/estimate: how many frames a request makes and how long it should take here.

Output frames = the dub's length at the source's frame rate (the output follows the dub). The
expected time divides them by this cluster's throughput: output frames per second per CPU core
times its CPU count, plus a fixed start-up. The per-core rate comes from this server's own
finished requests when it has some ("measured"), else from the config ("default", measured by
`lipdub bench` on a 2-core VM).
"""
from __future__ import annotations

import statistics
from typing import Any, Iterable

from lipdub.api_settings import ApiConfig

# Recent finished requests the measured rate is the median over.
MEASURED_WINDOW = 20
# Shorter requests are all start-up: they say nothing about the rate (a 5 s clip takes ~60 s here).
MIN_FRAMES_FOR_RATE = 750


def output_frames(video_uri: str, audio_uri: str) -> tuple[int, float]:
    """(output frames, output seconds) of a dub of ``video_uri`` with ``audio_uri``."""
    from lipdub.media.probe import probe_audio, probe_video
    from lipdub.storage import local_path

    with local_path(video_uri) as video, local_path(audio_uri) as audio:
        fps = float(probe_video(video).fps)
        seconds = probe_audio(audio).duration_s
    return int(round(seconds * fps)), seconds


def measured_fps_per_cpu(outcomes: Iterable[dict[str, Any]], startup_s: float) -> float | None:
    """Median output frames per second per core over finished requests' outcomes, if any."""
    rates = []
    for outcome in outcomes:
        frames, wall, cpus = outcome.get("output_frames") or 0, outcome.get("wall_seconds") or 0.0, outcome.get("cluster_cpus") or 0.0
        if frames >= MIN_FRAMES_FOR_RATE and wall > 0 and cpus > 0:
            rates.append(frames / max(wall - startup_s, 1.0) / cpus)
    return statistics.median(rates) if rates else None


def expected_seconds(frames: int, cpus: float, fps_per_cpu: float, config: ApiConfig) -> float:
    return config.estimate_startup_s + frames / max(fps_per_cpu * max(cpus, 1.0), 1e-6)
