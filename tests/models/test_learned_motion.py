import time

import numpy as np
import pytest
import torch

from lipdub.face import geometry
from models.learned_motion import LearnedMotionModel
from models.lipsync_net import NetConfig
from models.motion_checkpoint import inference_part, save_checkpoint
from models.motion_inputs import n_input_features
from models.motion_training import MotionTrainer, TrainSettings
from models.registry import build_motion_model
from models.speaker_calibration import CalibratedMotionModel
from tests.models.conftest import TINY_NET, as_batches, synthetic_windows


@pytest.fixture(scope="module")
def tiny_state() -> dict:
    trainer = MotionTrainer(NetConfig(n_features=n_input_features("logmel"), **TINY_NET), TrainSettings(epochs=2))
    for _ in range(2):
        trainer.train_epoch(as_batches(synthetic_windows(8, seed=5)))
    state = {**trainer.state(), "features": {"kind": "logmel"}, "format": "lipdub-motion/1",
             "template_reference": torch.as_tensor(synthetic_windows(1, seed=5)[0]["reference"])}
    return inference_part(state)


def _talking_landmarks(measured: np.ndarray) -> np.ndarray:
    """Face Mesh-shaped landmarks whose inner lips open by ``measured[:, 0]`` (eye distance 100 px)."""
    n = len(measured)
    points = np.tile(np.random.default_rng(0).normal(scale=20, size=(468, 2)) + [300, 300], (n, 1, 1))
    points[:, geometry.RIGHT_EYE_OUTER] = [250, 250]
    points[:, geometry.LEFT_EYE_OUTER] = [350, 250]
    points[:, geometry.UPPER_INNER_LIP] = [300, 340]
    points[:, geometry.LOWER_INNER_LIP, 0] = 300
    points[:, geometry.LOWER_INNER_LIP, 1] = 340 + 100 * measured[:, 0]
    points[:, geometry.INNER_MOUTH_LEFT] = np.stack([300 - 50 * measured[:, 1], np.full(n, 345)], axis=1)
    points[:, geometry.INNER_MOUTH_RIGHT] = np.stack([300 + 50 * measured[:, 1], np.full(n, 345)], axis=1)
    return points.astype(np.float32)


def test_fit_and_predict_in_the_speakers_range(tiny_state, source_and_dub):
    source, dub = source_and_dub
    fps, n_src = 25.0, 150
    rng = np.random.default_rng(1)
    measured = np.stack([0.05 + 0.1 * rng.random(n_src), 0.45 + 0.05 * rng.random(n_src)], axis=1)
    measured[10:15] = np.nan  # frames without the speaker
    landmarks = _talking_landmarks(np.nan_to_num(measured, nan=0.05))
    model = LearnedMotionModel(tiny_state, adapt_steps=5)  # with the optional decoder fine-tune
    model.fit_speaker(source, measured, fps, landmarks=landmarks)
    assert model.adapted_steps == 5
    targets = model.predict(dub, 125, fps)
    assert targets.shape == (125, 2) and np.isfinite(targets).all()
    assert targets[:, 0].min() >= 0.0 and targets[:, 0].max() <= 0.16
    assert targets[:, 0].std() > 0.005  # the mouth moves with the dub
    # After the dub ends the mouth rests.
    assert np.allclose(model.predict(dub, 200, fps)[140:, 0], model.speaker.rest_opening)


def test_speaker_adaptation_stays_within_its_time_budget(tiny_state, source_and_dub):
    source, _ = source_and_dub
    measured = np.stack([np.linspace(0.0, 0.1, 150), np.full(150, 0.5)], axis=1)
    model = LearnedMotionModel(tiny_state, adapt_steps=10_000, adapt_seconds=0.5)
    started = time.perf_counter()
    model.fit_speaker(source, measured, 25.0, landmarks=_talking_landmarks(measured))
    assert time.perf_counter() - started < 5.0
    assert 0 < model.adapted_steps < 10_000


def test_registry_uses_the_checkpoint_when_configured_and_the_rules_otherwise(tiny_state, tmp_path):
    uri = str(tmp_path / "model.pt")
    save_checkpoint(uri, tiny_state)
    assert isinstance(build_motion_model("default", uri), LearnedMotionModel)
    assert isinstance(build_motion_model("default", None), CalibratedMotionModel)


def test_a_phone_free_checkpoint_never_sees_the_phones(tiny_state, source_and_dub):
    from models.motion_inputs import model_inputs, without_phones

    source, dub = source_and_dub
    measured = np.stack([0.05 + 0.05 * np.sin(np.arange(150) / 4.0), np.full(150, 0.5)], axis=1)
    landmarks = _talking_landmarks(measured)

    def predict(state: dict, dub_speech) -> np.ndarray:
        model = LearnedMotionModel(state)
        model.fit_speaker(source, measured, 25.0, landmarks=landmarks)
        return model.predict(dub_speech, 125, 25.0)

    free = {**tiny_state, "features": {**tiny_state["features"], "phones": False}}
    assert np.array_equal(predict(free, dub), predict(free, without_phones(dub)))
    assert not np.array_equal(predict(tiny_state, dub), predict(tiny_state, without_phones(dub)))
    assert np.array_equal(model_inputs(dub, 50, phones=False), model_inputs(without_phones(dub), 50))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_the_network_on_a_gpu_predicts_what_it_predicts_on_the_cpu(tiny_state, source_and_dub, tmp_path):
    source, dub = source_and_dub
    measured = np.stack([np.linspace(0.0, 0.1, 150), np.full(150, 0.5)], axis=1)
    uri = str(tmp_path / "model.pt")
    save_checkpoint(uri, tiny_state)
    predictions = []
    for device in ("cpu", "cuda"):
        model = build_motion_model("default", uri, device=device)
        assert next(model.generator.parameters()).device.type == device
        model.fit_speaker(source, measured, 25.0, landmarks=_talking_landmarks(measured))
        predictions.append(model.predict(dub, 125, 25.0))
    assert np.allclose(predictions[0], predictions[1], atol=1e-4)


def test_the_blends_width_takes_the_speakers_opening_width_coupling(tiny_state, source_and_dub):
    source, dub = source_and_dub
    rng = np.random.default_rng(3)
    opening = 0.05 + 0.1 * rng.random(150)
    measured = np.stack([opening, 0.5 - 0.4 * opening + 0.002 * rng.random(150)], axis=1)  # corners close in
    landmarks = _talking_landmarks(measured)
    coupled, plain = LearnedMotionModel(tiny_state), LearnedMotionModel(tiny_state, width_coupling=0.0)
    assert coupled.width_coupling == 4.0  # the default, the checkpoint sets none
    for model in (coupled, plain):
        model.fit_speaker(source, measured, 25.0, landmarks=landmarks)
    assert coupled.coupling.correlation < -0.8
    assert coupled.rules.width_coupling == 0.0  # coupled once, on the blend
    ours, theirs = coupled.predict(dub, 125, 25.0), plain.predict(dub, 125, 25.0)
    speaking = ~np.isclose(ours[:, 0], coupled.speaker.rest_opening)
    assert np.array_equal(ours[:, 0], theirs[:, 0])  # opening untouched
    r = lambda t: np.corrcoef(t[speaking, 0], t[speaking, 1])[0, 1]  # noqa: E731
    assert r(ours) < r(theirs) - 0.2 and r(ours) < -0.5
