from fractions import Fraction

import numpy as np
import pytest

from lipdub.media.frame_range import iter_frame_range
from lipdub.media.video_reader import iter_frames
from lipdub.media.video_writer import VideoWriter


def _numbered_video(path, n, fps, rotation=0):
    """Frames whose brightness encodes their index, so we can tell which one we got."""
    with VideoWriter(str(path), 64, 48, fps, crf=0, preset="ultrafast", rotation=rotation) as writer:
        for i in range(n):
            writer.write(np.full((48, 64, 3), (i * 3) % 256, np.uint8))
    return path


@pytest.mark.parametrize("fps", [Fraction(25), Fraction(2213, 100), Fraction(30000, 1001)])
def test_ranges_match_a_full_decode(tmp_path, fps):
    path = _numbered_video(tmp_path / "n.mp4", 80, fps)
    everything = [f.mean() for f in iter_frames(path)]
    for start, stop in [(0, 5), (37, 45), (70, 80), (79, 80)]:
        got = [f.mean() for f in iter_frame_range(path, start, stop, fps)]
        assert got == pytest.approx(everything[start:stop], abs=1.0)


def test_rotated_ranges_are_upright(tmp_path):
    path = _numbered_video(tmp_path / "r.mp4", 30, Fraction(25), rotation=90)
    (frame,) = list(iter_frame_range(path, 20, 21, Fraction(25)))
    assert frame.shape[:2] == (48, 64)


def test_range_past_the_end_is_an_error(tmp_path):
    from lipdub.errors import InputError

    path = _numbered_video(tmp_path / "s.mp4", 10, Fraction(25))
    with pytest.raises(InputError):
        list(iter_frame_range(path, 5, 20, Fraction(25)))


def test_variable_rate_ranges_match_a_full_decode(tmp_path):
    # Frame indices are decode-order counts; in a variable-rate file a timestamp does not tell
    # the index (here the first half runs at 12.5 fps, the second at 25), so ranges must not be
    # numbered by timestamp.
    from _media_fixtures import write_vfr_video

    from lipdub.media.probe import probe_video

    pts_ms = np.cumsum([0] + [80 if i < 20 else 40 for i in range(1, 40)]).tolist()
    path = write_vfr_video(tmp_path / "vfr.mp4", pts_ms)
    fps = probe_video(path).fps
    everything = [float(f[..., 1].mean()) for f in iter_frames(path)]
    assert len(everything) == 40
    for start, stop in [(0, 5), (17, 25), (30, 40), (39, 40)]:
        got = [float(f[..., 1].mean()) for f in iter_frame_range(path, start, stop, fps)]
        assert got == pytest.approx(everything[start:stop], abs=2.0)
