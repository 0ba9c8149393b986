"""End to end through a real local Ray: the demo sample dubbed, checked as a user would."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from lipdub.config import PipelineConfig, RenderConfig
from lipdub.media.audio_io import load_audio
from lipdub.media.probe import probe_audio, probe_video
from lipdub.media.video_reader import iter_frames
from pipelines.dub_pipeline import run_items

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dubbed(tmp_path_factory, ray_local, demo_inputs):
    folder = tmp_path_factory.mktemp("e2e")
    source, dub = demo_inputs
    # Short segments so the sample is split, rendered in parallel and joined.
    config = PipelineConfig(work_root=str(folder / "work"), render=RenderConfig(segment_seconds=1.0))
    rows = [
        {"item_id": "bounce", "video_uri": str(source), "audio_uri": str(dub), "output_uri": str(folder / "bounce.mp4")},
        {"item_id": "cut", "video_uri": str(source), "audio_uri": str(dub), "output_uri": str(folder / "cut.mp4"), "sync_mode": "cut_off"},
        {"item_id": "broken", "video_uri": str(folder / "missing.mp4"), "audio_uri": str(dub), "output_uri": str(folder / "broken.mp4")},
    ]
    results = {row["item_id"]: row for row in run_items(rows, config)}
    return source, dub, folder, results


def test_one_result_row_per_item_and_bad_items_fail_alone(dubbed):
    _, _, folder, results = dubbed
    assert sorted(results) == ["bounce", "broken", "cut"]
    assert results["broken"]["status"] == "failed"
    assert "does not exist" in results["broken"]["error"]
    assert not (folder / "broken.mp4").exists()
    assert results["bounce"]["status"] == "ok", results["bounce"]["error"]
    assert results["cut"]["status"] == "ok", results["cut"]["error"]


def test_output_keeps_size_and_rate_and_follows_the_dub_length(dubbed):
    source, dub, folder, results = dubbed
    src = probe_video(str(source))
    dub_seconds = probe_audio(str(dub)).duration_s
    for item in ("bounce", "cut"):
        out = probe_video(str(folder / f"{item}.mp4"))
        assert out.fps == src.fps and out.display_size == src.display_size
        assert out.has_audio
        assert out.n_frames == results[item]["n_output_frames"]
    bounce = probe_video(str(folder / "bounce.mp4"))
    assert results["bounce"]["resolved_sync_mode"] == "bounce"
    assert abs(bounce.n_frames - round(dub_seconds * float(src.fps))) <= 1
    cut = probe_video(str(folder / "cut.mp4"))
    assert cut.n_frames == min(src.n_frames, round(dub_seconds * float(src.fps)))
    assert results["bounce"]["segment_count"] > 1


def test_output_audio_is_the_dub(dubbed):
    _, dub, folder, _ = dubbed
    out_audio = load_audio(str(folder / "cut.mp4"))
    dub_audio = load_audio(str(dub))
    n = min(len(out_audio), len(dub_audio))
    envelope = lambda a: np.sqrt(np.convolve(a[:n] ** 2, np.ones(800) / 800, mode="valid"))  # noqa: E731
    assert np.corrcoef(envelope(out_audio), envelope(dub_audio))[0, 1] > 0.9


def test_mouth_region_changes_and_the_rest_stays(dubbed):
    from lipdub.qa.standalone import qa_output

    source, dub, folder, results = dubbed
    report, _ = qa_output(str(folder / "cut.mp4"), source=str(source), dub=str(dub), sync_mode="cut_off")
    assert report["outside_psnr_db"] > 38
    assert report["speaker_found_share"] > 0.9
    assert results["cut"]["edited_frames"] > 0.8 * results["cut"]["n_output_frames"]
    changed = [np.abs(a.astype(int) - b.astype(int)).max() for a, b in zip(iter_frames(str(folder / "cut.mp4")), iter_frames(str(source)))]
    assert max(changed) > 40  # the mouth really was re-rendered


def test_the_analysis_cache_is_shared_between_items(dubbed):
    _, _, _, results = dubbed
    assert results["bounce"]["source_fingerprint"] == results["cut"]["source_fingerprint"]
    assert Fraction(results["cut"]["fps_num"], results["cut"]["fps_den"]) == Fraction(25)


def _video_and_audio_timing(path: str) -> tuple[list[float], float, float]:
    """Video frame times (s), video end and audio end (s) as the container states them."""
    import av

    with av.open(path) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        times = sorted(float(packet.pts * packet.time_base) for packet in container.demux(video) if packet.pts is not None)
    with av.open(path) as container:
        audio = container.streams.audio[0]
        audio_end = max(float((packet.pts + packet.duration) * packet.time_base) for packet in container.demux(audio) if packet.pts is not None)
    fps = probe_video(path).fps
    return times, times[-1] + 1 / float(fps), audio_end


def test_segments_join_without_seams_drops_duplicates_or_drift(dubbed):
    source, dub, folder, results = dubbed
    assert results["bounce"]["segment_count"] > 1
    # The same item rendered as one segment: the joined output must show the same pictures.
    whole = PipelineConfig(work_root=str(folder / "work"), render=RenderConfig(segment_seconds=1000.0))
    (single,) = run_items([{"item_id": "whole", "video_uri": str(source), "audio_uri": str(dub), "output_uri": str(folder / "whole.mp4")}], whole)
    assert single["status"] == "ok" and single["segment_count"] == 1
    joined = list(iter_frames(str(folder / "bounce.mp4")))
    reference = list(iter_frames(str(folder / "whole.mp4")))
    assert len(joined) == len(reference) == results["bounce"]["n_output_frames"]
    worst = min(
        10 * np.log10(255**2 / max(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2), 1e-9)) for a, b in zip(joined, reference)
    )
    assert worst > 38, f"a frame differs from the single-segment render: {worst:.1f} dB"  # only encoder noise

    times, video_end, audio_end = _video_and_audio_timing(str(folder / "bounce.mp4"))
    step = 1 / float(probe_video(str(folder / "bounce.mp4")).fps)
    assert np.allclose(np.diff(times), step, atol=1e-3), "a dropped or duplicated frame time at a segment join"
    assert abs(audio_end - video_end) < 2 * step + 0.025, f"audio ends at {audio_end:.3f}s, video at {video_end:.3f}s"
