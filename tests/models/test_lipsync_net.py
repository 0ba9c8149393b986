import subprocess
import sys

import torch

from models.lip_shapes import N_LIPS
from models.lipsync_net import LipSyncGenerator, MotionDiscriminator, NetConfig


def test_generator_maps_speech_and_identity_to_bounded_lip_motion():
    config = NetConfig(n_features=12, d_model=16, n_layers=1, n_heads=2, ff_dim=32, motion_scale=0.3)
    generator = LipSyncGenerator(config).eval()
    features, reference = torch.randn(3, 40, 12), torch.randn(3, N_LIPS, 2)
    motion = generator(features, reference)
    assert motion.shape == (3, 40, N_LIPS, 2)
    assert motion.abs().max() <= 0.3  # Tanh-normalised output times motion_scale
    # The identity branch matters: another reference changes the motion.
    assert not torch.allclose(motion, generator(features, reference + 1.0))
    # Any length works (inference windows may be shorter than training ones).
    assert generator(torch.randn(1, 7, 12), reference[:1]).shape == (1, 7, N_LIPS, 2)


def test_discriminator_scores_each_sequence():
    scores = MotionDiscriminator(width=16)(torch.randn(5, 64, N_LIPS, 2))
    assert scores.shape == (5,)


def test_config_round_trips_through_a_plain_dict():
    config = NetConfig(n_features=100, d_model=32)
    assert NetConfig.from_dict(config.to_dict()) == config


def test_importing_the_model_modules_builds_and_loads_nothing():
    code = (
        "import sys, torch\n"
        "calls = []\n"
        "torch.load = lambda *a, **k: calls.append('load')\n"
        "torch.nn.Module.__init__ = lambda *a, **k: calls.append('module')\n"
        "import models.lipsync_net, models.learned_motion, models.motion_checkpoint, models.motion_training\n"
        "print(len(calls))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"
