import numpy as np
import pytest
import torch

from models.lipsync_net import NetConfig
from models.motion_inputs import n_input_features
from models.motion_training import MotionTrainer, TrainSettings, masked_pearson, opening_correlation
from tests.models.conftest import TINY_NET, as_batches, synthetic_windows


def _trainer(epochs: int = 15, **settings) -> MotionTrainer:
    config = NetConfig(n_features=n_input_features("logmel"), dropout=0.0, **TINY_NET)
    return MotionTrainer(config, TrainSettings(epochs=epochs, learning_rate=3e-3, adversarial_start_epoch=4, feature_noise=0.0, **settings))


def test_training_learns_a_known_speech_to_mouth_relation():
    trainer = _trainer()
    train, unseen = synthetic_windows(48, seed=1), synthetic_windows(8, seed=2)
    before = opening_correlation(trainer.generator, unseen)
    losses = [trainer.train_epoch(as_batches(train, batch_size=8))["loss"] for _ in range(15)]
    after = opening_correlation(trainer.generator, unseen)
    assert losses[-1] < 0.6 * losses[0]
    assert after > 0.8, (before, after)
    assert trainer.epoch == 15


def test_adversarial_terms_start_after_the_warm_up():
    trainer = _trainer(epochs=6, adversarial_weight=0.1)
    batches = as_batches(synthetic_windows(16, seed=3))
    early = trainer.train_epoch(batches)
    for _ in range(4):
        late = trainer.train_epoch(batches)
    assert early["adv_d"] == 0.0 and early["adv_g"] == 0.0
    assert late["adv_d"] > 0.0 and late["adv_g"] > 0.0


def test_state_round_trip_resumes_exactly():
    batches = as_batches(synthetic_windows(16, seed=4))
    straight = _trainer()
    for _ in range(3):
        straight.train_epoch(batches)
    first = _trainer()
    first.train_epoch(batches)
    resumed = _trainer()
    resumed.load_state(first.state())
    assert resumed.epoch == 1
    for _ in range(2):
        resumed.train_epoch(batches)
    for a, b in zip(straight.generator.state_dict().values(), resumed.generator.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_masked_pearson_ignores_masked_steps():
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    y = torch.tensor([[2.0, 4.0, 6.0, -50.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    assert abs(float(masked_pearson(x, y, mask)[0]) - 1.0) < 1e-4
    assert np.isfinite(float(masked_pearson(x, y, torch.zeros_like(mask))[0]))


@pytest.mark.gpu
def test_training_and_validation_run_on_a_gpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    config = NetConfig(n_features=n_input_features("logmel"), **TINY_NET)
    trainer = MotionTrainer(config, TrainSettings(epochs=2, adversarial_start_epoch=0), device="cuda")
    windows = synthetic_windows(16, seed=8)
    metrics = trainer.train_epoch(as_batches(windows))
    assert np.isfinite(metrics["loss"]) and metrics["adv_d"] > 0
    assert np.isfinite(opening_correlation(trainer.generator, windows[:4]))
