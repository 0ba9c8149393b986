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
        assert not list(Path(row["segment_uri"]).parent.glob("*.tmp.mp4"))
    assert total == moved_row["n_output_frames"]
