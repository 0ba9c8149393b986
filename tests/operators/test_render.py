from fractions import Fraction
from pathlib import Path

from lipdub.media.probe import probe_video


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
    # Only finished segments: no staging file is left beside them.
    segments_dir = Path(rendered_rows[0]["segment_uri"]).parent
    assert sorted(p.name for p in segments_dir.iterdir()) == sorted(Path(row["segment_uri"]).name for row in rendered_rows)
