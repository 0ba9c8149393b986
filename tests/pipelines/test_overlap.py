"""The analyze stage running listen alongside (pipelines/overlap.py), on a real local Ray."""
from __future__ import annotations

import json

import pytest

from lipdub.config import PipelineConfig
from lipdub.item_row import empty_row
from operators.analyze import AnalyzeOperator
from operators.listen import ListenOperator
from operators.probe import ProbeOperator
from pipelines.overlap import overlapped

pytestmark = pytest.mark.slow


def _probed(config, video, audio, tmp_path, name):
    row = empty_row(item_id=name, video_uri=str(video), audio_uri=str(audio), output_uri=str(tmp_path / f"{name}.mp4"))
    (probed,) = ProbeOperator(config).run_row(row)
    assert probed["status"] == "pending", probed["error"]
    return probed


def test_listen_runs_alongside_a_fresh_analysis_and_then_passes_through(ray_local, demo_inputs, tmp_path):
    source, dub = demo_inputs
    config = PipelineConfig(work_root=str(tmp_path / "work"))
    stage = overlapped(AnalyzeOperator, ListenOperator)(config)
    assert stage.name == "analyze"
    (row,) = stage.run_row(_probed(config, source, dub, tmp_path, "fresh"))
    assert row["status"] == "pending", row["error"]
    assert row["analysis_uri"] and row["dub_speech_uri"] and row["source_speech_uri"]
    assert row["seconds_listen"] > 0 and "listen" in json.loads(row["placements"])
    assert row["cpu_seconds_listen"] > 0  # measured in the side task's process, carried over
    (after,) = ListenOperator(config).run_row(row)  # the listen stage: nothing left to do
    assert after["dub_speech_uri"] == row["dub_speech_uri"] and after["seconds_listen"] < row["seconds_listen"] + 0.5
    # A cached analysis is quick: listen is left to its own stage.
    (again,) = stage.run_row(_probed(config, source, dub, tmp_path, "cached"))
    assert again["analysis_cached"] and again["dub_speech_uri"] is None


def test_a_failure_while_listening_alongside_fails_the_item_at_listen(ray_local, demo_inputs, tmp_path):
    import numpy as np

    from lipdub.media.audio_io import write_wav

    source, _ = demo_inputs
    silent = tmp_path / "silent.wav"
    write_wav(str(silent), np.zeros(16000 * 2, np.float32), 16000)
    config = PipelineConfig(work_root=str(tmp_path / "work"))
    (row,) = overlapped(AnalyzeOperator, ListenOperator)(config).run_row(_probed(config, source, silent, tmp_path, "silent"))
    assert row["status"] == "failed" and row["failed_stage"] == "listen"
    assert "silent" in row["error"]
