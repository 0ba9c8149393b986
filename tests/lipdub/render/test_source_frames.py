from fractions import Fraction

import numpy as np
import pytest

from lipdub.media.video_writer import VideoWriter
from lipdub.render.source_frames import frames_for_timeline
from lipdub.timeline import plan_timeline


@pytest.fixture(scope="module")
def numbered_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "n.mp4"
    with VideoWriter(str(path), 32, 32, Fraction(25), crf=0, preset="ultrafast") as writer:
        for i in range(20):
            writer.write(np.full((32, 32, 3), i * 10, np.uint8))
    return str(path)


@pytest.mark.parametrize("mode", ["cut_off", "loop", "bounce", "remap", "silence"])
def test_every_sync_mode_gets_the_frames_it_asks_for(numbered_video, mode):
    timeline = plan_timeline(20, 25.0, 2.1, mode)
    got = [round(frame.mean() / 10) for frame in frames_for_timeline(numbered_video, timeline.source_index, Fraction(25), max_buffered=7)]
    assert got == timeline.source_index.tolist()
