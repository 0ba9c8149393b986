"""Estimates: output frames from the real demo sample, and the time they should take here."""
from __future__ import annotations

import wave

import pytest

from lipdub.api.estimate import MIN_FRAMES_FOR_RATE, expected_seconds, measured_fps_per_cpu, output_frames
from lipdub.api_settings import ApiConfig
from lipdub.media.probe import probe_audio, probe_video

STARTUP_S = 15.0


def outcome(frames: int | None, work_s: float | None, cpus: float | None, startup_s: float = STARTUP_S) -> dict:
    """A finished request's outcome whose wall time is `work_s` after the start-up."""
    wall = None if work_s is None else startup_s + work_s
    return {"output_frames": frames, "wall_seconds": wall, "cluster_cpus": cpus}


# --- output_frames ------------------------------------------------------------------------------

def test_output_frames_of_the_demo_follow_the_dub_at_the_source_rate(demo_inputs) -> None:
    source, dub = demo_inputs
    frames, seconds = output_frames(str(source), str(dub))
    fps = float(probe_video(source).fps)
    dub_seconds = probe_audio(dub).duration_s
    with wave.open(str(dub)) as wav:  # the WAV header, read without lipdub
        header_seconds = wav.getnframes() / wav.getframerate()
    assert seconds == pytest.approx(dub_seconds)
    assert dub_seconds == pytest.approx(header_seconds, abs=0.01)
    assert frames == round(dub_seconds * fps)
    assert fps == pytest.approx(25.0)
    assert frames > 0 and isinstance(frames, int)


def test_output_frames_follow_the_dub_not_the_source(demo_inputs) -> None:
    source, dub = demo_inputs
    source_info = probe_video(source)
    frames, _ = output_frames(str(source), str(dub))
    # The demo's dub is a different length from the source's own speech, so this tells them apart.
    assert abs(probe_audio(dub).duration_s - source_info.duration_s) > 1.0 / float(source_info.fps)
    assert frames != source_info.n_frames


def test_output_frames_read_inputs_from_s3(demo_inputs, s3_server) -> None:
    from lipdub.storage import filesystem_for

    source, dub = demo_inputs
    fs = filesystem_for("s3://lipdub/inputs")
    fs.put_file(str(source), "lipdub/inputs/source.mp4")
    fs.put_file(str(dub), "lipdub/inputs/dub.wav")
    assert output_frames("s3://lipdub/inputs/source.mp4", "s3://lipdub/inputs/dub.wav") == output_frames(str(source), str(dub))


def test_output_frames_of_a_missing_input_raise_an_input_error(demo_inputs, tmp_path) -> None:
    from lipdub.errors import InputError

    source, dub = demo_inputs
    with pytest.raises(InputError, match="no-such.wav"):
        output_frames(str(source), str(tmp_path / "no-such.wav"))
    with pytest.raises(InputError, match="no-such.mp4"):
        output_frames(str(tmp_path / "no-such.mp4"), str(dub))


# --- measured_fps_per_cpu -----------------------------------------------------------------------

def test_no_outcomes_measure_nothing() -> None:
    assert measured_fps_per_cpu([], STARTUP_S) is None


def test_short_requests_say_nothing_about_the_rate() -> None:
    short = [outcome(MIN_FRAMES_FOR_RATE - 1, 10.0, 2.0), outcome(100, 1.0, 2.0), outcome(0, 5.0, 2.0)]
    assert measured_fps_per_cpu(short, STARTUP_S) is None
    # Exactly the threshold counts: 750 frames in 75 s on 2 cores.
    assert measured_fps_per_cpu([outcome(MIN_FRAMES_FOR_RATE, 75.0, 2.0)], STARTUP_S) == pytest.approx(MIN_FRAMES_FOR_RATE / 75.0 / 2.0)


@pytest.mark.parametrize("broken", [
    {},
    outcome(None, 100.0, 2.0),
    outcome(1500, None, 2.0),
    outcome(1500, 100.0, None),
    outcome(1500, 100.0, 0.0),
    {"output_frames": 1500, "wall_seconds": 0.0, "cluster_cpus": 2.0},
    {"output_frames": 1500, "wall_seconds": -3.0, "cluster_cpus": 2.0},
    {"output_frames": 1500, "cluster_cpus": 2.0},
])
def test_outcomes_with_zero_or_missing_fields_are_ignored(broken: dict) -> None:
    assert measured_fps_per_cpu([broken], STARTUP_S) is None
    good = outcome(1500, 150.0, 2.0)  # 5 frames/s/core
    assert measured_fps_per_cpu([broken, good], STARTUP_S) == pytest.approx(5.0)


def test_the_rate_is_the_median_not_the_mean() -> None:
    outcomes = [
        outcome(1500, 150.0, 2.0),  # 5.0
        outcome(1000, 100.0, 1.0),  # 10.0
        outcome(3000, 300.0, 4.0),  # 2.5
        outcome(800, 2.0, 1.0),     # 400.0: an outlier the median ignores
        outcome(2000, 100.0, 5.0),  # 4.0
    ]
    assert measured_fps_per_cpu(outcomes, STARTUP_S) == pytest.approx(5.0)
    # An even count: the mean of the middle two (4.0 and 5.0).
    assert measured_fps_per_cpu(outcomes[:3] + outcomes[4:], STARTUP_S) == pytest.approx(4.5)


def test_the_startup_is_subtracted_from_the_wall_time() -> None:
    one = [{"output_frames": 1000, "wall_seconds": 115.0, "cluster_cpus": 1.0}]
    assert measured_fps_per_cpu(one, 15.0) == pytest.approx(10.0)   # 1000 frames / 100 s
    assert measured_fps_per_cpu(one, 0.0) == pytest.approx(1000 / 115)
    # A wall time at or under the start-up counts as one second of work, never zero or negative.
    quick = [{"output_frames": 1000, "wall_seconds": 10.0, "cluster_cpus": 2.0}]
    assert measured_fps_per_cpu(quick, 15.0) == pytest.approx(500.0)


def test_outcomes_can_be_a_generator() -> None:
    records = [{"outcome": outcome(1500, 150.0, 2.0)}, {"outcome": None}, {}]
    assert measured_fps_per_cpu((r.get("outcome") or {} for r in records), STARTUP_S) == pytest.approx(5.0)


# --- expected_seconds ---------------------------------------------------------------------------

def test_expected_seconds_is_startup_plus_frames_over_throughput() -> None:
    config = ApiConfig(estimate_startup_s=15.0)
    assert expected_seconds(0, 2.0, 5.0, config) == pytest.approx(15.0)
    assert expected_seconds(1000, 2.0, 5.0, config) == pytest.approx(15.0 + 100.0)
    assert expected_seconds(1000, 2.0, 5.0, ApiConfig(estimate_startup_s=40.0)) == pytest.approx(140.0)


def test_expected_seconds_grow_with_frames_and_shrink_with_cpus() -> None:
    config = ApiConfig()
    by_frames = [expected_seconds(frames, 4.0, config.estimate_fps_per_cpu, config) for frames in (100, 1000, 10_000)]
    assert by_frames == sorted(by_frames) and len(set(by_frames)) == 3
    by_cpus = [expected_seconds(5000, cpus, config.estimate_fps_per_cpu, config) for cpus in (1.0, 2.0, 8.0, 64.0)]
    assert by_cpus == sorted(by_cpus, reverse=True) and len(set(by_cpus)) == 4
    assert all(seconds > config.estimate_startup_s for seconds in by_frames + by_cpus)
    # Twice the cores halve the work part, not the start-up.
    two, four = (expected_seconds(5000, cpus, 5.0, config) - config.estimate_startup_s for cpus in (2.0, 4.0))
    assert two == pytest.approx(2 * four)


def test_expected_seconds_on_no_or_fractional_cpus_count_one_core() -> None:
    config = ApiConfig(estimate_startup_s=15.0)
    one_core = expected_seconds(1000, 1.0, 5.0, config)
    assert one_core == pytest.approx(215.0)
    assert expected_seconds(1000, 0.0, 5.0, config) == one_core
    assert expected_seconds(1000, 0.5, 5.0, config) == one_core


def test_expected_seconds_with_a_zero_rate_are_finite_and_huge() -> None:
    seconds = expected_seconds(1000, 2.0, 0.0, ApiConfig())
    assert seconds > 1e6 and seconds < float("inf")
