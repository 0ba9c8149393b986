"""`lipdub bench-api`: the HTTP API's figures, measured in one run on this machine.

Starts the API on Ray Serve at 127.0.0.1 (every port of it on loopback: lipdub/loopback.py and
lipdub/api/serve_loopback.py), with the demo's sample under an allowed folder, then:

1. time from POST /v1/dubs to the first rendered segment in the work store (a segment is up to
   ``render.segment_seconds`` of video; the demo clip is one segment) and to the finished dub;
2. status calls per second (GET /v1/dubs/{id}) from several client threads, while idle;
3. warm stages (``api.warm_stages``, on unless ``--no-warm``): POST to done for a second request
   of the same clip (another language: its analysis is cached) and for a clip the server has not
   seen (the demo source re-encoded: a fresh analysis), against a cold `lipdub dub` of the same
   clip (a new process, a new work root: Ray start-up, model loading and analysis included)
   timed in the same run;
4. ``--dubs`` dubs POSTed at once: how many the server accepted and held, and whether every one
   ended ok, with the wall time.
"""
from __future__ import annotations

import concurrent.futures
import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

log = logging.getLogger(__name__)

TOKEN = "bench-token"
TERMINAL = ("ok", "failed", "cancelled")


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    return session


def _wait(session: requests.Session, url: str, timeout: float = 1800.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = session.get(url, timeout=30).json()
        if body["state"] in TERMINAL:
            return body
        time.sleep(0.5)
    raise TimeoutError(url)


def _first_segment_seconds(work_root: Path, posted: float, stop: threading.Event) -> float | None:
    """Seconds from the POST until a rendered segment file appears anywhere in the work store."""
    while not stop.is_set():
        if any(work_root.rglob("segments/*.mp4")):
            return time.perf_counter() - posted
        time.sleep(0.2)
    return None


def status_calls_per_second(url: str, threads: int, seconds: float) -> float:
    calls = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def hammer() -> None:
        nonlocal calls
        session, done = _session(), 0
        while time.perf_counter() < deadline:
            if session.get(url, timeout=30).status_code == 200:
                done += 1
        with lock:
            calls += done

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: hammer(), range(threads)))
    return calls / (time.perf_counter() - started)


def _post_to_done(session: requests.Session, url: str, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    posted = time.perf_counter()
    dub_id = session.post(url + "/v1/dubs", json=body, timeout=60).json()["id"]
    final = _wait(session, f"{url}/v1/dubs/{dub_id}")
    return round(time.perf_counter() - posted, 1), final


def _reencoded(video: Path, out: Path) -> Path:
    """The same picture and sound in a new file (new bytes: the server has no analysis of it)."""
    from lipdub.media.audio_io import load_audio
    from lipdub.media.mux import mux_segments
    from lipdub.media.probe import probe_video
    from lipdub.media.video_reader import iter_frames
    from lipdub.media.video_writer import VideoWriter

    info = probe_video(str(video))
    frames = out.with_name(out.stem + ".frames.mp4")
    with VideoWriter(str(frames), *info.display_size, info.fps, crf=20) as writer:
        for frame in iter_frames(str(video)):
            writer.write(frame)
    mux_segments([str(frames)], load_audio(str(video), sample_rate=16_000), 16_000, str(out))
    frames.unlink()
    return out


def cold_dub_seconds(video: Path, dub: Path, out: Path, work_root: Path) -> float:
    """A `lipdub dub` of the clip in a new process with an empty work root, wall seconds."""
    import subprocess
    import sys

    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "jobs.cli", "dub", "--video", str(video), "--audio", str(dub), "--output", str(out),
                    "--work-root", str(work_root)], check=True, capture_output=True)
    return round(time.perf_counter() - started, 1)


def run_api_bench(dubs: int, threads: int, max_running: int, out_dir: Path | None, warm: bool = True) -> dict[str, Any]:
    from jobs.demo import build_demo_inputs
    from lipdub.api.deployment import start_api, stop_api
    from lipdub.api_settings import ApiSecrets
    from lipdub.config import config_from_mapping

    folder = out_dir or Path(tempfile.mkdtemp(prefix="lipdub-bench-api-"))
    video, dub = build_demo_inputs(folder / "in")
    work_root = folder / "work"
    config = config_from_mapping({"work_root": str(work_root), "api": {
        "input_prefixes": [str(folder / "in")], "output_root": str(folder / "out"), "max_running": max_running,
        "warm_stages": warm}})
    unseen = _reencoded(video, folder / "in" / "unseen.mp4")
    started = time.perf_counter()
    url = start_api(config, ApiSecrets(tokens=(TOKEN,)), port=8000 + (int(time.time()) % 1000))
    report: dict[str, Any] = {"api_start_seconds": round(time.perf_counter() - started, 1)}
    session = _session()
    body = {"video_uri": str(video), "audio_uri": str(dub)}
    try:
        stop = threading.Event()
        posted = time.perf_counter()
        first = session.post(url + "/v1/dubs", json=body, timeout=60).json()
        with concurrent.futures.ThreadPoolExecutor(1) as watcher:
            segment = watcher.submit(_first_segment_seconds, work_root, posted, stop)
            final = _wait(session, f"{url}/v1/dubs/{first['id']}")
            stop.set()
            report["post_to_first_segment_seconds"] = segment.result()
        report["post_to_done_seconds"] = round(time.perf_counter() - posted, 1)
        report["first_dub_state"] = final["state"]
        report["output_frames"] = final["output_frames"]
        report["status_calls_per_second"] = round(status_calls_per_second(f"{url}/v1/dubs/{first['id']}", threads, 10.0), 1)
        report["status_client_threads"] = threads
        report["warm_stages"] = warm
        report["second_request_same_clip_seconds"], _ = _post_to_done(session, url, dict(body, language="fr"))
        report["request_unseen_clip_seconds"], _ = _post_to_done(session, url, dict(body, video_uri=str(unseen)))

        posted = time.perf_counter()
        ids, refused = [], 0
        for index in range(dubs):
            response = session.post(url + "/v1/dubs", json=dict(body, language=f"bench{index}"), timeout=60)
            if response.status_code == 202:
                ids.append(response.json()["id"])
            else:
                refused += 1
        finals = [_wait(session, f"{url}/v1/dubs/{dub_id}") for dub_id in ids]
        report.update(
            concurrent_dubs_posted=dubs, concurrent_dubs_accepted=len(ids), concurrent_dubs_refused=refused,
            concurrent_dubs_ok=sum(1 for f in finals if f["state"] == "ok"),
            concurrent_dubs_errors=[f["error"] for f in finals if f["state"] != "ok"],
            concurrent_wall_seconds=round(time.perf_counter() - posted, 1), max_running=max_running,
        )
    finally:
        stop_api()
    # After the server is gone, so the two do not share the cores.
    report["cold_dub_seconds"] = cold_dub_seconds(video, dub, folder / "cold.mp4", folder / "cold-work")
    report["unseen_clip_vs_cold_dub"] = round(report["request_unseen_clip_seconds"] / report["cold_dub_seconds"], 2)
    return report
