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
