"""`lipdub dub` on the bad-input zoo (tests/reliability/conftest.py), in-process on the session Ray.

A bad input exits with code 1 and prints one line ``error: ...`` that names the problem, and
nothing appears at the output path (nor any temporary file beside it). The cases already in
tests/jobs/test_cli.py (missing video, a wav as the video, a text file named .wav as the dub, an
empty dub, a silent dub, no face) are not repeated here. Two odd but valid inputs, in folders
with non-ASCII names and spaces, must succeed.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from jobs.cli import app
from lipdub.media.probe import probe_audio, probe_video

runner = CliRunner()
VIDEO, DUB = "talking.mp4", "dub.wav"

FAILING = [
    # (case, video, dub, extra options, phrase the error line must contain). Each case is one
    # full pipeline run (~15 s on 2 cores), so only failures that take a code path of their own
    # are here; the zoo's other bad inputs (zero bytes, other containers without the stream,
    # random bytes, a missing dub) share these paths and run in the catalog test.
    ("truncated video", "truncated.mp4", DUB, [], "file is truncated"),
    ("text file as the video", "notes.txt", DUB, [], "text file"),
    ("video-only file as the dub", VIDEO, "talking (video only).mp4", [], "no audio stream"),
    ("malformed speaker point", VIDEO, DUB, ["--speaker-point", "left"], "speaker point must be x,y"),
]


def _dub(zoo, tmp_path: Path, video: str, dub: str, options: list[str], output_name: str = "dubbed ä.mp4"):
    output = tmp_path / "Ausgabe ñ 日本" / output_name
    result = runner.invoke(
        app,
        ["dub", "--video", str(zoo.folder / video), "--audio", str(zoo.folder / dub), "--output", str(output),
         "--work-root", str(tmp_path / "work"), *options],
    )
    return result, output


@pytest.mark.slow
@pytest.mark.parametrize("video, dub, options, phrase", [case[1:] for case in FAILING], ids=[case[0] for case in FAILING])
def test_bad_input_exits_1_with_one_error_line_and_writes_nothing(zoo, ray_local, tmp_path, video, dub, options, phrase):
    result, output = _dub(zoo, tmp_path, video, dub, options)
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    assert phrase in errors[0].lower(), errors[0]
    assert "Traceback" not in result.output
    assert not output.exists()
    if output.parent.exists():  # no partial or temporary file beside it either
        assert list(output.parent.iterdir()) == []


def test_an_unknown_sync_mode_is_refused_by_the_command_line_before_any_work(zoo, tmp_path):
    """--sync-mode is a choice: a typo is a usage error (exit 2) that lists the five modes, before
    anything is read or started. (A catalog's unknown sync_mode fails only its item: the catalog
    test.)"""
    result, output = _dub(zoo, tmp_path, VIDEO, DUB, ["--sync-mode", "sideways"])
    assert result.exit_code == 2, result.output
    # The message sits in a box that wraps at the terminal's width: read it as one line.
    message = " ".join(result.output.replace("│", " ").split())
    assert "'sideways' is not one of 'cut_off', 'loop', 'bounce', 'silence', 'remap'" in message, result.output
    assert "Traceback" not in result.output
    assert not output.parent.exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "video, dub, output_name",
    [("rotated 90.mp4", DUB, "gedreht 90° ä.mp4"), ("variable rate.mp4", "dub 8 kHz.wav", "variable rate, 8 kHz.mp4")],
    ids=["rotated, non-ASCII paths", "variable frame rate, 8 kHz dub"],
)
def test_odd_but_valid_input_is_dubbed(zoo, ray_local, tmp_path, video, dub, output_name):
    result, output = _dub(zoo, tmp_path, video, dub, [], output_name)
    assert result.exit_code == 0, result.output
    assert f"wrote {output}" in result.output
    source, dubbed = probe_video(zoo[video]), probe_video(output)
    dub_frames = round(probe_audio(zoo[dub]).duration_s * source.fps)  # the dub is longer: bounce
    assert dubbed.n_frames == dub_frames
    assert (dubbed.display_size, dubbed.rotation, dubbed.fps) == (source.display_size, source.rotation, source.fps)
    assert dubbed.has_audio
    assert sorted(path.name for path in output.parent.iterdir()) == [output_name]
