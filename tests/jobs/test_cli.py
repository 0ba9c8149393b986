"""The `lipdub` command as a user runs it: help everywhere, a real dub, one-line errors."""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from jobs.cli import app

runner = CliRunner()


@pytest.mark.parametrize("command", [[], ["dub"], ["demo"], ["eval"], ["bench"], ["train"], ["qa"], ["report"], ["serve"], ["bench-api"], ["bench-memory"], ["bench-render"]])
def test_every_command_has_help(command):
    result = runner.invoke(app, command + ["--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def _silent_wav(path: Path, seconds: float = 2.0) -> Path:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16000)
        handle.writeframes(np.zeros(int(16000 * seconds), np.int16).tobytes())
    return path


def _dub(tmp_path: Path, video: Path | str, audio: Path | str) -> tuple[object, Path]:
    output = tmp_path / "out" / "dubbed.mp4"
    result = runner.invoke(
        app, ["dub", "--video", str(video), "--audio", str(audio), "--output", str(output), "--work-root", str(tmp_path / "work")]
    )
    return result, output


def _assert_one_line_failure(result, output: Path, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    assert any(needle in errors[0].lower() for needle in needles), errors[0]
    assert not output.exists()
    if output.parent.exists():  # no partial or temporary file left beside it either
        assert list(output.parent.iterdir()) == []


@pytest.mark.slow
def test_missing_video_path(tmp_path, ray_local, demo_inputs):
    result, output = _dub(tmp_path, tmp_path / "nope.mp4", demo_inputs[1])
    _assert_one_line_failure(result, output, "does not exist")


@pytest.mark.slow
def test_video_without_a_video_stream(tmp_path, ray_local, demo_inputs):
    result, output = _dub(tmp_path, demo_inputs[1], demo_inputs[1])
    _assert_one_line_failure(result, output, "no video stream")


@pytest.mark.slow
def test_dub_that_is_not_audio(tmp_path, ray_local, demo_inputs):
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio at all\n" * 50)
    result, output = _dub(tmp_path, demo_inputs[0], text)
    _assert_one_line_failure(result, output, "not a media file", "cannot", "invalid", "no audio")


@pytest.mark.slow
def test_empty_dub(tmp_path, ray_local, demo_inputs):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    result, output = _dub(tmp_path, demo_inputs[0], empty)
    _assert_one_line_failure(result, output, "empty")


@pytest.mark.slow
def test_silent_dub(tmp_path, ray_local, demo_inputs):
    result, output = _dub(tmp_path, demo_inputs[0], _silent_wav(tmp_path / "silent.wav"))
    _assert_one_line_failure(result, output, "silent", "no speech")


@pytest.mark.slow
def test_video_without_a_face(tmp_path, ray_local, demo_inputs):
    from lipdub.demo.face import make_no_face_video

    no_face = tmp_path / "no_face.mp4"
    make_no_face_video(str(no_face))
    result, output = _dub(tmp_path, no_face, demo_inputs[1])
    _assert_one_line_failure(result, output, "no face")


def test_train_with_an_unusable_catalog_exits_2_before_starting_ray(tmp_path):
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("item_id,video\nx,a.mp4\n")
    result = runner.invoke(app, ["train", str(catalog), "--output", str(tmp_path / "m.pt")])
    assert result.exit_code == 2
    assert "lacks required column" in result.output
    assert not (tmp_path / "m.pt").exists()


def test_train_refuses_to_resume_a_file_that_is_not_a_checkpoint(tmp_path):
    output = tmp_path / "m.pt"
    output.write_text("something else\n")
    result = runner.invoke(app, ["train", str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4"), "--output", str(output)])
    assert result.exit_code == 2
    assert "--restart" in result.output
    assert output.read_text() == "something else\n"


def test_bad_input_fails_in_the_driver_before_ray_starts(tmp_path, demo_inputs):
    """`lipdub dub` refuses an unreadable dub with the probe's own words, without starting Ray
    (in its own process: no Ray processes appear, and our 'Ray ready' line never comes)."""
    import os
    import subprocess
    import sys
    import uuid

    from tests.ray_processes import processes_with_env

    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("these are notes, not a dub\n")
    marker = uuid.uuid4().hex
    env = dict(os.environ, LIPDUB_CLI_TEST_RUN=marker)
    done = subprocess.run(
        [sys.executable, "-m", "jobs.cli", "dub", "--video", str(demo_inputs[0]), "--audio", str(not_audio), "--output", str(tmp_path / "o.mp4")],
        cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {not_audio}: not a readable media file (Invalid data found when processing input)"], done.stderr[-2000:]
    assert "Ray ready" not in done.stderr
    assert processes_with_env("LIPDUB_CLI_TEST_RUN", marker) == []
    assert not (tmp_path / "o.mp4").exists()


def test_with_json_stdout_carries_the_json_alone(capsys):
    """Ray forwards lines such as "(raylet) WARNING: ..." to the driver's stdout; under --json they
    go to stderr, so `lipdub eval ... --json > out.json` stays parseable."""
    from jobs.cli import _json_only_on_stdout

    with _json_only_on_stdout(True):
        print("(raylet) WARNING: 8 PYTHON worker processes have been started")
    print('{"ok": 1}')
    with _json_only_on_stdout(False):
        print("plain")
    out, err = capsys.readouterr()
    assert out == '{"ok": 1}\nplain\n'
    assert "(raylet) WARNING" in err
