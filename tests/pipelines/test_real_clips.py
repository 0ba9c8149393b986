"""Integration over the real clips beside the project (skipped when ../shared/media is absent)."""
from __future__ import annotations

import pytest

from lipdub.config import PipelineConfig
from lipdub.media.probe import probe_audio, probe_video
from pipelines.dub_pipeline import run_items

pytestmark = [pytest.mark.media, pytest.mark.slow]


def test_real_clip_at_an_odd_frame_rate_with_a_foreign_dub(shared_media, tmp_path, ray_local):
    from lipdub.qa.standalone import qa_output

    video = shared_media / "clips" / "real_01.mp4"  # 22.13 fps
    dub = shared_media / "dub_audio" / "de_01.wav"  # longer than the clip: bounce
    output = tmp_path / "real_01_de.mp4"
    (result,) = run_items(
        [{"item_id": "real_01-de", "video_uri": str(video), "audio_uri": str(dub), "output_uri": str(output)}],
        PipelineConfig(work_root=str(tmp_path / "work")),
    )
    assert result["status"] == "ok", result["error"]
    src, out = probe_video(str(video)), probe_video(str(output))
    assert out.fps == src.fps and out.display_size == src.display_size
    assert result["resolved_sync_mode"] == "bounce"
    assert abs(out.n_frames - probe_audio(str(dub)).duration_s * float(src.fps)) <= 1
    report, _ = qa_output(str(output), source=str(video), dub=str(dub))
    # Frame i of a bounce output is source frame i for the first pass only; PSNR compares those.
    assert report["sync_mode"] == "bounce"
    assert report["outside_psnr_db"] > 38
    assert report["speaker_found_share"] > 0.9
