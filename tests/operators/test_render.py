import logging
from fractions import Fraction
from pathlib import Path

import numpy as np

from lipdub.media.probe import probe_video
from lipdub.qa.frame_qa import QAPart, merge_parts, qa_part_uri


def test_each_segment_is_a_video_of_its_frames(rendered_rows, moved_row):
    assert len(rendered_rows) > 1
    total = 0
    for row in rendered_rows:
        assert row["status"] == "pending", row["error"]
        info = probe_video(row["segment_uri"])
        assert info.n_frames == row["segment_stop"] - row["segment_start"]
        assert info.fps == Fraction(25)
        total += info.n_frames
    assert total == moved_row["n_output_frames"]
    # Only finished segments and their QA parts: no staging file is left beside them.
    segments_dir = Path(rendered_rows[0]["segment_uri"]).parent
    expected = [Path(uri).name for row in rendered_rows for uri in (row["segment_uri"], qa_part_uri(row["segment_uri"]))]
    assert sorted(p.name for p in segments_dir.iterdir()) == sorted(expected)


def test_render_measures_every_frame_it_composites(rendered_rows, moved_row):
    parts = [QAPart.from_npz(qa_part_uri(row["segment_uri"])) for row in rendered_rows]
    part = merge_parts(parts)
    assert (part.start, part.stop) == (0, moved_row["n_output_frames"])
    # Every frame had its source frame at hand (bounce legs included), and the mouth was measured.
    assert part.compared.all() and np.isfinite(part.opening).mean() > 0.9
    assert part.sums["compared"] == moved_row["n_output_frames"]
    assert part.pixel_edit.mean() > 0.5 and part.sums["seam_source"] > 0


def test_render_sizes_opencvs_thread_pool_to_the_cores_it_is_granted():
    from dataclasses import replace

    import cv2

    from lipdub.config import PipelineConfig, StageResources
    from operators.render import RenderOperator

    before = cv2.getNumThreads()
    try:
        RenderOperator(PipelineConfig()).setup()
        assert cv2.getNumThreads() == 1  # the default request: one CPU per render task
        config = PipelineConfig()
        resources = dict(config.resources, render=StageResources(num_cpus=2.0))
        RenderOperator(replace(config, resources=resources)).setup()
        assert cv2.getNumThreads() == 2
    finally:
        cv2.setNumThreads(before)


def test_the_torch_compositor_writes_the_same_segments_within_tolerance(stage_config, segment_rows, rendered_rows, tmp_path):
    """render.compositor: torch (the GPU path, here on the CPU device) against the default OpenCV
    render of the same segments: every frame within 40 dB PSNR after encoding, most far above."""
    from dataclasses import replace

    from lipdub.media.frame_range import iter_frame_range
    from operators.render import RenderOperator

    from lipdub.qa.meters import psnr_db

    config = replace(stage_config, render=replace(stage_config.render, compositor="torch"))
    row = dict(segment_rows[0], segment_uri=str(tmp_path / "torch_segment.mp4"))
    (out,) = RenderOperator(config).run_row(row)
    assert out["status"] == "pending", out["error"]
    fps = probe_video(out["segment_uri"]).fps
    torch_frames = list(iter_frame_range(out["segment_uri"], 0, 10_000, fps))
    opencv_frames = list(iter_frame_range(rendered_rows[0]["segment_uri"], 0, 10_000, fps))
    assert len(torch_frames) == len(opencv_frames) == row["segment_stop"] - row["segment_start"]
    figures = [psnr_db(float(np.square(a.astype(np.float64) - b).sum()), a.size) for a, b in zip(torch_frames, opencv_frames)]
    logging.getLogger(__name__).info("torch vs OpenCV segment after encoding: PSNR min %.1f dB, median %.1f dB over %d frames",
                                      min(figures), float(np.median(figures)), len(figures))
    assert min(figures) >= 40.0, figures
