import numpy as np
import pytest

from lipdub.errors import InputError
from lipdub.timeline import bounce_indices, monotonic_runs, plan_timeline


def test_default_is_cut_off_when_dub_is_shorter():
    timeline = plan_timeline(100, 25.0, 2.0)
    assert timeline.sync_mode == "cut_off"
    assert timeline.n_frames == 50
    assert np.array_equal(timeline.source_index, np.arange(50))
    assert timeline.audio_seconds == pytest.approx(2.0)


def test_default_is_bounce_when_dub_is_longer():
    timeline = plan_timeline(4, 25.0, 10 / 25)
    assert timeline.sync_mode == "bounce"
    assert timeline.source_index.tolist() == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]


def test_loop_silence_remap_lengths():
    assert plan_timeline(3, 25.0, 7 / 25, "loop").source_index.tolist() == [0, 1, 2, 0, 1, 2, 0]
    silence = plan_timeline(30, 25.0, 0.4, "silence")
    assert silence.n_frames == 30 and silence.audio_seconds == pytest.approx(1.2)
    remap = plan_timeline(10, 25.0, 20 / 25, "remap")
    assert remap.n_frames == 20
    assert remap.source_index[0] == 0 and remap.source_index[-1] == 9
    assert np.all(np.diff(remap.source_index) >= 0)


def test_cut_off_with_longer_dub_keeps_video_length():
    timeline = plan_timeline(10, 22.13, 5.0, "cut_off")
    assert timeline.n_frames == 10


def test_unknown_mode_and_empty_inputs_are_input_errors():
    with pytest.raises(InputError, match="unknown sync mode"):
        plan_timeline(10, 25.0, 1.0, "stretch")
    with pytest.raises(InputError):
        plan_timeline(0, 25.0, 1.0)
    with pytest.raises(InputError):
        plan_timeline(10, 25.0, 0.0)


def test_single_frame_bounce_repeats_it():
    assert bounce_indices(1, 5).tolist() == [0] * 5


@pytest.mark.parametrize("mode", ["cut_off", "loop", "bounce", "silence", "remap"])
def test_runs_cover_every_frame_once_and_are_one_pass_decodable(mode):
    timeline = plan_timeline(17, 25.0, 3.3, mode)
    runs = monotonic_runs(timeline.source_index, max_len=8)
    covered = np.concatenate([np.arange(a, b) for a, b in runs])
    assert np.array_equal(covered, np.arange(timeline.n_frames))
    for a, b in runs:
        steps = np.diff(timeline.source_index[a:b])
        assert b - a <= 8
        assert np.all(steps >= 0) or np.all((steps <= 0) & (steps >= -1))
