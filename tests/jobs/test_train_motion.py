"""`lipdub train` end to end on a real local Ray: the demo's talking face as training data."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.training_run import TrainRequest, card_uri, run_training
from lipdub.config import PipelineConfig
from lipdub.storage import filesystem_for
from models.motion_checkpoint import load_checkpoint
from models.motion_training import TrainSettings
from tests.models.conftest import TINY_NET
from tests.tiny_models import WAV2VEC2_DIM, save_tiny_wav2vec2

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def training_videos(demo_inputs, tmp_path_factory):
    """Three talking videos (the demo source under three names) and a broken one, last."""
    source, _ = demo_inputs
    folder = tmp_path_factory.mktemp("training videos")
    talkers = [folder / f"talker_{name}.mp4" for name in "abc"]
    for talker in talkers:
        shutil.copy(source, talker)
    broken = folder / "broken.mp4"
    broken.write_text("not a video\n")
    return [*map(str, talkers), str(broken)]


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> PipelineConfig:
    return PipelineConfig(work_root=str(tmp_path_factory.mktemp("work")))


def _request(videos, output, epochs, **kwargs) -> TrainRequest:
    settings = TrainSettings(epochs=epochs, batch_size=8)
    options = {"net": TINY_NET, "validation_videos": 0, "window_stride": 8, "checkpoint_every": 1, "command": "pytest",
               "workers": 0, **kwargs}
    return TrainRequest(catalog_uri=videos, output_uri=output, settings=settings, **options)


def test_train_writes_a_checkpoint_and_card_and_resumes(ray_local, training_videos, config, tmp_path, monkeypatch):
    """In Ray Train's local mode (workers=0): the worker-actor path is the python -m test's."""
    monkeypatch.chdir(tmp_path)
    output = "models/motion.pt"  # relative to where the command runs, not to Ray Train's worker folder
    report = run_training(_request(training_videos, output, epochs=1, validation_videos=1), config)
    assert report.epochs_done == 1
    assert len(report.validation) == 1 and sorted(report.videos + report.validation) == ["talker_a", "talker_b", "talker_c"]
    assert [s["video"] for s in report.skipped] == [training_videos[-1]]
    assert "not a readable media file" in report.skipped[0]["error"]
    assert -1.0 <= report.final["validation_opening_r"] <= 1.0
    card = json.loads(open(card_uri(output)).read())
    assert card["videos"] == report.videos and card["validation_videos"] == report.validation and card["epochs"] == 1
    assert card["size_bytes"] > 10_000 and card["training_windows"] > 0
    assert card["final"]["examples_per_second"] > 0
    first = load_checkpoint(output)

    # Same output, more epochs: continues from epoch 1 and keeps the history.
    run_training(_request(training_videos, output, epochs=2, validation_videos=1), config)
    resumed = load_checkpoint(output)
    assert resumed["epoch"] == 2
    assert [h["epoch"] for h in resumed["history"]] == [1.0, 2.0]
    assert resumed["history"][0] == first["history"][0]
    # Asked for no more than it has: nothing is trained or rewritten.
    before = open(output, "rb").read()
    assert run_training(_request(training_videos, output, epochs=2, validation_videos=1), config).epochs_done == 2
    assert open(output, "rb").read() == before
    # A different network cannot resume this checkpoint, nor a phone-free request.
    with pytest.raises(ValueError, match="--restart"):
        run_training(_request(training_videos, output, epochs=3, net={"d_model": 32}), config)
    with pytest.raises(ValueError, match="trained with phones"):
        run_training(_request(training_videos, output, epochs=3, phones=False), config)
    assert resumed["features"]["phones"] is True


def test_a_phone_free_model_is_trained_without_phones(ray_local, training_videos, config, tmp_path):
    output = str(tmp_path / "free.pt")
    run_training(_request(training_videos[:2], output, epochs=1, phones=False), config)
    # The checkpoint says so, and the model it loads into never reads phones (tests/models).
    assert load_checkpoint(output)["features"]["phones"] is False
    assert json.loads(open(card_uri(output)).read())["features"]["phones"] is False


@pytest.mark.long
def test_python_m_job_trains_on_wav2vec2_features_into_s3(training_videos, config, s3_server, tmp_path):
    """What `ray job submit ... -- python -m jobs.train_motion` runs, in its own process and Ray."""
    encoder = save_tiny_wav2vec2(tmp_path / "wav2vec2")
    output = "s3://lipdub/models/motion-w2v.pt"
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
               LIPDUB_S3_ENDPOINT_URL=s3_server, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_AUTH_MODE="disabled")
    command = [sys.executable, "-m", "jobs.train_motion", *training_videos[:2], "--output", output, "--epochs", "1",
               "--batch-size", "8", "--validation-videos", "0", "--wav2vec2", str(encoder), "--work-root", config.work_root]
    process = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr[-3000:]
    summary = json.loads(process.stdout[process.stdout.find("{"):])
    assert summary["epochs"] == 1 and summary["videos"] == ["talker_a", "talker_b"]
    state = load_checkpoint(output)
    assert state["features"]["kind"] == "wav2vec2" and state["features"]["embedding_dim"] == WAV2VEC2_DIM
    assert state["net_config"]["n_features"] == 84 + WAV2VEC2_DIM
    card = json.loads(filesystem_for(output).cat_file(card_uri(output).removeprefix("s3://")))
    assert card["command"].startswith("lipdub train") and "--wav2vec2" in card["command"]
    assert card["workers"] == 1  # a real Ray Train worker actor (the other tests use local mode)


def test_unusable_requests_fail_before_training(ray_local, training_videos, config, tmp_path):
    with pytest.raises(ValueError, match="no usable training video"):
        run_training(_request(training_videos[-1:], str(tmp_path / "m.pt"), epochs=1), config)
    with pytest.raises(ValueError, match="wav2vec2"):
        run_training(_request(training_videos, str(tmp_path / "m.pt"), epochs=1, feature_kind="wav2vec2"), config)
    with pytest.raises(ValueError, match="--gpu"):
        run_training(_request(training_videos, str(tmp_path / "m.pt"), epochs=1, use_gpu=True), config)
